"""Route a Service's traffic through the sidecar, and back.

A Service that selects the model's pods and sends a port to the model container's serving port is
pointed at the sidecar's proxy port instead; the original targetPort of each port it changes is
recorded in an annotation on the Service, so the change can be undone exactly.

Order matters, or requests fail during a rollout: the operator routes a Service only once every
replica runs the sidecar (``injection.rollout_complete``), and on removal it restores the Service
first and only then takes the sidecar out of the pod template.
"""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.workload.injection import ROUTE_ANNOTATION, guard, pointer, remove_annotation


def selects(service: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    """True when the Service's selector picks pods with these labels (an empty selector picks none)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def _targets_model(port: dict[str, Any], model_port: int, model_port_names: set[str]) -> bool:
    target = port.get("targetPort", port.get("port"))
    return target == model_port or (isinstance(target, str) and target in model_port_names)


def plan_route(
    service: dict[str, Any], *, model_port: int, model_port_names: set[str], proxy_port: int, monitor: str
) -> list[dict[str, Any]]:
    """JSON patch pointing the Service's model ports at the proxy; ``[]`` when already routed."""
    meta = service.get("metadata") or {}
    recorded = _read(service)
    if recorded is not None:
        return []  # routed already (by this monitor or another: never stack two routes)
    ports = (service.get("spec") or {}).get("ports") or []
    original: dict[str, Any] = {}
    ops: list[dict[str, Any]] = []
    for index, port in enumerate(ports):
        if _targets_model(port, model_port, model_port_names):
            original[str(index)] = port.get("targetPort", port.get("port"))
            ops.append(
                {"op": "test", "path": pointer("spec", "ports", index, "port"), "value": port.get("port")}
            )
            ops.append(
                {"op": "add", "path": pointer("spec", "ports", index, "targetPort"), "value": proxy_port}
            )
    if not ops:
        return []
    if not meta.get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    record = json.dumps({"monitor": monitor, "proxyPort": proxy_port, "original": original}, sort_keys=True)
    ops.append({"op": "add", "path": pointer("metadata", "annotations", ROUTE_ANNOTATION), "value": record})
    return guard(service) + ops


def plan_unroute(service: dict[str, Any], *, monitor: str) -> list[dict[str, Any]]:
    """JSON patch restoring the targetPorts this monitor changed; ``[]`` when it changed none."""
    recorded = _read(service)
    if recorded is None or recorded.get("monitor") != monitor:
        return []
    ports = (service.get("spec") or {}).get("ports") or []
    ops: list[dict[str, Any]] = []
    for key, target in (recorded.get("original") or {}).items():
        index = int(key)
        if index < len(ports) and ports[index].get("targetPort") == recorded.get("proxyPort"):
            ops.append(
                {
                    "op": "test",
                    "path": pointer("spec", "ports", index, "targetPort"),
                    "value": recorded["proxyPort"],
                }
            )
            ops.append(
                {"op": "replace", "path": pointer("spec", "ports", index, "targetPort"), "value": target}
            )
    ops.append(remove_annotation(service, ROUTE_ANNOTATION))
    return guard(service) + ops


def _read(service: dict[str, Any]) -> dict[str, Any] | None:
    text = ((service.get("metadata") or {}).get("annotations") or {}).get(ROUTE_ANNOTATION)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
