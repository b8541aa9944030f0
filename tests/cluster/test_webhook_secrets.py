"""On a real API server, as the chart's ServiceAccount: a webhook Secret's data is read only when the
Secret carries modelmonitor.io/webhook=true; of any other, the metadata alone crosses the wire."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from modelmonitor.adapters.kubernetes import METADATA_ONLY, KubernetesClient, SecretRefused
from tests.cluster.conftest import K8s

pytestmark = pytest.mark.cluster

URL = "https://hooks.slack.com/services/T000/B000/SECRETxyz"


def secret(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels},
        "data": {"url": base64.b64encode(URL.encode()).decode()},
    }  # fmt: skip


def client(kubeconfig: Path) -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient(config)


def test_only_a_labelled_secret_is_read_and_of_others_only_the_metadata_is_sent(
    k8s: K8s, namespace: str, operator_kubeconfig: Path
) -> None:
    k8s.apply([secret("hook", {"modelmonitor.io/webhook": "true"}), secret("db-password", {})], namespace)
    api = client(operator_kubeconfig)
    port = KubernetesClient(api)

    assert port.get_secret_value(namespace, "hook", "url") == URL
    with pytest.raises(SecretRefused) as caught:
        port.get_secret_value(namespace, "db-password", "url")
    assert caught.value.reason == "SecretNotLabelled" and "SECRETxyz" not in str(caught.value)

    # What the first read of the port asks for: the server answers the metadata and no data.
    answer = kubernetes.client.CoreV1Api(api).read_namespaced_secret(
        "db-password", namespace, _preload_content=False, _headers={"Accept": METADATA_ONLY}
    )
    body = json.loads(answer.data)
    assert body["kind"] == "PartialObjectMetadata"
    assert "data" not in body and "SECRETxyz" not in answer.data.decode()
    assert body["metadata"]["name"] == "db-password"
