"""The operator's own /metrics: evaluations, durations, failures, and per-monitor figures.

Per-monitor gauges (phase, drift share, feature drift scores, p95, error rate, conditions, realized
quality metrics, label coverage, segment ratios) are for
Grafana and Alertmanager; their series are removed when a monitor is deleted.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from modelmonitor.api.status import Phase

REGISTRY = CollectorRegistry(auto_describe=True)
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
_KEYS = ["namespace", "monitor"]
PHASE = Gauge(
    f"{PREFIX}_monitor_phase",
    "1, labelled with the monitor's current phase.",
    [*_KEYS, "phase"],
    registry=REGISTRY,
)
CONDITION = Gauge(
    f"{PREFIX}_monitor_condition",
    "1, labelled with the status (True, False, Unknown) each condition has now.",
    [*_KEYS, "type", "status"],
    registry=REGISTRY,
)
DRIFT_SHARE = Gauge(
    f"{PREFIX}_monitor_drift_share", "Share of features that drift (0-1).", _KEYS, registry=REGISTRY
)
FEATURE_DRIFT = Gauge(
    f"{PREFIX}_monitor_feature_drift_score",
    "Drift statistic of a feature (in the unit of its method).",
    [*_KEYS, "feature", "method"],
    registry=REGISTRY,
)
LATENCY_P95 = Gauge(
    f"{PREFIX}_monitor_latency_p95_seconds", "p95 latency through the sidecar.", _KEYS, registry=REGISTRY
)
ERROR_RATE = Gauge(f"{PREFIX}_monitor_error_rate", "Share of 5xx responses (0-1).", _KEYS, registry=REGISTRY)
QUALITY = Gauge(
    f"{PREFIX}_monitor_quality",
    "Realized quality metric on the labelled rows of the window (accuracy, auc, rmse...).",
    [*_KEYS, "metric"],
    registry=REGISTRY,
)
LABEL_COVERAGE = Gauge(
    f"{PREFIX}_monitor_label_coverage",
    "Share of predictions (older than labelDelay, when set) that have a label (0-1).",
    _KEYS,
    registry=REGISTRY,
)
SEGMENT_RATIO = Gauge(
    f"{PREFIX}_monitor_segment_ratio",
    "Lowest judged group's metric over the highest group's, per segment feature (0-1).",
    [*_KEYS, "feature", "metric"],
    registry=REGISTRY,
)

EXPERIMENT_EFFECT = Gauge(
    f"{PREFIX}_experiment_effect",
    "A/B test: challenger minus champion on the tested statistic.",
    [*_KEYS, "metric"],
    registry=REGISTRY,
)
EXPERIMENT_P_VALUE = Gauge(
    f"{PREFIX}_experiment_p_value", "A/B test: the always-valid p-value (mSPRT).", _KEYS, registry=REGISTRY
)
EXPERIMENT_VALUE = Gauge(
    f"{PREFIX}_experiment_value",
    "A/B test: the compared metric per variant (champion, challenger).",
    [*_KEYS, "metric", "variant"],
    registry=REGISTRY,
)
EXPERIMENT_ROWS = Gauge(
    f"{PREFIX}_experiment_rows", "A/B test: rows counted per variant.", [*_KEYS, "variant"], registry=REGISTRY
)

_lock = threading.Lock()
_features: dict[tuple[str, str], set[tuple[str, str]]] = {}
_conditions: dict[tuple[str, str], set[tuple[str, str]]] = {}
_quality: dict[tuple[str, str], set[tuple[Gauge, tuple[str, ...]]]] = {}  # the quality series set
_experiments: dict[tuple[str, str], set[tuple[Gauge, tuple[str, ...]]]] = {}  # the A/B test's series
_known: set[tuple[str, str]] = set()


def serve(address: str) -> None:
    """Serve /metrics on ``host:port`` (an empty address serves nothing)."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)


def record(namespace: str, monitor: str, status: dict[str, Any], drift: dict[str, Any] | None) -> None:
    """Set the per-monitor series from the status just written."""
    key = (namespace, monitor)
    with _lock:
        _known.add(key)
        MONITORS.set(len(_known))
    # One series per monitor for its phase and one per condition type, labelled with the current
    # value (the others removed): at 1,000 monitors, a series for every possible value would triple
    # what Prometheus scrapes and what /metrics has to render.
    phase = status.get("phase")
    if phase:
        PHASE.labels(namespace, monitor, phase).set(1)
        for other in Phase:
            if other.value != phase:
                _remove(PHASE, namespace, monitor, other.value)
    slo = status.get("slo") or {}
    if slo.get("latencyP95Ms") is not None:
        LATENCY_P95.labels(namespace, monitor).set(float(slo["latencyP95Ms"]) / 1000)
    if slo.get("errorRate") is not None:
        ERROR_RATE.labels(namespace, monitor).set(float(slo["errorRate"]))
    with _lock:
        seen = _conditions.setdefault(key, set())
        for cond in status.get("conditions") or []:
            CONDITION.labels(namespace, monitor, cond["type"], cond["status"]).set(1)
            seen.add((cond["type"], cond["status"]))
            for value in ("True", "False", "Unknown"):
                if value != cond["status"] and (cond["type"], value) in seen:
                    _remove(CONDITION, namespace, monitor, cond["type"], value)
                    seen.discard((cond["type"], value))
        _record_quality(key, status.get("performance"))
        _record_experiment(key, status.get("experiment"))
        if drift is not None:
            DRIFT_SHARE.labels(namespace, monitor).set(float(drift["drift_share"]))
            now = set()
            for f in drift["features"]:
                if f.get("statistic") is not None:
                    labels = (str(f["name"]), str(f.get("method")))
                    FEATURE_DRIFT.labels(namespace, monitor, *labels).set(float(f["statistic"]))
                    now.add(labels)
            for stale in _features.get(key, set()) - now:
                FEATURE_DRIFT.remove(namespace, monitor, *stale)
            _features[key] = now


def _record_quality(key: tuple[str, str], performance: Any) -> None:
    """The quality series of one monitor from ``status.performance`` (those gone are removed).
    Called with the lock held."""
    now: set[tuple[Gauge, tuple[str, ...]]] = set()
    if isinstance(performance, dict):
        for name, value in (performance.get("metrics") or {}).items():
            QUALITY.labels(*key, name).set(float(value))
            now.add((QUALITY, (*key, name)))
        if performance.get("labelCoverage") is not None:
            LABEL_COVERAGE.labels(*key).set(float(performance["labelCoverage"]))
            now.add((LABEL_COVERAGE, key))
        for seg in performance.get("segments") or []:
            if seg.get("ratio") is not None:
                segment = (*key, str(seg["feature"]), str(seg["metric"]))
                SEGMENT_RATIO.labels(*segment).set(float(seg["ratio"]))
                now.add((SEGMENT_RATIO, segment))
    if performance is None:
        return  # not evaluated this time (or no spec.performance): the series stay as they were
    for gauge, series in _quality.get(key, set()) - now:
        _remove(gauge, *series)
    _quality[key] = now


def _record_experiment(key: tuple[str, str], experiment: Any) -> None:
    """The A/B test's series from ``status.experiment`` (kept in the same set as the quality series,
    so what a status no longer has goes, and a deleted monitor's go with it). Lock held."""
    if not isinstance(experiment, dict):
        return
    now: set[tuple[Gauge, tuple[str, ...]]] = set()
    metric = str(experiment.get("metric") or "")
    figures: list[tuple[Gauge, tuple[str, ...], Any]] = [
        (EXPERIMENT_EFFECT, (*key, metric), experiment.get("effect")),
        (EXPERIMENT_P_VALUE, key, experiment.get("pValue")),
    ]
    for variant in ("champion", "challenger"):
        seen = experiment.get(variant) or {}
        figures += [(EXPERIMENT_VALUE, (*key, metric, variant), seen.get("value")),
                    (EXPERIMENT_ROWS, (*key, variant), seen.get("rows"))]  # fmt: skip
    for gauge, labels, value in figures:
        if value is not None:
            gauge.labels(*labels).set(float(value))
            now.add((gauge, labels))
    held = _experiments.get(key, set())
    for gauge, series in held - now:
        _remove(gauge, *series)
    _experiments[key] = now


def forget(namespace: str, monitor: str) -> None:
    """Drop every series of a deleted monitor."""
    key = (namespace, monitor)
    with _lock:
        _known.discard(key)
        MONITORS.set(len(_known))
        for p in Phase:
            _remove(PHASE, namespace, monitor, p.value)
        for gauge in (DRIFT_SHARE, LATENCY_P95, ERROR_RATE):
            _remove(gauge, namespace, monitor)
        for labels in _features.pop(key, set()):
            _remove(FEATURE_DRIFT, namespace, monitor, *labels)
        for labels in _conditions.pop(key, set()):
            _remove(CONDITION, namespace, monitor, *labels)
        for gauge, series in _quality.pop(key, set()) | _experiments.pop(key, set()):
            _remove(gauge, *series)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
