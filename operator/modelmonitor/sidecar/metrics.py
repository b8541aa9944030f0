"""Prometheus metrics of the sidecar, labelled by model and version.

The request path only touches plain Python counters (a dictionary increment and two bucket
increments found by bisection, no locks: everything runs on the event loop). When ``/metrics`` is
scraped, :meth:`SidecarMetrics.render` turns them into families, together with figures read from
the live window, in the Prometheus text format (``exposition.py``). Names (all prefixed
``modelmonitor_sidecar_``) are listed in ``docs/sidecar.md``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from modelmonitor.sidecar.exposition import Family, render

if TYPE_CHECKING:
    from modelmonitor.sidecar.retention import Retention
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

    def family(self, name: str, text: str, labels: list[str]) -> Family:
        fam = Family(name, text, "histogram", ["model", "version"])
        cumulative = []
        running = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
        fam.add_histogram(labels, cumulative, self.sum)
        return fam


def _counter(name: str, text: str, labels: list[str]) -> Family:
    return Family(f"{PREFIX}_{name}", text, "counter", labels)


def _gauge(name: str, text: str, labels: list[str]) -> Family:
    return Family(f"{PREFIX}_{name}", text, "gauge", labels)


def families(m: SidecarMetrics) -> Iterator[Family]:
    """Every family of the sidecar, read at scrape time."""
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
    requests = _counter("requests", "Requests by status code.", [*names, "code"])
    errors = _counter(
        "errors",
        "Error responses (status >= 500) by status code and source (model, or sidecar: model down, timeout).",
        [*names, "code", "source"],
    )
    by_code: dict[str, int] = {}
    for (status, source), count in sorted(m.requests.items()):
        code = str(status)
        by_code[code] = by_code.get(code, 0) + count
        if status >= 500:
            errors.add([*labels, code, source], count)
    for code, count in by_code.items():
        requests.add([*labels, code], count)
    parse = _counter(
        "parse_failures",
        "Captured bodies that could not be decoded (not JSON, or not the protocol's shape), by part.",
        [*names, "part"],
    )
    for part, count in sorted(m.parse_failures.items()):
        parse.add([*labels, part], count)
    dropped = _counter(
        "captures_dropped", "Captures dropped to protect traffic and memory, by reason.", [*names, "reason"]
    )
    for reason, count in sorted(m.drops.items()):
        dropped.add([*labels, reason], count)
    yield from (requests, errors, parse, dropped)

    window = m.window
    rows = _gauge("window_rows", "Rows held in the capture window.", names)
    pending = _gauge("labels_pending", "Labels waiting for their prediction.", names)
    captured = _counter("captured_rows", "Rows captured into the window.", names)
    fed = _counter(
        "feedback_labels",
        "Ground-truth labels received, by result (joined, lost after the TTL, invalid).",
        [*names, "result"],
    )
    queue = _gauge("capture_queue_depth", "Exchanges waiting in the capture queue.", names)
    if window is not None:
        window.evict()  # expire waiting labels so 'lost' is current at every scrape
        rows.add(labels, len(window.rows))
        pending.add(labels, len(window.pending))
        captured.add(labels, window.rows_total)
        fed.add([*labels, "joined"], window.labels_joined)
        fed.add([*labels, "lost"], window.labels_lost)
        fed.add([*labels, "invalid"], window.labels_invalid)
    queue.add(labels, m.queue_depth())
    yield from (rows, pending, captured, fed, queue)

    denied = _counter(
        "admin_denied",
        "Requests to /v1/window or /v1/feedback refused, by reason (missing or malformed bearer "
        "token: 401; wrong token, or no token file on a non-loopback address: 403).",
        [*names, "reason"],
    )
    for reason, count in sorted(m.denied.items()):
        denied.add([*labels, reason], count)
    stale = _counter(
        "upstream_stale",
        "Requests that met a kept-alive model connection closed under them, by outcome: retried on a "
        "fresh connection (idempotent method, or nothing sent yet) or not_retried (answered 502: a "
        "request whose bytes were sent is never sent twice unless its method is idempotent).",
        [*names, "outcome"],
    )
    for outcome, count in sorted(m.stale_counts().items()):
        stale.add([*labels, outcome], count)
    yield from (denied, stale)
    if m.retention is not None:
        yield from _lifecycle(m.retention, labels, names)
    explain = m.explain_stats()
    if explain is not None:  # explanations on
        yield from _explanations(explain, labels, names)


def _lifecycle(retention: Retention, labels: list[str], names: list[str]) -> Iterator[Family]:
    """The age of the oldest record of each store, and what retention and erasure removed."""
    oldest = _gauge(
        "oldest_record_age_seconds",
        "Age of the oldest record kept, by store (window rows, labels, audit segments, and the stores "
        "registered with the retention); 0 when the store is empty. Kept at most --retention.",
        [*names, "store"],
    )
    for store, age in sorted(retention.oldest_ages().items()):
        oldest.add([*labels, store], age)
    removed = _counter(
        "retention_removed",
        "Records removed for being older than --retention, by store (audit: segments).",
        [*names, "store"],
    )
    for store, count in sorted(retention.removed.items()):
        removed.add([*labels, store], count)
    erased = _counter(
        "erased_records", "Records removed by POST /v1/erase, by store (audit: lines).", [*names, "store"]
    )
    for store, count in sorted(retention.erased.items()):
        erased.add([*labels, store], count)
    yield from (oldest, removed, erased)


def _explanations(
    stats: tuple[dict[str, int], int, int], labels: list[str], names: list[str]
) -> Iterator[Family]:
    """What the explainer did (sidecar/explain.py): outcomes, model calls, background rows."""
    results, calls, background = stats
    explained = _counter(
        "explanations",
        "Sampled requests by outcome: explained, or the reason they were not (budget, queue_full, "
        "unencodable_<why>, no_background, model_status, model_timeout, ...).",
        [*names, "result"],
    )
    for result, count in sorted(results.items()):
        explained.add([*labels, result], count)
    model_calls = _counter("explain_model_calls", "Calls to the model made for explanations.", names)
    model_calls.add(labels, calls)
    rows = _gauge("explain_background_rows", "Reference rows the explanations perturb from.", names)
    rows.add(labels, background)
    yield from (explained, model_calls, rows)


class SidecarMetrics:
    """All sidecar metrics; ``observe`` is called once per finished exchange, from the event loop."""

    def __init__(self, model: str, version: str, window: Window | None = None) -> None:
        self.model = model
        self.version = version
        self.window = window
        self.queue_depth: Callable[[], int] = lambda: 0
        self.stale_counts: Callable[[], dict[str, int]] = dict  # set by the wiring to the proxy's counts
        self.retention: Retention | None = None  # set by the wiring: record ages, retention, erasure
        # (results by reason, model calls, background rows) when explanations are on
        self.explain_stats: Callable[[], tuple[dict[str, int], int, int] | None] = lambda: None
        self.denied: dict[str, int] = {}
        self.latency = FastHistogram()
        self.model_latency = FastHistogram()
        self.requests: dict[tuple[int, str], int] = {}
        self.parse_failures: dict[str, int] = {}
        self.drops: dict[str, int] = {}

    def render(self) -> bytes:
        """All metrics in the Prometheus text format (``exposition.CONTENT_TYPE``)."""
        return render(families(self))

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
