"""The Kubernetes port: typed reads of the objects the operator looks at, as plain dicts.

All Kubernetes API calls of the operator's own logic go through here (Kopf's watching and status
patching aside), so the RBAC the chart grants can be checked against this module.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = "modelmonitor"


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
        self._core = kubernetes.client.CoreV1Api(self._client)

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

    def list_pods(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        """Pods whose labels include ``match_labels`` (the selector is also applied here, not only server-side)."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        response = self._core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
        items: list[dict[str, Any]] = json.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return [p for p in items if _has_labels(p, match_labels)]

    def list_services(self, namespace: str) -> list[dict[str, Any]]:
        response = self._core.list_namespaced_service(namespace, _preload_content=False)
        items: list[dict[str, Any]] = json.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return items

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        """Apply an RFC 6902 patch (its ``test`` ops make a concurrent edit fail with 422)."""
        self._apps.patch_namespaced_deployment(
            name,
            namespace,
            ops,
            _content_type=JSON_PATCH,
            _preload_content=False,
            field_manager=FIELD_MANAGER,
        )

    def json_patch_service(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._core.patch_namespaced_service(
            name,
            namespace,
            ops,
            _content_type=JSON_PATCH,
            _preload_content=False,
            field_manager=FIELD_MANAGER,
        )

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            response = self._core.read_namespaced_config_map(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)  # type: ignore[attr-defined,arg-type]
        return data

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> None:
        self._core.create_namespaced_config_map(
            namespace,
            body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
            _preload_content=False,
            field_manager=FIELD_MANAGER,
        )


def _has_labels(obj: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())
