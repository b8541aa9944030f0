"""The Prometheus text exposition format (version 0.0.4), written without a client library.

The sidecar's metrics are plain counters read at scrape time (``metrics.py``); all it needs from a
client library is this text, and ``prometheus_client`` would cost every sidecar ~4.6 MiB of memory.
The output is the one ``prometheus_client.generate_latest`` writes for the same families: HELP and
TYPE lines, ``_total`` counters, histogram ``_bucket``/``_count``/``_sum`` samples, labels sorted by
name and escaped, numbers formatted as Go formats them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def number(value: float) -> str:
    """A sample value as Prometheus writes it: ``1.0``, ``0.25``, ``+Inf``, ``1.2345678e+07``."""
    d = float(value)
    if math.isinf(d):
        return "+Inf" if d > 0 else "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(pairs))
    return "{" + inner + "}" if inner else ""


class Family:
    """One metric family: ``counter``, ``gauge`` or ``histogram``, with its samples."""

    __slots__ = ("help", "kind", "label_names", "name", "samples")

    def __init__(self, name: str, help_text: str, kind: str, label_names: list[str]) -> None:
        self.name = f"{name}_total" if kind == "counter" else name
        self.help = help_text
        self.kind = kind
        self.label_names = label_names
        self.samples: list[str] = []

    def add(self, labels: list[str], value: float) -> None:
        """A counter or gauge sample; ``labels`` are the values of ``label_names``, in order."""
        pairs = zip(self.label_names, labels, strict=True)
        self.samples.append(f"{self.name}{_labels(pairs)} {number(value)}")

    def add_histogram(self, labels: list[str], buckets: list[tuple[str, int]], total: float) -> None:
        """Cumulative ``buckets`` as (upper bound, count), the last one ``+Inf``; ``total``: the sum."""
        pairs = list(zip(self.label_names, labels, strict=True))
        for bound, count in buckets:
            self.samples.append(f"{self.name}_bucket{_labels([*pairs, ('le', bound)])} {number(count)}")
        self.samples.append(f"{self.name}_count{_labels(pairs)} {number(buckets[-1][1])}")
        self.samples.append(f"{self.name}_sum{_labels(pairs)} {number(total)}")


def render(families: Iterable[Family]) -> bytes:
    """The exposition text of ``families``, in order."""
    out: list[str] = []
    for fam in families:
        help_text = fam.help.replace("\\", r"\\").replace("\n", r"\n")
        out += (f"# HELP {fam.name} {help_text}", f"# TYPE {fam.name} {fam.kind}", *fam.samples)
    return ("\n".join(out) + "\n").encode()
