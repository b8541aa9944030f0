"""Prometheus metrics of the sidecar, in a registry of its own, labelled by model and version.

The request path only touches plain Python counters (a dictionary increment and two bucket
increments found by bisection, no locks: everything runs on the event loop). A custom collector
turns them into Prometheus families when ``/metrics`` is scraped, together with figures read from
the live window. Names (all prefixed ``modelmonitor_sidecar_``) are listed in ``docs/sidecar.md``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from modelmonitor.sidecar.window import Window

PREFIX = "modelmonitor_sidecar"
# seconds; fine at the low end, where a proxy's overhead shows, up to slow models
BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class FastHistogram:
    """Bucket counts and sum of observations (seconds); not thread-safe, used from the loop only."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # last slot: above the largest bucket
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.sum += value

    def family(self, name: str, text: str, labels: list[str]) -> HistogramMetricFamily:
        fam = HistogramMetricFamily(name, text, labels=["model", "version"])
        cumulative = []
        running = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
        fam.add_metric(labels, cumulative, self.sum)
        return fam


class _Collector(Collector):
    def __init__(self, metrics: SidecarMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        labels = [m.model, m.version]
        names = ["model", "version"]
        yield m.latency.family(
            f"{PREFIX}_request_duration_seconds",
            "Time from the request's headers to the last byte of the response, through the sidecar.",
            labels,
        )
        yield m.model_latency.family(
            f"{PREFIX}_model_duration_seconds",
            "Time the model took: from sending it the request to the end of its response.",
            labels,
        )
        requests = CounterMetricFamily(
            f"{PREFIX}_requests", "Requests by status code.", labels=[*names, "code"]
        )
        errors = CounterMetricFamily(
            f"{PREFIX}_errors",
            "Error responses (status >= 500) by status code and source (model, or sidecar: model down, timeout).",
            labels=[*names, "code", "source"],
        )
        by_code: dict[str, int] = {}
        for (status, source), count in sorted(m.requests.items()):
            code = str(status)
            by_code[code] = by_code.get(code, 0) + count
            if status >= 500:
                errors.add_metric([*labels, code, source], count)
        for code, count in by_code.items():
            requests.add_metric([*labels, code], count)
        parse = CounterMetricFamily(
            f"{PREFIX}_parse_failures",
            "Captured bodies that could not be decoded (not JSON, or not the protocol's shape), by part.",
            labels=[*names, "part"],
        )
        for part, count in sorted(m.parse_failures.items()):
            parse.add_metric([*labels, part], count)
        dropped = CounterMetricFamily(
            f"{PREFIX}_captures_dropped",
            "Captures dropped to protect traffic and memory, by reason.",
            labels=[*names, "reason"],
        )
        for reason, count in sorted(m.drops.items()):
            dropped.add_metric([*labels, reason], count)
        yield from (requests, errors, parse, dropped)

        window = m.window
        rows = GaugeMetricFamily(f"{PREFIX}_window_rows", "Rows held in the capture window.", labels=names)
        pending = GaugeMetricFamily(
            f"{PREFIX}_labels_pending", "Labels waiting for their prediction.", labels=names
        )
        captured = CounterMetricFamily(
            f"{PREFIX}_captured_rows", "Rows captured into the window.", labels=names
        )
        fed = CounterMetricFamily(
            f"{PREFIX}_feedback_labels",
            "Ground-truth labels received, by result (joined, lost after the TTL, invalid).",
            labels=[*names, "result"],
        )
        queue = GaugeMetricFamily(
            f"{PREFIX}_capture_queue_depth", "Exchanges waiting in the capture queue.", labels=names
        )
        if window is not None:
            window.evict()  # expire waiting labels so 'lost' is current at every scrape
            rows.add_metric(labels, len(window.rows))
            pending.add_metric(labels, len(window.pending))
            captured.add_metric(labels, window.rows_total)
            fed.add_metric([*labels, "joined"], window.labels_joined)
            fed.add_metric([*labels, "lost"], window.labels_lost)
            fed.add_metric([*labels, "invalid"], window.labels_invalid)
        queue.add_metric(labels, m.queue_depth())
        yield from (rows, pending, captured, fed, queue)

        denied = CounterMetricFamily(
            f"{PREFIX}_admin_denied",
            "Requests to /v1/window or /v1/feedback refused, by reason (missing or malformed bearer "
            "token: 401; wrong token, or no token file on a non-loopback address: 403).",
            labels=[*names, "reason"],
        )
        for reason, count in sorted(m.denied.items()):
            denied.add_metric([*labels, reason], count)
        stale = CounterMetricFamily(
            f"{PREFIX}_upstream_stale",
            "Requests that met a kept-alive model connection closed under them, by outcome: retried on a "
            "fresh connection (idempotent method, or nothing sent yet) or not_retried (answered 502: a "
            "request whose bytes were sent is never sent twice unless its method is idempotent).",
            labels=[*names, "outcome"],
        )
        for outcome, count in sorted(m.stale_counts().items()):
            stale.add_metric([*labels, outcome], count)
        yield from (denied, stale)


class SidecarMetrics:
    """All sidecar metrics; ``observe`` is called once per finished exchange, from the event loop."""

    def __init__(self, model: str, version: str, window: Window | None = None) -> None:
        self.model = model
        self.version = version
        self.window = window
        self.queue_depth: Callable[[], int] = lambda: 0
        self.stale_counts: Callable[[], dict[str, int]] = dict  # set by the wiring to the proxy's counts
        self.denied: dict[str, int] = {}
        self.latency = FastHistogram()
        self.model_latency = FastHistogram()
        self.requests: dict[tuple[int, str], int] = {}
        self.parse_failures: dict[str, int] = {}
        self.drops: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Collector(self))

    def observe(self, status: int, total_s: float, model_s: float | None, source: str) -> None:
        """Count one finished exchange (durations in seconds; ``model_s`` None when no model answer)."""
        key = (status, source)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        self.latency.observe(total_s)
        if model_s is not None:
            self.model_latency.observe(model_s)

    def parse_failure(self, part: str) -> None:
        self.parse_failures[part] = self.parse_failures.get(part, 0) + 1

    def dropped(self, reason: str, n: int = 1) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + n

    def admin_denied(self, reason: str) -> None:
        """Count a refused admin request (``missing``, ``malformed``, ``wrong``, ``no_token_file``)."""
        self.denied[reason] = self.denied.get(reason, 0) + 1
