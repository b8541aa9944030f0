"""``modelmonitor explain REQUEST_ID --monitor NAME``: which features made one prediction, and by how much.

The sidecars explain a sampled share of requests (``spec.explain``; docs/explanations.md) and keep
the last 1,000 explanations each. This command asks every ready pod of the monitor's target,
through the API server's pod proxy with the user's own credentials and the monitor's admin token in
``X-ModelMonitor-Token`` (as ``modelmonitor report NAME`` reads windows: commands/report_cluster.py),
for ``GET /v1/explanations?id=REQUEST_ID``, and prints the first answer: the attributions sorted by
size (a table, or ``--json``).

Exit codes: 0 found, 1 no pod has an explanation of that request, 2 bad input (no such monitor, no
credentials, no admin token).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from modelmonitor.commands.report import ReportError

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_INPUT = 2


def register(subparsers: Any) -> None:
    """Add the ``explain`` sub-command to the CLI."""
    p = subparsers.add_parser(
        "explain",
        help="the per-feature attributions of one explained prediction, read from the sidecars",
        description="Find the explanation of REQUEST_ID in the sidecars of the monitor's target (through "
        "the API server's pod proxy) and print its attributions, largest first. Only the share of "
        "requests spec.explain.sampleRate picks is explained. See docs/explanations.md.",
    )
    p.add_argument(
        "request_id", metavar="REQUEST_ID", help="the request id (X-Request-ID, or the one the sidecar set)"
    )
    p.add_argument(
        "--monitor", required=True, metavar="NAME", help="the ModelMonitor whose sidecars explained it"
    )
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, else KUBECONFIG / ~/.kube/config)"
    )
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Find and print the explanation; returns the exit code."""
    try:
        api, namespace, pods, port, token = _target(args.monitor, args.namespace, args.kubeconfig)
    except ReportError as exc:
        sys.stderr.write(f"modelmonitor explain: error: {exc}\n")
        return EXIT_INPUT
    found, notes = find(api, namespace, pods, port, token, args.request_id)
    if found is None:
        asked = ", ".join(pods) or "none ready"
        sys.stderr.write(
            f"modelmonitor explain: no pod of ModelMonitor {namespace}/{args.monitor} has an explanation of "
            f"request {args.request_id!r} (pods asked: {asked}). Only the share spec.explain.sampleRate "
            "picks is explained, samples over spec.explain.maxModelCallsPerMinute are dropped "
            "(modelmonitor_sidecar_explanations_total), and each pod keeps its last 1000.\n"
        )
        for note in notes:
            sys.stderr.write(f"  {note}\n")
        return EXIT_NOT_FOUND
    sys.stdout.write(json.dumps(found, indent=2) + "\n" if args.json else table(found))
    return EXIT_OK


def _target(name: str, namespace: str | None, kubeconfig: str | None) -> tuple[Any, str, list[str], int, str]:
    """(API client, namespace, ready pods with the sidecar, admin port, admin token) of a monitor."""
    from modelmonitor.adapters.kubernetes import KubernetesClient
    from modelmonitor.adapters.ports import KubernetesError
    from modelmonitor.api.spec import ModelMonitorSpec
    from modelmonitor.commands import report_cluster
    from modelmonitor.gather.sidecars import endpoints
    from modelmonitor.workload.selection import owned_pods

    api, namespace, monitor = report_cluster.read_monitor(name, namespace, kubeconfig)
    try:
        spec = ModelMonitorSpec.model_validate(monitor.get("spec") or {})
    except ValueError as exc:
        raise ReportError(
            f"ModelMonitor {namespace}/{name} has a spec that is not valid: {str(exc)[:200]}"
        ) from None
    if spec.explain.sampleRate <= 0:
        raise ReportError(
            f"ModelMonitor {namespace}/{name} explains nothing: spec.explain.sampleRate is 0 (set it, e.g. 0.01)"
        )
    kube = KubernetesClient(api)
    try:
        deployment = kube.get_deployment(namespace, spec.target.deployment)
        if deployment is None:
            raise ReportError(
                f"Deployment {namespace}/{spec.target.deployment} (spec.target.deployment) not found"
            )
        selector = (deployment.get("spec") or {}).get("selector") or {}
        pods = owned_pods(
            kube.list_pods(namespace, selector), kube.list_replicasets(namespace, selector), deployment
        )
    except KubernetesError as exc:
        raise ReportError(
            f"cannot list the pods of Deployment {namespace}/{spec.target.deployment}: {exc}"
        ) from None
    notes: list[str] = []
    token = report_cluster._admin_token(kube, namespace, name, notes)
    if token is None:
        raise ReportError("; ".join(notes))
    return api, namespace, sorted(endpoints(spec, pods)), spec.sidecar.adminPort, token


def find(
    api: Any, namespace: str, pods: list[str], port: int, token: str, request_id: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """The first pod's explanation of ``request_id`` (with ``pod`` added), and notes on the pods that
    could not be asked; the token is in no note."""
    from kubernetes.client.exceptions import ApiException

    notes = []
    for pod in pods:
        try:
            status, body = pod_get(api, namespace, pod, port, token, "/v1/explanations", [("id", request_id)])
        except ApiException as exc:
            notes.append(_refused(namespace, pod, exc))
            continue
        except Exception as exc:  # the API server went away mid-way
            notes.append(f"pod {namespace}/{pod}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if status == 200 and isinstance(body, dict) and "attributions" in body:
            return {**body, "pod": pod}, notes
        if status != 404:
            message = (body.get("error") or body.get("message")) if isinstance(body, dict) else None
            notes.append(f"pod {namespace}/{pod}: HTTP {status} {str(message or '')[:200]}".rstrip())
        elif isinstance(body, dict) and "are off" in str(body.get("error")):
            notes.append(
                f"pod {namespace}/{pod}: explanations are off there (not restarted with spec.explain yet?)"
            )
    return None, notes


def _refused(namespace: str, pod: str, exc: Any) -> str:
    """Who refused: the sidecar (its JSON ``error``: the admin token) or the API server (a Status)."""
    where = f"pod {namespace}/{pod} through the API server's pod proxy"
    raw = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body and exc.status in (401, 403):
        return f"the sidecar of {where} refused the monitor's admin token (HTTP {exc.status})"
    message = str((body or {}).get("message") if isinstance(body, dict) else raw)[:300]
    if exc.status == 403:
        return f"{where}: you may not use pods/proxy (HTTP 403: {message})"
    return f"{where}: HTTP {exc.status} {message}"


def pod_get(
    api: Any, namespace: str, pod: str, port: int, token: str, path: str, query: list[tuple[str, Any]]
) -> tuple[int, Any]:
    """GET ``path`` of a pod's sidecar admin port through the API server's pod proxy: (status, JSON).
    A 401 or 403 (the proxy's or the sidecar's) raises ``ApiException``; a 404 is returned."""
    from kubernetes.client.exceptions import ApiException

    from modelmonitor.sidecar.auth import TOKEN_HEADER

    url = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}"
    method, full, headers, body, post = api.param_serialize(
        "GET", url, query_params=query,
        header_params={"Accept": "application/json", "Accept-Encoding": "identity", TOKEN_HEADER: token},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(
        method, full, header_params=headers, body=body, post_params=post, _request_timeout=30
    )
    raw = response.read()
    if response.status in (401, 403) or response.status >= 500:
        raise ApiException(status=response.status, reason=response.reason, http_resp=response,
                           body=raw.decode("utf-8", "replace"))  # fmt: skip
    try:
        return response.status, json.loads(raw)
    except ValueError:  # not the sidecar's JSON: the API server's (or a proxy's) own text
        return response.status, {"error": raw.decode("utf-8", "replace")[:300]}


def table(record: dict[str, Any]) -> str:
    """The explanation as text: what was explained, then the attributions, largest first."""
    attributions: dict[str, float] = record.get("attributions") or {}
    ranked = sorted(attributions.items(), key=lambda kv: -abs(kv[1]))
    total = sum(abs(v) for v in attributions.values()) or 1.0
    total_signed = sum(attributions.values())
    how = "exact" if record.get("exact") else "sampled"
    lines = [
        f"request {record.get('request_id')}  model {record.get('model')} {record.get('version')}  "
        f"({record.get('protocol')}, pod {record.get('pod')}, {record.get('time')})",
        f"{record.get('output')}: prediction {record['prediction']:.6g} = baseline {record['baseline']:.6g} "
        f"{'-' if total_signed < 0 else '+'} {abs(total_signed):.6g} (the attributions' sum)",
        f"background {record.get('background')} rows, {record.get('coalitions')} coalitions ({how}), "
        f"{record.get('model_calls')} model call of {record.get('rows')} rows",
        "",
    ]
    width = max([len("FEATURE"), *(len(k) for k in attributions)])
    lines.append(f"{'FEATURE':<{width}}  {'ATTRIBUTION':>12}  {'SHARE':>6}")
    lines += [f"{name:<{width}}  {value:>+12.6g}  {abs(value) / total:>6.1%}" for name, value in ranked]
    if record.get("fixed"):
        lines.append(f"not perturbed (redacted, no attribution): {', '.join(record['fixed'])}")
    return "\n".join(lines) + "\n"
