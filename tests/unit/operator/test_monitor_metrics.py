"""The operator's per-monitor series on /metrics: one per phase and condition (its current value),
drift per feature, the SLO figures; a status without a group keeps it, a deleted monitor's all go."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelmonitor.operator import metrics


def scraped(monitor: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """What a scrape of /metrics says of one monitor: family -> labels (without the keys) -> value."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    text = generate_latest(metrics.REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("monitor") == monitor and sample.labels.get("namespace") == "ns":
                rest = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in ("namespace", "monitor"))
                )
                out.setdefault(sample.name, {})[rest] = sample.value
    return out


def drift(**scores: float | None) -> dict[str, Any]:
    features = [{"name": n, "method": "ks", "statistic": s} for n, s in scores.items()]
    return {"drift_share": 0.5, "features": features}


def test_phase_conditions_drift_and_slo_follow_the_status_and_go_with_the_monitor() -> None:
    status = {
        "phase": "Degraded",
        "slo": {"latencyP95Ms": 250.0, "errorRate": 0.01},
        "conditions": [{"type": "DataDrift", "status": "True"}, {"type": "Ready", "status": "True"}],
    }
    metrics.record("ns", "m", status, drift(age=0.4, income=0.1, city=None))
    got = scraped("m")
    assert got["modelmonitor_monitor_phase"] == {(("phase", "Degraded"),): 1.0}
    assert got["modelmonitor_monitor_condition"] == {
        (("status", "True"), ("type", "DataDrift")): 1.0,
        (("status", "True"), ("type", "Ready")): 1.0,
    }
    assert got["modelmonitor_monitor_latency_p95_seconds"] == {(): 0.25}
    assert got["modelmonitor_monitor_error_rate"] == {(): 0.01}
    assert got["modelmonitor_monitor_drift_share"] == {(): 0.5}
    assert got["modelmonitor_monitor_feature_drift_score"] == {  # a feature without a statistic has none
        (("feature", "age"), ("method", "ks")): 0.4,
        (("feature", "income"), ("method", "ks")): 0.1,
    }
    # The next evaluation: a new phase, DataDrift turned False (Ready not said: kept), no SLO figures
    # and no drift report (kept as they were), one feature fewer.
    metrics.record(
        "ns", "m", {"phase": "Healthy", "conditions": [{"type": "DataDrift", "status": "False"}]}, None
    )
    got = scraped("m")
    assert got["modelmonitor_monitor_phase"] == {(("phase", "Healthy"),): 1.0}
    assert got["modelmonitor_monitor_condition"] == {
        (("status", "False"), ("type", "DataDrift")): 1.0,
        (("status", "True"), ("type", "Ready")): 1.0,
    }
    assert got["modelmonitor_monitor_latency_p95_seconds"] == {(): 0.25}
    assert len(got["modelmonitor_monitor_feature_drift_score"]) == 2
    metrics.record("ns", "m", {}, drift(age=0.3))
    assert scraped("m")["modelmonitor_monitor_feature_drift_score"] == {
        (("feature", "age"), ("method", "ks")): 0.3
    }
    metrics.record("ns", "other", {"phase": "Unknown"}, None)
    metrics.forget("ns", "m")
    assert scraped("m") == {} and scraped("other") == {
        "modelmonitor_monitor_phase": {(("phase", "Unknown"),): 1.0}
    }
    metrics.forget("ns", "other")
    # Every family is still declared (HELP and TYPE) with no monitor left, as dashboards expect.
    declared = {f.name for f in text_string_to_metric_families(generate_latest(metrics.REGISTRY).decode())}
    assert {f.name for f in metrics.FAMILIES} <= declared


def test_a_status_that_cannot_be_read_as_figures_changes_nothing() -> None:
    metrics.record("ns", "bad", {"phase": "Healthy", "slo": {"errorRate": 0.02}}, None)
    before = scraped("bad")
    with pytest.raises(ValueError):
        metrics.record("ns", "bad", {"phase": "Degraded", "slo": {"errorRate": "n/a"}}, None)
    assert scraped("bad") == before  # nothing half-applied: the phase is still the old one
    metrics.forget("ns", "bad")
