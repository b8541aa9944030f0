"""Model quality through the Reconciler: realized metrics from labels joined to predictions
(PerformanceDegraded, LabelsStale) and fairness by segment (FairnessViolated), on captured windows.

The credit-scoring example: a model that approves applicant group B far less often than A and C,
and whose accuracy on the labels that came back is below its bound."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from modelmonitor.adapters import sidecars
from tests.unit.operator.fakes import T0, condition, monitor_spec, reconciler, request
from tests.unit.operator.test_integrity import kube_for

NOW = T0.timestamp()


def window(rows: int = 3000, *, labelled: float = 1.0, b_approval: float = 0.25, accuracy: float = 0.9,
           seed: int = 3, age: float = 7200.0, label_age: float = 60.0) -> pd.DataFrame:  # fmt: skip
    """Captured rows: ``applicant_group`` A/B/C, a score, the prediction at 0.5, and labels for a
    share of them that agree with the prediction with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B", "C"], rows, p=[0.4, 0.3, 0.3])
    approve = np.where(group == "B", b_approval, 0.6)
    score = np.clip(
        np.where(rng.random(rows) < approve, rng.uniform(0.5, 1, rows), rng.uniform(0, 0.5, rows)), 0, 1
    )
    prediction = (score >= 0.5).astype(int)
    truth = np.where(rng.random(rows) < accuracy, prediction, 1 - prediction)
    has_label = rng.random(rows) < labelled
    ts = NOW - age + np.arange(rows) * (age / rows)
    return pd.DataFrame({
        "income": rng.normal(50_000, 10_000, rows), "applicant_group": group,
        "__id": [f"r{i}" for i in range(rows)], "__ts": ts, "__version": "v1",
        "__prediction": prediction.tolist(), "__probabilities": [[1 - s, s] for s in score],
        "__label": [int(t) if h else None for t, h in zip(truth, has_label, strict=True)],
        "__label_ts": [NOW - label_age if h else None for h in has_label],
    })  # fmt: skip


def serve(monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame, waiting: int = 0) -> None:
    monkeypatch.setattr(
        sidecars, "read_window",
        lambda endpoints, **_: sidecars.Window(frame, list(endpoints), labels_waiting=waiting),
    )  # fmt: skip


def spec(**performance: Any) -> dict[str, Any]:
    return monitor_spec(
        drift={"reference": {"capture": {"rows": 50_000}}},  # still capturing: drift waits (Pending)
        performance={"task": "binary-classification", "minLabels": 200, **performance},
    )


def run(s: dict[str, Any]) -> dict[str, Any]:
    outcome = reconciler(kube_for(s)).reconcile(request(s))
    assert outcome.evaluated
    return outcome.status_patch


def test_accuracy_below_its_bound_is_performance_degraded_with_scikit_learns_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = window(accuracy=0.7)
    serve(monkeypatch, frame, waiting=4)
    patch = run(spec(metrics=[{"name": "accuracy", "min": 0.8}, {"name": "auc", "min": 0.5}]))

    c = condition(patch, "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("True", "MetricOutOfBounds")
    assert (
        c["message"].startswith("accuracy 0.")
        and "< 0.8" in c["message"]
        and "3000 labelled rows" in c["message"]
    )
    perf = patch["performance"]
    y_true, y_pred = frame["__label"].astype(int), frame["__prediction"].astype(int)
    assert perf["metrics"]["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-6)
    scores = [p[1] for p in frame["__probabilities"]]
    assert perf["metrics"]["auc"] == pytest.approx(roc_auc_score(y_true, scores), abs=1e-6)
    assert perf["labelledRows"] == 3000 and perf["rows"] == 3000 and perf["labelsWaiting"] == 4
    assert perf["labelCoverage"] == 1.0 and perf["summary"].startswith("accuracy 0.")
    assert patch["phase"] == "Degraded"


def test_within_bounds_and_without_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, window(accuracy=0.95))
    c = condition(run(spec(metrics=[{"name": "accuracy", "min": 0.8}])), "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("False", "WithinBounds")
    patch = run(spec())  # no bounds: the newest chunk against the baseline's band
    c = condition(patch, "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("False", "WithinBand")
    assert all(m in c["message"] for m in ("accuracy", "f1", "auc", "brier"))
    assert "the newest 200 labelled rows, against 10 baseline chunks" in c["message"]
    low, high = patch["performance"]["bands"]["accuracy"]
    assert low < 0.95 < high <= 1.0


def test_too_few_labels_is_insufficient_data_never_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, window(labelled=0.05, accuracy=0.3))  # ~150 labels, all of them bad
    patch = run(spec(metrics=[{"name": "accuracy", "min": 0.8}], minLabels=500))
    c = condition(patch, "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("Unknown", "InsufficientData")
    assert "fewer than spec.performance.minLabels=500" in c["message"]
    assert patch["performance"]["metrics"] == {} and patch["phase"] == "Pending"


def test_a_group_approved_far_less_often_is_named_by_fairness_violated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve(monkeypatch, window(labelled=0.0))  # approval rates need no labels
    patch = run(spec(segments=[{"feature": "applicant_group", "metric": "approval_rate", "minRatio": 0.8}]))
    c = condition(patch, "FairnessViolated")
    assert (c["status"], c["reason"]) == ("True", "GroupBelowRatio")
    assert c["message"].startswith("approval_rate of applicant_group=B is 0.2")
    (seg,) = patch["performance"]["segments"]
    assert seg["worstGroup"] == "B" and seg["bestGroup"] in ("A", "C") and seg["passed"] is False
    assert (
        seg["ratio"] == pytest.approx(seg["worstValue"] / seg["bestValue"], abs=1e-6) and seg["ratio"] < 0.5
    )
    assert seg["judgedGroups"] == 3 and seg["rows"] == 3000
    assert patch["phase"] == "Degraded"


def test_equal_groups_pass_and_small_groups_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, window(b_approval=0.6))
    c = condition(
        run(spec(segments=[{"feature": "applicant_group", "metric": "accuracy"}])), "FairnessViolated"
    )
    assert (c["status"], c["reason"]) == ("False", "WithinRatio")
    c = condition(run(spec(segments=[{"feature": "applicant_group", "minRows": 5000}])), "FairnessViolated")
    assert (c["status"], c["reason"]) == ("Unknown", "InsufficientData")
    c = condition(run(spec(segments=[{"feature": "zip_code"}])), "FairnessViolated")
    assert c["status"] == "Unknown" and "zip_code: not a captured feature" in c["message"]


def test_labels_stale_when_none_arrived_for_twice_the_declared_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, window(labelled=0.5, label_age=3 * 600))
    c = condition(run(spec(labelDelay="10m")), "LabelsStale")
    assert (c["status"], c["reason"]) == ("True", "LabelsStopped")
    assert "the last label arrived 1800s ago (labelDelay 10m)" in c["message"]
    serve(monkeypatch, window(labelled=0.5, label_age=60))
    patch = run(spec(labelDelay="10m"))
    c = condition(patch, "LabelsStale")
    assert (c["status"], c["reason"]) == ("False", "LabelsArriving")
    assert 0.4 < patch["performance"]["labelCoverage"] < 0.6
    serve(monkeypatch, window(labelled=0.5, age=300))  # every prediction is younger than the delay
    c = condition(run(spec(labelDelay="10m")), "LabelsStale")
    assert (c["status"], c["reason"]) == ("Unknown", "InsufficientData")


def test_no_captured_traffic_is_unknown_for_quality(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecars, "read_window", lambda endpoints, **_: sidecars.Window(
        pd.DataFrame(), [], {p: f"{p}: connection refused" for p in endpoints}))  # fmt: skip
    patch = run(spec(segments=[{"feature": "applicant_group"}], labelDelay="10m"))
    for kind in ("PerformanceDegraded", "FairnessViolated", "LabelsStale"):
        c = condition(patch, kind)
        assert (c["status"], c["reason"]) == ("Unknown", "SidecarUnreachable"), kind
    assert patch["phase"] == "Unknown"


def miscalibrated(rows: int, seed: int = 8) -> pd.DataFrame:
    """A model whose score is the true probability cubed: ranked right, calibrated badly."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, rows)
    score = p**3
    label = (rng.random(rows) < p).astype(int)
    return pd.DataFrame({
        "x": rng.normal(size=rows), "__id": [f"c{i}" for i in range(rows)], "__ts": NOW - 3600 + np.arange(rows) * 0.1,
        "__prediction": (score >= 0.5).astype(int).tolist(), "__probabilities": [[1 - s, s] for s in score],
        "__label": label.tolist(), "__label_ts": NOW - 10,
    })  # fmt: skip


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_recalibration_is_measured_held_out_and_published_for_a_model_server(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    import json

    from modelmonitor.quality.calibration import Calibrator
    from modelmonitor.workload.state import CALIBRATOR_KEY, state_name

    frame = miscalibrated(6000)
    serve(monkeypatch, frame)
    s = spec(calibration=method)
    kube = kube_for(s)
    patch = reconciler(kube).reconcile(request(s)).status_patch
    cal = patch["performance"]["calibration"]
    assert cal["method"] == method and cal["fitRows"] == 6000 and cal["heldOutRows"] == 1800
    after = cal["ecePlatt"] if method == "platt" else cal["eceIsotonic"]
    assert after < cal["ece"] / 2, cal  # the held-out ECE falls by more than half
    published = json.loads(kube.configmaps[state_name("x")]["data"][CALIBRATOR_KEY])
    assert published["format"] == "modelmonitor.calibrator/v1" and published["method"] == method
    scores = np.array([p[1] for p in frame["__probabilities"]])
    recalibrated = Calibrator.from_json(published).apply(scores)
    assert (
        abs(float(np.mean(recalibrated)) - float(frame["__label"].mean())) < 0.02
    )  # mean matches the base rate


def test_recalibration_that_cannot_be_fitted_says_why_and_publishes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelmonitor.workload.state import state_name

    serve(monkeypatch, miscalibrated(600))
    s = spec(calibration="isotonic")
    kube = kube_for(s)
    cal = reconciler(kube).reconcile(request(s)).status_patch["performance"]["calibration"]
    assert "1000" in cal["reason"] and state_name("x") not in kube.configmaps
    serve(monkeypatch, window())
    s = monitor_spec(performance={"task": "multiclass-classification", "calibration": "platt"})
    cal = reconciler(kube_for(s)).reconcile(request(s)).status_patch["performance"]["calibration"]
    assert cal["reason"] == "recalibration is fitted for binary-classification scores only"


def test_predictions_without_labels_get_cbpe_estimates_kept_apart_from_realized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = miscalibrated(8000, seed=12)
    hidden = frame["__label"].copy()
    later = np.arange(len(frame)) >= 4000  # the newest half: labels not back yet
    frame["__label"] = [None if h else v for v, h in zip(frame["__label"], later, strict=True)]
    serve(monkeypatch, frame)
    perf = run(spec(metrics=[{"name": "accuracy", "min": 0.5}]))["performance"]
    assert perf["labelledRows"] == 4000 and perf["estimatedRows"] == 4000
    truth, predicted = hidden[later].astype(int), frame["__prediction"][later].astype(int)
    actual = accuracy_score(truth, predicted)
    assert abs(perf["estimated"]["accuracy"] - actual) < 0.02, (perf["estimated"], actual)
    actual_auc = roc_auc_score(truth, [p[1] for p in frame["__probabilities"][later]])
    assert abs(perf["estimated"]["auc"] - actual_auc) < 0.02
    assert perf["metrics"]["accuracy"] != perf["estimated"]["accuracy"]  # realized: the labelled half only


def test_without_bounds_a_drop_below_the_baseline_band_is_performance_degraded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelmonitor.workload.state import STATE_KEY, state_name

    s = spec()
    serve(monkeypatch, window(1000))
    c = condition(run(s), "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("Unknown", "CapturingReference") and "1000/2000 labelled rows" in c[
        "message"
    ]

    good, bad = window(2800, accuracy=0.92, seed=4), window(200, accuracy=0.6, seed=5, age=100)
    serve(monkeypatch, pd.concat([good, bad], ignore_index=True))  # the newest 200 are the bad ones
    kube = kube_for(s)
    patch = reconciler(kube).reconcile(request(s)).status_patch
    c = condition(patch, "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("True", "OutsideBand")
    assert c["message"].startswith("accuracy 0.") and "outside [" in c["message"]
    assert patch["phase"] == "Degraded"
    kept = json.loads(kube.configmaps[state_name("x")]["data"][STATE_KEY])["qualityBaseline"]
    assert kept["chunk"] == 200 and kept["bands"]["accuracy"] == patch["performance"]["bands"]["accuracy"]

    # A new revision whose first rows are already bad is judged against the baseline kept from before.
    serve(monkeypatch, window(2400, accuracy=0.6, seed=6))
    c = condition(reconciler(kube).reconcile(request(s)).status_patch, "PerformanceDegraded")
    assert (c["status"], c["reason"]) == ("True", "OutsideBand")


def test_a_regressor_s_unlabelled_predictions_get_dle_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.metrics import mean_absolute_error

    rng = np.random.default_rng(21)
    rows = 4000
    x = rng.uniform(0, 4, rows)
    truth = 3 * x + rng.normal(0, 0.2 + 0.5 * x, rows)  # the error grows with x
    prediction = 3 * x
    later = np.arange(rows) >= 2000
    x[later] += 1.0  # the unlabelled half is shifted towards larger errors
    truth[later] = 3 * x[later] + rng.normal(0, 0.2 + 0.5 * x[later], later.sum())
    prediction[later] = 3 * x[later]
    frame = pd.DataFrame({
        "x": x, "__id": [f"g{i}" for i in range(rows)], "__ts": NOW - 3600 + np.arange(rows) * 0.5,
        "__prediction": prediction.tolist(), "__label": [None if h else float(t) for t, h in zip(truth, later, strict=True)],
        "__label_ts": NOW - 10,
    })  # fmt: skip
    serve(monkeypatch, frame)
    s = monitor_spec(performance={"task": "regression", "metrics": [{"name": "mae", "max": 10}]})
    perf = run(s)["performance"]
    actual = mean_absolute_error(truth[later], prediction[later])
    realized = perf["metrics"]["mae"]
    assert perf["estimatedRows"] == 2000
    assert abs(perf["estimated"]["mae"] - actual) / actual < 0.1, (perf["estimated"], actual)
    assert perf["estimated"]["mae"] > realized * 1.1  # the shift's larger errors show before their labels
