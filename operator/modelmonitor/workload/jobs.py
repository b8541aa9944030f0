"""The retraining Job and the HorizontalPodAutoscaler the monitor creates (and owns)."""

from __future__ import annotations

import copy
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec

MANAGED_BY = {"app.kubernetes.io/managed-by": "modelmonitor"}


def owner_reference(monitor: str, uid: str, *, block_deletion: bool = True) -> dict[str, Any]:
    """The monitor as the controller of what it creates; ``block_deletion`` sets blockOwnerDeletion."""
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "name": monitor,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": block_deletion,
    }


def retrain_job(spec: ModelMonitorSpec, *, monitor: str, uid: str, env: dict[str, str]) -> dict[str, Any]:
    """A batch/v1 Job from ``spec.actions.retrain.jobTemplate``; ``env`` describes the trigger.

    Its pods run as ``spec.actions.retrain.serviceAccountName``, whatever the template says (the
    deprecated ``serviceAccount`` alias included): the Job never borrows another identity."""
    retrain = spec.actions.retrain
    assert retrain is not None
    template = copy.deepcopy(retrain.jobTemplate)
    job_spec = _object(template, "spec")
    extra = [{"name": k, "value": v} for k, v in env.items()]
    pod = _object(_object(job_spec, "template"), "spec")
    pod.pop("serviceAccount", None)
    pod["serviceAccountName"] = retrain.serviceAccountName
    for container in pod.get("containers") or []:
        names = {e.get("name") for e in extra}
        container["env"] = [e for e in container.get("env") or [] if e.get("name") not in names] + extra
    meta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": f"{monitor}-retrain-"[:58],
            "labels": {**(meta.get("labels") or {}), **MANAGED_BY, "modelmonitor.io/monitor": monitor},
            "annotations": {
                **(meta.get("annotations") or {}),
                "modelmonitor.io/reason": env.get("MODELMONITOR_REASON", ""),
            },
            "ownerReferences": [owner_reference(monitor, uid)],
        },
        "spec": job_spec,
    }


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]``, made an object when it is missing or not one (the API then judges the rest)."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    child: dict[str, Any] = parent[key]
    return child


def job_outcome(job: dict[str, Any]) -> str:
    """Running, Succeeded or Failed, from the Job's conditions and counters."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "Succeeded"
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return "Failed"
    if status.get("succeeded"):
        return "Succeeded"
    return "Running"


def running_job_status(job: dict[str, Any]) -> dict[str, Any]:
    """``status.retrain`` for a running Job found by its label (its name was not in status)."""
    meta = job.get("metadata") or {}
    found = {
        "job": meta.get("name"),
        "reason": (meta.get("annotations") or {}).get("modelmonitor.io/reason"),
        "startedAt": meta.get("creationTimestamp"),
        "outcome": "Running",
    }
    return {k: v for k, v in found.items() if v}


def hpa_name(monitor: str) -> str:
    return f"{monitor}-autoscale"[:253]


def autoscaler(spec: ModelMonitorSpec, *, monitor: str, uid: str) -> dict[str, Any]:
    """The autoscaling/v2 HorizontalPodAutoscaler for the target, as ``spec.actions.autoscale`` asks."""
    policy = spec.actions.autoscale
    assert policy is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": hpa_name(monitor),
            "labels": {**MANAGED_BY, "modelmonitor.io/monitor": monitor},
            "ownerReferences": [owner_reference(monitor, uid)],
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.target.deployment},
            "minReplicas": policy.minReplicas,
            "maxReplicas": policy.maxReplicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": policy.targetCPUUtilization},
                    },
                }
            ],
        },
    }
