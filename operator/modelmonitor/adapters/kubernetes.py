"""The Kubernetes port: typed reads of the objects the operator looks at, as plain dicts.

All Kubernetes API calls of the operator's own logic go through here (Kopf's watching and status
patching aside), so the RBAC the chart grants can be checked against this module.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException


def load_credentials() -> None:
    """In-cluster service account when inside a pod, else KUBECONFIG / ~/.kube/config like kubectl."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]


class KubernetesPort:
    """Reads and writes of Kubernetes objects, returning the API's JSON as dicts (camelCase keys)."""

    def __init__(self, api_client: kubernetes.client.ApiClient | None = None) -> None:
        self._client = api_client or kubernetes.client.ApiClient()
        self._apps = kubernetes.client.AppsV1Api(self._client)

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment, or None when it does not exist."""
        try:
            response = self._apps.read_namespaced_deployment(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)  # type: ignore[attr-defined]
        return data
