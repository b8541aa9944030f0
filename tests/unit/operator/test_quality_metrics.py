"""The operator's /metrics carries the quality figures of each monitor, and drops them with it."""

from __future__ import annotations

from prometheus_client import generate_latest

from modelmonitor.operator import metrics


def series(name: str) -> dict[frozenset[tuple[str, str]], float]:
    out = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("monitor") == "q":
                out[frozenset(sample.labels.items())] = sample.value
    return out


def test_quality_metrics_label_coverage_and_segment_ratios_follow_the_status() -> None:
    status = {"phase": "Degraded", "performance": {
        "metrics": {"accuracy": 0.61, "auc": 0.83}, "labelCoverage": 0.9,
        "segments": [{"feature": "applicant_group", "metric": "approval_rate", "ratio": 0.47}, {"feature": "x", "metric": "accuracy"}],
    }}  # fmt: skip
    metrics.record("ns", "q", status, None)
    quality = series("modelmonitor_monitor_quality")
    assert quality == {
        frozenset({("namespace", "ns"), ("monitor", "q"), ("metric", "accuracy")}): 0.61,
        frozenset({("namespace", "ns"), ("monitor", "q"), ("metric", "auc")}): 0.83,
    }
    assert list(series("modelmonitor_monitor_label_coverage").values()) == [0.9]
    assert list(series("modelmonitor_monitor_segment_ratio").values()) == [0.47]  # the unjudged one has none
    # A metric no longer reported goes; an evaluation without status.performance leaves them alone.
    metrics.record("ns", "q", {"performance": {"metrics": {"auc": 0.8}}}, None)
    assert list(series("modelmonitor_monitor_quality").values()) == [0.8]
    assert (
        series("modelmonitor_monitor_segment_ratio") == {}
        and series("modelmonitor_monitor_label_coverage") == {}
    )
    metrics.record("ns", "q", {"phase": "Unknown"}, None)
    assert list(series("modelmonitor_monitor_quality").values()) == [0.8]
    metrics.forget("ns", "q")
    assert series("modelmonitor_monitor_quality") == {}
    assert b'monitor="q"' not in generate_latest(metrics.REGISTRY)
