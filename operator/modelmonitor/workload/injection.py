"""How the monitor edits the user's workload: the sidecar in the pod template, the Service route.

Pure: Deployments and Services come in as dicts, RFC 6902 JSON patches go out. JSON patches mean
the same thing on every API server (a strategic-merge patch that omits the sidecar from
``containers`` would keep it, because strategic merge merges that list by name), and each patch
starts with a ``test`` of the resourceVersion and of the exact entries it touches, so a concurrent
edit makes it fail (422) instead of clobbering someone else's change; the next tick plans again.

What was injected is recorded in one annotation on the Deployment, so injection is idempotent
(``inject(inject(x)) == inject(x)``) and removal takes away exactly what was added: the sidecar
container and the pod volumes it mounts (``workload/injected.py``: the ``modelmonitor-admin``
volume with the monitor's admin token, and the ``modelmonitor-audit`` emptyDir when the audit trail
is on). Turning the audit trail off takes its volume, mount and environment out again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.workload import admin, injected

# Defined in workload/injected.py; other modules and tests import them from here too.
from modelmonitor.workload.injected import ADMIN_MOUNT as ADMIN_MOUNT
from modelmonitor.workload.injected import ADMIN_TOKEN_FILE as ADMIN_TOKEN_FILE
from modelmonitor.workload.injected import ADMIN_VOLUME as ADMIN_VOLUME
from modelmonitor.workload.injected import AUDIT_MOUNT as AUDIT_MOUNT
from modelmonitor.workload.injected import AUDIT_VOLUME as AUDIT_VOLUME
from modelmonitor.workload.injected import INJECTED_ANNOTATION as INJECTED_ANNOTATION
from modelmonitor.workload.injected import Record as Record
from modelmonitor.workload.injected import admin_volume as admin_volume

SIDECAR_NAME = "modelmonitor-sidecar"
ROUTE_ANNOTATION = "modelmonitor.io/routed"
PROXY_PORT_NAME = "mm-proxy"
ADMIN_PORT_NAME = "mm-admin"
SIDECAR_USER = 65532


def pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class InjectionError(ValueError):
    """The Deployment cannot take the sidecar as asked; the message says why and what to change."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def pod_template(deployment: dict[str, Any]) -> dict[str, Any]:
    return dict(((deployment.get("spec") or {}).get("template")) or {})


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod_template(deployment).get("spec") or {}).get("containers") or [])


def volumes(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod_template(deployment).get("spec") or {}).get("volumes") or [])


def model_container(deployment: dict[str, Any], spec: ModelMonitorSpec) -> dict[str, Any]:
    """The model container: ``spec.target.container`` or the first container that is not ours."""
    own = [c for c in containers(deployment) if c.get("name") != SIDECAR_NAME]
    if spec.target.container:
        for c in own:
            if c.get("name") == spec.target.container:
                return c
        names = ", ".join(str(c.get("name")) for c in own) or "none"
        raise InjectionError(
            "ContainerNotFound",
            f"spec.target.container {spec.target.container!r} is not in the pod template (containers: {names})",
        )
    if not own:
        raise InjectionError("ContainerNotFound", "the Deployment's pod template has no container")
    return own[0]


def _version_env(deployment: dict[str, Any], label: str) -> dict[str, Any]:
    """MODEL_VERSION read by the Downward API, so it follows the pod template without re-injection."""
    meta = pod_template(deployment).get("metadata") or {}
    where = (
        "annotations"
        if label not in (meta.get("labels") or {}) and label in (meta.get("annotations") or {})
        else "labels"
    )
    return {
        "name": "MODELMONITOR_MODEL_VERSION",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{where}['{label}']"}},
    }


def sidecar_container(
    spec: ModelMonitorSpec, deployment: dict[str, Any], *, image: str, monitor: str
) -> dict[str, Any]:
    """The sidecar container exactly as injected for ``monitor`` (validates the target container
    first). It reads its admin token from the monitor's admin Secret, mounted read-only at
    ``ADMIN_MOUNT``, and its redaction salt from the same Secret, so that every pod of the monitor
    hashes redacted values alike. With the audit trail on, it writes it to ``AUDIT_MOUNT``."""
    model_container(deployment, spec)
    side = spec.sidecar
    ports_in_use = {
        p.get("containerPort")
        for c in containers(deployment)
        if c.get("name") != SIDECAR_NAME
        for p in c.get("ports") or []
    }
    clash = sorted(p for p in (side.listenPort, side.adminPort) if p in ports_in_use or p == spec.target.port)
    if clash:
        raise InjectionError(
            "PortConflict",
            f"the sidecar ports {clash} are already used in the pod; set spec.sidecar.listenPort/adminPort",
        )
    env = [
        {"name": "MODELMONITOR_LISTEN", "value": f"0.0.0.0:{side.listenPort}"},
        {"name": "MODELMONITOR_UPSTREAM", "value": f"http://127.0.0.1:{spec.target.port}"},
        {"name": "MODELMONITOR_ADMIN", "value": f"0.0.0.0:{side.adminPort}"},
        {
            "name": "MODELMONITOR_MODEL_NAME",
            "value": str((deployment.get("metadata") or {}).get("name", "model")),
        },
        _version_env(deployment, spec.target.versionLabel),
        {"name": "MODELMONITOR_PROTOCOL", "value": str(spec.target.protocol)},
        {"name": "MODELMONITOR_SAMPLE_RATE", "value": f"{side.sampleRate:g}"},
        {"name": "MODELMONITOR_WINDOW_ROWS", "value": str(spec.window.maxRows)},
        {"name": "MODELMONITOR_WINDOW_AGE", "value": spec.window.maxAge},
        *([{"name": "MODELMONITOR_RETENTION", "value": spec.retention}] if spec.retention != "720h" else []),
    ]
    secret = admin.admin_name(monitor)
    env.append({"name": "MODELMONITOR_ADMIN_TOKEN_FILE", "value": ADMIN_TOKEN_FILE})
    env.append({
        "name": "MODELMONITOR_REDACT_SALT",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": admin.SALT_KEY}},
    })  # fmt: skip
    if side.redact:
        env.append({"name": "MODELMONITOR_REDACT", "value": ",".join(side.redact)})
    if side.detectPII:
        env.append({"name": "MODELMONITOR_DETECT", "value": "email,card"})
    return {
        "name": SIDECAR_NAME,
        "image": side.image or image,
        "args": ["sidecar"],
        # explanations and the audit trail: no variables while off
        "env": [*env, *spec.explain.sidecar_env(), *injected.audit_env(spec)],
        "ports": [
            {"name": PROXY_PORT_NAME, "containerPort": side.listenPort, "protocol": "TCP"},
            {"name": ADMIN_PORT_NAME, "containerPort": side.adminPort, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": side.adminPort}, "periodSeconds": 5},
        "volumeMounts": injected.mounts(spec),
        "resources": side.resources.model_dump(mode="json"),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SIDECAR_USER,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def guard(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    version = (deployment.get("metadata") or {}).get("resourceVersion")
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}] if version else []


def plan_injection(
    deployment: dict[str, Any], spec: ModelMonitorSpec, *, monitor: str, image: str
) -> list[dict[str, Any]]:
    """The JSON patch that makes the sidecar present and as desired; ``[]`` when it already is.

    The pod template gets its volumes first (the sidecar mounts them), then the sidecar; a volume
    this monitor added and no longer needs (the audit volume, turned off) goes.
    Raises InjectionError when another monitor owns the injection or the pod template cannot take it
    (a volume named ``modelmonitor-admin`` that the monitor did not add, for instance).
    """
    record = Record.read(deployment)
    if record is not None and record.monitor != monitor:
        raise InjectionError(
            "InjectedByOtherMonitor",
            f"the sidecar was injected for ModelMonitor {record.monitor!r}; one monitor per Deployment",
        )
    desired = sidecar_container(spec, deployment, image=image, monitor=monitor)
    wanted = injected.pod_volumes(spec, monitor)
    ops = _volume_ops(deployment, wanted, ours=record.volumes if record is not None else ())
    current = containers(deployment)
    index = next((i for i, c in enumerate(current) if c.get("name") == SIDECAR_NAME), None)
    new_record = Record(
        monitor=monitor, container=SIDECAR_NAME, digest=_digest([desired, *wanted]),
        volumes=tuple(v["name"] for v in wanted),
    )  # fmt: skip
    base = ("spec", "template", "spec", "containers")
    if index is None:
        ops.append({"op": "add", "path": pointer(*base, "-"), "value": desired})
    elif not as_desired(current[index], desired):
        ops.append({"op": "test", "path": pointer(*base, index, "name"), "value": SIDECAR_NAME})
        ops.append({"op": "replace", "path": pointer(*base, index), "value": desired})
    if record != new_record:
        if not (deployment.get("metadata") or {}).get("annotations"):
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        ops.append(
            {
                "op": "add",
                "path": pointer("metadata", "annotations", INJECTED_ANNOTATION),
                "value": new_record.to_json(),
            }
        )
    return guard(deployment) + ops if ops else []


def _volume_ops(
    deployment: dict[str, Any], wanted: list[dict[str, Any]], *, ours: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Take out the volumes this monitor added (``ours``) and no longer wants, then add each wanted
    volume or put it back as desired; refuse a volume of a wanted name that the monitor did not add."""
    current = volumes(deployment)  # follows the ops, so that each index is right where it applies
    base = ("spec", "template", "spec", "volumes")
    names = {v["name"] for v in wanted}
    ops: list[dict[str, Any]] = []
    for i in reversed(range(len(current))):
        name = current[i].get("name")
        if name in ours and name not in names:
            ops.append({"op": "test", "path": pointer(*base, i, "name"), "value": name})
            ops.append({"op": "remove", "path": pointer(*base, i)})
            del current[i]
    for volume in wanted:
        index = next((i for i, v in enumerate(current) if v.get("name") == volume["name"]), None)
        if index is None:
            if not current:  # no list (or one emptied above): the whole list
                ops.append({"op": "add", "path": pointer(*base), "value": [volume]})
            else:
                ops.append({"op": "add", "path": pointer(*base, "-"), "value": volume})
            current.append(volume)
        elif volume["name"] not in ours:
            raise InjectionError("VolumeConflict", injected.conflict(volume["name"]))
        elif not as_desired(current[index], volume):
            ops.append({"op": "test", "path": pointer(*base, index, "name"), "value": volume["name"]})
            ops.append({"op": "replace", "path": pointer(*base, index), "value": volume})
    return ops


def as_desired(stored: Any, desired: Any) -> bool:
    """Does the stored object say everything ``desired`` says? The API server fills defaults into what
    it stores (``imagePullPolicy``, ``terminationMessagePath``, a probe's ``timeoutSeconds``, a
    fieldRef's ``apiVersion``...): keys only the stored side has are the server's, not a difference.
    Lists must match item by item; scalars exactly."""
    if isinstance(desired, dict):
        return isinstance(stored, dict) and all(
            k in stored and as_desired(stored[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(desired)
            and all(as_desired(a, b) for a, b in zip(stored, desired, strict=True))
        )
    return bool(stored == desired)


def plan_removal(deployment: dict[str, Any], *, monitor: str) -> list[dict[str, Any]]:
    """The JSON patch that removes exactly what ``monitor`` injected; ``[]`` when nothing is there."""
    record = Record.read(deployment)
    if record is None or record.monitor != monitor:
        return []
    ops: list[dict[str, Any]] = []
    base = ("spec", "template", "spec", "containers")
    for index, c in enumerate(containers(deployment)):
        if c.get("name") == record.container:
            ops.append({"op": "test", "path": pointer(*base, index, "name"), "value": record.container})
            ops.append({"op": "remove", "path": pointer(*base, index)})
            break
    current = volumes(deployment)
    base = ("spec", "template", "spec", "volumes")
    doomed = [i for i, v in enumerate(current) if v.get("name") in record.volumes]
    tests = [{"op": "test", "path": pointer(*base, i, "name"), "value": current[i]["name"]} for i in doomed]
    if doomed and len(doomed) == len(current):
        # The list goes with its last entries: the server drops an empty list anyway.
        ops += [*tests, {"op": "remove", "path": pointer(*base)}]
    else:
        for index, test in reversed(list(zip(doomed, tests, strict=True))):  # the last first: indexes hold
            ops += [test, {"op": "remove", "path": pointer(*base, index)}]
    ops.append(remove_annotation(deployment, INJECTED_ANNOTATION))
    return guard(deployment) + ops


def remove_annotation(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """Remove our annotation; the whole map when it was the only one (as it was before we came)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if set(annotations) == {key}:
        return {"op": "remove", "path": "/metadata/annotations"}
    return {"op": "remove", "path": pointer("metadata", "annotations", key)}


def rollout_complete(deployment: dict[str, Any]) -> bool:
    """True when every replica runs the current pod template (the Deployment controller's view)."""
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    return (
        int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) >= wanted
        and int(status.get("availableReplicas") or 0) >= wanted
        and int(status.get("replicas") or 0) <= wanted
    )


def rollout_failure(deployment: dict[str, Any]) -> str | None:
    """The Deployment controller's message when it gave up on the rollout (condition Progressing
    False, reason ProgressDeadlineExceeded: an image that cannot be pulled, a crash loop...), else
    None. A condition the controller set before it saw the current generation does not count."""
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return None
    for cond in status.get("conditions") or []:
        if (cond.get("type"), cond.get("status"), cond.get("reason")) == (
            "Progressing", "False", "ProgressDeadlineExceeded",
        ):  # fmt: skip
            return str(cond.get("message") or "the rollout exceeded its progress deadline")
    return None


def sidecar_present(deployment: dict[str, Any]) -> bool:
    return any(c.get("name") == SIDECAR_NAME for c in containers(deployment))


def template_hash(owner: dict[str, Any]) -> str:
    """A hash of a Deployment's or ReplicaSet's pod template without what the monitor and the
    Deployment controller add (the sidecar, the ``pod-template-hash`` label): it changes with the
    model, not with us, and a ReplicaSet hashes the same as the Deployment template it came from."""
    return _digest(clean_template(pod_template(owner)))


def clean_template(template: dict[str, Any]) -> dict[str, Any]:
    """The pod template without the sidecar, the volumes it mounts and the controller's
    ``pod-template-hash`` label."""
    out: dict[str, Any] = json.loads(json.dumps(template))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop("pod-template-hash", None)
    spec = out.get("spec") or {}
    spec["containers"] = [c for c in spec.get("containers") or [] if c.get("name") != SIDECAR_NAME]
    if "volumes" in spec:
        kept = [v for v in spec.get("volumes") or [] if v.get("name") not in injected.OURS]
        if kept:
            spec["volumes"] = kept
        else:
            del spec["volumes"]  # as the template was before (the server drops an empty list)
    return out


def injected_parts(deployment: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sidecar container(s) and the volumes it mounts that the Deployment runs now, to keep them
    in a pod template that is put in its place (a rollback)."""
    return (
        [c for c in containers(deployment) if c.get("name") == SIDECAR_NAME],
        [v for v in volumes(deployment) if v.get("name") in injected.OURS],
    )
