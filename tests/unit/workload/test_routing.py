"""The route is verified, not trusted: a re-applied Service is routed again; streaming ports never are."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from modelmonitor.workload.injection import ROUTE_ANNOTATION
from modelmonitor.workload.routing import plan_unroute, route, streaming

ARGS: dict[str, Any] = {"model_port": 8080, "model_port_names": {"http"}, "proxy_port": 8480, "monitor": "mm"}


def service(*ports: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "credit", "resourceVersion": "7"},
        "spec": {"selector": {"app": "credit"}, "ports": list(ports) or [{"name": "http", "port": 80, "targetPort": "http"}]},
    }  # fmt: skip


def apply(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = jsonpatch.apply_patch(obj, ops)
    out["metadata"]["resourceVersion"] = str(int(out["metadata"]["resourceVersion"]) + 1)
    return out


def test_a_reset_target_port_is_routed_again_and_said_so() -> None:
    user = service()
    routed = apply(user, route(user, **ARGS).ops)
    assert route(routed, **ARGS).ops == [] and route(routed, **ARGS).routed
    # `kubectl apply -f service.yaml`: targetPort back to the model, our annotation kept.
    reapplied = copy.deepcopy(routed)
    reapplied["spec"]["ports"][0]["targetPort"] = "http"
    reapplied["metadata"]["resourceVersion"] = "20"

    plan = route(reapplied, **ARGS)

    assert plan.routed and plan.restored == ["port http"]
    again = apply(reapplied, plan.ops)
    assert again["spec"]["ports"][0]["targetPort"] == 8480
    assert json.loads(again["metadata"]["annotations"][ROUTE_ANNOTATION])["original"] == {"0": "http"}
    assert "targeted the model directly again" in plan.remarks("credit")[0]
    restored = apply(again, plan_unroute(again, monitor="mm"))
    assert restored["spec"] == user["spec"] and "annotations" not in restored["metadata"]


def test_an_annotation_over_ports_that_no_longer_reach_the_model_is_not_a_route() -> None:
    routed = apply(service(), route(service(), **ARGS).ops)
    routed["spec"]["ports"][0]["targetPort"] = 9999  # the user points the Service elsewhere
    plan = route(routed, **ARGS)
    assert not plan.routed
    assert "annotations" not in apply(routed, plan.ops)["metadata"]  # the stale record goes


def test_a_changed_proxy_port_is_followed() -> None:
    routed = apply(service(), route(service(), **ARGS).ops)
    plan = route(routed, **{**ARGS, "proxy_port": 8490})
    moved = apply(routed, plan.ops)
    assert moved["spec"]["ports"][0]["targetPort"] == 8490 and plan.routed and not plan.restored
    record = json.loads(moved["metadata"]["annotations"][ROUTE_ANNOTATION])
    assert record == {"monitor": "mm", "proxyPort": 8490, "original": {"0": "http"}}


def test_another_monitors_route_is_left_alone() -> None:
    routed = apply(service(), route(service(), **{**ARGS, "monitor": "other"}).ops)
    routed["spec"]["ports"][0]["targetPort"] = "http"
    plan = route(routed, **ARGS)
    assert (plan.ops, plan.routed, plan.other_monitor) == ([], False, "other")


@pytest.mark.parametrize(
    ("port", "why"),
    [
        ({"name": "api", "appProtocol": "grpc"}, "appProtocol grpc"),
        ({"name": "api", "appProtocol": "kubernetes.io/h2c"}, "appProtocol kubernetes.io/h2c"),
        ({"name": "api", "appProtocol": "kubernetes.io/ws"}, "appProtocol kubernetes.io/ws"),
        ({"name": "api", "appProtocol": "kubernetes.io/wss"}, "appProtocol kubernetes.io/wss"),
        ({"name": "grpc-predict"}, "name grpc-predict"),
        ({"name": "h2c"}, "name h2c"),
        ({"name": "ws-stream"}, "name ws-stream"),
        ({"name": "http"}, None),
        ({"name": "wsgi"}, None),
        ({"name": "grpc", "appProtocol": "http"}, None),  # the explicit protocol decides
    ],
)
def test_streaming_ports_are_recognised(port: dict[str, Any], why: str | None) -> None:
    assert streaming(port) == why


def test_streaming_ports_to_the_model_are_not_routed_and_said_so() -> None:
    svc = service(
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "grpc", "port": 9000, "targetPort": 8080},
        {"name": "events", "port": 9001, "targetPort": 8080, "appProtocol": "kubernetes.io/ws"},
    )
    plan = route(svc, **ARGS)
    after = apply(svc, plan.ops)
    assert [p["targetPort"] for p in after["spec"]["ports"]] == [8480, 8080, 8080]
    assert plan.skipped == ["port grpc (name grpc)", "port events (appProtocol kubernetes.io/ws)"]
    assert "not routed, the proxy speaks HTTP/1.1 only" in plan.remarks("credit")[0]
    only_grpc = service({"name": "grpc", "port": 9000, "targetPort": 8080})
    assert route(only_grpc, **ARGS).ops == [] and not route(only_grpc, **ARGS).routed
