"""``modelmonitor audit NAME``: a ModelMonitor's audit trail as JSON Lines, oldest first.

Reads with the user's own credentials (``--kubeconfig`` / KUBECONFIG / ~/.kube/config, in-cluster):
the monitor (``get`` on modelmonitors) and its audit ConfigMaps ``NAME-modelmonitor-audit-<i>``
(``get`` on configmaps; Kubernetes' built-in ``view`` role has both). Each line is one record: a
spec change with its diff and field managers, the creation, the deletion, an action or a decision
not to act (docs/audit.md). Records past the monitor's ``spec.retention`` are not printed, even
when the operator has not dropped them yet.

Exit codes: 0 printed (perhaps nothing), 2 the monitor or its trail cannot be read.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

EXIT_UNREADABLE = 2
MAX_SLOTS = 1000  # far more than any ring: the first missing slot ends the read anyway


def register(subparsers: Any) -> None:
    """Add the ``audit`` command to the CLI."""
    p = subparsers.add_parser(
        "audit",
        help="a ModelMonitor's audit trail (spec changes and who made them, actions, decisions not to act) as JSONL",
        description="Print a ModelMonitor's audit trail as JSON Lines, oldest first. Exit 2 when the "
        "monitor or its trail cannot be read.",
    )
    p.add_argument("name", help="the ModelMonitor's name")
    p.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    p.add_argument(
        "--since",
        metavar="DURATION|TIME",
        help="only records of the last DURATION (90m, 24h, 7d) or since an RFC 3339 TIME "
        "(2026-12-01T00:00:00Z); default: all that are kept",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig to use (default: in-cluster, KUBECONFIG, ~/.kube/config)",
    )
    p.set_defaults(func=run_audit)


class Unreadable(Exception):
    """The trail cannot be read; the message says why and what to do."""


def since_of(text: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """``--since`` as a moment; ValueError naming the flag when it is neither a duration nor a time."""
    from modelmonitor.api.durations import parse_duration
    from modelmonitor.api.times import parse_iso

    if not text:
        return None
    moment = parse_iso(text) if "T" in text else None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    try:
        return now - datetime.timedelta(seconds=parse_duration(text, lenient=True))
    except ValueError:
        raise ValueError(f"--since {text!r}: not a duration (90m, 24h, 7d) nor an RFC 3339 time") from None


def read_segments(name: str, namespace: str, uid: str) -> list[Any]:
    """The monitor's audit segments, in slot order; Unreadable when a ConfigMap may not be read."""
    import kubernetes
    import urllib3
    from kubernetes.client.exceptions import ApiException

    from modelmonitor.workload import audit as ring

    core = kubernetes.client.CoreV1Api()
    segments = []
    for index in range(MAX_SLOTS):
        cm_name = ring.slot_name(name, index)
        try:
            response = core.read_namespaced_config_map(cm_name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                break
            if exc.status in (401, 403):
                raise Unreadable(
                    f"ConfigMap {namespace}/{cm_name} (the audit trail of ModelMonitor {namespace}/{name}): "
                    f"{exc.reason or 'Forbidden'}; you need get on configmaps in {namespace} (Kubernetes' "
                    "built-in view role has it)"
                ) from None
            raise Unreadable(
                f"ConfigMap {namespace}/{cm_name}: the API server answered {exc.status} {exc.reason}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreadable(f"cannot reach the API server to read ConfigMap {namespace}/{cm_name}: "
                             f"{type(exc).__name__}") from None  # fmt: skip
        cm = json.loads(response.data)  # type: ignore[arg-type]
        if not ring.owned(cm, name, uid):
            sys.stderr.write(f"modelmonitor audit: ConfigMap {namespace}/{cm_name} is not this monitor's audit "
                             "segment: left out\n")  # fmt: skip
            continue
        segments.append(ring.read(cm, index))
    return segments


def run_audit(args: argparse.Namespace) -> int:
    from modelmonitor.adapters.credentials import default_namespace
    from modelmonitor.api.times import iso
    from modelmonitor.commands.status import Unreadable as MonitorUnreadable
    from modelmonitor.commands.status import read_monitor
    from modelmonitor.policy.audit import retention_seconds
    from modelmonitor.workload import audit as ring

    now = datetime.datetime.now(tz=datetime.UTC)
    try:
        since = since_of(args.since, now)
    except ValueError as exc:
        sys.stderr.write(f"modelmonitor audit: {exc}\n")
        return EXIT_UNREADABLE
    try:
        monitor = read_monitor(args.name, args.namespace, args.kubeconfig)
        namespace = args.namespace or default_namespace(args.kubeconfig)
        segments = read_segments(args.name, namespace, str(monitor["metadata"]["uid"]))
    except (MonitorUnreadable, Unreadable) as exc:
        sys.stderr.write(f"modelmonitor audit: {exc}\n")
        return EXIT_UNREADABLE
    if not segments:
        sys.stderr.write(f"modelmonitor audit: ModelMonitor {namespace}/{args.name} has no audit trail yet "
                         "(the operator writes it: is it running, and does its shard handle this monitor?)\n")  # fmt: skip
    kept = now - datetime.timedelta(seconds=retention_seconds(monitor.get("spec") or {}))
    cutoff = iso(max(kept, since) if since is not None else kept)
    for record in ring.export(segments, since=cutoff, namespace=namespace, monitor=args.name):
        sys.stdout.write(json.dumps(record, sort_keys=True, default=str) + "\n")
    return 0
