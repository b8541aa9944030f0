"""Route a Service's traffic through the sidecar, and back.

A Service that selects the model's pods and sends a port to the model container's serving port is
pointed at the sidecar's proxy port instead; the original targetPort of each port it changes is
recorded in an annotation on the Service, so the change can be undone exactly. The route is
verified on every evaluation, not trusted from the annotation: ``kubectl apply`` of the user's
manifest resets ``targetPort`` and leaves our annotation in place. Ports that speak gRPC, HTTP/2
cleartext or WebSocket are never routed: the proxy speaks HTTP/1.1.

Order matters, or requests fail during a rollout: the operator routes a Service only once every
replica runs the sidecar (``injection.rollout_complete``), and on removal it restores the Service
first and only then takes the sidecar out of the pod template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.workload.injection import ROUTE_ANNOTATION, guard, pointer, remove_annotation


def selects(service: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    """True when the Service's selector picks pods with these labels (an empty selector picks none)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def _targets_model(port: dict[str, Any], model_port: int, model_port_names: set[str]) -> bool:
    target = port.get("targetPort", port.get("port"))
    return target == model_port or (isinstance(target, str) and target in model_port_names)


# The sidecar proxies HTTP/1.1 request-response traffic: gRPC, HTTP/2 cleartext and WebSocket
# ports would break behind it, so they are never routed.
_STREAMING_PROTOCOLS = {
    "grpc", "grpc-web", "h2c", "http2", "ws", "wss",
    "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss",
}  # fmt: skip
_HTTP_PROTOCOLS = {"http", "kubernetes.io/http"}


def streaming(port: dict[str, Any]) -> str | None:
    """Why a Service port must not go through the HTTP/1.1 proxy (``appProtocol grpc``, ``name ws``),
    or None. An explicit ``appProtocol`` decides; else the name's protocol prefix (Istio's convention)."""
    protocol = str(port.get("appProtocol") or "").lower()
    if protocol:
        return f"appProtocol {protocol}" if protocol in _STREAMING_PROTOCOLS else None
    name = str(port.get("name") or "").lower()
    head = name.split("-", 1)[0]
    if head.startswith(("grpc", "h2c")) or head in ("ws", "wss", "http2"):
        return f"name {name}"
    return None


@dataclass(frozen=True)
class RoutePlan:
    """What routing one Service takes, and what to say about it."""

    ops: list[dict[str, Any]]
    """The JSON patch; ``[]`` when the Service is as it should be."""
    routed: bool
    """The Service sends traffic through the proxy once ``ops`` apply."""
    restored: list[str] = field(default_factory=list)
    """Ports that had been routed and targeted the model again (a re-applied manifest): re-routed."""
    skipped: list[str] = field(default_factory=list)
    """Ports to the model left alone, each with why (gRPC, h2c, WebSocket)."""
    other_monitor: str | None = None
    """The monitor that routed this Service, when it is not this one (never stack two routes)."""

    def remarks(self, service: str) -> list[str]:
        """What to tell the user about this Service besides "routed": re-routed, skipped, foreign."""
        out = []
        if self.restored:
            out.append(f"Service {service}: {', '.join(self.restored)} targeted the model directly again "
                       "(the manifest re-applied?): routed through the sidecar again")  # fmt: skip
        if self.skipped:
            out.append(f"Service {service}: {', '.join(self.skipped)} not routed, the proxy speaks HTTP/1.1 "
                       "only (gRPC, h2c and WebSocket would break behind it)")  # fmt: skip
        if self.other_monitor:
            out.append(f"Service {service} is routed by ModelMonitor {self.other_monitor}")
        return out


def plan_route(
    service: dict[str, Any], *, model_port: int, model_port_names: set[str], proxy_port: int, monitor: str
) -> list[dict[str, Any]]:
    """JSON patch pointing the Service's model ports at the proxy; ``[]`` when already routed."""
    return route(
        service, model_port=model_port, model_port_names=model_port_names, proxy_port=proxy_port,
        monitor=monitor,
    ).ops  # fmt: skip


def route(
    service: dict[str, Any], *, model_port: int, model_port_names: set[str], proxy_port: int, monitor: str
) -> RoutePlan:
    """Verify and plan the route: every HTTP port to the model targets the proxy, and the annotation
    records each changed port's original target. The annotation alone proves nothing: a re-applied
    manifest resets ``targetPort`` and keeps our annotation, so the ports are checked each time."""
    recorded = _read(service)
    if recorded is not None and recorded.get("monitor") != monitor:
        return RoutePlan([], routed=False, other_monitor=str(recorded.get("monitor")))
    before = dict((recorded or {}).get("original") or {})
    old_proxy = (recorded or {}).get("proxyPort")
    original: dict[str, Any] = {}
    ops: list[dict[str, Any]] = []
    restored, skipped = [], []
    for index, port in enumerate((service.get("spec") or {}).get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        label = str(port.get("name") or port.get("port"))
        if str(index) in before and target in (old_proxy, proxy_port):
            original[str(index)] = before[str(index)]
            if target != proxy_port:  # spec.sidecar.listenPort changed: follow it
                ops += _point(index, port, proxy_port)
            continue
        if not _targets_model(port, model_port, model_port_names):
            continue
        why = streaming(port)
        if why:
            skipped.append(f"port {label} ({why})")
            continue
        original[str(index)] = target
        ops += _point(index, port, proxy_port)
        if recorded is not None:
            restored.append(f"port {label}")
    record = {"monitor": monitor, "proxyPort": proxy_port, "original": original}
    if not original:
        ops = [remove_annotation(service, ROUTE_ANNOTATION)] if recorded is not None else []
    elif ops or record != recorded:
        ops += _annotate(service, record)
    return RoutePlan(guard(service) + ops if ops else [], bool(original), restored, skipped)


def _point(index: int, port: dict[str, Any], proxy_port: int) -> list[dict[str, Any]]:
    return [
        {"op": "test", "path": pointer("spec", "ports", index, "port"), "value": port.get("port")},
        {"op": "add", "path": pointer("spec", "ports", index, "targetPort"), "value": proxy_port},
    ]


def _annotate(service: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if not (service.get("metadata") or {}).get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    text = json.dumps(record, sort_keys=True)
    ops.append({"op": "add", "path": pointer("metadata", "annotations", ROUTE_ANNOTATION), "value": text})
    return ops


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
