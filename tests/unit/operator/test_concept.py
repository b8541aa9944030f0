"""ConceptDrift through the Reconciler: the error stream of labelled predictions, fed once each in
prediction-time order across evaluations, its detector kept in the monitor's state ConfigMap so a
restarted operator resumes it exactly; only a rise of the error counts."""

from __future__ import annotations

import datetime
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.workload.state import STATE_KEY, state_name
from tests.unit.operator.fakes import T0, FakeKube, condition, monitor_spec, reconciler, request
from tests.unit.operator.test_integrity import kube_for

STATE = state_name("x")


def rows(start: float, n: int, error: float, seed: int) -> pd.DataFrame:
    """``n`` labelled predictions from ``start`` (unix s), one a second, wrong with probability ``error``."""
    rng = np.random.default_rng(seed)
    prediction = rng.integers(0, 2, n)
    label = np.where(rng.random(n) < error, 1 - prediction, prediction)
    return pd.DataFrame({
        "x": rng.normal(size=n), "__id": [f"{seed}-{i}" for i in range(n)], "__ts": start + np.arange(n),
        "__prediction": prediction.tolist(), "__label": label.tolist(), "__label_ts": start + n,
    })  # fmt: skip


class Stream:
    """The window the sidecars hold: rows appended over time (the window keeps them all here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frame = pd.DataFrame()
        monkeypatch.setattr(
            sidecars, "read_window", lambda endpoints, **_: sidecars.Window(self.frame, list(endpoints))
        )

    def add(self, more: pd.DataFrame) -> None:
        self.frame = pd.concat([self.frame, more], ignore_index=True)


def spec(**concept: Any) -> dict[str, Any]:
    return monitor_spec(
        window={"maxRows": 100_000, "maxAge": "24h"},
        drift={"reference": {"capture": {"rows": 1_000_000}}},
        performance={"task": "binary-classification", "minLabels": 200, "conceptDrift": {"detector": "adwin", **concept}},
    )  # fmt: skip


def evaluate(
    kube: FakeKube, s: dict[str, Any], at: float, status: dict[str, Any], rec: Any = None
) -> dict[str, Any]:
    now = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    outcome = (rec or reconciler(kube)).reconcile(request(s, now=now, status=status))
    assert outcome.evaluated
    return {**status, **outcome.status_patch}


def test_a_rise_of_the_error_is_concept_drift_and_a_restart_resumes_the_detector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = T0.timestamp()
    s = spec()
    runs = []
    for restart in (False, True):
        stream, kube = Stream(monkeypatch), kube_for(s)
        rec = reconciler(kube)
        status: dict[str, Any] = {}
        seen = []
        for step, error in enumerate([0.1, 0.1, 0.1, 0.4, 0.4]):
            stream.add(rows(t + step * 1000, 1000, error, seed=step))
            if restart:
                rec = reconciler(kube)  # a new operator process: only the ConfigMap carries the detector
            status = evaluate(kube, s, t + step * 1000 + 1000, status, rec)
            status["lastEvaluation"] = None  # due again at the next step
            seen.append(
                (condition(status, "ConceptDrift")["status"], status["performance"]["concept"]["rows"])
            )
        runs.append(
            (seen, status["performance"]["concept"], json.loads(kube.configmaps[STATE]["data"][STATE_KEY]))
        )
    (seen, concept, stored), (seen_restarted, concept_restarted, stored_restarted) = runs
    assert seen == [("False", 1000), ("False", 2000), ("False", 3000), ("True", 4000), ("True", 5000)]
    assert seen_restarted == seen and concept_restarted == concept  # fired at exactly the same row
    assert stored_restarted["concept"]["detector"] == stored["concept"]["detector"]
    assert concept["errorBefore"] < 0.2 < 0.3 < concept["errorAfter"]
    assert 2500 <= concept["row"] <= 3100  # the rise began at row 3000 (ADWIN's estimate is early)
    c = condition(status, "ConceptDrift")
    assert c["reason"] == "ErrorRateRose" and "adwin, delta 0.002" in c["message"]


def test_a_falling_error_is_not_concept_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    t = T0.timestamp()
    s = spec()
    stream, kube = Stream(monkeypatch), kube_for(spec())
    status: dict[str, Any] = {}
    for step, error in enumerate([0.4, 0.4, 0.05, 0.05]):
        stream.add(rows(t + step * 1000, 1000, error, seed=10 + step))
        status = evaluate(kube, s, t + step * 1000 + 1000, status)
        status["lastEvaluation"] = None
        assert condition(status, "ConceptDrift")["status"] == "False"
    assert condition(status, "ConceptDrift")["reason"] == "Stable"


def test_predictions_younger_than_the_label_delay_wait_and_few_labels_are_insufficient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = T0.timestamp()
    s = spec()
    s["performance"]["labelDelay"] = "10m"
    stream, kube = Stream(monkeypatch), kube_for(s)
    stream.add(rows(t, 1000, 0.1, seed=1))  # predictions from t to t+999
    status = evaluate(kube, s, t + 1000, status={})  # only the first 401 are 10 minutes old
    assert status["performance"]["concept"]["rows"] == 401  # t .. t+400: old enough to have a label
    status["lastEvaluation"] = None
    status = evaluate(kube, s, t + 1000 + 300, status)
    assert status["performance"]["concept"]["rows"] == 701  # fed once each, in order
    s["performance"]["minLabels"] = 5000
    c = condition(evaluate(kube, s, t + 2000, {}), "ConceptDrift")
    assert (c["status"], c["reason"]) == ("Unknown", "InsufficientData")


def test_a_configmap_of_that_name_that_is_not_ours_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec()
    stream, kube = Stream(monkeypatch), kube_for(s)
    stream.add(rows(T0.timestamp() - 2000, 1000, 0.1, seed=3))
    foreign = {"metadata": {"name": STATE, "resourceVersion": "7", "labels": {"app": "other"}},
               "data": {STATE_KEY: json.dumps({"concept": {"detector": "not this"}})}}  # fmt: skip
    kube.configmaps[STATE] = json.loads(json.dumps(foreign))
    outcome = reconciler(kube).reconcile(request(s))
    assert kube.configmaps[STATE] == foreign and kube.count("merge_patch_configmap") == 0
    assert any(
        n.reason == "StateNotSaved" and "is not this monitor's state" in n.message for n in outcome.notes
    )
    assert outcome.status_patch["performance"]["concept"]["rows"] == 1000  # evaluated afresh


def test_an_unusable_checkpoint_restarts_the_detector_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec()
    stream, kube = Stream(monkeypatch), kube_for(s)
    t = T0.timestamp()
    stream.add(rows(t - 2000, 1000, 0.1, seed=4))
    status = evaluate(kube, s, t, {})
    stored = json.loads(kube.configmaps[STATE]["data"][STATE_KEY])
    stored["concept"]["detector"]["river"] = "0.0.1"  # written by another river version
    kube.configmaps[STATE]["data"][STATE_KEY] = json.dumps(stored)
    status["lastEvaluation"] = None
    stream.add(rows(t - 1000, 1000, 0.1, seed=5))
    status = evaluate(kube, s, t + 1, status)
    c = condition(status, "ConceptDrift")
    assert "restarted: the kept checkpoint was not usable" in c["message"]
    assert status["performance"]["concept"]["rows"] == 2000  # the whole window, fed to a new detector
