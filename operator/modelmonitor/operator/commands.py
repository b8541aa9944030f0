"""``modelmonitor run``: start the operator."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from modelmonitor.operator.settings import ENV_PREFIX, OperatorSettings


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the operator (credentials: in-cluster, or KUBECONFIG / ~/.kube/config like kubectl)",
        description="Run the ModelMonitor operator: watch ModelMonitor objects (cluster-wide, or in the "
        "namespaces given), inject the sidecar into their Deployments, evaluate each monitor every "
        "interval and act on the verdict. Credentials are the in-cluster ServiceAccount, else KUBECONFIG "
        "or ~/.kube/config like kubectl. A flag overrides the MODELMONITOR_* variable named in its help; "
        "exit code 2 when a setting, the credentials or a port is unusable.",
    )
    run.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch only this namespace (repeatable)"
    )
    run.add_argument(
        "-l",
        "--selector",
        help="handle only the ModelMonitors whose labels match: k=v, k (present), !k (absent), "
        "comma-separated; one operator per shard, each with its own --peering (default: all) "
        "[env MODELMONITOR_SELECTOR]",
    )
    run.add_argument(
        "--prometheus-url",
        help="Prometheus URL of monitors that set none (default: none) [env MODELMONITOR_PROMETHEUS_URL]",
    )
    run.add_argument("--tick", help="how often each monitor wakes (default: 10s) [env MODELMONITOR_TICK]")
    run.add_argument(
        "--retry", help="how soon a missing target is looked at again (default: 30s) [env MODELMONITOR_RETRY]"
    )
    run.add_argument(
        "--sidecar-image",
        help=f"image injected as the sidecar (default: {OperatorSettings.sidecar_image}) [env MODELMONITOR_SIDECAR_IMAGE]",
    )
    run.add_argument(
        "--workers", type=int, help="threads for blocking calls (default: 20) [env MODELMONITOR_WORKERS]"
    )
    run.add_argument(
        "--metrics",
        help="host:port of the operator's /metrics, '' for none (default: 0.0.0.0:8000) [env MODELMONITOR_METRICS]",
    )
    run.add_argument(
        "--runbook-base-url",
        help="base URL of runbook links in alerts (default: this project's docs/runbooks on GitHub) [env MODELMONITOR_RUNBOOK_BASE_URL]",
    )
    run.add_argument(
        "--standalone",
        action="store_true",
        help="no peering with other replicas: run alone [env MODELMONITOR_STANDALONE]",
    )
    run.add_argument(
        "--peering",
        help="peering object name when running several replicas; each shard (--namespace or --selector) "
        "needs its own (default: modelmonitor) [env MODELMONITOR_PEERING]",
    )
    run.add_argument(
        "--priority",
        type=int,
        help="peering priority: the live replica with the highest one works, the others stand by "
        "(default: random at start, so that no two replicas tie) [env MODELMONITOR_PRIORITY]",
    )
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="URL the liveness probe is served on, '' for none",
    )
    run.add_argument(
        "--log-format",
        choices=["json", "plain", "full"],
        default="json",
        help="JSON: one object a line with the object reference; plain: the message only; full: with time, logger and level",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    run.set_defaults(func=run_operator)


def flag_settings(args: argparse.Namespace) -> dict[str, str]:
    """The MODELMONITOR_* variables (without the prefix) the given flags set; a flag wins over the
    environment, and a flag not given leaves its variable as it is."""
    overrides = {
        "NAMESPACES": ",".join(args.namespace) if args.namespace else None,
        "SELECTOR": args.selector,
        "PROMETHEUS_URL": args.prometheus_url,
        "TICK": args.tick,
        "RETRY": args.retry,
        "SIDECAR_IMAGE": args.sidecar_image,
        "WORKERS": str(args.workers) if args.workers else None,
        "STANDALONE": "true" if args.standalone else None,
        "PEERING": args.peering,
        "PRIORITY": str(args.priority) if args.priority is not None else None,
        "METRICS": args.metrics,
        "RUNBOOK_BASE_URL": args.runbook_base_url,
    }
    return {key: value for key, value in overrides.items() if value is not None}


def run_operator(args: argparse.Namespace) -> int:
    for key, value in flag_settings(args).items():
        os.environ[ENV_PREFIX + key] = value
    # Evaluations run in parallel on --workers threads: one OpenMP thread each for scikit-learn's
    # gradient boosting (the regression estimate), or they spin against each other (0.4 s a fit on
    # one thread, 1.5-2.6 s with every core on a loaded 2-CPU machine). Set before it is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _bound_malloc_arenas()

    problem = (
        _settings_problem()
        or _credentials_problem()
        or _port_problem("--liveness", _liveness_address(args.liveness))
    )
    if problem:
        print(f"modelmonitor run: {problem}", file=sys.stderr)
        return 2

    import kopf

    import modelmonitor.operator.handlers as handlers  # registers the handlers with the settings above
    from modelmonitor.operator import metrics

    settings = handlers.SETTINGS
    try:
        metrics.serve(settings.metrics_address)
    except (OSError, ValueError) as exc:
        print(
            f"modelmonitor run: cannot serve /metrics on {settings.metrics_address}: {exc} "
            "(choose another with --metrics HOST:PORT, or --metrics '' for none)",
            file=sys.stderr,
        )
        return 2
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    _tune_gc()
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        standalone=settings.standalone,
        liveness_endpoint=args.liveness or None,
    )
    return 0


GC_THRESHOLDS = (10_000, 10, 10)  # young-generation allocations, then collections of each older one


def _tune_gc() -> None:
    """Keep what is loaded by now (the drift, quality and Kubernetes stacks: some 190,000 objects)
    out of every garbage collection, and collect the young generation every 10,000 allocations
    instead of 700. Decoding a window page allocates thousands of lists and dicts, and at the default
    the collections they set off scan the whole heap: 3-5x the decode's own time (measured with
    the window stand-in's 2,000-row page). ``MODELMONITOR_GC_TUNE=0`` keeps Python's defaults."""
    if os.environ.get("MODELMONITOR_GC_TUNE", "1") != "1":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _bound_malloc_arenas(arenas: int = 2) -> None:
    """Two malloc arenas for the whole process instead of glibc's up to 8 per core: each of the
    --workers threads parsing a window would otherwise keep an arena of its own, and the memory
    freed there is rarely given back (28 MB more RSS at 100 monitors with windows, measured in
    benchmarks/operator_scale.py). Before any worker thread starts; MALLOC_ARENA_MAX, when set,
    is the user's choice and wins. Nothing happens without glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def _settings_problem() -> str | None:
    """Why the flags and MODELMONITOR_* variables do not make valid settings, in one line naming the
    variable; None when they do. Checked before the handlers are imported, which read them too."""
    from modelmonitor.operator.settings import OperatorSettings

    try:
        OperatorSettings.from_env()
    except ValueError as exc:
        return f"invalid setting: {exc}"
    return None


def _credentials_problem() -> str | None:
    """Why no Kubernetes credentials can be loaded, in one line; None when they can."""
    from modelmonitor.adapters.credentials import CredentialsError, load_credentials

    try:
        load_credentials()
    except CredentialsError as exc:
        return str(exc)
    return None


def _liveness_address(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.hostname or '0.0.0.0'}:{parts.port or 80}"


def _port_problem(flag: str, address: str) -> str | None:
    """A clear line when ``host:port`` cannot be bound (taken, or not an address of this host)."""
    if not address:
        return None
    host, _, port = address.rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host or "0.0.0.0", int(port)))
    except (OSError, ValueError) as exc:
        return f"cannot listen on {address} ({flag}): {exc}; choose another with {flag}"
    return None
