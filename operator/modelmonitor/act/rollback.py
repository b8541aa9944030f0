"""Carrying out a rollback decision: the Deployment's pod template back to the known-good
ReplicaSet's (workload/rollback.py plans the patch).

The same patch stamps the Deployment with when it was done (``modelmonitor.io/rolled-back``), so a
rollback whose status write was lost (the operator killed between the patch and the status patch)
is found and recorded by the next evaluation (:func:`unrecorded`), never done twice nor left out of
``status.actions`` and the cooldown.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.api.times import parse_iso
from modelmonitor.policy.actions import Decision
from modelmonitor.workload.injection import template_hash
from modelmonitor.workload.rollback import find_revision, plan_rollback

STAMP_ANNOTATION = "modelmonitor.io/rolled-back"
DAY = 86400.0  # seconds: status.actionState.rollbacks keeps the last 24 h


def roll_back(
    kube: KubernetesPort,
    namespace: str,
    deployment: dict[str, Any],
    decision: Decision,
    *,
    stamp: str = "",
    monitor_uid: str = "",
) -> tuple[str, str]:
    """(result, message): Done, or Failed with why (the revision was pruned, the API refused).

    ``stamp`` (the evaluation's time, RFC 3339) goes into the Deployment's ``modelmonitor.io/rolled-back``
    annotation with the monitor's uid, the reason and the template rolled back to."""
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
        revision = ((rs.get("metadata") or {}).get("annotations") or {}).get(
            "deployment.kubernetes.io/revision"
        )
        message = f"rolled back to revision {revision} ({known.get('podTemplateHash')}): {decision.message.split(';')[0]}"
        if stamp:
            record = {"at": stamp, "monitor": monitor_uid, "to": known.get("podTemplateHash"), "reason": decision.reason,
                      "message": message[:512]}  # fmt: skip
            ops.append({"op": "add", "path": "/metadata/annotations/" + STAMP_ANNOTATION.replace("/", "~1"),
                        "value": json.dumps(record, sort_keys=True)})  # fmt: skip
        kube.json_patch_deployment(namespace, deployment["metadata"]["name"], ops)
    except KubernetesError as exc:
        return "Failed", f"{decision.message}, but the API refused it: {exc.status} {exc.reason}"
    return "Done", message


def unrecorded(
    deployment: dict[str, Any], rollbacks: list[str], now: datetime.datetime, monitor_uid: str
) -> tuple[str, Decision] | None:
    """The rollback the Deployment's annotation says this monitor did in the last 24 h but that
    ``rollbacks`` (status.actionState's times) does not hold: (its time, a Done decision), or None.

    Only while the Deployment still runs the template it was rolled back to (a later edit by the
    user makes the old record moot)."""
    raw = ((deployment.get("metadata") or {}).get("annotations") or {}).get(STAMP_ANNOTATION)
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("at"), str) or record["at"] in rollbacks:
        return None
    if record.get("monitor") != monitor_uid:
        return None  # another monitor's (a deleted one's, or a second monitor of the same Deployment)
    at = parse_iso(record["at"])
    if (
        at is None
        or not 0 <= (now - at).total_seconds() < DAY
        or record.get("to") != template_hash(deployment)
    ):
        return None
    message = f"{record.get('message') or 'rolled back'} (recorded after an operator restart)"
    return record["at"], Decision("rollback", str(record.get("reason") or "Unknown"), "Done", message)
