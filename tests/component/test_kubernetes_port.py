"""The Kubernetes port on the emulated API: the full label selector goes out and is applied here too.

kmock ignores label selectors, as a real API server would not: what comes back filtered is the
port's own client-side filter, and the selector it sent is read from the recorded requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes
import pytest

from modelmonitor.adapters.kubernetes import KubernetesPort

pytestmark = pytest.mark.component

SELECTOR = {
    "matchLabels": {"app": "x"},
    "matchExpressions": [
        {"key": "track", "operator": "NotIn", "values": ["v2"]},
        {"key": "tier", "operator": "Exists"},
    ],
}


def port_for(cluster: Any) -> KubernetesPort:
    config = kubernetes.client.Configuration(host=cluster.api.base)
    config.api_key = {"authorization": "Bearer test-token"}
    return KubernetesPort(kubernetes.client.ApiClient(config))


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
