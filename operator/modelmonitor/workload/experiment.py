"""An A/B experiment on the workload: the challenger's share of the traffic, and its promotion.

The champion is the monitor's target Deployment, the challenger another Deployment of the namespace.
The share is given one of two ways: by replicas, when one Service selects the pods of both (each pod
gets about the same traffic, so the challenger's share is its share of the pods), or by the weights of
an HTTPRoute (gateway.networking.k8s.io/v1) whose rules name a Service of each. Promotion copies the
challenger's model (image, command, args, env, resources) into the champion's model container, and
only there: the sidecar, the labels and the selector stay as they are, so the champion's pods are
still selected, still monitored, and the Deployment controller rolls them out as one new revision.

Pure: Deployments and HTTPRoutes come in as dicts, RFC 6902 JSON patches go out (as in
``workload/injection.py``, each guarded by ``test`` ops on what it relies on).
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelmonitor.workload.injection import SIDECAR_NAME, containers, pointer, template_hash

PROMOTED_FIELDS = ("image", "command", "args", "env", "envFrom", "resources")
PROMOTED_FROM = "modelmonitor.io/promoted-from"
CHANGE_CAUSE = "kubernetes.io/change-cause"
APPROVAL_ANNOTATION = "modelmonitor.io/promote"
WEIGHT_TOTAL = 1000  # HTTPRoute weights of champion + challenger: a resolution of 0.1 %
DEFAULT_WEIGHT = 1  # what the Gateway API assumes for a backendRef without a weight

Op = dict[str, Any]


class ExperimentError(ValueError):
    """The workload cannot carry out the experiment as asked; the message names the object, what
    is wrong and the fix. ``reason`` is CamelCase, for a condition or an Event."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def spec_replicas(deployment: dict[str, Any]) -> int:
    """spec.replicas, 1 when unset (the API server's default)."""
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def challenger_replicas(champion_replicas: int, share: float) -> int:
    """The challenger's replicas that give it ``share`` (0-1, exclusive) of the pods behind a Service
    that selects both Deployments: round(R*s/(1-s)), half up; at least 1 when the champion has pods,
    0 when it has none."""
    if not 0 < share < 1:
        raise ValueError(f"a challenger's share is between 0 and 1 (exclusive), not {share}")
    if champion_replicas <= 0:
        return 0
    return max(1, math.floor(champion_replicas * share / (1 - share) + 0.5))


def replica_share(champion: int, challenger: int) -> float | None:
    """The challenger's share of the pods of both (0-1); None when neither has any."""
    total = champion + challenger
    return challenger / total if total > 0 else None


def plan_scale(deployment: dict[str, Any], replicas: int) -> list[Op]:
    """JSON patch setting spec.replicas; ``[]`` when it already is. It tests the replicas it read
    (not the resourceVersion, which every status update moves), so a concurrent scale wins."""
    spec = deployment.get("spec") or {}
    if spec_replicas(deployment) == replicas:
        return []
    if "replicas" not in spec:
        return [{"op": "add", "path": "/spec/replicas", "value": replicas}]
    return [
        {"op": "test", "path": "/spec/replicas", "value": spec["replicas"]},
        {"op": "replace", "path": "/spec/replicas", "value": replicas},
    ]


def experiment_container(
    deployment: dict[str, Any], name: str | None, champion_name: str | None
) -> dict[str, Any]:
    """The challenger's model container: the one named ``name``, else the one named as the champion's
    model container, else the only container that is not the operator's sidecar."""
    own = [c for c in containers(deployment) if c.get("name") != SIDECAR_NAME]
    names = ", ".join(str(c.get("name")) for c in own) or "none"
    for wanted in (name, champion_name):
        if wanted:
            found = next((c for c in own if c.get("name") == wanted), None)
            if found is not None:
                return found
            if wanted == name:
                raise ExperimentError(
                    "ContainerNotFound",
                    f"Deployment {_name(deployment)} has no container {name!r} (containers: {names}); "
                    "name one of them in spec.experiment.challenger.container",
                )
    if len(own) == 1:
        return own[0]
    raise ExperimentError(
        "ContainerNotFound",
        f"Deployment {_name(deployment)} has {len(own)} containers ({names}) and none is named like the "
        "champion's model container; name the model's in spec.experiment.challenger.container",
    )


def _present(value: Any) -> bool:
    """An empty list or map is no value: the API server drops ``env: []`` and fills ``resources: {}``."""
    return value is not None and value != [] and value != {}


def _same(a: Any, b: Any) -> bool:
    return (not _present(a) and not _present(b)) or a == b


def _index(deployment: dict[str, Any], container: str, role: str) -> int:
    if container == SIDECAR_NAME:
        raise ExperimentError(
            "ContainerNotFound",
            f"{role} Deployment {_name(deployment)}: {SIDECAR_NAME} is the operator's sidecar, not a model "
            "container; name the model's container",
        )
    for i, c in enumerate(containers(deployment)):
        if c.get("name") == container:
            return i
    names = ", ".join(str(c.get("name")) for c in containers(deployment)) or "none"
    raise ExperimentError(
        "ContainerNotFound",
        f"{role} Deployment {_name(deployment)} has no container {container!r} (containers: {names}); "
        "name its model container",
    )


def promoted(
    champion: dict[str, Any], challenger: dict[str, Any], champion_container: str, challenger_container: str
) -> bool:
    """Does the champion's model container (by name) already carry the challenger's model container's
    values of PROMOTED_FIELDS? (A promotion is then done, whether we did it before a restart or not.)"""
    ours = containers(champion)[_index(champion, champion_container, "champion")]
    theirs = containers(challenger)[_index(challenger, challenger_container, "challenger")]
    return all(_same(ours.get(f), theirs.get(f)) for f in PROMOTED_FIELDS)


def plan_promotion(
    champion: dict[str, Any], challenger: dict[str, Any], *, champion_container: str,
    challenger_container: str, monitor: str,
) -> list[Op]:  # fmt: skip
    """JSON patch copying PROMOTED_FIELDS of the challenger's model container into the champion's (a
    field the challenger lacks is removed); ``[]`` when already so. Only that container changes: the
    sidecar, the pod template's labels and annotations and the selector are left alone. It tests the
    container's index and name and the Deployment's generation (which moves with any spec change, not
    with status), so it never lands on a pod template that changed since it was read. The Deployment's
    own annotations record where the model came from (``modelmonitor.io/promoted-from:
    <challenger>@<its pod-template hash>``) and why (``kubernetes.io/change-cause``)."""
    index = _index(champion, champion_container, "champion")
    ours = containers(champion)[index]
    theirs = containers(challenger)[_index(challenger, challenger_container, "challenger")]
    base = ("spec", "template", "spec", "containers", index)
    ops: list[Op] = []
    for field in PROMOTED_FIELDS:
        if _same(ours.get(field), theirs.get(field)):
            continue
        if _present(theirs.get(field)):
            ops.append({"op": "add", "path": pointer(*base, field), "value": theirs[field]})
        elif field in ours:
            ops.append({"op": "remove", "path": pointer(*base, field)})
    if not ops:
        return []
    meta = champion.get("metadata") or {}
    guard: list[Op] = [{"op": "test", "path": pointer(*base, "name"), "value": champion_container}]
    if meta.get("generation") is not None:
        guard.insert(0, {"op": "test", "path": "/metadata/generation", "value": meta["generation"]})
    source = f"{_name(challenger)}@{template_hash(challenger)}"
    cause = json.dumps(
        f"modelmonitor {monitor}: promoted {theirs.get('image')} from challenger {_name(challenger)}"
    )[1:-1][:1000]
    notes: list[Op] = (
        [] if meta.get("annotations") else [{"op": "add", "path": "/metadata/annotations", "value": {}}]
    )
    notes += [
        {"op": "add", "path": pointer("metadata", "annotations", PROMOTED_FROM), "value": source},
        {"op": "add", "path": pointer("metadata", "annotations", CHANGE_CAUSE), "value": cause},
    ]
    return guard + ops + notes


def _refs(route: dict[str, Any], champion: str, challenger: str) -> list[tuple[int, dict[str, list[int]]]]:
    """Per rule that names either Service: (rule index, {service: [backendRef indexes]}). Raises
    ExperimentError for a rule with one and not the other, and for a route with neither."""
    name = _name(route)
    rules = (route.get("spec") or {}).get("rules") or []
    found: list[tuple[int, dict[str, list[int]]]] = []
    for i, rule in enumerate(rules):
        where: dict[str, list[int]] = {champion: [], challenger: []}
        for j, ref in enumerate(rule.get("backendRefs") or []):
            if (
                ref.get("kind", "Service") == "Service"
                and ref.get("group", "") == ""
                and ref.get("name") in where
            ):
                where[str(ref["name"])].append(j)
        if not where[champion] and not where[challenger]:
            continue
        missing = [s for s, js in where.items() if not js]
        if missing:
            raise ExperimentError(
                "RouteMalformed",
                f"HTTPRoute {name} rule {i} sends traffic to Service "
                f"{challenger if missing[0] == champion else champion} but not to {missing[0]}; add a "
                f"backendRef to Service {missing[0]} in that rule, or take the other out of it",
            )
        found.append((i, where))
    if not found:
        raise ExperimentError(
            "RouteMalformed",
            f"HTTPRoute {name} has no rule with backendRefs to Services {champion} and {challenger}; add "
            "both to the rule that serves the model, or name the right route in "
            "spec.experiment.traffic.httpRoute",
        )
    return found


def plan_route_weights(route: dict[str, Any], *, champion: str, challenger: str, share: float) -> list[Op]:
    """JSON patch giving the challenger Service ``share`` (0-1) of each rule's traffic to the two:
    the weights of every backendRef named ``champion`` / ``challenger`` sum to 1000 (0.1 %) between
    them; ``[]`` when they already are. Other backendRefs of a rule are left as they are."""
    if not 0 <= share <= 1:
        raise ValueError(f"a challenger's share is between 0 and 1, not {share}")
    heavy = round(share * WEIGHT_TOTAL)
    ops: list[Op] = []
    for i, where in _refs(route, champion, challenger):
        refs = route["spec"]["rules"][i]["backendRefs"]
        for service, total in ((challenger, heavy), (champion, WEIGHT_TOTAL - heavy)):
            indexes = where[service]
            for k, j in enumerate(indexes):
                # Two refs to one Service split its weight; the first takes what does not divide.
                weight = total // len(indexes) + (1 if k < total % len(indexes) else 0)
                if refs[j].get("weight", DEFAULT_WEIGHT) == weight and "weight" in refs[j]:
                    continue
                path = ("spec", "rules", i, "backendRefs", j)
                ops.append({"op": "test", "path": pointer(*path, "name"), "value": service})
                ops.append({"op": "add", "path": pointer(*path, "weight"), "value": weight})
    return ops


def route_share(route: dict[str, Any], champion: str, challenger: str) -> float | None:
    """The challenger's share (0-1) of the traffic the route's weights send to the two Services,
    over every rule that names both; None when they weigh nothing or the route is malformed
    (``plan_route_weights`` says how)."""
    try:
        found = _refs(route, champion, challenger)
    except ExperimentError:
        return None
    weights = {champion: 0, challenger: 0}
    for i, where in found:
        refs = route["spec"]["rules"][i]["backendRefs"]
        for service, indexes in where.items():
            weights[service] += sum(int(refs[j].get("weight", DEFAULT_WEIGHT)) for j in indexes)
    total = weights[champion] + weights[challenger]
    return weights[challenger] / total if total > 0 else None
