"""``modelmonitor crd`` and ``modelmonitor validate``: the contract from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def register(subparsers: Any) -> None:
    crd = subparsers.add_parser(
        "crd",
        help="print the ModelMonitor CustomResourceDefinition (YAML)",
        description="Print the ModelMonitor CustomResourceDefinition generated from the API models: the "
        "OpenAPI schema with its defaults and CEL rules, the status subresource and the printer columns. "
        "Apply it with `modelmonitor crd | kubectl apply -f -` (the Helm chart ships the same file).",
    )
    crd.set_defaults(func=run_crd)

    validate = subparsers.add_parser(
        "validate",
        help="validate ModelMonitor manifests offline (schema and CEL rules); exit 1 if any is invalid",
        description="Check ModelMonitor manifests the way the API server would, without a cluster: the "
        "CRD's schema (types, bounds, enums, patterns, unknown fields), the object name, and the "
        "cross-field CEL rules. Each problem is printed as FILE[INDEX] NAME: FIELD: MESSAGE. Documents "
        "of other kinds are skipped. Exit 0 when every manifest is valid, 1 when one is not or a file "
        "is unreadable, not YAML, empty, or holds a document that is not a Kubernetes object.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML files ('-' for standard input)")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(func=run_validate)


def run_crd(args: argparse.Namespace) -> int:
    from modelmonitor.api.crd import render_crd

    sys.stdout.write(render_crd())
    return 0


def _documents(name: str) -> list[Any] | None:
    """The non-empty YAML documents of a file; None (the problem printed) when it cannot be read."""
    import yaml

    label = "<stdin>" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()  # noqa: SIM115
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"{label}: cannot read: {reason}", file=sys.stderr)
        return None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as exc:
        print(_yaml_error(label, text, exc), file=sys.stderr)
        return None
    except yaml.YAMLError as exc:
        print(f"{label}: not valid YAML: {exc}", file=sys.stderr)
        return None
    if not docs:
        print(f"{label}: empty: no YAML document; expected a ModelMonitor manifest", file=sys.stderr)
        return None
    return docs


def _yaml_error(label: str, text: str, exc: Any) -> str:
    """``FILE:LINE:COLUMN: not valid YAML: problem (context)``, then the offending line and a caret."""
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "syntax error"
    context = exc.context if exc.problem else None
    if context and exc.context_mark is not None and exc.context_mark is not mark:
        context += f" started at {exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
    head = f"{label}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {what}"
    head += f" ({context})" if context else ""
    lines = text.splitlines()
    if mark.line >= len(lines) or not lines[mark.line].strip():  # at the end: show where it began
        if exc.context_mark is None or exc.context_mark.line >= len(lines):
            return head
        mark = exc.context_mark
    line = lines[mark.line]
    caret = "".join(c if c == "\t" else " " for c in line[: mark.column]) + "^"
    return f"{head}\n    {line}\n    {caret}"


def run_validate(args: argparse.Namespace) -> int:
    from modelmonitor.api.validation import is_model_monitor, validate_manifest

    failed = False
    for name in args.files:
        docs = _documents(name)
        if docs is None:
            failed = True
            continue
        checked = 0
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                kind = _KINDS.get(type(doc), type(doc).__name__)
                print(
                    f"{name}[{index}]: a YAML {kind}, not a Kubernetes object: expected a mapping with "
                    "apiVersion, kind, metadata and spec",
                    file=sys.stderr,
                )
                failed = True
                continue
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
        if checked == 0 and not failed and not args.quiet:
            print(f"{name}: no ModelMonitor in this file (other kinds are not checked)")
    return 1 if failed else 0
