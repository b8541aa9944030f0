"""What nothing evaluates yet says so: Unknown/NotImplemented, and the phase does not change for it."""

from __future__ import annotations

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.unbuilt import judge_unbuilt
from modelmonitor.policy.verdict import phase_of


def spec(**extra: object) -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "credit"}, **extra})


def test_nothing_is_said_when_nothing_unbuilt_is_asked_for() -> None:
    assert judge_unbuilt(spec()) == []


def test_an_experiment_says_not_implemented() -> None:
    verdicts = judge_unbuilt(spec(
        performance={"task": "binary-classification", "metrics": [{"name": "accuracy", "min": 0.8}],
                     "segments": [{"feature": "applicant_group", "metric": "approval_rate", "minRatio": 0.8}],
                     "conceptDrift": {"detector": "adwin"}},
        experiment={"challenger": {"deployment": "credit-v2"}, "metric": "accuracy"},
    ))  # fmt: skip
    by_type = {v.type: v for v in verdicts}
    # Performance, fairness and concept drift are evaluated (evaluate/performance.py, fairness.py, concept.py).
    assert set(by_type) == {"Experiment"}
    assert {(v.status, v.reason) for v in verdicts} == {("Unknown", "NotImplemented")}
    assert (
        "credit-v2" in by_type["Experiment"].message
        and "nothing is promoted" in by_type["Experiment"].message
    )
    assert all("does not evaluate it yet" in v.message for v in verdicts)


def test_the_phase_ignores_not_implemented() -> None:
    healthy = [
        Verdict("SLOBreached", "False", "WithinObjectives", ""),
        Verdict("DataDrift", "False", "NoDrift", ""),
    ]
    unbuilt = judge_unbuilt(spec(experiment={"challenger": {"deployment": "v2"}, "metric": "accuracy"}))
    assert unbuilt and phase_of(healthy + unbuilt) == "Healthy"
    # Other Unknowns still count.
    assert (
        phase_of([*healthy, Verdict("SLOBreached", "Unknown", "PrometheusUnavailable", ""), *unbuilt])
        == "Unknown"
    )
