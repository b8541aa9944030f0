"""``modelmonitor profile`` and ``modelmonitor drift``.

Top-level imports stay light (argparse only): pandas, numpy and scipy load when a command runs.

Exit codes: 0 done (drift found is still 0 unless ``--fail-on-drift``), 1 dataset drift with
``--fail-on-drift``, 2 bad input (missing file, unreadable format, bad argument).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_INPUT = 2


def register(subparsers: Any) -> None:
    """Add the ``profile`` and ``drift`` sub-commands to the CLI."""
    prof = subparsers.add_parser(
        "profile",
        help="build a compact reference profile (JSON) from a CSV or Parquet file",
        description="Build a reference profile: schema, quantile sketches, category counts, missing shares. "
        "The JSON fits a ConfigMap (about 6 KiB per numeric feature).",
    )
    prof.add_argument("data", help="reference data: .csv, .tsv or .parquet")
    prof.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    prof.add_argument("--features", help="comma-separated columns to keep (default: all)")
    prof.set_defaults(func=run_profile)

    drift = subparsers.add_parser(
        "drift",
        help="compare a current window with a reference (data file or profile)",
        description="Per-feature drift tests and a dataset verdict; see docs/drift.md for methods and defaults.",
    )
    drift.add_argument("reference", help="reference: .csv, .tsv, .parquet or a profile .json")
    drift.add_argument("current", help="current window: .csv, .tsv or .parquet")
    drift.add_argument("--format", choices=("json", "table"), default="json", help="output format")
    drift.add_argument(
        "--method",
        default="auto",
        choices=("auto", "ks", "psi", "wasserstein", "jensenshannon", "chisquare"),
        help="test for every feature (default auto: by column type and sample size)",
    )
    drift.add_argument(
        "--threshold", type=float, help="threshold of --method (default: its documented value)"
    )
    drift.add_argument(
        "--drift-share", type=float, default=0.5, help="share of drifted features for dataset drift"
    )
    drift.add_argument("--correction", choices=("none", "bonferroni", "bh"), default="none")
    drift.add_argument(
        "--min-effect", type=float, help="Jensen-Shannon floor a feature must also reach to drift"
    )
    drift.add_argument("--min-rows", type=int, default=30, help="minimum non-missing values per feature")
    drift.add_argument(
        "--features", help="comma-separated columns to compare (default: all reference columns)"
    )
    drift.add_argument(
        "--fail-on-drift", action="store_true", help="exit 1 when the dataset drifts (for CI pipelines)"
    )
    drift.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    drift.set_defaults(func=run_drift)


def _features(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor: error: {message}\n")
    return EXIT_INPUT


def run_profile(args: argparse.Namespace) -> int:
    """Build a profile of ``args.data`` and write it as JSON."""
    from modelmonitor.commands.files import InputError, read_table
    from modelmonitor.drift.profile import build_profile

    try:
        frame = read_table(args.data)
        profile = build_profile(frame, features=_features(args.features))
        _write(args.output, profile.to_json())
    except InputError as exc:
        return _fail(str(exc))
    except KeyError as exc:
        return _fail(f"{args.data}: {exc.args[0]}")
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    return EXIT_OK


def run_drift(args: argparse.Namespace) -> int:
    """Compare ``args.current`` with ``args.reference`` and print the report."""
    import json

    from modelmonitor.commands.files import InputError, read_reference, read_table
    from modelmonitor.drift.compare import detect

    try:
        reference = read_reference(args.reference)
        current = read_table(args.current)
        report = detect(
            reference,
            current,
            method=args.method,
            threshold=args.threshold,
            drift_share=args.drift_share,
            correction=None if args.correction == "none" else args.correction,
            features=_features(args.features),
            min_effect=args.min_effect,
            min_rows=args.min_rows,
        )
    except InputError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    text = json.dumps(report.to_dict(), indent=2) if args.format == "json" else report.to_table()
    try:
        _write(args.output, text)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    return EXIT_DRIFT if args.fail_on_drift and report.dataset_drift else EXIT_OK
