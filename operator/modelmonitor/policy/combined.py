"""Several figures in one instant query: each figure's PromQL tagged with its name, the parts joined.

``label_replace(<q>, "__modelmonitor_figure__", "<name>", "", "")`` gives every series ``<q>``
answers the figure's name as a label (an empty source matches the empty regex, so the replacement
always applies), and ``or`` keeps them all: two figures never share a label set, since their tags
differ. The answer is split back by that label. Labels starting with ``__`` are reserved to
Prometheus (relabelling drops them from every scraped series), so the tag cannot clash with a label
of the figures' own series.

A figure that answers no series is absent from the answer, as it would be alone; NaN and infinite
samples come through as they are. Each figure must be an instant vector: ``label_replace`` refuses
a scalar (Prometheus then refuses the whole query). Pure strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FIGURE_LABEL = "__modelmonitor_figure__"
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def combine(queries: dict[str, str]) -> str:
    """One PromQL expression answering every ``{name: PromQL}`` of ``queries``, each series tagged."""
    if not queries:
        raise ValueError("no query to combine")
    parts = []
    for name, promql in queries.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"figure name {name!r}: use letters, digits and _ . : - only")
        parts.append(f'label_replace({promql}, "{FIGURE_LABEL}", "{name}", "", "")')
    return " or ".join(parts)


def split(result: Any, names: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The series of an answer to ``combine`` by figure, the tag taken off their labels.

    ``result`` is the answer's ``data.result``; a figure of ``names`` that answered no series gets
    an empty list. ValueError when the answer is not a vector of tagged series of those figures.
    """
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise ValueError(f"unexpected query result: {str(result)[:200]}")
    for series in result:
        metric = series.get("metric")
        name = metric.get(FIGURE_LABEL) if isinstance(metric, dict) else None
        if not isinstance(name, str) or name not in parts:
            raise ValueError(f"unexpected query result: a series of no figure asked: {str(series)[:200]}")
        labels = {k: v for k, v in metric.items() if k != FIGURE_LABEL}
        parts[name].append({**series, "metric": labels})
    return parts
