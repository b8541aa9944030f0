"""``modelmonitor report NAME``: what the report reads from a cluster, with the user's own credentials.

The ModelMonitor, its reference profile and the captured windows of the target's ready pods,
through the API server's pod proxy with the monitor's admin token in ``X-ModelMonitor-Token``
(``_window``). What cannot be read becomes a note in the report, never an error, but for the
monitor itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modelmonitor.commands.report import ReportError

if TYPE_CHECKING:
    import pandas as pd

    from modelmonitor.report import Bundle

PAGE_ROWS = 10_000  # rows per /v1/window page, as the operator pages
MAX_PAGES = 100


# --- the cluster -----------------------------------------------------------------------------------


def read_cluster(name: str, namespace: str | None, kubeconfig: str | None) -> Bundle:
    """The monitor, its reference and its window, read with the user's credentials."""
    import kubernetes

    from modelmonitor.report import Bundle

    api, namespace, monitor = read_monitor(name, namespace, kubeconfig)
    core = kubernetes.client.CoreV1Api(api)
    bundle = Bundle(monitor, notes=[])
    bundle.reference = _reference(core, monitor, namespace, bundle.notes)
    bundle.window = _window(api, monitor, namespace, bundle.notes)
    return bundle


def read_monitor(name: str, namespace: str | None, kubeconfig: str | None) -> tuple[Any, str, dict[str, Any]]:
    """(API client, namespace, the ModelMonitor) read with the user's credentials; a ReportError
    saying what failed: no such monitor, a refusal, an API server out of reach."""
    import kubernetes

    from modelmonitor.api import crd

    namespace = _credentials(kubeconfig, namespace)
    api = kubernetes.client.ApiClient()
    custom = kubernetes.client.CustomObjectsApi(api)
    try:
        found = custom.get_namespaced_custom_object(crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name)
    except kubernetes.client.exceptions.ApiException as exc:
        if exc.status == 404:
            raise ReportError(
                f"ModelMonitor {namespace}/{name} not found (kubectl -n {namespace} get mm)"
            ) from None
        raise ReportError(f"cannot read ModelMonitor {namespace}/{name}: {_reason(exc)}") from None
    except Exception as exc:  # the API server unreachable: urllib3 and OS errors
        raise ReportError(f"cannot reach the API server: {type(exc).__name__}: {str(exc)[:200]}") from None
    return api, namespace, found if isinstance(found, dict) else {"metadata": {"name": name}}


def _credentials(kubeconfig: str | None, namespace: str | None) -> str:
    """Load the credentials; the namespace to read (the flag, else the context's, else default)."""
    from modelmonitor.adapters.credentials import CredentialsError, default_namespace, load_credentials

    try:
        load_credentials(kubeconfig)
    except CredentialsError as exc:
        raise ReportError(str(exc)) from None
    return namespace or default_namespace(kubeconfig)


def _reason(exc: Any) -> str:
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, TypeError, AttributeError):
        message = None
    return str(message or f"HTTP {exc.status} {exc.reason}")[:300]


def _reference(core: Any, monitor: dict[str, Any], namespace: str, notes: list[str]) -> Any:
    import kubernetes

    from modelmonitor.drift.profile import Profile
    from modelmonitor.gather.reference import PROFILE_KEY, captured_name

    source = ((monitor.get("spec") or {}).get("drift") or {}).get("reference") or {}
    ref = source.get("configMapRef") or {}
    if not ref and source.get("url"):
        notes.append("the reference is spec.drift.reference.url: not fetched; pass it with --from")
        return None
    name = ref.get("name") or captured_name(monitor["metadata"]["name"])
    key = ref.get("key") or PROFILE_KEY
    try:
        cm = core.read_namespaced_config_map(name, namespace)
    except kubernetes.client.exceptions.ApiException as exc:
        what = "not found (not captured yet?)" if exc.status == 404 else _reason(exc)
        notes.append(f"reference ConfigMap {namespace}/{name}: {what}")
        return None
    text = (cm.data or {}).get(key)
    if not text:
        notes.append(f"reference ConfigMap {namespace}/{name} has no key {key!r}")
        return None
    try:
        return Profile.from_json(text)
    except (KeyError, ValueError, TypeError) as exc:
        notes.append(f"reference ConfigMap {namespace}/{name}: not a drift profile: {str(exc)[:200]}")
        return None


def _window(api: Any, monitor: dict[str, Any], namespace: str, notes: list[str]) -> Any:
    """The merged window of the target's ready pods with the sidecar, through the pod proxy.

    The API server authenticates the request by its Authorization header (the user's credentials)
    and drops that header before proxying (seen on kube-apiserver 1.36), so the monitor's admin token
    (from its Secret, which the user must be allowed to read) goes in ``X-ModelMonitor-Token``, which
    the sidecar accepts as it does the bearer token."""
    import kubernetes
    import pandas as pd

    from modelmonitor.adapters.kubernetes import KubernetesClient
    from modelmonitor.adapters.ports import KubernetesError
    from modelmonitor.api.spec import ModelMonitorSpec
    from modelmonitor.gather.sidecars import endpoints
    from modelmonitor.workload.selection import owned_pods

    try:
        spec = ModelMonitorSpec.model_validate(monitor.get("spec") or {})
    except ValueError as exc:
        notes.append(f"the spec is not valid, so its target is unknown: {str(exc)[:200]}")
        return None
    kube = KubernetesClient(api)
    try:
        deployment = kube.get_deployment(namespace, spec.target.deployment)
        if deployment is None:
            notes.append(f"Deployment {namespace}/{spec.target.deployment} not found: no window")
            return None
        selector = (deployment.get("spec") or {}).get("selector") or {}
        pods = owned_pods(
            kube.list_pods(namespace, selector), kube.list_replicasets(namespace, selector), deployment
        )
    except KubernetesError as exc:
        notes.append(f"cannot list the target's pods: {exc}")
        return None
    token = _admin_token(kube, namespace, str((monitor.get("metadata") or {}).get("name") or ""), notes)
    if token is None:
        return None
    frames = []
    for pod in sorted(endpoints(spec, pods)):
        try:
            frames.append(_pod_window(api, namespace, pod, spec.sidecar.adminPort, token).assign(__pod=pod))
        except ReportError as exc:
            notes.append(str(exc))
        except kubernetes.client.exceptions.ApiException as exc:
            notes.append(_proxy_refused(namespace, pod, exc))
    if not frames:
        notes.append("no window read from any pod: the report is from status alone")
        return None
    return pd.concat(frames, ignore_index=True)


def _admin_token(kube: Any, namespace: str, monitor: str, notes: list[str]) -> str | None:
    """The monitor's admin token (Secret ``<monitor>-modelmonitor-admin``, key ``token``), or None with
    a note saying why; the token itself is never put in a note."""
    from modelmonitor.adapters.ports import KubernetesError
    from modelmonitor.workload import admin

    name = admin.admin_name(monitor)
    try:
        secret = kube.get_secret(namespace, name)
    except KubernetesError as exc:
        notes.append(f"cannot read Secret {namespace}/{name} (the sidecars' admin token): {exc.status} "
                     f"{exc.reason}; no window: the report is from status alone")  # fmt: skip
        return None
    token = admin.token(secret) if secret is not None else None
    if token is None:
        notes.append(f"Secret {namespace}/{name} has no usable admin token: no window")
    return token


def _pod_window(api: Any, namespace: str, pod: str, port: int, token: str) -> pd.DataFrame:
    """One sidecar's window, paged as the operator pages it (``adapters.sidecars``)."""
    import pandas as pd
    from kubernetes.client.exceptions import ApiException

    from modelmonitor.adapters import sidecars
    from modelmonitor.sidecar.auth import TOKEN_HEADER

    path = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/v1/window"
    frames, labels, since = [], {}, 0
    for _ in range(MAX_PAGES):
        method, url, headers, body_in, post = api.param_serialize(
            "GET", path, query_params=[("since", since), ("limit", PAGE_ROWS)],
            header_params={"Accept": "application/json", "Accept-Encoding": "identity", TOKEN_HEADER: token},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = api.call_api(method, url, header_params=headers, body=body_in, post_params=post,
                                _request_timeout=30)  # fmt: skip
        raw = response.read()
        if response.status >= 400:  # call_api answers errors too: the API methods raise them later
            raise ApiException(status=response.status, reason=response.reason, http_resp=response,
                               body=raw.decode("utf-8", "replace"))  # fmt: skip
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ReportError(f"pod {namespace}/{pod}: /v1/window answered JSON that is not an object")
        frames.append(sidecars._page_frame(body))
        labels.update(sidecars._columns(body.get("labels"), ("label", "ts")))
        since = int(body.get("cursor") or since)
        if not body.get("more") or not len(frames[-1]):
            break
    merged = pd.concat(frames, ignore_index=True)
    if labels and len(merged):
        sidecars._apply_labels(merged, labels)
    return merged


def _proxy_refused(namespace: str, pod: str, exc: Any) -> str:
    where = f"pod {namespace}/{pod} through the API server's pod proxy"
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    if exc.status in (401, 403) and "modelmonitor-admin" in body + str(exc.headers or ""):
        return f"the sidecar of {where} refused the monitor's admin token (HTTP {exc.status})"
    if exc.status == 403:
        return f"{where}: you may not use pods/proxy ({_reason(exc)})"
    return f"{where}: {_reason(exc)}"
