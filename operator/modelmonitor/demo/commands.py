"""``modelmonitor demo``: a walk-through of what ModelMonitor does, for real, on this machine.

No cluster is needed: the Kubernetes API is emulated in-process (the same emulator the tests use,
from the source tree), and everything else is a real process on 127.0.0.1 — the operator
(``modelmonitor run``), and the parts each step names. Every figure printed is measured, not canned.

The command's wiring only: the story is in :mod:`modelmonitor.demo.story`, the processes and the
emulated cluster it runs against in :mod:`modelmonitor.demo.cluster`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from modelmonitor.demo.cluster import step_operator
from modelmonitor.demo.story import say, step_validate


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the local demo (needs the source tree and the dev extras)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    say("ModelMonitor demo — everything below runs for real on 127.0.0.1\n")
    step_validate()
    asyncio.run(step_operator(args.timeout))
    say("Done.")
    return 0
