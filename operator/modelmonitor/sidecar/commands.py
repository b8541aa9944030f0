"""``modelmonitor sidecar``: the logging proxy the operator injects beside a model container.

Top-level imports stay light (argparse and the config module): the proxy and its dependencies load
only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelmonitor.sidecar.config import ConfigError, add_arguments, resolve


def register(subparsers: Any) -> None:
    """Add the ``sidecar`` sub-command to the top-level parser."""
    parser = subparsers.add_parser(
        "sidecar",
        help="run the logging proxy in front of a model",
        description=(
            "Proxy every request to the model byte for byte, log one JSON line per request, keep a "
            "window of captured rows for the operator, join ground-truth labels and export metrics. "
            "Every flag can be set with the MODELMONITOR_* environment variable named in its help."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Resolve flags and environment, then run until SIGTERM; exit code 2 on a bad setting."""
    try:
        config = resolve(args)
    except ConfigError as exc:
        print(f"modelmonitor sidecar: {exc}", file=sys.stderr)
        return 2
    from modelmonitor.sidecar.app import run

    try:
        return run(config)
    except ConfigError as exc:  # the token file changed between the check and the start
        print(f"modelmonitor sidecar: {exc}", file=sys.stderr)
        return 2
