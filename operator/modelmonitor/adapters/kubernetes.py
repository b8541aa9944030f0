"""The Kubernetes port: typed reads of the objects the operator looks at, as plain dicts.

All Kubernetes API calls of the operator's own logic go through here (Kopf's watching and status
patching aside), so the RBAC the chart grants can be checked against this module. Each call goes
through ``_call``: a failure surfaces as ``ports.KubernetesError`` (the API server's status, reason and
own message), never as the client library's exception, so nothing above the adapters imports it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import kubernetes
import orjson
import urllib3
from kubernetes.client.exceptions import ApiException

from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.adapters.ports import SecretRefused as SecretRefused  # re-exported: callers import it here
from modelmonitor.api import crd
from modelmonitor.workload.selection import labels_of, render_selector, selector_matches

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "modelmonitor"
GATEWAY_API = "gateway.networking.k8s.io"  # HTTPRoutes: its v1
MAX_DETAIL = 500  # characters of the API server's message kept in a KubernetesError

T = TypeVar("T")


class KubernetesClient:
    """Reads and writes of Kubernetes objects, returning the API's JSON as dicts (camelCase keys);
    implements ``ports.KubernetesPort``. A failed call raises KubernetesError."""

    def __init__(self, api_client: kubernetes.client.ApiClient | None = None, *, pool: int = 20) -> None:
        if api_client is None:
            # One connection per worker thread, or bursts drop and reopen connections.
            config = kubernetes.client.Configuration.get_default_copy()
            config.connection_pool_maxsize = pool
            api_client = kubernetes.client.ApiClient(config)
        self._client = api_client
        self._apps = kubernetes.client.AppsV1Api(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._batch = kubernetes.client.BatchV1Api(self._client)
        self._autoscaling = kubernetes.client.AutoscalingV2Api(self._client)
        self._networking = kubernetes.client.NetworkingV1Api(self._client)
        self._custom = kubernetes.client.CustomObjectsApi(self._client)

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment, or None when it does not exist."""
        return _read(lambda: self._apps.read_namespaced_deployment(name, namespace, _preload_content=False))

    def list_pods(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
        """Pods a LabelSelector (``matchLabels`` and ``matchExpressions``) selects; applied here too,
        not only server-side. Overlapping selectors match other Deployments' pods as well: see
        ``workload.selection.owned_pods``."""
        response = _call(
            lambda: self._core.list_namespaced_pod(
                namespace, label_selector=render_selector(selector), _preload_content=False
            )
        )
        items: list[dict[str, Any]] = orjson.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return [p for p in items if selector_matches(selector, labels_of(p))]

    def list_services(self, namespace: str) -> list[dict[str, Any]]:
        response = _call(lambda: self._core.list_namespaced_service(namespace, _preload_content=False))
        items: list[dict[str, Any]] = orjson.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return items

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        """Apply an RFC 6902 patch (its ``test`` ops make a concurrent edit fail with 422)."""
        _call(
            lambda: self._apps.patch_namespaced_deployment(
                name,
                namespace,
                ops,
                _content_type=JSON_PATCH,
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def json_patch_service(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        _call(
            lambda: self._core.patch_namespaced_service(
                name,
                namespace,
                ops,
                _content_type=JSON_PATCH,
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _read(lambda: self._core.read_namespaced_config_map(name, namespace, _preload_content=False))

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> None:
        _call(
            lambda: self._core.create_namespaced_config_map(
                namespace,
                body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def merge_patch_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        """A merge patch; with metadata.resourceVersion in it, a concurrent write answers 409."""
        _call(
            lambda: self._core.patch_namespaced_config_map(
                name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )  # fmt: skip

    def list_replicasets(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
        """ReplicaSets a LabelSelector selects (filtered here too); see ``list_pods``."""
        response = _call(
            lambda: self._apps.list_namespaced_replica_set(
                namespace, label_selector=render_selector(selector), _preload_content=False
            )
        )
        items: list[dict[str, Any]] = orjson.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return [rs for rs in items if selector_matches(selector, labels_of(rs))]

    def get_secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret that opted in with the label ``modelmonitor.io/webhook: "true"``, decoded.

        The Secret's metadata is read first, alone (as PartialObjectMetadata: no data crosses the
        wire), and its data only when it carries the label, so pointing a monitor at any other
        Secret (a database password) reads nothing of it. SecretRefused says why otherwise; no
        message holds any of the data.
        """
        meta = _read(
            lambda: self._core.read_namespaced_secret(
                name, namespace, _preload_content=False, _headers={"Accept": METADATA_ONLY}
            )
        )
        check_opted_in(meta, namespace, name)
        secret = _read(lambda: self._core.read_namespaced_secret(name, namespace, _preload_content=False))
        return secret_value(secret, namespace, name, key)

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        response = _call(
            lambda: self._batch.create_namespaced_job(
                namespace,
                body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )
        created: dict[str, Any] = orjson.loads(response.data)  # type: ignore[attr-defined]
        return created

    def list_jobs(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        response = _call(
            lambda: self._batch.list_namespaced_job(
                namespace, label_selector=selector, _preload_content=False
            )
        )
        items: list[dict[str, Any]] = orjson.loads(response.data).get("items") or []  # type: ignore[attr-defined]
        return [j for j in items if _has_labels(j, match_labels)]

    def get_hpa(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _read(
            lambda: self._autoscaling.read_namespaced_horizontal_pod_autoscaler(
                name, namespace, _preload_content=False
            )
        )

    def create_hpa(self, namespace: str, body: dict[str, Any]) -> None:
        _call(
            lambda: self._autoscaling.create_namespaced_horizontal_pod_autoscaler(
                namespace,
                body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def patch_hpa(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        """A merge patch of the spec we own (the desired spec, whole)."""
        _call(
            lambda: self._autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                name,
                namespace,
                body,
                _content_type=MERGE_PATCH,
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def delete_hpa(self, namespace: str, name: str) -> None:
        try:
            _call(
                lambda: self._autoscaling.delete_namespaced_horizontal_pod_autoscaler(
                    name, namespace, _preload_content=False
                )
            )
        except KubernetesError as exc:
            if exc.status != 404:
                raise

    def get_namespace_labels(self, namespace: str) -> dict[str, str]:
        """The namespace's labels (opt-in to monitoring and retraining); {} when it does not exist."""
        found = _read(lambda: self._core.read_namespace(namespace, _preload_content=False))
        labels: dict[str, str] = ((found or {}).get("metadata") or {}).get("labels") or {}
        return labels

    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A whole Secret (the monitor's admin Secret), or None when it does not exist. The caller
        checks that it is its own (labels, owner) before it looks at the data."""
        return _read(lambda: self._core.read_namespaced_secret(name, namespace, _preload_content=False))

    def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a Secret; False when one of that name already exists (409: read it again)."""
        return _create(
            lambda: self._core.create_namespaced_secret(
                namespace,
                body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _read(
            lambda: self._networking.read_namespaced_network_policy(name, namespace, _preload_content=False)
        )

    def create_network_policy(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a NetworkPolicy; False when one of that name already exists (409)."""
        return _create(
            lambda: self._networking.create_namespaced_network_policy(
                namespace,
                body,  # type: ignore[arg-type]  # the client sends a plain dict as it is
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def json_patch_network_policy(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        _call(
            lambda: self._networking.patch_namespaced_network_policy(
                name,
                namespace,
                ops,
                _content_type=JSON_PATCH,
                _preload_content=False,
                field_manager=FIELD_MANAGER,
            )
        )

    def get_httproute(self, namespace: str, name: str) -> dict[str, Any] | None:
        """An HTTPRoute (Gateway API v1), or None when there is none (or no such API: 404 too)."""
        return _read(lambda: self._custom.get_namespaced_custom_object(
            GATEWAY_API, "v1", namespace, "httproutes", name, _preload_content=False))  # fmt: skip

    def json_patch_httproute(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        _call(lambda: self._custom.patch_namespaced_custom_object(
            GATEWAY_API, "v1", namespace, "httproutes", name, ops, _content_type=JSON_PATCH,
            _preload_content=False, field_manager=FIELD_MANAGER))  # fmt: skip

    def patch_monitor_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        """A merge patch of the ModelMonitor's annotations: a key set to None is removed."""
        _call(lambda: self._custom.patch_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"metadata": {"annotations": annotations}},
            _content_type=MERGE_PATCH, _preload_content=False, field_manager=FIELD_MANAGER))  # fmt: skip


def _call(call: Callable[[], T]) -> T:
    """What one client call returns; its failure becomes a KubernetesError, unchained (the client's
    exception text holds the response headers and body, which a logged traceback would show)."""
    try:
        return call()
    except ApiException as exc:
        if not exc.status:  # the client's own status 0: TLS failed, or the request was not built
            raise KubernetesError(0, "Unreachable", str(exc.reason or "").split("\n", 1)[0][:100]) from None
        raise KubernetesError(exc.status, str(exc.reason or ""), _server_message(exc.body)) from None
    except urllib3.exceptions.MaxRetryError as exc:  # connection refused, reset, timed out, no such host
        raise KubernetesError(0, "Unreachable", type(exc.reason or exc).__name__) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubernetesError(0, "Unreachable", type(exc).__name__) from None


def _server_message(body: Any) -> str:
    """The ``message`` of the API server's Status body (it names the verb, resource and identity)."""
    try:
        text = json.loads(body or "{}").get("message") or ""
    except (ValueError, TypeError, AttributeError):
        return ""
    return str(text)[:MAX_DETAIL]


def _read(call: Callable[[], Any]) -> dict[str, Any] | None:
    """The object a read call returns as a dict, or None when the API answers 404."""
    try:
        response = _call(call)
    except KubernetesError as exc:
        if exc.status == 404:
            return None
        raise
    data: dict[str, Any] = orjson.loads(response.data)
    return data


def _has_labels(obj: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _create(call: Callable[[], Any]) -> bool:
    """True when the create call made the object, False when the API answers 409 (it exists)."""
    try:
        _call(call)
    except KubernetesError as exc:
        if exc.status == 409:
            return False
        raise
    return True


WEBHOOK_SECRET_LABEL = "modelmonitor.io/webhook"
# The object's metadata only; a server that does not know the form answers the whole object.
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def check_opted_in(secret: dict[str, Any] | None, namespace: str, name: str) -> None:
    """SecretRefused unless the Secret exists and carries ``modelmonitor.io/webhook: "true"``."""
    if secret is None:
        raise SecretRefused("SecretNotFound", f"Secret {namespace}/{name} not found")
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(WEBHOOK_SECRET_LABEL) != "true":
        raise SecretRefused(
            "SecretNotLabelled",
            f'Secret {namespace}/{name} does not carry the label {WEBHOOK_SECRET_LABEL}: "true", so the '
            f"operator does not read it (kubectl -n {namespace} label secret {name} {WEBHOOK_SECRET_LABEL}=true)",
        )


def secret_value(secret: dict[str, Any] | None, namespace: str, name: str, key: str) -> str:
    """The decoded text of one key of an opted-in Secret (its labels are checked again: they may
    have changed between the two reads)."""
    check_opted_in(secret, namespace, name)
    assert secret is not None
    data = (secret.get("data") or {}).get(key)
    if not data:
        raise SecretRefused("SecretKeyNotFound", f"Secret {namespace}/{name} has no key {key!r}")
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise SecretRefused(
            "SecretNotText", f"the key {key!r} of Secret {namespace}/{name} is not UTF-8 text"
        ) from None


if TYPE_CHECKING:
    from modelmonitor.adapters import ports

    _conforms: ports.KubernetesPort = KubernetesClient()  # mypy checks the class against the port
