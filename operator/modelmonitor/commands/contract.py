"""``modelmonitor crd`` and ``modelmonitor validate``: the contract from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    crd = subparsers.add_parser("crd", help="print the ModelMonitor CustomResourceDefinition (YAML)")
    crd.set_defaults(func=run_crd)

    validate = subparsers.add_parser(
        "validate",
        help="validate ModelMonitor manifests offline (schema and CEL rules); exit 1 if any is invalid",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML files ('-' for standard input)")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(func=run_validate)


def run_crd(args: argparse.Namespace) -> int:
    from modelmonitor.api.crd import render_crd

    sys.stdout.write(render_crd())
    return 0


def run_validate(args: argparse.Namespace) -> int:
    import yaml

    from modelmonitor.api.validation import is_model_monitor, validate_manifest

    failed = False
    for name in args.files:
        try:
            text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()  # noqa: SIM115
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            failed = True
            continue
        except yaml.YAMLError as exc:
            print(f"{name}: not valid YAML: {exc}".replace("\n", " "), file=sys.stderr)
            failed = True
            continue
        checked = 0
        for index, doc in enumerate(docs):
            if not is_model_monitor(doc):
                continue
            checked += 1
            label = f"{name}[{index}] {(doc.get('metadata') or {}).get('name', '<unnamed>')}"
            problems = validate_manifest(doc)
            for problem in problems:
                print(f"{label}: {problem}")
            if problems:
                failed = True
            elif not args.quiet:
                print(f"{label}: valid")
        if checked == 0 and not args.quiet:
            print(f"{name}: no ModelMonitor in this file (other kinds are not checked)")
    return 1 if failed else 0
