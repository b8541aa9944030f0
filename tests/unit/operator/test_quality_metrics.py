"""The operator's /metrics carries the quality figures of each monitor, and drops them with it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modelmonitor.operator import metrics


def series(name: str) -> dict[frozenset[tuple[str, str]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
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
    assert b'monitor="q"' not in metrics.exposition()


def test_an_experiments_figures_follow_the_status_and_go_with_the_monitor() -> None:
    experiment = {"metric": "accuracy", "effect": 0.12, "pValue": 0.003,
                  "champion": {"value": 0.7, "rows": 400}, "challenger": {"value": 0.82, "rows": 390}}  # fmt: skip
    metrics.record("ns", "q", {"experiment": experiment}, None)
    assert list(series("modelmonitor_experiment_effect").values()) == [0.12]
    assert list(series("modelmonitor_experiment_p_value").values()) == [0.003]
    values = {dict(k)["variant"]: v for k, v in series("modelmonitor_experiment_value").items()}
    assert values == {"champion": 0.7, "challenger": 0.82}
    rows = {dict(k)["variant"]: v for k, v in series("modelmonitor_experiment_rows").items()}
    assert rows == {"champion": 400, "challenger": 390}
    # A new experiment without figures yet: the old ones go.
    metrics.record("ns", "q", {"experiment": {"metric": "accuracy", "champion": {"rows": 0}}}, None)
    assert series("modelmonitor_experiment_effect") == {} and series("modelmonitor_experiment_p_value") == {}
    assert list(series("modelmonitor_experiment_rows").values()) == [0]
    metrics.forget("ns", "q")
    assert series("modelmonitor_experiment_rows") == {}
