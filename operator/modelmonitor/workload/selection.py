"""Which pods are this Deployment's: its label selector, as Kubernetes writes it, then ownership.

Label selectors overlap — a champion Deployment selecting ``app=x`` also selects its challenger's
``app=x,track=v2`` pods — so the selector only narrows the list. A pod is the Deployment's when
its controller is a ReplicaSet whose controller is the Deployment, matched by uid (names are
reused after a delete and re-create). Pure: dicts in, dicts out.
"""

from __future__ import annotations

from typing import Any

_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


def _expressions(selector: dict[str, Any]) -> list[dict[str, Any]]:
    expressions: list[dict[str, Any]] = selector.get("matchExpressions") or []
    for expr in expressions:
        if expr.get("operator") not in _OPERATORS:
            raise ValueError(
                f"unknown label selector operator {expr.get('operator')!r} for key {expr.get('key')!r}"
            )
    return expressions


def render_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector (``matchLabels`` and ``matchExpressions``) as the API's ``labelSelector``
    string, e.g. ``app=x,track notin (v2),tier``; ``""`` selects everything."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in _expressions(selector):
        key, op = expr["key"], expr["operator"]
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])  # fmt: skip
    return ",".join(parts)


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """True when ``labels`` satisfy the whole selector, as the API server would judge it."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in _expressions(selector):
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def controller_uid(obj: dict[str, Any], kind: str) -> str | None:
    """The uid of the object's controller (``ownerReferences[].controller: true``) of ``kind``."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True and ref.get("kind") == kind:
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def owned_replicasets(replicasets: list[dict[str, Any]], deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The ReplicaSets whose controller is this Deployment (by uid); none when it has no uid."""
    uid = (deployment.get("metadata") or {}).get("uid")
    if not uid:
        return []
    return [rs for rs in replicasets if controller_uid(rs, "Deployment") == uid]


def owned_pods(
    pods: list[dict[str, Any]], replicasets: list[dict[str, Any]], deployment: dict[str, Any]
) -> list[dict[str, Any]]:
    """The pods whose controller is one of this Deployment's ReplicaSets."""
    uids = {(rs.get("metadata") or {}).get("uid") for rs in owned_replicasets(replicasets, deployment)}
    uids.discard(None)
    return [p for p in pods if controller_uid(p, "ReplicaSet") in uids]


def template_hashes(replicasets: list[dict[str, Any]], deployment: dict[str, Any]) -> list[str]:
    """The ``pod-template-hash`` labels of this Deployment's ReplicaSets, sorted (the middle part of
    its pods' names, ``<deployment>-<hash>-<suffix>``)."""
    hashes = {labels_of(rs).get("pod-template-hash") for rs in owned_replicasets(replicasets, deployment)}
    return sorted(h for h in hashes if h)
