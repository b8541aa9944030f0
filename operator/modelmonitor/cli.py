"""The one command-line entry point: ``modelmonitor <command> ...``.

Each command module exposes ``register(subparsers)``, which adds its sub-parser and sets ``func`` to
the callable that runs it (returning the exit code). The I/O layers (``operator``, ``sidecar``,
``demo``) keep their commands beside them; the commands over the pure core (``api``, ``drift``) live
in ``modelmonitor.commands``, so the core holds no argparse or file reading. Command modules keep
their top-level imports light so that ``modelmonitor sidecar`` does not pay for scipy and
``modelmonitor validate`` does not pay for Kopf.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modelmonitor import __version__

# Each command and the module that registers it; the order is the order of ``modelmonitor --help``.
COMMANDS: dict[str, str] = {
    "run": "modelmonitor.operator.commands",
    "sidecar": "modelmonitor.sidecar.commands",
    "crd": "modelmonitor.commands.contract",
    "validate": "modelmonitor.commands.contract",
    "profile": "modelmonitor.commands.drift",
    "drift": "modelmonitor.commands.drift",
    "quality": "modelmonitor.commands.quality",
    "experiment": "modelmonitor.commands.experiment",
    "status": "modelmonitor.commands.status",
    "report": "modelmonitor.commands.report",
    "backtest": "modelmonitor.commands.backtest",
    "explain": "modelmonitor.commands.explain",
    "erase": "modelmonitor.commands.erase",
    "audit": "modelmonitor.commands.audit",
    "demo": "modelmonitor.demo.commands",
    "demo-model": "modelmonitor.demo.model",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command`` (one of :data:`COMMANDS`), one holding only the module of
    that command, so that running it imports nothing of the others (the sidecar in a model's pod
    pays for no pydantic, jsonschema or scipy)."""
    parser = argparse.ArgumentParser(
        prog="modelmonitor",
        description="Keep deployed machine-learning models accurate, fair and fast.",
    )
    parser.add_argument("--version", action="version", version=f"modelmonitor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A command module that is not part of this build yet is simply absent from the menu;
            # a missing third-party dependency inside an existing module is a real error.
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    _format_help(parser)
    return parser


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with each option's default after its help: not when it has none (None,
    False, an empty list) or the help already gives it (``default`` or ``(VALUE)`` in the text)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or "default" in text.lower()
            or f"({default})" in text
        ):
            return action.help
        return f"{text} (default: %(default)s)"


def _format_help(parser: argparse.ArgumentParser) -> None:
    """Every sub-command's help shows defaults, and a sub-command without a description gets its menu
    line as one (``modelmonitor demo --help`` says what it does)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                sub.formatter_class = HelpFormatter
                if not sub.description:
                    sub.description = lines.get(name)
                _format_help(sub)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
