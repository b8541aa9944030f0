"""The operator's own /metrics: evaluations, durations, failures, and per-monitor figures.

Per-monitor gauges (phase, drift share, feature drift scores, p95, error rate, conditions, realized
quality metrics, label coverage, segment ratios, A/B test figures) are for Grafana and Alertmanager;
their series are removed when a monitor is deleted. They are kept as plain values per monitor (a
prometheus_client child per series, two locks and a value object each, took about 0.8 KB: some 17 MB
at 1,000 monitors of about 21 series), and each monitor's lines of each family are rendered once,
when its status is recorded. A read of /metrics (every scrape, and the readiness probe every 10 s)
then joins bytes: building a sample object per series at every read took 1.8-3 s of operator CPU
for 21,000 series and 6.3 s for 63,000, beyond the probe's 5 s timeout.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import utils as _client_utils

REGISTRY = CollectorRegistry(auto_describe=True)
# prometheus_client's own float notation (Go's), so the lines are written as its writer would
_go_float = cast(Callable[[float], str], _client_utils.floatToGoString)
PREFIX = "modelmonitor"

EVALUATIONS = Counter(
    f"{PREFIX}_evaluations", "Evaluations run, by result (ok, unknown, error).", ["result"], registry=REGISTRY
)
DURATION = Histogram(
    f"{PREFIX}_evaluation_duration_seconds",
    "Time one evaluation took (Kubernetes, Prometheus, sidecars, drift).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
FAILURES = Counter(
    f"{PREFIX}_evaluation_failures",
    "Evaluation stages that failed, by stage (prometheus, sidecar, reference, kubernetes, internal).",
    ["stage"],
    registry=REGISTRY,
)
MONITORS = Gauge(
    f"{PREFIX}_monitors", "ModelMonitors evaluated since the operator started.", registry=REGISTRY
)


class Family(NamedTuple):
    """A per-monitor gauge: its name, help and the labels after namespace and monitor."""

    name: str
    help: str
    labels: tuple[str, ...] = ()

    def header(self) -> bytes:
        """The family's HELP and TYPE lines, as the text format has them once before its samples."""
        text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {text}\n# TYPE {self.name} gauge\n".encode()

    def lines(self, key: tuple[str, str], series: Series) -> bytes:
        """One monitor's samples of this family in the text format, as prometheus_client writes them
        (labels sorted by name, values escaped, Go's float notation)."""
        names = self.labels
        before, after = _LAYOUT[self]
        keys = f'monitor="{_escape(key[1])}",namespace="{_escape(key[0])}"'
        out = []
        for labels, value in series.items():
            head = "".join([f'{names[i]}="{_escape(labels[i])}",' for i in before])
            tail = "".join([f',{names[i]}="{_escape(labels[i])}"' for i in after])
            out.append(f"{self.name}{{{head}{keys}{tail}}} {_go_float(value)}\n")
        return "".join(out).encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


PHASE = Family(f"{PREFIX}_monitor_phase", "1, labelled with the monitor's current phase.", ("phase",))
CONDITION = Family(
    f"{PREFIX}_monitor_condition",
    "1, labelled with the status (True, False, Unknown) each condition has now.",
    ("type", "status"),
)
DRIFT_SHARE = Family(f"{PREFIX}_monitor_drift_share", "Share of features that drift (0-1).")
FEATURE_DRIFT = Family(
    f"{PREFIX}_monitor_feature_drift_score",
    "Drift statistic of a feature (in the unit of its method).",
    ("feature", "method"),
)
LATENCY_P95 = Family(f"{PREFIX}_monitor_latency_p95_seconds", "p95 latency through the sidecar.")
ERROR_RATE = Family(f"{PREFIX}_monitor_error_rate", "Share of 5xx responses (0-1).")
QUALITY = Family(
    f"{PREFIX}_monitor_quality",
    "Realized quality metric on the labelled rows of the window (accuracy, auc, rmse...).",
    ("metric",),
)
LABEL_COVERAGE = Family(
    f"{PREFIX}_monitor_label_coverage",
    "Share of predictions (older than labelDelay, when set) that have a label (0-1).",
)
SEGMENT_RATIO = Family(
    f"{PREFIX}_monitor_segment_ratio",
    "Lowest judged group's metric over the highest group's, per segment feature (0-1).",
    ("feature", "metric"),
)
EXPERIMENT_EFFECT = Family(
    f"{PREFIX}_experiment_effect", "A/B test: challenger minus champion on the tested statistic.", ("metric",)
)
EXPERIMENT_P_VALUE = Family(f"{PREFIX}_experiment_p_value", "A/B test: the always-valid p-value (mSPRT).")
EXPERIMENT_VALUE = Family(
    f"{PREFIX}_experiment_value",
    "A/B test: the compared metric per variant (champion, challenger).",
    ("metric", "variant"),
)
EXPERIMENT_ROWS = Family(f"{PREFIX}_experiment_rows", "A/B test: rows counted per variant.", ("variant",))
FAMILIES = (PHASE, CONDITION, DRIFT_SHARE, FEATURE_DRIFT, LATENCY_P95, ERROR_RATE, QUALITY, LABEL_COVERAGE,
            SEGMENT_RATIO, EXPERIMENT_EFFECT, EXPERIMENT_P_VALUE, EXPERIMENT_VALUE, EXPERIMENT_ROWS)  # fmt: skip
# Where a family's own labels go, sorted by name around the two every series has ("monitor",
# "namespace", adjacent in that order: no label name sorts between them).
_LAYOUT = {
    family: (
        tuple(
            sorted((i for i, n in enumerate(family.labels) if n < "monitor"), key=family.labels.__getitem__)
        ),
        tuple(
            sorted((i for i, n in enumerate(family.labels) if n > "namespace"), key=family.labels.__getitem__)
        ),
    )
    for family in FAMILIES
}
assert all(len(b) + len(a) == len(f.labels) for f, (b, a) in _LAYOUT.items()), (
    "a label sorts between the keys"
)
# What one status replaces together: a group the status has is replaced whole (a series it no longer
# has goes); a group it lacks (not evaluated this time) keeps its series.
QUALITY_GROUP = (QUALITY, LABEL_COVERAGE, SEGMENT_RATIO)
EXPERIMENT_GROUP = (EXPERIMENT_EFFECT, EXPERIMENT_P_VALUE, EXPERIMENT_VALUE, EXPERIMENT_ROWS)

Series = dict[tuple[str, ...], float]  # the labels after namespace and monitor -> value
_lock = threading.Lock()
_monitors: dict[tuple[str, str], dict[Family, Series]] = {}  # every monitor's series, by family
_text: dict[tuple[str, str], dict[Family, bytes]] = {}  # and their lines, rendered when recorded
_HEADERS = {family: family.header() for family in FAMILIES}


def exposition() -> bytes:
    """The whole /metrics text: the operator's own metrics, then each per-monitor family with every
    monitor's lines (a family's samples stay together under one HELP and TYPE, as the format wants)."""
    with _lock:
        rendered = list(_text.values())
    parts = [generate_latest(REGISTRY)]
    for family in FAMILIES:
        parts.append(_HEADERS[family])
        parts.extend(text[family] for text in rendered if family in text)
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    """GET (any path, as prometheus_client serves it) -> the exposition, gzip when the client asks."""

    timeout = 30  # seconds a connection may take to send its request (a stalled client frees its thread)

    def do_GET(self) -> None:
        body = exposition()
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        if gzipped:
            body = gzip.compress(body, compresslevel=1)  # level 9 costs 5x the CPU for ~20 % less
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes are not logged."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(address: str) -> _Server | None:
    """Serve /metrics on ``host:port`` from a thread (an empty address serves nothing)."""
    if not address:
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][0]
    server = (_Server6 if family == socket.AF_INET6 else _Server)((host, int(port)), _Handler)
    threading.Thread(target=server.serve_forever, name="modelmonitor-metrics", daemon=True).start()
    return server


def record(namespace: str, monitor: str, status: dict[str, Any], drift: dict[str, Any] | None) -> None:
    """Set the per-monitor series from the status just written."""
    key = (namespace, monitor)
    new: dict[Family, Series] = {}
    # One series per monitor for its phase and one per condition type, labelled with the current
    # value (the others removed): at 1,000 monitors, a series for every possible value would triple
    # what Prometheus scrapes and what /metrics has to render.
    if status.get("phase"):
        new[PHASE] = {(str(status["phase"]),): 1.0}
    slo = status.get("slo") or {}
    if slo.get("latencyP95Ms") is not None:
        new[LATENCY_P95] = {(): float(slo["latencyP95Ms"]) / 1000}
    if slo.get("errorRate") is not None:
        new[ERROR_RATE] = {(): float(slo["errorRate"])}
    conditions = {str(c["type"]): str(c["status"]) for c in status.get("conditions") or []}
    performance = status.get("performance")
    if performance is not None:
        new.update(_quality(performance))
    experiment = status.get("experiment")
    if isinstance(experiment, dict):
        new.update(_experiment(experiment))
    if drift is not None:
        new[DRIFT_SHARE] = {(): float(drift["drift_share"])}
        new[FEATURE_DRIFT] = {
            (str(f["name"]), str(f.get("method"))): float(f["statistic"])
            for f in drift["features"]
            if f.get("statistic") is not None
        }
    with _lock:
        held = _monitors.setdefault(key, {})
        if conditions:
            kept = {labels: v for labels, v in held.get(CONDITION, {}).items() if labels[0] not in conditions}
            new[CONDITION] = kept | {(kind, value): 1.0 for kind, value in conditions.items()}
        held.update(new)
        text = _text.setdefault(key, {})
        for family, series in new.items():
            text[family] = family.lines(key, series)
        MONITORS.set(len(_monitors))


def _quality(performance: Any) -> dict[Family, Series]:
    """The quality series of one monitor from ``status.performance``, the whole group."""
    out: dict[Family, Series] = {family: {} for family in QUALITY_GROUP}
    if isinstance(performance, dict):
        for name, value in (performance.get("metrics") or {}).items():
            out[QUALITY][(str(name),)] = float(value)
        if performance.get("labelCoverage") is not None:
            out[LABEL_COVERAGE][()] = float(performance["labelCoverage"])
        for seg in performance.get("segments") or []:
            if seg.get("ratio") is not None:
                out[SEGMENT_RATIO][(str(seg["feature"]), str(seg["metric"]))] = float(seg["ratio"])
    return out


def _experiment(experiment: dict[str, Any]) -> dict[Family, Series]:
    """The A/B test's series from ``status.experiment``, the whole group (a new experiment without
    figures yet leaves none of the old one's)."""
    out: dict[Family, Series] = {family: {} for family in EXPERIMENT_GROUP}
    metric = str(experiment.get("metric") or "")
    figures: list[tuple[Family, tuple[str, ...], Any]] = [
        (EXPERIMENT_EFFECT, (metric,), experiment.get("effect")),
        (EXPERIMENT_P_VALUE, (), experiment.get("pValue")),
    ]
    for variant in ("champion", "challenger"):
        seen = experiment.get(variant) or {}
        figures += [(EXPERIMENT_VALUE, (metric, variant), seen.get("value")),
                    (EXPERIMENT_ROWS, (variant,), seen.get("rows"))]  # fmt: skip
    for family, labels, value in figures:
        if value is not None:
            out[family][labels] = float(value)
    return out


def forget(namespace: str, monitor: str) -> None:
    """Drop every series of a deleted monitor."""
    with _lock:
        _monitors.pop((namespace, monitor), None)
        _text.pop((namespace, monitor), None)
        MONITORS.set(len(_monitors))
