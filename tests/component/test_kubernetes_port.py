"""The Kubernetes port on the emulated API: the full label selector goes out and is applied here too;
a refusal or an unreachable server comes back as KubernetesError, never as the client's ApiException.

kmock ignores label selectors, as a real API server would not: what comes back filtered is the
port's own client-side filter, and the selector it sent is read from the recorded requests.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from modelmonitor.adapters.kubernetes import KubernetesClient
from modelmonitor.adapters.ports import KubernetesError

pytestmark = pytest.mark.component

SELECTOR = {
    "matchLabels": {"app": "x"},
    "matchExpressions": [
        {"key": "track", "operator": "NotIn", "values": ["v2"]},
        {"key": "tier", "operator": "Exists"},
    ],
}


def port_for(cluster: Any) -> KubernetesClient:
    config = kubernetes.client.Configuration(host=cluster.api.base)
    config.api_key = {"authorization": "Bearer test-token"}
    return KubernetesClient(kubernetes.client.ApiClient(config))


async def test_pods_and_replicasets_are_listed_by_the_whole_selector(cluster: Any) -> None:
    api = cluster.api
    for name, labels in (("champion", {"app": "x", "tier": "web"}),
                         ("challenger", {"app": "x", "tier": "web", "track": "v2"}),
                         ("untiered", {"app": "x"}), ("other", {"app": "y", "tier": "web"})):  # fmt: skip
        await api.create("v1/pods", "ns", {"metadata": {"name": name, "labels": labels}})
        await api.create("apps/v1/replicasets", "ns", {"metadata": {"name": name, "labels": labels}})
    port = port_for(cluster)

    pods = await asyncio.to_thread(port.list_pods, "ns", SELECTOR)
    replicasets = await asyncio.to_thread(port.list_replicasets, "ns", SELECTOR)

    assert [p["metadata"]["name"] for p in pods] == ["champion"]
    assert [r["metadata"]["name"] for r in replicasets] == ["champion"]
    sent = [r.params.get("labelSelector") for r in cluster if r.method == "GET" and r.resource is not None
            and r.resource.plural in ("pods", "replicasets")]  # fmt: skip
    assert sent == ["app=x,track notin (v2),tier"] * 2


FORBIDDEN = (
    'pods is forbidden: User "system:serviceaccount:mm:modelmonitor" cannot list resource "pods" '
    'in API group "" in the namespace "ns"'
)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason,
            "message": message}  # fmt: skip


async def test_a_403_is_a_kubernetes_error_with_the_servers_message(cluster: Any) -> None:
    cluster["get /api/v1/namespaces/ns/pods"] << 403 << status(403, "Forbidden", FORBIDDEN)
    port = port_for(cluster)

    with pytest.raises(KubernetesError) as caught:
        await asyncio.to_thread(port.list_pods, "ns", SELECTOR)

    exc = caught.value
    assert not isinstance(exc, ApiException)
    assert (exc.status, exc.reason, exc.detail) == (403, "Forbidden", FORBIDDEN)
    assert str(exc) == f"403 Forbidden: {FORBIDDEN}"
    assert exc.__cause__ is None and exc.__suppress_context__  # the client's text is not chained


async def test_a_403_on_a_read_is_raised_not_taken_for_a_missing_object(cluster: Any) -> None:
    message = 'deployments.apps "model" is forbidden: User "u" cannot get resource "deployments"'
    cluster["get /apis/apps/v1/namespaces/ns/deployments/model"] << 403 << status(403, "Forbidden", message)

    with pytest.raises(KubernetesError) as caught:
        await asyncio.to_thread(port_for(cluster).get_deployment, "ns", "model")

    assert (caught.value.status, caught.value.detail) == (403, message)


async def test_a_500_on_a_write_names_the_server_message_and_nothing_of_what_was_sent(cluster: Any) -> None:
    message = "Internal error occurred: etcdserver: request timed out"
    await cluster.api.create("apps/v1/deployments", "ns", {"metadata": {"name": "model", "annotations": {}}})
    (
        cluster["patch /apis/apps/v1/namespaces/ns/deployments/model"]
        << 500
        << status(500, "InternalError", message)
    )
    ops = [{"op": "add", "path": "/metadata/annotations/x", "value": "SECRETxyz"}]

    with pytest.raises(KubernetesError) as caught:
        await asyncio.to_thread(port_for(cluster).json_patch_deployment, "ns", "model", ops)

    exc = caught.value
    assert not isinstance(exc, ApiException)
    assert (exc.status, exc.reason, exc.detail) == (500, "Internal Server Error", message)
    assert "SECRETxyz" not in str(exc)
    patches = [r for r in cluster if r.method == "PATCH" and r.resource is not None]
    assert len(patches) == 1  # it did reach the server


async def test_a_long_server_message_is_cut(cluster: Any) -> None:
    cluster["get /api/v1/namespaces/ns/services"] << 500 << status(500, "InternalError", "x" * 5000)

    with pytest.raises(KubernetesError) as caught:
        await asyncio.to_thread(port_for(cluster).list_services, "ns")

    assert caught.value.detail == "x" * 500


def test_a_closed_port_is_unreachable_not_a_client_exception() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = kubernetes.client.Configuration(host=f"http://127.0.0.1:{port}")
    client = KubernetesClient(kubernetes.client.ApiClient(config))

    for call in (lambda: client.list_services("ns"), lambda: client.get_deployment("ns", "model")):
        with pytest.raises(KubernetesError) as caught:
            call()
        assert (caught.value.status, caught.value.reason) == (0, "Unreachable")
        assert caught.value.detail == "NewConnectionError"  # the kind of failure, not the client's text


async def test_a_missing_object_is_none_a_taken_name_is_false_and_a_gone_hpa_is_deleted(cluster: Any) -> None:
    port = port_for(cluster)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "admin"}}

    assert await asyncio.to_thread(port.get_configmap, "ns", "absent") is None
    assert await asyncio.to_thread(port.create_secret, "ns", secret) is True
    assert await asyncio.to_thread(port.create_secret, "ns", secret) is False  # 409: it exists
    await asyncio.to_thread(port.delete_hpa, "ns", "absent")  # 404: already gone, not an error
    deletes = [r for r in cluster if r.method == "DELETE" and r.resource is not None]
    assert [r.resource.plural for r in deletes] == ["horizontalpodautoscalers"]
