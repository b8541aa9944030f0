"""``modelmonitor erase NAME --field F --value V``: erase one data subject from every sidecar of a monitor.

Every pod of the monitor's target (and of its challenger, when ``spec.experiment`` names one) that
runs the sidecar gets ``POST /v1/erase`` (``sidecar/erase.py``) through the API server's pod proxy,
with the user's own credentials and the monitor's admin token in ``X-ModelMonitor-Token``, as
``modelmonitor report NAME`` reads windows (commands/report_cluster.py). It prints what each pod
removed from which store, and which pods it could not reach: an erasure that did not reach every pod
is not done, and the exit code says so. A second round sends the subject's request and row ids that
any pod found to every pod (a label may wait on one pod for a prediction another served). ``--value-from-stdin`` keeps the value out of shell history;
the value is never printed.

The user needs ``get`` on the ModelMonitor, the Deployments and the admin Secret, ``list`` on
ReplicaSets and Pods, and ``create`` on ``pods/proxy`` (a POST through the proxy).

Exit codes: 0 every pod reached, 1 some pod not reached (run it again once they are ready), 2 bad
input (no such monitor, no credentials, no admin token).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.commands.report import ReportError

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_INPUT = 2
FIRST_STORES = ("window", "labels", "audit")

# (namespace, pod, admin port, admin token, body) -> the sidecar's answer; raises ErasureFailed
Transport = Callable[[str, str, int, str, dict[str, Any]], dict[str, Any]]


class ErasureFailed(Exception):
    """One pod's erasure did not happen; the message says why (never the value or the token)."""


@dataclass
class Outcome:
    """What an erasure did: per pod, its Deployment, the records removed by store and the requests."""

    namespace: str
    monitor: str
    feature: str  # the field the subject was found by
    deployments: dict[str, str] = field(default_factory=dict)  # pod -> Deployment
    removed: dict[str, dict[str, int]] = field(default_factory=dict)  # pod -> store -> records
    requests: dict[str, int] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)  # pod -> why
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unreachable

    def stores(self) -> list[str]:
        seen = {s for counts in self.removed.values() for s in counts}
        return [s for s in FIRST_STORES if s in seen] + sorted(seen - set(FIRST_STORES))

    def total(self) -> dict[str, int]:
        return {s: sum(c.get(s, 0) for c in self.removed.values()) for s in self.stores()}

    def to_json(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor, "namespace": self.namespace, "field": self.feature,
            "complete": self.complete,
            "pods": {p: {"deployment": self.deployments.get(p), "removed": c, "requests": self.requests.get(p, 0)}
                     for p, c in sorted(self.removed.items())},
            "total": self.total(), "unreachable": dict(sorted(self.unreachable.items())), "notes": self.notes,
        }  # fmt: skip


def register(subparsers: Any) -> None:
    """Add the ``erase`` sub-command to the CLI."""
    p = subparsers.add_parser(
        "erase",
        help="erase a data subject's records from every sidecar of a monitor (window, labels, audit trail)",
        description="Remove every record where feature FIELD holds VALUE (raw, or as its salted hash when "
        "the field is redacted) from the window, the labels, the audit trail and the explanations of every "
        "sidecar of the monitor's target and challenger, through the API server's pod proxy. Prints the "
        "records removed per pod and store; exits 1 when a pod could not be reached. See docs/compliance.md.",
    )
    p.add_argument("name", help="the ModelMonitor")
    p.add_argument("--field", required=True, help="the feature that identifies the subject, e.g. email")
    value = p.add_mutually_exclusive_group(required=True)
    value.add_argument("--value", help="the subject's value (it stays in shell history: prefer the next)")
    value.add_argument(
        "--value-from-stdin", action="store_true", help="read the value from standard input (one line)"
    )
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, else KUBECONFIG / ~/.kube/config)"
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run_erase)


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor erase: error: {message}\n")
    return EXIT_INPUT


def run_erase(args: argparse.Namespace) -> int:
    """Read the value, erase it from every pod, print the outcome; the exit code says if it is done."""
    value = _stdin_value() if args.value_from_stdin else str(args.value)
    if not args.field.strip():
        return _fail("--field is empty: name the feature that identifies the subject, e.g. --field email")
    if not value:
        return _fail(
            "the value is empty: pass --value V, or the value on standard input with --value-from-stdin"
        )
    try:
        outcome = erase_cluster(args.name, args.namespace, args.kubeconfig, args.field, value)
    except ReportError as exc:
        return _fail(str(exc))
    sys.stdout.write(json.dumps(outcome.to_json(), indent=2) + "\n" if args.json else table(outcome))
    return EXIT_OK if outcome.complete else EXIT_INCOMPLETE


def _stdin_value() -> str:
    text = sys.stdin.read()
    return text[:-1].rstrip("\r") if text.endswith("\n") else text


def table(outcome: Outcome) -> str:
    """The outcome for a terminal: one line per pod and store counts, the total, the pods not reached."""
    stores = outcome.stores()
    head = ["POD", "DEPLOYMENT", *(s.upper() for s in stores), "REQUESTS"]
    rows = [[pod, outcome.deployments.get(pod, ""), *(str(c.get(s, 0)) for s in stores),
             str(outcome.requests.get(pod, 0))] for pod, c in sorted(outcome.removed.items())]  # fmt: skip
    if len(rows) > 1:
        total = outcome.total()
        rows.append(["total", "", *(str(total[s]) for s in stores), str(sum(outcome.requests.values()))])
    lines = [
        f"ModelMonitor {outcome.namespace}/{outcome.monitor}: records where {outcome.feature} holds the value"
    ]
    if rows:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in [head, *rows]
        ]
    else:
        lines.append("no pod reached")
    lines += [f"note: {note}" for note in outcome.notes]
    if outcome.unreachable:
        lines.append("NOT DONE: these pods were not reached; run the erasure again once they are ready:")
        lines += [f"  {pod}: {why}" for pod, why in sorted(outcome.unreachable.items())]
    else:
        lines.append(f"done: every pod of the monitor reached ({len(outcome.removed)})")
    return "\n".join(lines) + "\n"


# --- the cluster -----------------------------------------------------------------------------------


def erase_cluster(
    name: str, namespace: str | None, kubeconfig: str | None, field_name: str, value: str,
    transport: Transport | None = None,
) -> Outcome:  # fmt: skip
    """Erase the subject from every sidecar pod of monitor ``name``, with the user's credentials;
    ``transport`` (default: through the API server's pod proxy) carries each pod's request."""
    from modelmonitor.adapters.kubernetes import KubernetesClient
    from modelmonitor.adapters.ports import KubernetesError
    from modelmonitor.commands.report_cluster import read_monitor
    from modelmonitor.workload import admin

    api, namespace, monitor = read_monitor(name, namespace, kubeconfig)
    kube = KubernetesClient(api)
    secret_name = admin.admin_name(name)
    try:
        secret = kube.get_secret(namespace, secret_name)
    except KubernetesError as exc:
        raise ReportError(f"cannot read Secret {namespace}/{secret_name} (the sidecars' admin token): "
                          f"{exc.status} {exc.reason}") from None  # fmt: skip
    token = admin.token(secret) if secret is not None else None
    if token is None:
        raise ReportError(f"Secret {namespace}/{secret_name} has no usable admin token: the sidecars cannot "
                          "be asked; is the operator running?")  # fmt: skip
    outcome = Outcome(namespace, name, field_name, notes=[])
    pods = target_pods(kube, namespace, monitor, outcome)
    post = transport if transport is not None else proxy_transport(api)
    erase_pods(outcome, pods, token, {"field": field_name, "value": value}, post)
    return outcome


def target_pods(
    kube: Any, namespace: str, monitor: dict[str, Any], outcome: Outcome
) -> dict[str, tuple[str, int]]:
    """``{pod: (Deployment, admin port)}`` of the ready sidecar pods of the target and the challenger;
    the pods running the sidecar that are not ready go to ``outcome.unreachable``."""
    from modelmonitor.adapters.ports import KubernetesError
    from modelmonitor.api.spec import ModelMonitorSpec
    from modelmonitor.gather.sidecars import endpoints, unready
    from modelmonitor.policy.experiment import challenger_spec
    from modelmonitor.workload.selection import owned_pods

    try:
        spec = ModelMonitorSpec.model_validate(monitor.get("spec") or {})
    except ValueError as exc:
        raise ReportError(
            f"the spec of {namespace}/{outcome.monitor} is not valid: {str(exc)[:300]}"
        ) from None
    variants = [spec] + ([challenger_spec(spec)] if spec.experiment is not None else [])
    found: dict[str, tuple[str, int]] = {}
    for variant in variants:
        name = variant.target.deployment
        try:
            deployment = kube.get_deployment(namespace, name)
            if deployment is None:
                outcome.notes.append(f"Deployment {namespace}/{name} not found: no pods of it to erase from")
                continue
            selector = (deployment.get("spec") or {}).get("selector") or {}
            pods = owned_pods(kube.list_pods(namespace, selector), kube.list_replicasets(namespace, selector),
                              deployment)  # fmt: skip
        except KubernetesError as exc:
            outcome.unreachable[f"Deployment {name}"] = f"cannot list its pods: {exc}"
            continue
        for pod in endpoints(variant, pods):
            found[pod] = (name, variant.sidecar.adminPort)
        for pod, why in unready(pods).items():
            outcome.unreachable[pod] = why
    if not found and not outcome.unreachable:
        outcome.notes.append("no pod runs the sidecar: no sidecar holds records of this monitor")
    return found


def erase_pods(
    outcome: Outcome, pods: dict[str, tuple[str, int]], token: str, body: dict[str, Any], post: Transport
) -> None:
    """POST the erasure to each pod; the counts, or why a pod was not reached, into ``outcome``.

    Then, when more than one pod was reached, the ids of the subject's requests and rows any pod
    answered go to every pod reached (``{"ids": [...]}``): a label sent to one pod waits there for a
    prediction another pod served, under the request's id alone."""
    ids: set[str] = set()
    for pod, (deployment, port) in sorted(pods.items()):
        outcome.deployments[pod] = deployment
        answer = _post(outcome, post, pod, port, token, body)
        if answer is not None:
            ids.update(i for i in answer.get("ids") or [] if isinstance(i, str))
    if not ids or len(outcome.removed) < 2:
        return
    for pod in sorted(outcome.removed):
        _post(outcome, post, pod, pods[pod][1], token, {"ids": sorted(ids)})


def _post(
    outcome: Outcome, post: Transport, pod: str, port: int, token: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """One pod's erasure; its counts added to the pod's, or why it failed in ``outcome.unreachable``."""
    try:
        answer = post(outcome.namespace, pod, port, token, body)
    except ErasureFailed as exc:
        outcome.unreachable[pod] = str(exc)
        return None
    removed = answer.get("removed") if isinstance(answer, dict) else None
    if not isinstance(removed, dict):
        outcome.unreachable[pod] = "the sidecar answered without counts: not a ModelMonitor sidecar?"
        return None
    counts = outcome.removed.setdefault(pod, {})
    for store, n in removed.items():
        if isinstance(n, int):
            counts[str(store)] = counts.get(str(store), 0) + n
    outcome.requests[pod] = max(outcome.requests.get(pod, 0), int(answer.get("requests") or 0))
    return answer


def proxy_transport(api: Any) -> Transport:
    """POST /v1/erase to a pod through the API server's pod proxy (the admin token in
    ``X-ModelMonitor-Token``: the proxy drops ``Authorization``)."""
    from modelmonitor.sidecar.auth import TOKEN_HEADER

    def post(namespace: str, pod: str, port: int, token: str, body: dict[str, Any]) -> dict[str, Any]:
        where = f"pod {namespace}/{pod} through the API server's pod proxy"
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/v1/erase"
        try:
            method, url, headers, data, extra = api.param_serialize(
                "POST", path, body=body, auth_settings=["BearerToken"],
                header_params={"Accept": "application/json", "Content-Type": "application/json",
                               "Accept-Encoding": "identity", TOKEN_HEADER: token},
            )  # fmt: skip
            response = api.call_api(method, url, header_params=headers, body=data, post_params=extra,
                                    _request_timeout=120)  # fmt: skip
            raw = response.read()
        except Exception as exc:  # connection refused, timeouts: urllib3 and OS errors
            raise ErasureFailed(f"{where}: {type(exc).__name__}: {str(exc)[:200]}") from None
        if response.status >= 400:
            raise ErasureFailed(refusal(where, response.status, raw))
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ErasureFailed(f"{where}: the answer is not JSON") from None
        return answer if isinstance(answer, dict) else {}

    return post


def refusal(where: str, status: int, raw: bytes) -> str:
    """Why a pod's erasure was refused, from the status and the body (the sidecar's or the API server's)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    said = str(body.get("error") or body.get("message") or raw[:200].decode("utf-8", "replace")).strip()
    if status == 404 and raw.startswith(b"404: "):  # the sidecar's own answer to a path it does not know
        return f"{where}: the sidecar has no /v1/erase: it runs an older image (upgrade the operator)"
    if status in (401, 403) and "modelmonitor-admin" in said:
        return f"the sidecar of {where} refused the monitor's admin token (HTTP {status})"
    if status == 403:
        return f"{where}: HTTP 403: you may not create pods/proxy ({said[:200]})"
    return f"{where}: HTTP {status}: {said[:300]}"
