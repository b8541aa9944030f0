"""``modelmonitor status NAME``: why a ModelMonitor is in its phase, in words.

Reads the monitor with the user's own credentials (in-cluster, else ``--kubeconfig`` / KUBECONFIG /
~/.kube/config, as ``modelmonitor run`` loads them) and prints policy/explain.py's explanation: the
conditions that make the phase with their figures against their bounds, what the operator did or
refused to do and why, the A/B test, and the runbook and kubectl command to look at next.

Exit codes: 0 Healthy, 1 any other phase, 2 the monitor cannot be read (not found, forbidden, no
cluster, no credentials).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmonitor.policy.explain import Explanation

EXIT_HEALTHY = 0
EXIT_NOT_HEALTHY = 1
EXIT_UNREADABLE = 2
WIDTH = 100


def register(subparsers: Any) -> None:
    """Add the ``status`` command to the CLI."""
    p = subparsers.add_parser(
        "status",
        help="why a ModelMonitor is in its phase: conditions, figures against bounds, actions, next steps",
        description="Explain a ModelMonitor's phase in words. Exit 0 when Healthy, 1 when not, 2 when "
        "the monitor cannot be read.",
    )
    p.add_argument("name", help="the ModelMonitor's name")
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig to use (default: in-cluster, KUBECONFIG, ~/.kube/config)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument(
        "--runbook-base-url",
        help="where the runbook links point [env MODELMONITOR_RUNBOOK_BASE_URL; default: the operator's]",
    )
    p.set_defaults(func=run_status)


class Unreadable(Exception):
    """The monitor cannot be read; the message says why and what to do."""


def read_monitor(name: str, namespace: str | None, kubeconfig: str | None) -> dict[str, Any]:
    """The ModelMonitor as the API server returns it; Unreadable naming the cause otherwise."""
    import kubernetes
    import urllib3
    from kubernetes.client.exceptions import ApiException

    from modelmonitor.adapters.credentials import CredentialsError, default_namespace, load_credentials
    from modelmonitor.api import crd

    try:
        load_credentials(kubeconfig)
    except CredentialsError as exc:
        raise Unreadable(str(exc)) from None
    namespace = namespace or default_namespace(kubeconfig)
    api = kubernetes.client.CustomObjectsApi()
    where = f"ModelMonitor {namespace}/{name}"
    try:
        response = api.get_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, _preload_content=False
        )
    except ApiException as exc:
        raise Unreadable(_refusal(where, namespace, exc.status, str(exc.reason or ""), exc.body)) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        host = kubernetes.client.Configuration.get_default_copy().host
        cause = getattr(exc, "reason", None) or exc
        raise Unreadable(f"cannot reach the API server at {host} to read {where}: "
                         f"{type(cause).__name__}; check the cluster and your kubeconfig's context") from None  # fmt: skip
    found: dict[str, Any] = json.loads(response.data)  # type: ignore[attr-defined]
    return found


def _refusal(where: str, namespace: str, status: int, reason: str, body: Any) -> str:
    try:
        said = str(json.loads(body or "{}").get("message") or "")[:300]
    except (ValueError, TypeError, AttributeError):
        said = ""
    if status == 404:
        detail = "the ModelMonitor CRD is not installed" if "the server could not find" in said else ""
        return (f"{where} not found{': ' + detail if detail else ''} "
                f"(kubectl get mm -n {namespace} lists the monitors there)")  # fmt: skip
    if status in (401, 403):
        return (f"{where}: {reason or 'Forbidden'} ({said or 'no detail'}); you need get on "
                f"modelmonitors.modelmonitor.io in {namespace}")  # fmt: skip
    if not status:
        return f"cannot reach the API server to read {where}: {reason.splitlines()[0][:200] if reason else 'no answer'}"
    return f"{where}: the API server answered {status} {reason} ({said or 'no detail'})"


def run_status(args: argparse.Namespace) -> int:
    from modelmonitor.operator.settings import ENV_PREFIX, OperatorSettings
    from modelmonitor.policy.explain import explain

    try:
        monitor = read_monitor(args.name, args.namespace, args.kubeconfig)
    except Unreadable as exc:
        sys.stderr.write(f"modelmonitor status: {exc}\n")
        return EXIT_UNREADABLE
    base = (
        args.runbook_base_url
        or os.environ.get(ENV_PREFIX + "RUNBOOK_BASE_URL")
        or OperatorSettings.runbook_base_url
    )
    explanation = explain(monitor, runbook_base=base)
    if args.format == "json":
        sys.stdout.write(json.dumps(explanation.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render(explanation) + "\n")
    return EXIT_HEALTHY if explanation.healthy else EXIT_NOT_HEALTHY


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


def render(e: Explanation, *, actions: int = 5) -> str:
    """The explanation as text under WIDTH columns: why, the conditions (those that make the phase
    first, with their figures), the newest ``actions`` actions, the decisions ahead, next steps."""
    lines = [f"{e.namespace}/{e.name}: {e.phase}", *_wrapped(e.why, "  ")]
    shown = [c for c in e.conditions if c.makes_phase or c.status != "False" or c.type == "Ready"]
    quiet = [c for c in e.conditions if c not in shown]
    lines.append("\nconditions:")
    for c in shown:
        mark = "*" if c.makes_phase else "-"
        lines += _wrapped(f"{mark} {c.type} {c.status} ({c.reason}) since {c.since}: {c.message}", "  ")
        lines += [w for d in c.details for w in _wrapped(d, "      ")]
    if quiet:
        lines += _wrapped("- False: " + ", ".join(f"{c.type} ({c.reason})" for c in quiet), "  ")
    if e.actions:
        lines.append(f"\nactions (newest first, {min(actions, len(e.actions))} of {len(e.actions)}):")
        for a in e.actions[:actions]:
            lines += _wrapped(
                f"- {a.time} {a.action} {a.result}, {a.meaning} ({a.reason}): {a.message}", "  "
            )
    if e.decisions:
        lines.append("\ndecisions ahead:")
        lines += [w for d in e.decisions for w in _wrapped(f"- {d}", "  ")]
    if e.experiment:
        lines.append("\nexperiment:")
        lines += [w for d in e.experiment for w in _wrapped(f"- {d}", "  ")]
    lines.append("\nnext:")
    lines += [f"  {step}" for step in e.next]
    return "\n".join(lines)


__all__ = ["EXIT_HEALTHY", "EXIT_NOT_HEALTHY", "EXIT_UNREADABLE", "Unreadable", "read_monitor", "register",
           "render", "run_status"]  # fmt: skip
