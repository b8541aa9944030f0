"""``modelmonitor report``: one self-contained HTML file of a monitor, from a cluster or a directory.

``report NAME`` reads with the user's own credentials (as ``modelmonitor run`` loads them): the
ModelMonitor, its reference profile (``spec.drift.reference.configMapRef``, else the ConfigMap the
operator captured) and the captured window of the target's ready pods, through the API server's pod
proxy (the admin token in ``X-ModelMonitor-Token``: see ``_window``). What the user may not read is
said in the report, which is then written from what was read (the status alone, at worst). ``--save DIR`` writes what was read in the ``--from`` format:
``monitor.json``, ``window.jsonl``, ``reference.json``.

Exit codes: 0 written, 2 bad input (no such monitor or directory, no credentials, cannot write).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelmonitor.report import Bundle

EXIT_OK = 0
EXIT_INPUT = 2
WINDOW_FILES = ("window.parquet", "window.csv", "window.jsonl")
PAGE_ROWS = 10_000  # rows per /v1/window page, as the operator pages
MAX_PAGES = 100


class ReportError(Exception):
    """The report cannot be made; the message names what is missing and the fix."""


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command to the CLI."""
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML report of a monitor: status, drift, performance, segments, A/B test",
        description="Read a ModelMonitor, its reference and its captured window from the cluster (NAME) or "
        "from a directory (--from DIR) and write one HTML file (inline SVG, no JavaScript). See docs/report.md.",
    )
    p.add_argument("name", nargs="?", help="the ModelMonitor to read from the cluster")
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, else KUBECONFIG / ~/.kube/config)"
    )
    p.add_argument(
        "--from", dest="source", metavar="DIR", help="read monitor.json, window.* and reference.json"
    )
    p.add_argument(
        "--save", metavar="DIR", help="also write what was read from the cluster to DIR (--from format)"
    )
    p.add_argument("-o", "--output", default="report.html", help="the HTML file (default: report.html)")
    p.set_defaults(func=run_report)


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor report: error: {message}\n")
    return EXIT_INPUT


def run_report(args: argparse.Namespace) -> int:
    """Read the bundle (cluster or directory), render it and write ``args.output``."""
    if (args.name is None) == (args.source is None):
        return _fail("pass either NAME (read the cluster) or --from DIR, not both or neither")
    if args.source is not None and args.save:
        return _fail(
            "--save writes what was read from the cluster; with --from the directory is already that"
        )
    from modelmonitor.report import render

    try:
        bundle = (
            read_dir(Path(args.source))
            if args.source
            else read_cluster(args.name, args.namespace, args.kubeconfig)
        )
        if args.save:
            save_dir(bundle, Path(args.save))
        text = render(bundle)
    except ReportError as exc:
        return _fail(str(exc))
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    for line in bundle.notes:
        sys.stderr.write(f"modelmonitor report: note: {line}\n")
    sys.stdout.write(f"{args.output}: {len(text.encode()):,} bytes\n")
    return EXIT_OK


# --- the --from directory ------------------------------------------------------------------------


def read_dir(folder: Path) -> Bundle:
    """The bundle a ``--from`` directory holds; a missing or damaged piece becomes a note."""
    from modelmonitor.drift.profile import Profile
    from modelmonitor.report import Bundle

    if not folder.is_dir():
        raise ReportError(f"--from {folder}: no such directory")
    notes: list[str] = []
    monitor: dict[str, Any] = {"metadata": {"name": folder.name}}
    found = _json_file(folder / "monitor.json", notes)
    if isinstance(found, dict):
        monitor = found
    elif found is not None:
        notes.append(f"{folder / 'monitor.json'}: not a JSON object")
    window = None
    path = next((folder / n for n in WINDOW_FILES if (folder / n).is_file()), None)
    if path is None:
        notes.append(f"no captured window in {folder} (window.parquet, window.csv or window.jsonl)")
    else:
        try:
            window = read_window(path)
        except (OSError, ValueError, ImportError) as exc:
            notes.append(f"{path}: cannot read: {str(exc)[:200]}")
    reference = None
    data = _json_file(folder / "reference.json", notes)
    if data is None and not (folder / "reference.json").is_file():
        notes.append(f"no reference.json in {folder} (a profile from `modelmonitor profile`)")
    elif data is not None:
        try:
            reference = Profile.from_dict(data)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            notes.append(f"{folder / 'reference.json'}: not a drift profile: {str(exc)[:200]}")
    return Bundle(monitor, window, reference, notes)


def _json_file(path: Path, notes: list[str]) -> Any:
    if not path.is_file():
        if path.name == "monitor.json":
            notes.append(f"no monitor.json in {path.parent}: no spec and no status")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{path}: not valid JSON: {str(exc)[:200]}")
        return None


def read_window(path: Path) -> pd.DataFrame:
    """Captured rows from Parquet, CSV or JSON lines; lists written as JSON text (CSV) are read back."""
    import pandas as pd

    name = path.name.lower()
    if name.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif name.endswith(".csv"):
        frame = pd.read_csv(path)
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        frame = pd.DataFrame([json.loads(line) for line in lines if line.strip()])
    for column in ("__probabilities", "__prediction", "__label"):
        if column in frame.columns:
            frame[column] = [_value(v) for v in frame[column].tolist()]
    return frame


def _value(value: Any) -> Any:
    """A cell as the sidecar's JSON had it: a list (not a NumPy array or JSON text), None for NaN."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_dir(bundle: Bundle, folder: Path) -> None:
    """Write ``bundle`` as a ``--from`` directory: monitor.json, window.jsonl, reference.json."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "monitor.json").write_text(json.dumps(bundle.monitor, indent=2) + "\n", encoding="utf-8")
        if bundle.window is not None:
            with (folder / "window.jsonl").open("w", encoding="utf-8") as fh:
                for row in bundle.window.to_dict(orient="records"):
                    fh.write(json.dumps({str(k): _value(v) for k, v in row.items()}, default=_plain) + "\n")
        if bundle.reference is not None:
            (folder / "reference.json").write_text(bundle.reference.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--save {folder}: cannot write: {exc.strerror}") from exc


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# --- the cluster -----------------------------------------------------------------------------------


def read_cluster(name: str, namespace: str | None, kubeconfig: str | None) -> Bundle:
    """The monitor, its reference and its window, read with the user's credentials."""
    import kubernetes

    from modelmonitor.api import crd
    from modelmonitor.report import Bundle

    namespace = _credentials(kubeconfig, namespace)
    api = kubernetes.client.ApiClient()
    custom, core = kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api)
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
    monitor: dict[str, Any] = found if isinstance(found, dict) else {"metadata": {"name": name}}
    bundle = Bundle(monitor, notes=[])
    bundle.reference = _reference(core, monitor, namespace, bundle.notes)
    bundle.window = _window(api, monitor, namespace, bundle.notes)
    return bundle


def _credentials(kubeconfig: str | None, namespace: str | None) -> str:
    """Load the credentials; the namespace to read (the flag, else the context's, else default)."""
    import kubernetes

    from modelmonitor.adapters.kubernetes import CredentialsError, load_credentials

    try:
        if kubeconfig:
            kubernetes.config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            load_credentials()
    except CredentialsError as exc:
        raise ReportError(str(exc)) from None
    except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
        raise ReportError(f"--kubeconfig {kubeconfig}: not usable: {str(exc)[:200]}") from None
    if namespace:
        return namespace
    try:
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return str((active or {}).get("context", {}).get("namespace") or "default")
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError):
        return "default"


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
