"""The audit trail's records: what changed in a monitor's spec and who changed it, its creation and
deletion, and every action taken or not taken. Pure: plain dicts in, plain JSON-ready dicts out.

Who: the field managers of ``metadata.managedFields`` (kubectl-client-side-apply, kubectl-patch,
kubectl-edit, helm, argocd-controller...) with their operation, as the API server records them. A
manager is the client's name, not the authenticated user: the API server's own audit log is where
the user is. The spec holds no secret value (only Secret names), so a diff of it holds none either.

Paths are written ``spec.checks[0].min``; a key that is not a plain name is quoted
(``spec.retrain.jobTemplate.nodeSelector["kubernetes.io/os"]``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.policy.egress import shown

CREATED, SPEC_CHANGED, DELETED = "created", "specChanged", "deleted"
ACTION, NO_ACTION = "action", "noAction"  # carried out (Done, Failed) / decided against (Skipped, Observed)
ACTED = ("Done", "Failed")
MESSAGE_CHARS = 1024

Path = tuple[str | int, ...]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def render(path: Path) -> str:
    """``("spec", "checks", 0, "min")`` as ``spec.checks[0].min``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _walk(old: Any, new: Any, path: Path, out: list[tuple[str, Path, Any, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                out.append(("remove", (*path, str(key)), old[key], None))
            elif key not in old:
                out.append(("add", (*path, str(key)), None, new[key]))
            else:
                _walk(old[key], new[key], (*path, str(key)), out)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            if index >= len(new):
                out.append(("remove", (*path, index), old[index], None))
            elif index >= len(old):
                out.append(("add", (*path, index), None, new[index]))
            else:
                _walk(old[index], new[index], (*path, index), out)
    elif old != new or type(old) is not type(new):
        out.append(("change", path, old, new))


def changes(old: Any, new: Any, prefix: Path = ("spec",)) -> list[tuple[str, Path, Any, Any]]:
    """The differences of two JSON values as (op, path, old, new), op add | remove | change, at the
    deepest level where they differ: maps by key, lists by index (a longer list adds its tail, a
    shorter one removes it), anything else by value (1 and 1.0 differ: the API stores what was sent)."""
    out: list[tuple[str, Path, Any, Any]] = []
    _walk(old if old is not None else {}, new if new is not None else {}, prefix, out)
    return out


def scrub(value: Any, key: str = "") -> Any:
    """``value`` with every URL (a string under a key ending in ``url``: a webhook, a reference, a
    Prometheus) shown as ``scheme://host[:port]`` and a digest: a path or query may hold a token
    (a Slack webhook's path, a presigned URL's signature), and a changed one still shows as changed."""
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    if isinstance(value, str) and key.lower().endswith("url"):
        return f"{shown(value)}/... sha256:{hashlib.sha256(value.encode()).hexdigest()[:12]}"
    return value


def diff_entries(found: list[tuple[str, Path, Any, Any]]) -> list[dict[str, Any]]:
    """The changes as the record holds them: {op, path, old?, new?}, URLs scrubbed."""
    entries = []
    for op, path, old, new in found:
        entry: dict[str, Any] = {"op": op, "path": render(path)}
        key = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
        if op != "add":
            entry["old"] = scrub(old, key)
        if op != "remove":
            entry["new"] = scrub(new, key)
        entries.append(entry)
    return entries


def owns(fields: Any, path: Path) -> bool:
    """Does a managedFields entry's ``fieldsV1`` own ``path``? A list is owned whole (the CRD's lists
    are atomic: ``f:checks: {}``) or by element; a field owned as a leaf owns what is under it."""
    node = fields
    for part in path:
        if not isinstance(node, dict):
            return False
        if isinstance(part, int) or node == {}:
            return True  # an atomic list, or a leaf: whoever owns it owns its insides
        key = f"f:{part}"
        if key not in node:
            return False
        node = node[key]
    return True


def _main_entries(managed_fields: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Entries of the resource itself (not of /status) that own something of the spec."""
    return [
        e for e in managed_fields or []
        if not e.get("subresource") and "f:spec" in ((e.get("fieldsV1") or {}) if isinstance(e.get("fieldsV1"), dict) else {})
    ]  # fmt: skip


def attribute(managed_fields: list[dict[str, Any]] | None, found: list[tuple[str, Path, Any, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """Who made these changes: the managers that now own a changed or added path, those whose entry
    changed last (managedFields times are to the second, so two writers in one second both show).
    A change that only removed fields leaves no owner behind: then the managers of the spec whose
    entry changed last, marked ``"basis": "latest"`` (a guess the API server's audit log settles)."""
    entries = _main_entries(managed_fields)
    owned = [p for op, p, _, _ in found if op != "remove"]
    owners = [(e, [render(p) for p in owned if owns(e.get("fieldsV1"), p)]) for e in entries]
    owners = [(e, paths) for e, paths in owners if paths]
    basis = "owner"
    if not owners:
        owners, basis = [(e, []) for e in entries], "latest"
    if not owners:
        return []
    newest = max(str(e.get("time") or "") for e, _ in owners)
    return [
        {"manager": e.get("manager") or "", "operation": e.get("operation") or "", "time": e.get("time"),
         **({"paths": paths} if paths else {}), "basis": basis}
        for e, paths in owners if str(e.get("time") or "") == newest
    ]  # fmt: skip


def created(spec: dict[str, Any], meta: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The monitor was created: its spec as the API server stored it (defaults filled in), and who."""
    found = changes({}, spec)
    return {"time": now, "kind": CREATED, "generation": meta.get("generation"),
            "created": meta.get("creationTimestamp"), "managers": attribute(meta.get("managedFields"), found),
            "spec": scrub(spec)}  # fmt: skip


def spec_changed(old: dict[str, Any] | None, new: dict[str, Any] | None, meta: dict[str, Any], *,
                 now: str) -> dict[str, Any] | None:  # fmt: skip
    """A change of the spec (None when old and new are the same): the diff and its managers."""
    found = changes(old, new)
    if not found:
        return None
    return {"time": now, "kind": SPEC_CHANGED, "generation": meta.get("generation"),
            "managers": attribute(meta.get("managedFields"), found), "changes": diff_entries(found)}  # fmt: skip


def deleted(meta: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The monitor is being deleted (its finalizer runs): the store goes with it right after."""
    return {"time": now, "kind": DELETED, "generation": meta.get("generation"),
            "deletionTimestamp": meta.get("deletionTimestamp")}  # fmt: skip


def why(result: str, message: str) -> str:
    """Why nothing was done, as one word an auditor can filter on."""
    if result == "Observed":
        return "observeMode"
    for marker, word in (("cooldown", "cooldown"), ("maxPerDay", "dailyCap"), ("managed by", "gitOps"),
                         ("missing data", "missingData"), ("Unknown", "missingData"), ("known-good", "noKnownGood"),
                         ("not ours", "notOwned"), ("not permitted", "notPermitted"), ("egress", "notPermitted")):  # fmt: skip
        if marker in message:
            return word
    return "other"


def decision(action: str, reason: str, result: str, message: str, *, generation: Any, now: str) -> dict[str, Any]:  # fmt: skip
    """One action (Done, Failed) or decision not to act (Skipped, Observed), as status.actions says it."""
    record = {"time": now, "kind": ACTION if result in ACTED else NO_ACTION, "generation": generation,
              "action": action, "reason": reason, "result": result, "message": message[:MESSAGE_CHARS]}  # fmt: skip
    if result not in ACTED:
        record["why"] = why(result, message)
    return record


def signature(record: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes two decisions the same one repeated (None for records that never repeat)."""
    if record.get("kind") not in (ACTION, NO_ACTION):
        return None
    return tuple(record.get(k) for k in ("kind", "action", "reason", "result", "why", "generation"))


def blind(spec: ModelMonitorSpec, conditions: dict[str, dict[str, Any]], decided: set[str], *,
          generation: Any, now: str) -> list[dict[str, Any]]:  # fmt: skip
    """Rollbacks and retrains not considered because a trigger of theirs is Unknown (missing data),
    when the act stage said nothing about them: the policy takes no action on missing data, and the
    trail says so, with the condition's reason."""
    out = []
    for action, policy in (("rollback", spec.actions.rollback), ("retrain", spec.actions.retrain)):
        if policy is None or action in decided:
            continue
        for trigger in (str(t) for t in policy.when):
            condition = conditions.get(trigger) or {}
            if condition.get("status") == "Unknown":
                message = (f"{trigger} is Unknown ({condition.get('reason') or 'no reason'}: "
                           f"{str(condition.get('message') or '')[:300]}): no {action} on missing data")  # fmt: skip
                out.append(decision(action, trigger, "Skipped", message, generation=generation, now=now))
                break
    return out


DEFAULT_RETENTION = 720 * 3600.0


def retention_seconds(spec: dict[str, Any]) -> float:
    """``spec.retention`` in seconds, from the raw spec (the default when absent or not a duration:
    the evaluation reports an invalid spec; the trail keeps its records meanwhile)."""
    try:
        return max(3600.0, parse_duration(str(spec.get("retention") or "720h")))
    except ValueError:
        return DEFAULT_RETENTION
