"""``modelmonitor profile`` and ``modelmonitor drift``.

Top-level imports stay light (argparse only): pandas, numpy and scipy load when a command runs.

Exit codes: 0 done (drift found is still 0 unless ``--fail-on-drift``), 1 with ``--fail-on-drift`` when
the dataset drifts or the window fails its integrity checks (the reason on standard error), 2 bad input
(missing, unreadable or empty file, argument out of range).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmonitor.drift.report import DriftReport, IntegrityReport

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_INPUT = 2

Threshold = float | dict[str, float] | None


def register(subparsers: Any) -> None:
    """Add the ``profile`` and ``drift`` sub-commands to the CLI."""
    prof = subparsers.add_parser(
        "profile",
        help="build a compact reference profile (JSON) from a CSV or Parquet file",
        description="Build a reference profile: schema, quantile sketches, category counts, missing shares. "
        "The JSON fits a ConfigMap (about 6 KiB per numeric feature).",
    )
    prof.add_argument("data", help="reference data: .csv, .tsv or .parquet, at least one row")
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
        help="test for every feature (auto: by column type and sample size)",
    )
    drift.add_argument(
        "--threshold",
        type=_threshold,
        metavar="T|METHOD=T,...",
        help="threshold of --method: a significance level in (0, 1) for ks and chisquare, a distance > 0 "
        "for psi and wasserstein, in (0, 1] for jensenshannon; with --method auto one per method, e.g. "
        "ks=0.01,wasserstein=0.2 (default: each method's documented value)",
    )
    drift.add_argument(
        "--drift-share",
        type=float,
        default=0.5,
        help="share (0, 1] of evaluated features that must drift for dataset drift",
    )
    drift.add_argument(
        "--correction",
        choices=("none", "bonferroni", "bh"),
        default="bh",
        help="multiple-testing correction of the p-value tests across features (bh: Benjamini-Hochberg); "
        "distances are left alone",
    )
    drift.add_argument(
        "--min-effect",
        type=float,
        help="Jensen-Shannon distance in [0, 1] a feature must also reach to drift (default: none)",
    )
    drift.add_argument(
        "--min-rows", type=int, default=30, help="minimum non-missing values per feature, on each side"
    )
    drift.add_argument(
        "--features", help="comma-separated columns to compare (default: all reference columns)"
    )
    drift.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 1 when the dataset drifts or the window fails integrity (a column missing or retyped, "
        "a missing share up by more than 0.05, nothing evaluable): for CI pipelines",
    )
    drift.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    drift.set_defaults(func=run_drift)


def _threshold(text: str) -> float | dict[str, float]:
    """``0.05`` or ``ks=0.01,wasserstein=0.2`` (ranges are checked once the method is known)."""
    try:
        if "=" not in text:
            return float(text)
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a number nor METHOD=NUMBER pairs such as ks=0.01,wasserstein=0.2"
        ) from None


def _range(method: str) -> tuple[float, float, bool, str]:
    """(low, high, high included, description) of ``method``'s threshold; the low end is excluded."""
    from modelmonitor.drift.defaults import METHODS

    if METHODS[method].kind == "pvalue":
        return 0.0, 1.0, False, "a significance level in (0, 1) (drift when p < threshold)"
    if method == "jensenshannon":
        return 0.0, 1.0, True, "a distance in (0, 1] (drift when the distance >= threshold)"
    return 0.0, float("inf"), False, "a distance > 0 (drift when the statistic >= threshold)"


def _fits(method: str, value: float) -> bool:
    low, high, closed, _ = _range(method)
    return low < value < high or (closed and value == high)


def _threshold_problem(method: str, threshold: Threshold) -> str | None:
    from modelmonitor.drift.defaults import METHODS

    if threshold is None:
        return None
    if isinstance(threshold, dict):
        unknown = sorted(set(threshold) - set(METHODS))
        if unknown:
            return f"--threshold names {', '.join(unknown)}: the methods are {', '.join(METHODS)}"
        for name, value in threshold.items():
            if not _fits(name, value):
                return f"--threshold {name}={value:g} is out of range: {name} takes {_range(name)[3]}"
        return None
    if method != "auto":
        return (
            None
            if _fits(method, threshold)
            else (
                f"--threshold {threshold:g} is out of range for --method {method}: it takes {_range(method)[3]}"
            )
        )
    options = {
        "ks": "a significance level; chisquare takes the same on categorical columns",
        "wasserstein": "in reference standard deviations; categorical columns keep jensenshannon at its "
        "default",
    }
    fitting = [
        f"--method {m} --threshold {threshold:g} ({why})" for m, why in options.items() if _fits(m, threshold)
    ]
    if not fitting:
        return f"--threshold {threshold:g} fits no method: p-value tests take (0, 1), distances > 0"
    return (
        f"--threshold {threshold:g} needs an explicit method: auto uses p-value tests (ks, chisquare) on "
        "small samples and distances (wasserstein, jensenshannon) on large ones, where a threshold means "
        f"different things; use {' or '.join(fitting)}, or one per method such as "
        "--threshold ks=0.01,wasserstein=0.2"
    )


def _argument_problem(args: argparse.Namespace) -> str | None:
    """Why the arguments of ``drift`` are out of range, naming the flag and its range; None if they fit."""
    if args.min_rows < 1:
        return f"--min-rows {args.min_rows}: must be a whole number of rows >= 1"
    if not 0.0 < args.drift_share <= 1.0:
        return f"--drift-share {args.drift_share:g}: must be a share of features in (0, 1]"
    if args.min_effect is not None and not 0.0 <= args.min_effect <= 1.0:
        return f"--min-effect {args.min_effect:g}: must be a Jensen-Shannon distance in [0, 1]"
    return _threshold_problem(args.method, args.threshold)


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
        frame = read_table(args.data, allow_empty=False)
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

    problem = _argument_problem(args)
    if problem:
        return _fail(problem)
    try:
        reference = read_reference(args.reference, allow_empty=False)
        current = read_table(args.current, allow_empty=False)
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
    text = json.dumps(report.to_dict(), indent=2) if args.format == "json" else _table(report)
    try:
        _write(args.output, text)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    if not args.fail_on_drift:
        return EXIT_OK
    reasons = integrity_failures(report)
    if report.dataset_drift:
        drifted = len(report.drifted_features)
        evaluated = sum(f.reason is None for f in report.features)
        reasons.insert(
            0,
            f"dataset drift: {drifted} of {evaluated} evaluated features drifted (share "
            f"{report.drift_share:.3f} >= {report.drift_share_threshold:g}): "
            + ", ".join(report.drifted_features),
        )
    for reason in reasons:
        sys.stderr.write(f"modelmonitor drift: {reason}\n")
    return EXIT_DRIFT if reasons else EXIT_OK


def integrity_failures(report: DriftReport) -> list[str]:
    """Why the window fails its integrity checks, one line each: columns missing or retyped, a missing
    share up by more than ``NULL_RATE_TOLERANCE`` (share 0-1), no feature evaluable. New columns and
    unseen categories are reported in the output but do not fail."""
    from modelmonitor.drift.defaults import NULL_RATE_TOLERANCE

    integ = report.integrity
    out: list[str] = []
    if integ.missing_columns:
        out.append("integrity: missing from the current window: " + ", ".join(integ.missing_columns))
    if integ.type_changes:
        changed = [f"{c['name']} ({c['reference']} -> {c['current']})" for c in integ.type_changes]
        out.append("integrity: type changed: " + ", ".join(changed))
    more_nulls = [c for c in integ.null_rate_changes if c["change"] > NULL_RATE_TOLERANCE]
    if more_nulls:
        shares = [f"{c['name']} {c['reference']:.1%} -> {c['current']:.1%}" for c in more_nulls]
        out.append(f"integrity: missing share up by more than {NULL_RATE_TOLERANCE:g}: " + ", ".join(shares))
    if not any(f.reason is None for f in report.features):
        first = next((f"{f.name}: {f.reason}" for f in report.features if f.reason), "no feature selected")
        out.append(f"integrity: no feature could be evaluated in {report.rows[1]} rows ({first})")
    return out


def _table(report: DriftReport) -> str:
    """The report's text table, with its integrity section readable instead of a raw dict."""
    text = report.to_table()
    head, _, last = text.rpartition("\n")
    if last.startswith("integrity: "):
        text = head
    return text if report.integrity.ok else text + "\n" + _integrity_lines(report.integrity)


def _integrity_lines(integ: IntegrityReport) -> str:
    lines = ["integrity: problems found"]
    if integ.missing_columns:
        lines.append("  missing from the window: " + ", ".join(integ.missing_columns))
    if integ.new_columns:
        lines.append("  new in the window (not compared): " + ", ".join(integ.new_columns))
    for c in integ.type_changes:
        lines.append(f"  type changed: {c['name']}: {c['reference']} -> {c['current']}")
    for c in integ.null_rate_changes:
        lines.append(
            f"  missing share: {c['name']}: {c['reference']:.1%} -> {c['current']:.1%} ({c['change']:+.1%})"
        )
    for name, categories in integ.unseen_categories.items():
        lines.append(f"  unseen categories: {name}: " + ", ".join(categories))
    if integ.unseen_rows_share:
        lines.append(f"  rows with an unseen category: {integ.unseen_rows_share:.1%}")
    return "\n".join(lines)
