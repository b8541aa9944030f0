"""Each evaluation verifies the Service route, and says which ports it will not route."""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.workload.injection import ROUTE_ANNOTATION
from tests.unit.operator.fakes import (
    FakeKube,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
)


def service(name: str, *ports: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": "5"}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"selector": {"app": "x"}, "ports": list(ports)}}


def test_a_route_undone_by_a_reapplied_manifest_is_restored_and_reported() -> None:
    kube = FakeKube()
    spec = monitor_spec()
    kube.deployments["x"] = injected(deployment(), spec)
    record = json.dumps({"monitor": "x", "proxyPort": 8480, "original": {"0": "http"}})
    # What `kubectl apply` leaves: targetPort back to the model, our annotation still there.
    kube.services["x"] = service("x", {"name": "http", "port": 80, "targetPort": "http"},
                                 annotations={ROUTE_ANNOTATION: record})  # fmt: skip

    outcome = reconciler(kube).reconcile(request(spec))

    assert kube.services["x"]["spec"]["ports"][0]["targetPort"] == 8480
    injected_condition = condition(outcome.status_patch, "SidecarInjected")
    assert injected_condition["status"] == "True"
    assert "Service x: port http targeted the model directly again" in injected_condition["message"]
    assert [n.reason for n in outcome.notes] == ["RouteRestored"]


def test_grpc_ports_are_left_alone_and_the_message_says_why() -> None:
    kube = FakeKube()
    spec = monitor_spec()
    kube.deployments["x"] = injected(deployment(), spec)
    kube.services["x-grpc"] = service("x-grpc", {"name": "predict", "port": 9000, "targetPort": 8080,
                                                 "appProtocol": "grpc"})  # fmt: skip

    outcome = reconciler(kube).reconcile(request(spec))

    assert kube.count("json_patch_service") == 0
    message = condition(outcome.status_patch, "SidecarInjected")["message"]
    assert message == (
        "sidecar runs in every replica; no Service routed; Service x-grpc: port predict (appProtocol grpc) "
        "not routed, the proxy speaks HTTP/1.1 only (gRPC, h2c and WebSocket would break behind it)"
    )
