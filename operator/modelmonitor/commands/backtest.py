"""``modelmonitor backtest``: a monitor replayed over captured traffic, before it is switched to enforce.

CAPTURE is the sidecar's audit trail (JSONL segments of log lines written with ``--log-payloads true``,
so each line holds the request's ``inputs`` and ``outputs``; docs/sidecar.md) or a table (CSV,
Parquet) with a ``ts`` (or ``__ts``) column (unix seconds or RFC 3339), the features, ``prediction``,
and optionally ``label``, ``label_ts``, ``score``, ``version`` and ``id``. Labels can also come from
feedback files (``--labels``: JSONL or CSV of ``id``, ``label`` and optionally ``ts``, when the label
arrived); a label without an arrival time is taken to arrive ``spec.performance.labelDelay`` after
its prediction (at once without one). policy/backtest.py replays it; this module reads the files.

Exit codes: 0 the backtest ran (whatever it found), 2 bad input (a file, a column, the monitor).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelmonitor.policy.backtest import Backtest

EXIT_OK = 0
EXIT_INPUT = 2
WIDTH = 100
RESERVED = {
    "ts",
    "__ts",
    "id",
    "__id",
    "prediction",
    "label",
    "label_ts",
    "score",
    "probabilities",
    "version",
}


def register(subparsers: Any) -> None:
    """Add the ``backtest`` command to the CLI."""
    p = subparsers.add_parser(
        "backtest",
        help="replay captured traffic through a monitor: when it would have alerted, retrained, rolled back",
        description="Replay CAPTURE in time order through the monitor's evaluators and action policy, one "
        "evaluation every --every, and print the timeline and a summary (docs/cli.md).",
    )
    p.add_argument(
        "capture", nargs="+", metavar="CAPTURE", help="audit JSONL segments, or CSV/Parquet tables"
    )
    p.add_argument("--monitor", required=True, metavar="FILE", help="the ModelMonitor manifest (YAML)")
    p.add_argument("--reference", metavar="FILE", help="profile JSON (modelmonitor profile) or a table; "
                   "default: captured from the first rows, as the operator does")  # fmt: skip
    p.add_argument("--labels", action="append", default=[], metavar="FILE", help="feedback: JSONL or CSV "
                   "of id, label[, ts] (repeatable)")  # fmt: skip
    p.add_argument("--every", metavar="DURATION", help="time between evaluations (default: spec.interval)")
    p.add_argument("--mode", choices=("enforce", "observe"), default="enforce",
                   help="decide as in this mode (default: enforce, to see what would have been done)")  # fmt: skip
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=run_backtest)


class BadInput(Exception):
    """A file, a column or an argument the backtest cannot go on with; the message names the fix."""


def read_monitor(path: str) -> tuple[str, str, Any]:
    """(name, namespace, spec) of the ModelMonitor in a YAML manifest."""
    import yaml
    from pydantic import ValidationError

    from modelmonitor.api.spec import ModelMonitorSpec

    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"--monitor {path}: cannot read it as YAML: {str(exc)[:300]}") from None
    found = [d for d in docs if d.get("kind") == "ModelMonitor"]
    if not found:
        raise BadInput(f"--monitor {path}: no document of kind ModelMonitor")
    meta = found[0].get("metadata") or {}
    try:
        spec = ModelMonitorSpec.model_validate(found[0].get("spec") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(['spec', *map(str, e['loc'])])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()[:5]
        )
        raise BadInput(f"--monitor {path}: invalid spec: {problems}") from None
    return str(meta.get("name") or "backtest"), str(meta.get("namespace") or "default"), spec


def read_capture(paths: list[str]) -> tuple[pd.DataFrame, int]:
    """Every file's rows as the sidecar's captured rows, and how many audit lines held no row."""
    import pandas as pd

    from modelmonitor.commands.files import InputError, read_table

    frames, skipped = [], 0
    for path in paths:
        name = path.lower()
        if name.endswith((".jsonl", ".json", ".jsonl.gz", ".log")):
            frame, lost = _audit_rows(path)
            skipped += lost
        else:
            try:
                frame = _table_rows(read_table(path), path)
            except InputError as exc:
                raise BadInput(str(exc)) from None
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not len(frame):
        raise BadInput(f"{', '.join(paths)}: no captured row (audit lines carry rows only when the sidecar "
                       f"runs with --log-payloads true; {skipped} lines held none)")  # fmt: skip
    return frame, skipped


def _lines(path: str) -> list[dict[str, Any]]:
    import gzip

    try:
        data = Path(path).read_bytes()
        text = (gzip.decompress(data) if path.endswith(".gz") else data).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise BadInput(f"{path}:{number}: not a JSON line") from None
        if isinstance(item, dict):
            out.append(item)
    return out


def _audit_rows(path: str) -> tuple[pd.DataFrame, int]:
    """The rows of the sidecar's log lines: one per item of ``inputs``, as the sidecar windows them."""
    import pandas as pd

    rows, skipped = [], 0
    for line in _lines(path):
        inputs = line.get("inputs", line.get("features"))
        if isinstance(inputs, dict) and not inputs.get("truncated"):
            inputs = [inputs]
        outputs = line.get("outputs") or {}
        preds = outputs.get("predictions", line.get("prediction")) if isinstance(outputs, dict) else None
        probs = outputs.get("probabilities") if isinstance(outputs, dict) else None
        if not isinstance(inputs, list) or not inputs or "ts" not in line:
            skipped += 1
            continue
        preds = preds if isinstance(preds, list) else [preds] * len(inputs)
        rid = str(line.get("request_id", line.get("id", "")))
        for i, features in enumerate(inputs):
            if not isinstance(features, dict):
                continue
            rows.append({**features, "__id": rid if len(inputs) == 1 else f"{rid}#{i}", "__ts": float(line["ts"]),
                         "__version": str(line.get("version") or ""),
                         "__prediction": preds[i] if i < len(preds) else None,
                         "__probabilities": probs[i] if isinstance(probs, list) and i < len(probs) else None,
                         "__label": line.get("label"), "__label_ts": float("nan")})  # fmt: skip
    return pd.DataFrame(rows), skipped


def _table_rows(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    column = "ts" if "ts" in frame.columns else "__ts" if "__ts" in frame.columns else None
    if column is None:
        there = ", ".join(map(str, frame.columns[:20])) or "none"
        raise BadInput(
            f"{path}: no column 'ts' (or '__ts'): the time of each prediction; the columns are: {there}"
        )
    out = frame[[c for c in frame.columns if str(c) not in RESERVED]].copy()
    out["__ts"] = _seconds(frame[column], f"{path}: column {column!r}")
    out["__id"] = (
        frame["id"].astype(str) if "id" in frame.columns else [f"row-{i}" for i in range(len(frame))]
    )
    out["__version"] = frame["version"].astype(str) if "version" in frame.columns else ""
    out["__prediction"] = frame["prediction"].astype(object) if "prediction" in frame.columns else None
    score = frame["score"] if "score" in frame.columns else frame.get("probabilities")
    out["__probabilities"] = score.astype(object) if score is not None else None
    out["__label"] = (
        frame["label"].astype(object).where(frame["label"].notna(), None)
        if "label" in frame.columns
        else None
    )
    out["__label_ts"] = (_seconds(frame["label_ts"], f"{path}: column 'label_ts'", nulls=True)
                         if "label_ts" in frame.columns else np.nan)  # fmt: skip
    return pd.DataFrame(out)


def _seconds(values: pd.Series, where: str, *, nulls: bool = False) -> Any:
    """Unix seconds from numbers or RFC 3339 text."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum() and (nulls or values.notna().all()):
        return numbers.astype(float).to_numpy()
    try:
        stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{where}: neither unix seconds nor RFC 3339 times ({str(exc)[:200]})") from None
    if not nulls and stamps.isna().any():
        raise BadInput(f"{where}: {int(stamps.isna().sum())} rows without a time")
    return ((stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=float)


def join_labels(frame: pd.DataFrame, paths: list[str], label_delay: float) -> int:
    """Labels of feedback files onto their rows by id (a list for a batch request labels each row);
    a row without an arrival time gets its prediction's time + ``label_delay``. How many rows got one."""
    import numpy as np
    import pandas as pd

    from modelmonitor.commands.files import InputError, read_table

    labels: dict[str, tuple[Any, float]] = {}
    for path in paths:
        try:
            items = (
                _lines(path)
                if path.lower().endswith((".jsonl", ".json", ".gz"))
                else read_table(path).to_dict("records")
            )
        except InputError as exc:
            raise BadInput(str(exc)) from None
        for item in items:
            if "id" not in item or "label" not in item:
                raise BadInput(
                    f"{path}: a feedback item needs 'id' and 'label' (as POST /v1/feedback); got {sorted(item)[:6]}"
                )
            at = _one_time(item.get("ts"))
            value = item["label"]
            if isinstance(value, list):
                labels.update({f"{item['id']}#{i}": (v, at) for i, v in enumerate(value)})
            else:
                labels[str(item["id"])] = (value, at)
    ids = frame["__id"].astype(str)
    hit = ids.isin(list(labels)).to_numpy()
    if hit.any():
        frame["__label"] = frame["__label"].astype(object)
        frame.loc[hit, "__label"] = [labels[i][0] for i in ids[hit]]
        frame.loc[hit, "__label_ts"] = [labels[i][1] for i in ids[hit]]
    has = frame["__label"].notna().to_numpy()
    unknown = has & pd.isna(frame["__label_ts"]).to_numpy()
    frame["__label_ts"] = frame["__label_ts"].astype(float)
    frame.loc[unknown, "__label_ts"] = frame.loc[unknown, "__ts"].astype(float) + label_delay
    return int(np.sum(has))


def _one_time(value: Any) -> float:
    import pandas as pd

    if value is None or value == "":
        return float("nan")
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if pd.notna(number):
        return float(number)
    try:
        return float(pd.to_datetime(value, utc=True).timestamp())
    except (ValueError, TypeError):
        raise BadInput(f"feedback time {value!r}: neither unix seconds nor an RFC 3339 time") from None


def run_backtest(args: argparse.Namespace) -> int:
    from modelmonitor.api.durations import parse_duration
    from modelmonitor.commands.files import InputError, read_reference
    from modelmonitor.drift import Profile, build_profile
    from modelmonitor.policy.backtest import backtest

    try:
        name, namespace, spec = read_monitor(args.monitor)
        try:
            every = parse_duration(args.every) if args.every else None
        except ValueError as exc:
            raise BadInput(f"--every: {exc}") from None
        if every is not None and every <= 0:
            raise BadInput("--every: pass a positive duration, such as 60s")
        reference = None
        if args.reference:
            try:
                found = read_reference(args.reference)
            except InputError as exc:
                raise BadInput(str(exc)) from None
            reference = found if isinstance(found, Profile) else build_profile(found)
        elif spec.drift.reference.configMapRef is not None or spec.drift.reference.url is not None:
            raise BadInput(
                "spec.drift.reference names a ConfigMap or URL: pass that profile as --reference FILE"
            )
        frame, skipped = read_capture(args.capture)
        delay = (
            parse_duration(str(spec.performance.labelDelay))
            if spec.performance and spec.performance.labelDelay
            else 0.0
        )
        labelled = join_labels(frame, args.labels, delay)
    except BadInput as exc:
        sys.stderr.write(f"modelmonitor backtest: {exc}\n")
        return EXIT_INPUT
    result = backtest(spec, frame, reference, every=every, name=name, namespace=namespace, mode=args.mode)
    report = {"monitor": f"{namespace}/{name}", "rows": len(frame), "labelledRows": labelled,
              "skippedLines": skipped, **result.to_dict()}  # fmt: skip
    sys.stdout.write(
        (json.dumps(report, indent=2, default=str) if args.format == "json" else render(report, result))
        + "\n"
    )
    return EXIT_OK


def render(report: dict[str, Any], result: Backtest) -> str:
    """The timeline (one line per change, decision or alert) and the summary, under WIDTH columns."""
    head = (f"{report['monitor']}: {result.evaluations} evaluations every {result.every_seconds:g}s from "
            f"{result.start} to {result.end}, {report['rows']:,} rows ({report['labelledRows']:,} labelled), "
            f"{result.mode} mode")  # fmt: skip
    lines = textwrap.wrap(head, WIDTH)
    lines.append("\ntimeline:")
    for step in result.timeline:
        said = [
            f"{c['type']} {c['was'] or '-'} -> {c['status']} ({c['reason']}): {c['message']}"
            for c in step.changes
        ]
        said += [f"{d['action']} {d['result']} ({d['reason']}): {d['message']}" for d in step.decisions]
        said += [f"alert {a}" for a in step.alerts]
        for i, text in enumerate(said):
            first = f"{step.time} {step.phase:<10} " if i == 0 else " " * 32
            lines += textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=" " * 34)[:3]
    if not result.timeline:
        lines.append("  nothing changed")
    lines.append("\nsummary:")
    lines.append("  phases: " + ", ".join(f"{p} {share:.0%}" for p, share in result.phases.items()))
    lines.append("  True: " + (", ".join(f"{k} {v:.0%}" for k, v in result.true_share.items()) or "none"))
    lines.append("  actions: " + (", ".join(f"{k} {n}" for k, n in result.actions.items()) or "none"))
    lines.append("  alerts: " + (", ".join(f"{k} {n}" for k, n in result.alerts.items()) or "none"))
    lines += [w for note in result.notes for w in textwrap.wrap(f"note: {note}", WIDTH, initial_indent="  ",
                                                                   subsequent_indent="    ")]  # fmt: skip
    return "\n".join(lines)


__all__ = ["EXIT_INPUT", "EXIT_OK", "BadInput", "join_labels", "read_capture", "read_monitor", "register",
           "render", "run_backtest"]  # fmt: skip
