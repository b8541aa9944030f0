"""status.drift.attribution through the reconciler: with spec.explain on, the pods' merged mean
attributions reach the status patch; with it off, the sidecars are not even asked."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.api.status import DriftStatus
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.unit.operator.fakes import FakeKube, deployment, injected, monitor_spec, reconciler, request

MERGED = {"explanations": 12, "output": "prediction", "reference": 0.30, "recent": 0.55, "shift": 0.25,
          "attribution": {"income": -0.20, "debt_ratio": 0.40, "age": 0.05}}  # fmt: skip


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []

    def read_window(endpoints: dict[str, str], **_: Any) -> sidecars.Window:
        frame = pd.DataFrame({"income": [1.0, 2.0], "__id": ["a", "b"], "__pod": ["x-aaaa-1"] * 2})
        return sidecars.Window(frame=frame, pods_read=list(endpoints))

    def read_explanations(endpoints: dict[str, str], **_: Any) -> dict[str, Any]:
        seen.append(dict(endpoints))
        return {
            **MERGED,
            "attribution": dict(sorted(MERGED["attribution"].items(), key=lambda kv: -abs(kv[1]))),
        }

    monkeypatch.setattr(sidecars, "read_window", read_window)
    monkeypatch.setattr(sidecars, "read_explanations", read_explanations)
    return seen


def cluster(spec: dict[str, Any]) -> FakeKube:
    kube = FakeKube()
    kube.deployments["x"] = injected(deployment(), spec)
    kube.replicasets = [{"metadata": {"name": "rs-a", "uid": "rs-a", "labels": {"app": "x", "pod-template-hash": "aaaa"},
                                      "ownerReferences": [{"kind": "Deployment", "uid": "dep-x", "controller": True}]}}]  # fmt: skip
    kube.pods = [{"metadata": {"name": "x-aaaa-1", "labels": {"app": "x"},
                               "ownerReferences": [{"kind": "ReplicaSet", "uid": "rs-a", "controller": True}]},
                  "spec": {"containers": [{"name": "model"}, {"name": SIDECAR_NAME}]},
                  "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}]  # fmt: skip
    return kube


def test_with_explanations_on_the_attribution_is_in_status(asked: list[dict[str, str]]) -> None:
    spec = monitor_spec(explain={"sampleRate": 0.1})
    outcome = reconciler(cluster(spec)).reconcile(request(spec))
    attribution = outcome.status_patch["drift"]["attribution"]
    assert asked == [{"x-aaaa-1": "http://10.0.0.1:8481"}]
    assert [f["name"] for f in attribution["features"]] == ["debt_ratio", "income", "age"]  # by size
    assert attribution["shift"] == 0.25 and attribution["explanations"] == 12
    DriftStatus.model_validate(outcome.status_patch["drift"])  # the shape the status schema holds


def test_with_explanations_off_no_sidecar_is_asked(asked: list[dict[str, str]]) -> None:
    spec = monitor_spec()
    outcome = reconciler(cluster(spec)).reconcile(request(spec))
    assert asked == [] and "attribution" not in outcome.status_patch["drift"]
