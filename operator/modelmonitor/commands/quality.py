"""``modelmonitor quality``: a model's quality over time, from a labelled reference file and a current one.

The current file is cut into chunks of rows (in prediction-time order); each chunk gets its realized
metrics where it has labels, label-free estimates (CBPE, DLE) always, and alerts where a metric leaves
the band the reference's chunks drew. Then calibration, fairness by segment and concept drift. The
figures are the pure core's (``modelmonitor.quality``); this module reads files and arguments.

Exit codes: 0 done (alerts found are still 0 unless ``--fail-on-alert``), 1 an alert, a violated
segment or a concept-drift change with ``--fail-on-alert``, 2 bad input (file, column, argument).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from modelmonitor.quality import DETECTORS, TASKS  # names only: scikit-learn and river load later

if TYPE_CHECKING:
    from modelmonitor.commands.quality_report import Report

EXIT_OK = 0
EXIT_ALERT = 1
EXIT_INPUT = 2
WIDTH = 99


def register(subparsers: Any) -> None:
    """Add the ``quality`` sub-command to the CLI."""
    p = subparsers.add_parser(
        "quality",
        help="model quality per chunk: realized and estimated metrics, calibration, fairness, concept drift",
        description="Judge CURRENT's chunks against bands drawn from REFERENCE's chunks (mean ± 3 sd). "
        "REFERENCE needs the target; CURRENT may lack it (then only estimates). See docs/user-guide.md.",
    )
    p.add_argument("reference", help="labelled reference: .csv, .tsv or .parquet")
    p.add_argument("current", help="current rows: .csv, .tsv or .parquet (the target may be missing)")
    p.add_argument("--task", required=True, metavar="TASK", help=" | ".join(TASKS))
    p.add_argument("--target", default="target", help="column of the ground truth (default: target)")
    p.add_argument("--prediction", default="prediction", help="column of the model's decision or value")
    p.add_argument(
        "--score",
        action="append",
        help="score column (default: 'score' when present); binary: the positive class's score; "
        "multiclass: repeat once per class, in sorted class order",
    )
    p.add_argument("--segment", action="append", default=[], help="column to check fairness over (repeat)")
    p.add_argument("--timestamp", help="prediction-time column: rows are sorted by it (default: file order)")
    p.add_argument("--chunk-size", type=int, default=5000, help="rows per chunk (default: 5000)")
    p.add_argument("--detector", default="adwin", help=f"concept-drift detector: {' | '.join(DETECTORS)}")
    p.add_argument("--metric", action="append", help="metric to compute (repeat; default: the task's)")
    p.add_argument("--positive", help="the positive class (default: 1 / true)")
    p.add_argument("--min-ratio", type=float, default=0.8, help="segments: lowest/highest approval rate")
    p.add_argument("--min-rows", type=int, default=100, help="segments: rows a group needs to be judged")
    p.add_argument(
        "--fail-on-alert",
        action="store_true",
        help="exit 1 on any chunk alert, violated segment or concept-drift change (for CI pipelines)",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    p.set_defaults(func=run_quality)


class _BadInput(Exception):
    """An argument or a column the run cannot go on with; the message names it and the fix."""


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor: error: {message}\n")
    return EXIT_INPUT


def _need(frame: Any, path: str, column: str, flag: str) -> None:
    if column not in frame.columns:
        there = ", ".join(map(str, frame.columns)) or "none"
        raise _BadInput(f"{path}: no column {column!r} ({flag}); the columns are: {there}")


def _arguments(args: argparse.Namespace) -> None:
    from modelmonitor.quality.metrics import SUPPORTED

    if args.task not in TASKS:
        raise _BadInput(f"--task {args.task!r} is unknown; use one of {', '.join(TASKS)}")
    if args.detector not in DETECTORS:
        raise _BadInput(f"--detector {args.detector!r} is unknown; use one of {', '.join(DETECTORS)}")
    if args.chunk_size < 1:
        raise _BadInput(f"--chunk-size {args.chunk_size}: pass 1 row or more")
    unknown = [m for m in args.metric or () if m not in SUPPORTED[args.task]]
    if unknown:
        raise _BadInput(
            f"--metric {', '.join(unknown)}: not available for {args.task}; use {', '.join(SUPPORTED[args.task])}"
        )
    if args.segment and args.task == "regression":
        raise _BadInput("--segment compares classification decisions across groups; regression has none")
    if args.segment and args.task != "binary-classification" and args.positive is None:
        raise _BadInput("--segment with multiclass-classification: pass --positive, the approved class")
    if args.task == "binary-classification" and args.score and len(args.score) > 1:
        raise _BadInput("--score: binary-classification takes one column, the positive class's score")


def _positive(text: str | None, values: list[Any], task: str) -> Any:
    """The class value ``--positive`` names, as the files hold it (1, 1.0, True or "yes")."""
    if task == "regression" or (text is None and task != "binary-classification"):
        return 1
    for value in values:
        if text is None and not isinstance(value, str) and value == 1:
            return value
        if text is not None and (str(value) == text or _same_number(value, text)):
            return value
    shown = ", ".join(map(str, values[:10]))
    if text is None:
        raise _BadInput(f"no class 1 or true among the target's values ({shown}); pass --positive")
    raise _BadInput(f"--positive {text!r} is not among the target's and prediction's values ({shown})")


def _same_number(value: Any, text: str) -> bool:
    try:
        return not isinstance(value, str) and float(text) == float(value)
    except (TypeError, ValueError):
        return False


def run_quality(args: argparse.Namespace) -> int:
    """Compare ``args.current`` with ``args.reference`` and print the report."""
    import json

    import numpy as np

    from modelmonitor.commands import quality_report as qr
    from modelmonitor.commands.files import InputError, read_table
    from modelmonitor.quality.metrics import DEFAULT_METRICS

    try:
        _arguments(args)
        reference, current = read_table(args.reference), read_table(args.current)
        scores = tuple(
            args.score
            or (
                ["score"] if "score" in reference.columns and args.task != "multiclass-classification" else []
            )
        )
        columns = qr.Columns(args.target, args.prediction, scores, args.timestamp, tuple(args.segment))
        for frame, path in ((reference, args.reference), (current, args.current)):
            _need(frame, path, args.prediction, "--prediction")
            for column in scores:
                _need(frame, path, column, "--score")
        _need(reference, args.reference, args.target, "--target")
        if args.timestamp:  # the reference may come without times: it is then kept in file order
            _need(current, args.current, args.timestamp, "--timestamp")
        for column in args.segment:
            _need(current, args.current, column, "--segment")
        if args.task == "regression":
            for column in reference.columns:
                if column not in columns.model_columns():
                    _need(current, args.current, column, "a model input in the reference")
        values = sorted(
            {*reference[args.target].dropna().tolist(), *reference[args.prediction].dropna().tolist()},
            key=str,
        )
        settings = qr.Settings(
            task=args.task,
            metrics=tuple(args.metric or DEFAULT_METRICS[args.task]),
            chunk_size=args.chunk_size,
            detector=args.detector,
            positive=_positive(args.positive, values, args.task),
            min_ratio=args.min_ratio,
            min_rows=args.min_rows,
        )
        ref = qr.table(reference, columns, args.task, scored=bool(scores))
        cur = qr.table(current, columns, args.task, scored=bool(scores))
        with np.errstate(all="ignore"):
            report = qr.build(ref, cur, columns, settings, args.reference)
    except (_BadInput, InputError, ValueError) as exc:
        return _fail(str(exc))
    text = (
        json.dumps(report.to_dict(), indent=2, allow_nan=False) if args.format == "json" else render(report)
    )
    try:
        _write(args.output, text)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write: {exc.strerror}")
    return EXIT_ALERT if args.fail_on_alert and report.alerting else EXIT_OK


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def render(report: Report) -> str:
    """The report as lines under 100 columns: one per chunk, then calibration, segments, concept drift."""
    data = report.to_dict()
    names = list(data["reference"]["bands"])
    estimated = [m for m in names if any(m in c["estimated"] for c in data["chunks"])]
    main = (estimated or names or ["-"])[0]
    low_high = data["reference"]["bands"].get(main)
    shown_band = "none" if low_high is None else f"{_num(low_high[0])} .. {_num(low_high[1])}"
    lines = [
        f"reference: {report.reference_rows} rows in {report.reference_chunks} chunks; "
        f"estimates: {report.estimator or 'none (no scores)'}",
        f"{main}: reference {_num(data['reference']['realized'].get(main))}, band {shown_band}",
        *[f"note: {n}" for n in report.notes],
        "",
        f"{'chunk':>5} {'rows':>12} {'labelled':>8} {main + ' real':>14} {'est':>8}  alerts",
    ]
    for c in data["chunks"]:
        real = None if c["realized"] is None else c["realized"].get(main)
        marks = ([f"ALERT {','.join(c['alerts'])}"] if c["alerts"] else []) + (
            [f"ALERT est {','.join(c['estimated_alerts'])}"] if c["estimated_alerts"] else []
        )
        span = f"{c['start']}-{c['end']}"
        figures = f"{c['labelled']:>8} {_num(real):>14} {_num(c['estimated'].get(main)):>8}"
        lines.append(_fit(f"{c['index']:>5} {span:>12} {figures}  {'; '.join(marks)}".rstrip()))
    cal = data["calibration"]
    lines.append("")
    if cal is None:
        lines.append("calibration: not assessed (binary classification with scores only)")
    else:
        lines += [
            f"calibration ({cal['source']}, {cal['rows']} held-out rows): "
            f"ece {_num(cal['ece'])}, brier {_num(cal['brier'])}",
            f"  ece after recalibration: platt {_num(cal['ece_platt'])}, isotonic {_num(cal['ece_isotonic'])}",
        ]
    for s in data["segments"]:
        verdict = "VIOLATED" if s["violated"] else ("ok" if s["violated"] is False else "not judged")
        groups = ", ".join(f"{g['value']} {_num(g['approval_rate'])}" for g in s["groups"])
        lines.append(
            _fit(
                f"segment {s['feature']}: {verdict}, disparate impact {_num(s['disparate_impact'])} "
                f"(min {s['min_ratio']}); approval {groups}"
            )
        )
        if s["reason"]:
            lines.append(_fit(f"  {s['reason']}"))
    drift = f"concept drift ({report.detector}): "
    if report.changes:
        drift += "; ".join(
            f"row {c.row} (from ~{c.change_point}, error {c.error_before:.3f} -> {c.error_after:.3f})"
            for c in report.changes[:3]
        ) + (f"; {len(report.changes) - 3} more" if len(report.changes) > 3 else "")
    else:
        drift += "no rise of the error"
    lines.append(_fit(drift))
    return "\n".join(lines)


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


__all__ = ["EXIT_ALERT", "EXIT_INPUT", "EXIT_OK", "register", "render", "run_quality"]
