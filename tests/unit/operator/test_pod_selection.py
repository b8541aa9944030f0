"""The drift window is read from this Deployment's pods only, whatever other pods its selector matches."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
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


def replicaset(uid: str, deployment_uid: str, pth: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": f"rs-{pth}", "uid": uid, "labels": {**labels, "pod-template-hash": pth},
                         "ownerReferences": [{"kind": "Deployment", "uid": deployment_uid, "controller": True}]}}  # fmt: skip


def pod(name: str, ip: str, rs_uid: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels,
                     "ownerReferences": [{"kind": "ReplicaSet", "uid": rs_uid, "controller": True}]},
        "spec": {"containers": [{"name": "model"}, {"name": SIDECAR_NAME}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


@pytest.fixture
def windows_read(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []

    def read_window(endpoints: dict[str, str], **_: Any) -> sidecars.Window:
        seen.append(dict(endpoints))
        return sidecars.Window(frame=pd.DataFrame(), pods_failed={p: f"{p}: refused" for p in endpoints})

    monkeypatch.setattr(sidecars, "read_window", read_window)
    return seen


def test_a_challengers_pods_are_not_read_into_the_champions_drift(windows_read: list[dict[str, str]]) -> None:
    kube = FakeKube()
    spec = monitor_spec()
    selector = {"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    kube.deployments["x"] = injected(deployment(labels={"app": "x", "tier": "web"}, selector=selector), spec)
    champion, challenger = {"app": "x", "tier": "web"}, {"app": "x", "tier": "web", "track": "v2"}
    kube.replicasets = [replicaset("rs-a", "dep-x", "aaaa", champion),
                        replicaset("rs-c", "dep-x-v2", "cccc", challenger)]  # fmt: skip
    kube.pods = [pod("x-aaaa-11111", "10.0.0.1", "rs-a", champion),
                 pod("x-v2-cccc-22222", "10.0.0.2", "rs-c", challenger)]  # fmt: skip

    outcome = reconciler(kube).reconcile(request(spec))

    assert outcome.evaluated
    assert windows_read == [{"x-aaaa-11111": "http://10.0.0.1:8481"}]
    assert ("list_pods", selector) in kube.calls  # the full selector, matchExpressions included
    assert condition(outcome.status_patch, "DataDrift")["reason"] == "SidecarUnreachable"
