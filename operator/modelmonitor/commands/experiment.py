"""``modelmonitor experiment replay``: an A/B test judged offline, as the operator judges it live.

FILE holds one row per request, in time order, with ``variant`` (champion or challenger) and either
``prediction`` and ``label`` (and optionally ``score``, the positive class's) or ``outcome``. Every
``--every`` rows of the file are fed to ``quality.experiment.ExperimentRun`` as one interval's new
rows, its state kept as JSON between intervals the way the operator keeps it in a ConfigMap, and the
run looks after each; the replay stops at the first decision. See docs/experiments.md.

Exit codes: 0 the replay ran (whatever it decided), 2 bad input (file, column, value, argument).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from modelmonitor.quality import TASKS  # names only: pandas and scikit-learn load when the command runs

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK = 0
EXIT_INPUT = 2
WIDTH = 99
VARIANTS = ("champion", "challenger")


def register(subparsers: Any) -> None:
    """Add the ``experiment`` command (sub-command ``replay``) to the CLI."""
    p = subparsers.add_parser(
        "experiment",
        help="A/B experiments: replay a logged champion-challenger test offline",
        description="Champion-challenger experiments judged by an always-valid test (docs/experiments.md).",
    )
    commands = p.add_subparsers(dest="experiment_command", metavar="SUBCOMMAND", required=True)
    r = commands.add_parser(
        "replay",
        help="feed a logged experiment to the operator's decision, interval by interval",
        description="Feed FILE's rows, --every at a time in file order, to the experiment's always-valid "
        "test exactly as the operator does each interval; stop at the first decision.",
    )
    r.add_argument("file", help="one row per request in time order: .csv, .tsv or .parquet")
    r.add_argument(
        "--metric",
        required=True,
        help="accuracy, mae, rmse, brier, logloss, mape, outcome (per row); auc, f1, precision, recall, "
        "r2, ece (per batch)",
    )
    r.add_argument("--confidence", type=float, default=0.95, help="1 - alpha (default: 0.95)")
    r.add_argument("--min-rows", type=int, default=1000, help="rows per variant before a verdict (1000)")
    r.add_argument("--every", type=int, default=1000, help="file rows per interval (default: 1000)")
    r.add_argument("--batch", type=int, default=100, help="rows per batch of a batch metric (100)")
    r.add_argument("--mixing", type=float, default=0.1, help="mixture sd, in sds of the metric (0.1)")
    r.add_argument("--task", metavar="TASK", help=f"{' | '.join(TASKS)} (default: from the metric)")
    r.add_argument("--better", choices=("higher", "lower"), help="which way the outcome is better")
    r.add_argument("--positive", help="the positive class (default: 1 / true)")
    r.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    r.set_defaults(func=run_replay)


class _BadInput(Exception):
    """An argument, a column or a value the replay cannot go on with; the message names the fix."""


def _fail(message: str) -> int:
    sys.stderr.write(f"modelmonitor: error: {message}\n")
    return EXIT_INPUT


def _arguments(args: argparse.Namespace) -> None:
    if args.every < 1:
        raise _BadInput(f"--every {args.every}: pass 1 row or more")
    if not 0.5 < args.confidence < 1.0:
        raise _BadInput(f"--confidence {args.confidence}: pass a share between 0.5 and 1, such as 0.95")
    if args.min_rows < 1:
        raise _BadInput(f"--min-rows {args.min_rows}: pass 1 row or more")
    if args.batch < 2:
        raise _BadInput(f"--batch {args.batch}: pass 2 rows or more")
    if args.mixing <= 0:
        raise _BadInput(f"--mixing {args.mixing}: pass a positive number of standard deviations")


def _captured(frame: pd.DataFrame, path: str, metric: str) -> pd.DataFrame:
    """FILE as the sidecar's captured rows (``__label``, ``__prediction``, ...), plus ``variant``."""
    import pandas as pd

    if not len(frame):
        raise _BadInput(f"{path}: no rows")
    needed = ("variant", "outcome") if metric == "outcome" else ("variant", "prediction", "label")
    for column in needed:
        if column not in frame.columns:
            there = ", ".join(map(str, frame.columns)) or "none"
            raise _BadInput(
                f"{path}: no column {column!r} (--metric {metric} needs it); the columns are: {there}"
            )
    variant = frame["variant"].map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    unknown = sorted({str(v) for v in variant if v not in VARIANTS})
    if unknown:
        raise _BadInput(
            f"{path}: column 'variant' holds {', '.join(unknown[:5])}; use champion or challenger"
        )
    absent = [v for v in VARIANTS if not (variant == v).any()]
    if absent:
        raise _BadInput(f"{path}: no {absent[0]} rows; an experiment compares both variants")
    out = pd.DataFrame(
        {
            "variant": variant.to_numpy(),
            "__ts": range(len(frame)),  # file order is time order
            "__label": frame["outcome" if metric == "outcome" else "label"].to_numpy(),
            "__prediction": frame["prediction"].to_numpy() if "prediction" in frame.columns else None,
        }
    )
    if "score" in frame.columns and metric != "outcome":
        out["__probabilities"] = frame["score"].to_numpy()
    return out


def _can_give(captured: pd.DataFrame, path: str, metric: str, task: str, positive: str | None) -> None:
    """Refuse a metric the file cannot give before replaying it."""
    from modelmonitor.quality.experiment import SCORED, outcome_values
    from modelmonitor.quality.labels import labelled

    if metric == "outcome":
        if not len(outcome_values(captured["__label"].dropna())[0]):
            raise _BadInput(f"{path}: no outcome is a number (or true/false); --metric outcome needs them")
        return
    data = labelled(captured, task, positive=positive)
    if not len(data):
        raise _BadInput(f"{path}: no row has a label and a prediction usable for {task}; check --task")
    if metric in SCORED and data.score is None:
        raise _BadInput(
            f"{path}: --metric {metric} needs the positive class's score on every row: add a 'score' "
            "column, or predictions that are probabilities"
        )


def run_replay(args: argparse.Namespace) -> int:
    """Replay ``args.file`` and print the decision."""
    import json

    from modelmonitor.commands.files import InputError, read_table
    from modelmonitor.quality.experiment import ExperimentRun, task_for

    try:
        _arguments(args)
        try:
            task = task_for(args.metric, args.task)
        except ValueError as exc:
            raise _BadInput(f"--metric {args.metric}: {exc}") from exc
        captured = _captured(read_table(args.file), args.file, args.metric)
        settings: dict[str, Any] = {
            "task": task, "confidence": args.confidence, "min_rows": args.min_rows, "batch": args.batch,
            "mixing": args.mixing, "better": args.better, "positive": args.positive,
        }  # fmt: skip
        ExperimentRun(args.metric, **settings)  # refuses a bad combination before any work
        _can_give(captured, args.file, args.metric, task, args.positive)
        report = _replay(captured, args.metric, settings, args.every)
    except (_BadInput, InputError, ValueError) as exc:
        return _fail(str(exc))
    report["file_rows"] = len(captured)
    report["every"] = args.every
    text = json.dumps(report, indent=2, allow_nan=False) if args.format == "json" else render(report)
    sys.stdout.write(text + "\n")
    return EXIT_OK


def _replay(captured: pd.DataFrame, metric: str, settings: dict[str, Any], every: int) -> dict[str, Any]:
    import json

    from modelmonitor.quality.experiment import ExperimentRun

    variant = captured["variant"].to_numpy()
    state: dict[str, Any] | None = None
    decided_at = None
    for start in range(0, len(captured), every):
        run = ExperimentRun(metric, **settings, state=state)
        end = min(start + every, len(captured))
        for name in VARIANTS:
            rows = captured.iloc[start:end][variant[start:end] == name]
            if len(rows):
                run.add_frame(name, rows)
        result = run.look()
        state = json.loads(json.dumps(run.to_state(), allow_nan=False))  # what the operator keeps
        if result.decision != "continue":
            decided_at = end
            break
    out = result.to_dict()
    del out["at"]  # a replay has no clock
    starved = [v for v in VARIANTS if result.observations[v] < 2]
    if decided_at is None and starved:  # the file can never settle it: say so, not "continue"
        out["decision"] = "abort"
        out["reason"] = (
            f"the {starved[0]} gave {result.observations[starved[0]]} usable {metric} observations "
            f"in the whole file ({result.dropped['rows'][starved[0]]} rows and "
            f"{result.dropped['batches'][starved[0]]} batches without a value): nothing to compare"
        )
    keys = ("decision", "winner", "looks", "rows", "effect", "interval", "p_value")
    return {
        "decided_at_row": decided_at,
        **{k: out[k] for k in keys},
        **{k: v for k, v in out.items() if k not in keys},
    }


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(report: dict[str, Any]) -> str:
    """The replay as a few lines under 100 columns."""
    rows, values = report["rows"], report["values"]
    where = (
        f"at row {report['decided_at_row']:,} of {report['file_rows']:,}"
        if report["decided_at_row"] is not None
        else f"after all {report['file_rows']:,} rows"
    )
    verdict = {
        "promote": "promote (the challenger is better)",
        "keep": "keep (the champion is better)",
        "continue": "continue (no verdict yet)",
        "abort": "abort (nothing to compare)",
    }[report["decision"]]
    lines = [
        f"decision: {verdict} {where}, look {report['looks']} (one every {report['every']:,} rows)",
        f"{report['metric']}: champion {_num(values['champion'])} ({rows['champion']:,} rows), "
        f"challenger {_num(values['challenger'])} ({rows['challenger']:,} rows)",
        f"tested: the {report['statistic']}, challenger - champion, always valid at "
        f"{(1 - report['alpha']) * 100:g} % confidence",
    ]
    lines += textwrap.wrap(report["reason"], WIDTH, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)


__all__ = ["EXIT_INPUT", "EXIT_OK", "register", "render", "run_replay"]
