"""Carrying out a rollback decision: the Deployment's pod template back to the known-good
ReplicaSet's (workload/rollback.py plans the patch)."""

from __future__ import annotations

from typing import Any

from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.policy.actions import Decision
from modelmonitor.workload.rollback import find_revision, plan_rollback


def roll_back(
    kube: KubernetesPort, namespace: str, deployment: dict[str, Any], decision: Decision
) -> tuple[str, str]:
    """(result, message): Done, or Failed with why (the revision was pruned, the API refused)."""
    known = decision.target or {}
    selector = (deployment.get("spec") or {}).get("selector") or {}
    try:
        replicasets = kube.list_replicasets(namespace, selector)
        rs = find_revision(replicasets, deployment, str(known.get("podTemplateHash")))
        if rs is None:
            return "Failed", (
                f"{decision.message}, but no ReplicaSet of the Deployment has that template any more "
                "(revisionHistoryLimit may have pruned it)"
            )
        ops = plan_rollback(deployment, rs, reason=decision.reason)
        kube.json_patch_deployment(namespace, deployment["metadata"]["name"], ops)
    except KubernetesError as exc:
        return "Failed", f"{decision.message}, but the API refused it: {exc.status} {exc.reason}"
    revision = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    return (
        "Done",
        f"rolled back to revision {revision} ({known.get('podTemplateHash')}): {decision.message.split(';')[0]}",
    )
