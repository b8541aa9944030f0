"""A monitor acts only on a target that opted in, and injects only an allowed image: the reconciler's
status, Events and calls say so (policy/permits.py decides; operator/reconciler.py applies)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from modelmonitor.operator.settings import OperatorSettings
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.unit.operator.fakes import (
    T0,
    FakeKube,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
)

WRITES = ("json_patch_deployment", "json_patch_service", "create_job", "create_configmap")


def unlabelled(dep: dict[str, Any]) -> dict[str, Any]:
    dep["metadata"].pop("labels", None)
    return dep


def writes(kube: FakeKube) -> list[str]:
    return [name for name, _ in kube.calls if name in WRITES or name.startswith(("create_", "delete_"))]


def service() -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "ns"},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}  # fmt: skip


def test_a_target_that_has_not_opted_in_is_refused_and_left_alone() -> None:
    kube = FakeKube()
    kube.deployments["x"] = unlabelled(deployment())
    kube.services["x"] = service()

    outcome = reconciler(kube).reconcile(request(monitor_spec()))

    ready = condition(outcome.status_patch, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotOptedIn")
    assert outcome.status_patch["phase"] == "Error"
    assert "kubectl label namespace ns modelmonitor.io/enabled=true" in ready["message"]
    assert "kubectl label deployment -n ns x modelmonitor.io/enabled=true" in ready["message"]
    assert "nothing was changed" in ready["message"]
    assert condition(outcome.status_patch, "SidecarInjected")["reason"] == "NotOptedIn"
    assert not outcome.evaluated and "lastEvaluation" not in outcome.status_patch
    assert writes(kube) == []
    assert kube.deployments["x"] == unlabelled(deployment())
    assert {(t.type, t.reason) for t in outcome.transitions} >= {("Ready", "NotOptedIn")}
    assert all(t.warning for t in outcome.transitions if t.type == "Ready")


@pytest.mark.parametrize("where", ["namespace", "deployment"])
def test_either_label_opts_in(where: str) -> None:
    kube = FakeKube()
    kube.deployments["x"] = unlabelled(deployment()) if where == "namespace" else deployment()
    if where == "namespace":
        kube.namespace_labels["ns"] = {"modelmonitor.io/enabled": "true"}

    patch = reconciler(kube).reconcile(request(monitor_spec(sidecar={"inject": False}))).status_patch

    assert condition(patch, "Ready")["reason"] == "TargetFound"
    assert patch["phase"] != "Error" and "lastEvaluation" in patch


def test_the_opt_in_check_can_be_turned_off() -> None:
    kube = FakeKube()
    kube.deployments["x"] = unlabelled(deployment())

    patch = reconciler(kube, require_opt_in=False).reconcile(request(monitor_spec(sidecar={"inject": False})))
    assert condition(patch.status_patch, "Ready")["reason"] == "TargetFound"
    assert kube.count("get_namespace_labels") == 0


def test_withdrawn_consent_removes_what_the_monitor_injected() -> None:
    spec = monitor_spec()
    kube = FakeKube()
    dep = injected(deployment(), spec)
    assert SIDECAR_NAME in [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    kube.deployments["x"] = unlabelled(dep)  # the label was taken off the Deployment
    was = {"conditions": [{"type": "Ready", "status": "True", "reason": "TargetFound", "message": "",
                           "lastTransitionTime": "2026-11-23T11:00:00Z"}]}  # fmt: skip

    outcome = reconciler(kube).reconcile(request(spec, status=was))

    ready = condition(outcome.status_patch, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotOptedIn")
    assert "the sidecar this monitor injected was removed" in ready["message"]
    names = [c["name"] for c in kube.deployments["x"]["spec"]["template"]["spec"]["containers"]]
    assert names == ["model"]
    assert "modelmonitor.io/injected" not in (kube.deployments["x"]["metadata"].get("annotations") or {})


def test_a_refused_monitor_is_looked_at_again_once_per_retry_not_every_tick() -> None:
    kube = FakeKube()
    kube.deployments["x"] = unlabelled(deployment())
    rec = reconciler(kube)
    spec = monitor_spec(sidecar={"inject": False})
    first = rec.reconcile(request(spec)).status_patch
    assert "looking again every 30s" in condition(first, "Ready")["message"]
    status = dict(first)
    calls = len(kube.calls)

    assert (
        rec.reconcile(request(spec, now=T0 + datetime.timedelta(seconds=10), status=status)).status_patch
        == {}
    )
    assert len(kube.calls) == calls  # no API call within the retry

    kube.namespace_labels["ns"] = {"modelmonitor.io/enabled": "true"}  # the namespace admin opts in
    later = rec.reconcile(request(spec, now=T0 + datetime.timedelta(seconds=31), status=status))
    assert condition(later.status_patch, "Ready")["reason"] == "TargetFound"
    assert ("Ready", "TargetFound") in {(t.type, t.reason) for t in later.transitions}


def test_a_sidecar_image_outside_the_allowlist_is_refused_and_nothing_injected() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()

    outcome = reconciler(kube).reconcile(request(monitor_spec(sidecar={"image": "evil/image"})))

    ready = condition(outcome.status_patch, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ImageNotAllowed")
    assert outcome.status_patch["phase"] == "Error"
    assert "spec.sidecar.image 'evil/image' is not allowed" in ready["message"]
    assert "sidecar.allowedImages" in ready["message"] and "nothing was changed" in ready["message"]
    assert writes(kube) == []
    assert kube.deployments["x"] == deployment()


def test_a_refused_image_leaves_the_sidecar_already_there() -> None:
    spec = monitor_spec()
    kube = FakeKube()
    kube.deployments["x"] = injected(deployment(), spec)
    before = kube.deployments["x"]

    outcome = reconciler(kube).reconcile(request(monitor_spec(sidecar={"image": "evil/image"})))

    assert condition(outcome.status_patch, "Ready")["reason"] == "ImageNotAllowed"
    assert kube.deployments["x"] == before and writes(kube) == []


def test_an_allowed_image_is_the_one_injected() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = monitor_spec(sidecar={"image": "registry.example.com/sidecar:2"})

    patch = reconciler(kube, sidecar_images=("registry.example.com/sidecar:2",)).reconcile(request(spec))

    assert condition(patch.status_patch, "Ready")["reason"] == "TargetFound"
    containers = kube.deployments["x"]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers if c["name"] == SIDECAR_NAME] == ["registry.example.com/sidecar:2"]


def test_settings_read_the_opt_in_and_the_allowlist_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELMONITOR_REQUIRE_OPT_IN", raising=False)
    monkeypatch.delenv("MODELMONITOR_SIDECAR_IMAGES", raising=False)
    assert OperatorSettings.from_env().require_opt_in is True
    assert OperatorSettings.from_env().sidecar_images == ()
    monkeypatch.setenv("MODELMONITOR_REQUIRE_OPT_IN", "false")
    monkeypatch.setenv("MODELMONITOR_SIDECAR_IMAGES", " a/b:1, ,c/d@sha256:00 ")
    settings = OperatorSettings.from_env()
    assert settings.require_opt_in is False
    assert settings.sidecar_images == ("a/b:1", "c/d@sha256:00")
