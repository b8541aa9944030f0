"""The ports the operator's stages talk through, and the errors they raise.

Each port is a ``typing.Protocol``: the gather and act stages are typed against these, the adapters
in this package implement them (``adapters/kubernetes.py``, ``prometheus.py``, ``sidecars.py``,
``webhooks.py``), and unit tests pass fakes. A port raises the project's own errors below (or
``SecretRefused``), never a client library's exception, so nothing above the adapters imports
``kubernetes`` or ``requests``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelmonitor.adapters.sidecars import Window


class KubernetesError(Exception):
    """A Kubernetes API call failed: ``status`` is the HTTP status (0 when none came back),
    ``reason`` its phrase, ``detail`` the API server's own message (it names the verb, resource and
    identity; never a Secret's data)."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f": {detail}" if detail else ""))
        self.status = status
        self.reason = reason
        self.detail = detail


class SecretRefused(Exception):
    """A Secret the operator does not read, or cannot use: missing, not opted in, no such key, not
    text. The message names the Secret and the key, never a value; ``reason`` is CamelCase."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KubernetesPort(Protocol):
    """Reads and writes of the objects the operator looks at, as the API's JSON (camelCase dicts).
    Reads answer None for a missing object; creates answer False when the name is taken (409)."""

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def list_pods(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]: ...
    def list_replicasets(self, namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]: ...
    def list_services(self, namespace: str) -> list[dict[str, Any]]: ...
    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None: ...
    def json_patch_service(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None: ...
    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_configmap(self, namespace: str, body: dict[str, Any]) -> None: ...
    def merge_patch_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> None: ...
    def get_secret_value(self, namespace: str, name: str, key: str) -> str: ...
    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_secret(self, namespace: str, body: dict[str, Any]) -> bool: ...
    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def list_jobs(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]: ...
    def get_hpa(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_hpa(self, namespace: str, body: dict[str, Any]) -> None: ...
    def patch_hpa(self, namespace: str, name: str, body: dict[str, Any]) -> None: ...
    def delete_hpa(self, namespace: str, name: str) -> None: ...
    def get_namespace_labels(self, namespace: str) -> dict[str, str]: ...
    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_network_policy(self, namespace: str, body: dict[str, Any]) -> bool: ...
    def json_patch_network_policy(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None: ...
    def get_httproute(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def json_patch_httproute(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None: ...
    def patch_monitor_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None: ...


class PrometheusPort(Protocol):
    """Instant queries of one Prometheus; ``query`` raises PrometheusError (adapters/prometheus.py)."""

    def is_online(self) -> bool: ...
    def query(self, promql: str) -> float | None: ...
    def query_figures(self, queries: dict[str, str]) -> dict[str, float | None]:
        """Each ``{name: PromQL}`` figure's value (as ``query`` gives it), in one round trip."""
        ...


class SidecarPort(Protocol):
    """The captured windows of a monitor's sidecars, merged (``{pod: admin URL}`` in); a pod that
    cannot be read is named in ``Window.pods_failed``, never raised."""

    def read_window(
        self,
        endpoints: dict[str, str],
        *,
        timeout: float,
        max_rows: int,
        since_ts: float | None = None,
        token: str | None = None,
    ) -> Window: ...

    def read_explanations(
        self, endpoints: dict[str, str], *, timeout: float, token: str | None = None
    ) -> dict[str, Any] | None:
        """The drift attribution over the pods' explanations; None when none has one."""
        ...


class WebhookPort(Protocol):
    """Alert delivery: ``post`` raises WebhookError (adapters/webhooks.py) when every attempt failed."""

    def duplicate(self, key: tuple[Any, ...], now: float) -> bool: ...
    def post(self, url: str, body: Any) -> None: ...
