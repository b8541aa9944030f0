"""A window whose features break (gone, all null, retyped) sets DataIntegrity, shows them in status,
and triggers the actions keyed on it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.drift import build_profile
from modelmonitor.gather import reference
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.unit.operator.fakes import (
    FakeKube,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
)

ROWS = 400
DRIFTING = [f"drifting_{i:02d}" for i in range(12)]
BROKEN = ["gone", "empty", "retyped"]


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({n: rng.normal(0, 1, ROWS) for n in [*DRIFTING, *BROKEN]})
    # Every drifting feature moves far, so they all outrank the broken ones on score.
    cur = pd.DataFrame({n: rng.normal(5 + i, 1, ROWS) for i, n in enumerate(DRIFTING)})
    cur["empty"] = np.nan
    cur["retyped"] = [f"v{i}" for i in range(ROWS)]
    return ref, cur  # "gone" is not in the window at all


def pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "x-aaaa-1", "labels": {"app": "x"},
                     "ownerReferences": [{"kind": "ReplicaSet", "uid": "rs-a", "controller": True}]},
        "spec": {"containers": [{"name": "model"}, {"name": SIDECAR_NAME}]},
        "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


def kube_for(spec: dict[str, Any]) -> FakeKube:
    kube = FakeKube()
    kube.deployments["x"] = injected(deployment(), spec)
    kube.replicasets = [{"metadata": {"name": "rs-a", "uid": "rs-a", "labels": {"app": "x", "pod-template-hash": "aaaa"},
                                      "ownerReferences": [{"kind": "Deployment", "uid": "dep-x", "controller": True}]}}]  # fmt: skip
    kube.pods = [pod()]
    return kube


def serve(monkeypatch: pytest.MonkeyPatch, ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    """The sidecar window is ``cur``; the reference profile is built from ``ref``."""
    profile = build_profile(ref)
    monkeypatch.setattr(sidecars, "read_window", lambda endpoints, **_: sidecars.Window(cur, list(endpoints)))
    monkeypatch.setattr(reference, "load_reference", lambda *a, **k: reference.Reference(profile))


def spec(**fields: Any) -> dict[str, Any]:
    return monitor_spec(drift={"reference": {"configMapRef": {"name": "ref"}}, "minRows": 100}, **fields)


def test_broken_features_set_data_integrity_and_stay_in_status_below_the_top_ten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref, cur = frames()
    serve(monkeypatch, ref, cur)
    s = spec()

    outcome = reconciler(kube_for(s)).reconcile(request(s))

    assert outcome.evaluated
    integrity = condition(outcome.status_patch, "DataIntegrity")
    assert (integrity["status"], integrity["reason"]) == ("True", "FeaturesBroken")
    message = integrity["message"]
    assert message.startswith("3 of 15 features broken: ")
    assert "gone (missing)" in message and "empty (all null)" in message
    assert "retyped (type changed from number to string)" in message
    assert condition(outcome.status_patch, "DataDrift")["status"] == "True"  # judged as before
    drift = outcome.status_patch["drift"]
    listed = [f["name"] for f in drift["features"]]
    assert listed[:10] == [n for n in listed if n.startswith("drifting_")][:10]  # the top ten as before
    assert set(BROKEN) <= set(listed)
    assert sorted(b["name"] for b in drift["brokenFeatures"]) == sorted(BROKEN)
    assert outcome.status_patch["phase"] == "Drifting"


def test_an_intact_window_gives_data_integrity_false(monkeypatch: pytest.MonkeyPatch) -> None:
    ref, _ = frames()
    serve(monkeypatch, ref, ref.sample(frac=1.0, random_state=2).reset_index(drop=True))
    s = spec()

    patch = reconciler(kube_for(s)).reconcile(request(s)).status_patch

    integrity = condition(patch, "DataIntegrity")
    assert (integrity["status"], integrity["reason"]) == ("False", "Intact")
    assert patch["drift"]["brokenFeatures"] == []
    assert [f["name"] for f in patch["drift"]["features"]] and len(patch["drift"]["features"]) == 10


def test_no_window_gives_data_integrity_unknown_like_data_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sidecars, "read_window",
        lambda endpoints, **_: sidecars.Window(pd.DataFrame(), pods_failed={p: f"{p}: refused" for p in endpoints}),
    )  # fmt: skip
    s = spec()

    patch = reconciler(kube_for(s)).reconcile(request(s)).status_patch

    for kind in ("DataIntegrity", "DataDrift"):
        assert (condition(patch, kind)["status"], condition(patch, kind)["reason"]) == (
            "Unknown", "SidecarUnreachable",
        )  # fmt: skip
    assert patch["drift"]["brokenFeatures"] == []


def test_a_retrain_keyed_on_data_integrity_starts_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    ref, cur = frames()
    cur = cur.assign(**{n: ref[n] for n in DRIFTING})  # no drift: only integrity is broken
    serve(monkeypatch, ref, cur)
    template = {
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "t"}]}}
        }
    }
    s = spec(actions={"retrain": {"when": ["DataIntegrity"], "jobTemplate": template, "cooldown": "1h",
                                  "serviceAccountName": "trainer"}})  # fmt: skip
    kube = kube_for(s)
    kube.namespace_labels["ns"] = {"modelmonitor.io/retrain": "true"}

    patch = reconciler(kube).reconcile(request(s)).status_patch

    assert condition(patch, "DataDrift")["status"] == "False"
    assert condition(patch, "DataIntegrity")["status"] == "True"
    (created,) = kube.created_jobs
    assert patch["retrain"]["job"] == created["metadata"]["name"]
    assert patch["retrain"]["reason"] == "DataIntegrity"
