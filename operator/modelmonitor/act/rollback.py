"""Carrying out a rollback decision: the Deployment's pod template back to the known-good
ReplicaSet's (workload/rollback.py plans the patch).

The same patch stamps the Deployment with when it was done (``modelmonitor.io/rolled-back``), so a
rollback whose status write was lost (the operator killed between the patch and the status patch)
is found and recorded by the next evaluation (:func:`unrecorded`), never done twice nor left out of
``status.actions`` and the cooldown. A patch refused because the Deployment moved since its read
is planned again on a fresh read within the same evaluation, unless the pod template itself changed.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.api.times import parse_iso
from modelmonitor.policy.actions import Decision
from modelmonitor.workload.injection import template_hash
from modelmonitor.workload.rollback import find_revision, plan_rollback

log = logging.getLogger(__name__)
STAMP_ANNOTATION = "modelmonitor.io/rolled-back"
DAY = 86400.0  # seconds: status.actionState.rollbacks keeps the last 24 h
FRESH_READS = 5  # reads of the Deployment a rollback is planned on (the decision's own included)
MOVED = (404, 409, 422)  # the patch's answers when the Deployment changed (or went) since its read


def roll_back(
    kube: KubernetesPort,
    namespace: str,
    deployment: dict[str, Any],
    decision: Decision,
    *,
    stamp: str = "",
    monitor_uid: str = "",
) -> tuple[str, str]:
    """(result, message): Done; Skipped when the pod template changed since ``deployment`` (the
    read the decision judged); or Failed with why (the revision was pruned, the Deployment is gone,
    the API refused).

    The patch ``test``s the resourceVersion it was planned on. A write to the Deployment meanwhile (the
    Deployment controller writes its status all through a rollout) makes the server refuse it whole
    (422, or 409; 404 when it went): the rollback is planned again on a fresh read, while the pod
    template is still the one judged — never over another writer's change of it —, on ``FRESH_READS``
    reads in all. A refused patch changes nothing, so the rollback is applied once at most.

    ``stamp`` (the evaluation's time, RFC 3339) goes into the Deployment's ``modelmonitor.io/rolled-back``
    annotation with the monitor's uid, the reason and the template rolled back to."""
    name = deployment["metadata"]["name"]
    judged, current = template_hash(deployment), deployment
    for read in range(1, FRESH_READS + 1):
        try:
            return _roll_back_on(kube, namespace, current, decision, stamp, monitor_uid)
        except KubernetesError as exc:
            refused = exc
        if refused.status not in MOVED or read == FRESH_READS:
            break
        try:
            fresh = kube.get_deployment(namespace, name)
        except KubernetesError as exc:
            return "Failed", f"{decision.message}, but the API refused it: {exc.status} {exc.reason}"
        moved = _moved(current, fresh, judged, decision)
        if moved is not None:
            return moved
        assert fresh is not None  # _moved says so when it is gone
        if _version(fresh) == _version(current):
            break  # the Deployment did not move: the server refuses the patch itself
        log.info("Rolling back %s/%s again on a fresh read: %s", namespace, name, refused)
        current = fresh
    kept = refused.status in MOVED and read == FRESH_READS
    said = f" (the Deployment changed between each of {FRESH_READS} reads and its patch)" if kept else ""
    return "Failed", f"{decision.message}, but the API refused it: {refused.status} {refused.reason}{said}"


def _roll_back_on(
    kube: KubernetesPort, namespace: str, deployment: dict[str, Any], decision: Decision, stamp: str,
    monitor_uid: str,
) -> tuple[str, str]:  # fmt: skip
    """The rollback planned on this read of the Deployment, and patched; raises KubernetesError."""
    known = decision.target or {}
    selector = (deployment.get("spec") or {}).get("selector") or {}
    replicasets = kube.list_replicasets(namespace, selector)
    rs = find_revision(replicasets, deployment, str(known.get("podTemplateHash")))
    if rs is None:
        return "Failed", (
            f"{decision.message}, but no ReplicaSet of the Deployment has that template any more "
            "(revisionHistoryLimit may have pruned it)"
        )
    ops = plan_rollback(deployment, rs, reason=decision.reason)
    revision = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    message = f"rolled back to revision {revision} ({known.get('podTemplateHash')}): {decision.message.split(';')[0]}"
    if stamp:
        record = {"at": stamp, "monitor": monitor_uid, "to": known.get("podTemplateHash"), "reason": decision.reason,
                  "message": message[:512]}  # fmt: skip
        ops.append({"op": "add", "path": "/metadata/annotations/" + STAMP_ANNOTATION.replace("/", "~1"),
                    "value": json.dumps(record, sort_keys=True)})  # fmt: skip
    kube.json_patch_deployment(namespace, deployment["metadata"]["name"], ops)
    return "Done", message


def _moved(
    before: dict[str, Any], fresh: dict[str, Any] | None, judged: str, decision: Decision
) -> tuple[str, str] | None:
    """Why the decision no longer holds for the fresh read of the Deployment (gone, made again, its
    pod template changed by another writer), as (result, message); None while it still holds."""
    uid = (before.get("metadata") or {}).get("uid")
    if fresh is None or (uid and (fresh.get("metadata") or {}).get("uid") != uid):
        return "Failed", (
            f"{decision.message}, but the Deployment was deleted"
            f"{'' if fresh is None else ' (and made again)'} since the decision: nothing rolled back"
        )
    now = template_hash(fresh)
    if now == judged:
        return None
    if now == (decision.target or {}).get("podTemplateHash"):
        return "Skipped", (
            f"{decision.message}, but another writer put that template back since the decision: "
            "nothing left to roll back"
        )
    return "Skipped", (
        f"{decision.message}, but the Deployment's pod template changed since the decision (another "
        f"writer made it {now}): not rolled back over that change; the next evaluation judges the new template"
    )


def _version(deployment: dict[str, Any] | None) -> Any:
    return ((deployment or {}).get("metadata") or {}).get("resourceVersion")


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
