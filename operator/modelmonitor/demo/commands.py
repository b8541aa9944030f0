"""``modelmonitor demo``: what ModelMonitor does, for real, told as a story in real kubectl output.

Where it runs, in this order:

- ``--kubeconfig FILE``: on that cluster (kind, a real one), in a namespace of its own, with the
  operator installed there with the chart (docs/demo.md);
- else, when this machine has the parts (:func:`modelmonitor.demo.cluster.find_parts`): on a real
  API server and controller manager started here, with the stand-in kubelet running the pods;
- else (or with ``--emulated``): the short walk-through on the in-process API emulator, saying why.

Ctrl-C stops everything the demo started and prints one line; the exit code is then 130.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from modelmonitor.demo.kubectl import Console, DemoFailed

INTERRUPTED = 130


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the demo: a real API server here, or --kubeconfig for your cluster (docs/demo.md)",
        description="The whole story, for real: a credit-scoring model served and monitored, its traffic "
        "drifting, one applicant group treated unfairly, a slow revision rolled back, a challenger promoted "
        "by an A/B test, and the HTML report. Here it starts a Kubernetes API server and controller manager, "
        "a stand-in kubelet, Prometheus and the operator on 127.0.0.1 (the emulated API without those "
        "binaries); with --kubeconfig it runs on your cluster, where the chart is installed.",
    )
    demo.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for each step (default 90)"
    )
    demo.add_argument(
        "--kubeconfig", type=Path, help="run on this cluster (the operator installed with the chart)"
    )
    demo.add_argument("--namespace", default="modelmonitor-demo", help="the demo's own namespace")
    demo.add_argument(
        "--report", type=Path, default=Path(tempfile.gettempdir()) / "modelmonitor-demo-report.html",
        help="where step 6 writes the HTML report",
    )  # fmt: skip
    demo.add_argument("--emulated", action="store_true", help="the short demo on the emulated API, even when a "
                      "control plane could start here")  # fmt: skip
    demo.set_defaults(func=run_demo)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # The first Ctrl-C stops the story; the cleanup it starts is not interrupted by a second one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_demo(args: argparse.Namespace) -> int:
    console = Console()
    previous = signal.signal(signal.SIGINT, _interrupt)
    what = "the demo"
    try:
        if args.kubeconfig:
            from modelmonitor.demo.run import run_remote

            what = "the port-forwards and deleted the demo's namespace"
            console.say(f"ModelMonitor demo, on the cluster of {args.kubeconfig}\n")
            run_remote(console, kubeconfig=args.kubeconfig, namespace=args.namespace, timeout=args.timeout,
                       report=args.report)  # fmt: skip
            return 0
        from modelmonitor.demo.cluster import find_parts

        parts, missing = find_parts()
        if parts is None or args.emulated:
            why = "--emulated" if args.emulated else f"this machine lacks {missing}"
            what = "the operator, the model and the sidecar"
            console.say(f"ModelMonitor demo, on the emulated Kubernetes API ({why})\n")
            return _emulated(args.timeout)
        from modelmonitor.demo.run import run_local

        what = "the operator, the pods, Prometheus and the API server"
        console.say(
            "ModelMonitor demo, on a real Kubernetes API server and controller manager started here\n"
        )
        run_local(parts, console, namespace=args.namespace, timeout=args.timeout, report=args.report)
        return 0
    except KeyboardInterrupt:
        console.say(f"\ninterrupted: stopped {what}")
        return INTERRUPTED
    except DemoFailed as exc:
        console.say(f"\ndemo failed: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)


def _emulated(timeout: float) -> int:
    from modelmonitor.demo.emulated import step_operator
    from modelmonitor.demo.walkthrough import say, step_validate

    step_validate()
    asyncio.run(step_operator(timeout))
    say("Done. The full story (drift, fairness, a rollback, an A/B test) runs on a real API server: "
        "`make setup` installs its parts; docs/demo.md.")  # fmt: skip
    sys.stdout.flush()
    return 0
