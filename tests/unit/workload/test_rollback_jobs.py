"""Rollback from ReplicaSets by template hash, retraining Jobs, the HPA, alert payloads."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from modelmonitor.api.spec import AlertFormat, ModelMonitorSpec
from modelmonitor.policy.alerts import AlertEvent, payload
from modelmonitor.workload.injection import SIDECAR_NAME, plan_injection, template_hash
from modelmonitor.workload.jobs import autoscaler, job_outcome, retrain_job
from modelmonitor.workload.rollback import find_revision, plan_rollback
from tests.unit.workload.test_injection import IMAGE, deployment, spec


def replicaset(dep: dict[str, Any], image: str, revision: str, pth: str) -> dict[str, Any]:
    template = copy.deepcopy(dep["spec"]["template"])
    template["spec"]["containers"][0]["image"] = image
    template["metadata"]["labels"]["pod-template-hash"] = pth
    return {
        "metadata": {
            "name": f"credit-scoring-{pth}",
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "labels": {"app": "credit", "pod-template-hash": pth},
            "ownerReferences": [{"kind": "Deployment", "name": "credit-scoring", "uid": "u1"}],
        },
        "spec": {"template": template},
    }


def test_rollback_restores_the_known_good_template_and_keeps_the_sidecar() -> None:
    dep = deployment()
    dep["metadata"]["uid"] = "u1"
    old = replicaset(dep, "credit:1.1", "3", "6d9f")
    dep = jsonpatch.apply_patch(dep, plan_injection(dep, spec(), monitor="mm", image=IMAGE))
    current = replicaset(dep, "credit:1.2", "4", "7c4b")
    known = template_hash(old)
    assert known == template_hash(dict(dep, spec={**dep["spec"], "template": old["spec"]["template"]}))
    rs = find_revision([current, old], dep, known)
    assert rs is old
    after = jsonpatch.apply_patch(dep, plan_rollback(dep, rs, reason="SLOBreached"))
    names = [c["name"] for c in after["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", "log-shipper", SIDECAR_NAME]
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "credit:1.1"
    assert "pod-template-hash" not in after["spec"]["template"]["metadata"]["labels"]
    assert (
        "rolled back to revision 3: SLOBreached"
        in after["metadata"]["annotations"]["kubernetes.io/change-cause"]
    )
    assert template_hash(after) == known


def test_renumbered_replicasets_are_found_by_template_not_number() -> None:
    dep = deployment()
    dep["metadata"]["uid"] = "u1"
    reused = replicaset(dep, "credit:1.1", "7", "6d9f")  # the controller renumbered it when reused
    assert find_revision([reused], dep, template_hash(reused)) is reused
    stranger = copy.deepcopy(reused)
    stranger["metadata"]["ownerReferences"][0]["name"] = "other"
    assert find_revision([stranger], dep, template_hash(reused)) is None


def test_retrain_job_carries_the_trigger_and_is_owned() -> None:
    s = ModelMonitorSpec.model_validate({
        "target": {"deployment": "m"},
        "actions": {"retrain": {"when": ["DataDrift"], "serviceAccountName": "trainer",
                                "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "train", "image": "t", "env": [{"name": "MODELMONITOR_REASON", "value": "old"}]}],
        }}}}}},
    })  # fmt: skip
    job = retrain_job(
        s,
        monitor="mm",
        uid="u9",
        env={"MODELMONITOR_REASON": "DataDrift", "MODELMONITOR_DRIFTED_FEATURES": "income"},
    )
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "MODELMONITOR_REASON", "value": "DataDrift"},
        {"name": "MODELMONITOR_DRIFTED_FEATURES", "value": "income"},
    ]
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u9"
    assert job["metadata"]["generateName"] == "mm-retrain-"
    assert job_outcome({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "Succeeded"
    assert job_outcome({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "Failed"
    assert job_outcome({"status": {"active": 1}}) == "Running"


def test_autoscaler_targets_the_deployment() -> None:
    s = ModelMonitorSpec.model_validate(
        {"target": {"deployment": "credit"}, "actions": {"autoscale": {"minReplicas": 2, "maxReplicas": 6}}}
    )
    hpa = autoscaler(s, monitor="mm", uid="u1")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "credit"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_alert_payloads() -> None:
    event = AlertEvent(
        "risk",
        "mm",
        "SLOBreached",
        True,
        "ObjectiveBreached",
        "p95 410ms > 250ms",
        "T",
        "https://r/SLOBreached.md",
    )
    (am,) = payload(event, AlertFormat.ALERTMANAGER)
    assert am["labels"] == {
        "alertname": "ModelMonitorSLOBreached", "namespace": "risk", "monitor": "mm",
        "condition": "SLOBreached", "severity": "critical",
    }  # fmt: skip
    assert am["annotations"]["runbook_url"] == "https://r/SLOBreached.md" and "endsAt" not in am
    resolved = AlertEvent("risk", "mm", "SLOBreached", False, "WithinObjectives", "ok", "T2", "u")
    assert payload(resolved, AlertFormat.ALERTMANAGER)[0]["endsAt"] == "T2"
    slack = payload(event, AlertFormat.SLACK)
    assert slack["text"].startswith("[FIRING] ModelMonitor risk/mm: SLOBreached ObjectiveBreached")
    action = AlertEvent("risk", "mm", "SLOBreached", True, "Done", "rolled back", "T", "u", action="rollback")
    assert payload(action, AlertFormat.JSON)["alertname"] == "ModelMonitorRollbackDone"


def test_rollback_keeps_the_admin_volume_the_sidecar_mounts() -> None:
    """The restored template is the ReplicaSet's without what the monitor added; the sidecar goes
    back in with the volume of its token (the API server refuses a mount of a missing volume)."""
    from modelmonitor.workload.injection import ADMIN_VOLUME

    dep = deployment()
    dep["metadata"]["uid"] = "u1"
    dep["spec"]["template"]["spec"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
    old = replicaset(dep, "credit:1.1", "3", "6d9f")  # before the sidecar: no admin volume
    dep = jsonpatch.apply_patch(dep, plan_injection(dep, spec(), monitor="mm", image=IMAGE))
    after = jsonpatch.apply_patch(dep, plan_rollback(dep, old, reason="SLOBreached"))
    pod = after["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["cache", ADMIN_VOLUME]
    assert pod["volumes"][1] == dep["spec"]["template"]["spec"]["volumes"][1]
    mounts = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts") or []}
    assert mounts <= {v["name"] for v in pod["volumes"]}
    assert template_hash(after) == template_hash(old)
