"""Rolling a Deployment back to a known-good pod template, taken from its ReplicaSet.

Like ``kubectl rollout undo --to-revision``, but the revision is identified by the hash of its pod
template (``injection.template_hash``), not by its number: the Deployment controller renumbers a
ReplicaSet it reuses. The sidecar the Deployment runs now (and its admin volume) is kept in the
restored template.
"""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.workload.injection import clean_template, guard, injected_parts, template_hash

REVISION = "deployment.kubernetes.io/revision"


def owned_by(replicaset: dict[str, Any], deployment: dict[str, Any]) -> bool:
    uid = (deployment.get("metadata") or {}).get("uid")
    refs = (replicaset.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == "Deployment" and (uid is None or r.get("uid") == uid) for r in refs) and any(
        r.get("name") == deployment["metadata"]["name"] for r in refs
    )


def find_revision(
    replicasets: list[dict[str, Any]], deployment: dict[str, Any], template: str
) -> dict[str, Any] | None:
    """The newest ReplicaSet of ``deployment`` whose pod template hashes to ``template``."""
    matches = [rs for rs in replicasets if owned_by(rs, deployment) and template_hash(rs) == template]
    matches.sort(key=lambda rs: int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0)))
    return matches[-1] if matches else None


def plan_rollback(
    deployment: dict[str, Any], replicaset: dict[str, Any], *, reason: str
) -> list[dict[str, Any]]:
    """JSON patch replacing the Deployment's pod template with the ReplicaSet's, sidecar (and the
    admin volume it mounts) kept."""
    template = clean_template((replicaset.get("spec") or {}).get("template") or {})
    sidecar, volumes = injected_parts(deployment)
    template.setdefault("spec", {}).setdefault("containers", []).extend(sidecar)
    if volumes:
        template["spec"].setdefault("volumes", []).extend(volumes)
    revision = ((replicaset.get("metadata") or {}).get("annotations") or {}).get(REVISION, "?")
    cause = json.dumps(f"modelmonitor: rolled back to revision {revision}: {reason}")[1:-1][:1000]
    ops = [{"op": "replace", "path": "/spec/template", "value": template}]
    if not (deployment.get("metadata") or {}).get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops.append({"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": cause})
    return guard(deployment) + ops
