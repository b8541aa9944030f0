"""Keeping the monitor's HorizontalPodAutoscaler as ``spec.actions.autoscale`` says: created,
updated, removed when the field goes; one that is not the monitor's own is left alone."""

from __future__ import annotations

from typing import Any

from modelmonitor.adapters.ports import KubernetesPort
from modelmonitor.api.spec import ActionMode, ModelMonitorSpec
from modelmonitor.policy import actions as policy
from modelmonitor.workload import jobs

Done = tuple[policy.Decision, str, str]  # (decision, result, message)


def _decided(result: str, message: str) -> Done:
    return policy.Decision("autoscale", "Configured", result, ""), result, message


def _ours(existing: dict[str, Any] | None, monitor: str) -> bool:
    return (
        existing is not None
        and (existing["metadata"].get("labels") or {}).get("modelmonitor.io/monitor") == monitor
    )


def autoscale(
    kube: KubernetesPort, spec: ModelMonitorSpec, namespace: str, monitor: str, uid: str,
    state: policy.ActionState,
) -> list[Done]:  # fmt: skip
    name = jobs.hpa_name(monitor)
    if spec.actions.autoscale is None and state.autoscaler is None:
        return []  # nothing configured and nothing created: no API call
    existing = kube.get_hpa(namespace, name)
    ours = _ours(existing, monitor)
    state.autoscaler = name if ours else None
    if spec.actions.autoscale is None:
        if ours and spec.actions.mode != ActionMode.OBSERVE:
            kube.delete_hpa(namespace, name)
            state.autoscaler = None
            return [_decided("Done", f"HorizontalPodAutoscaler {name} removed")]
        return []
    desired = jobs.autoscaler(spec, monitor=monitor, uid=uid)
    if existing is not None and not ours:
        return [_decided("Skipped", f"a HorizontalPodAutoscaler {name} exists and is not ours: left alone")]
    if existing is not None and existing.get("spec") == desired["spec"]:
        return []
    verb = "created" if existing is None else "updated"
    if spec.actions.mode == ActionMode.OBSERVE:
        return [_decided("Observed", f"would have {verb} HorizontalPodAutoscaler {name} (observe mode)")]
    if existing is None:
        kube.create_hpa(namespace, desired)
        state.autoscaler = name
    else:
        kube.patch_hpa(namespace, name, {"spec": desired["spec"]})
    scale = spec.actions.autoscale
    return [_decided("Done", f"HorizontalPodAutoscaler {name} {verb}: {scale.minReplicas}-{scale.maxReplicas} "
                     f"replicas at {scale.targetCPUUtilization}% CPU")]  # fmt: skip


def remove(kube: KubernetesPort, namespace: str, monitor: str) -> None:
    """What the monitor owns goes with it (the API server's GC does it too; this is for certainty)."""
    if _ours(kube.get_hpa(namespace, jobs.hpa_name(monitor)), monitor):
        kube.delete_hpa(namespace, jobs.hpa_name(monitor))
