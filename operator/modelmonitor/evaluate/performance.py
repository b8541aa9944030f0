"""PerformanceDegraded and LabelsStale: realized quality from ground truth joined to predictions.

Pure. Takes the captured rows (labels joined across pods by the sidecar gatherer), keeps the
labelled ones, computes ``spec.performance.metrics`` (or the task's defaults) with scikit-learn
(quality/metrics.py) and judges them against their bounds — or, without bounds, the newest chunk of
labelled rows against a band drawn from the first chunks the monitor saw (``judge_baseline``);
below ``minLabels`` labelled rows the verdict is InsufficientData, never a breach. For the predictions still without a label, a
label-free estimate fitted on the labelled rows — CBPE for a binary classifier with scores, DLE for
a regressor — is shown apart and never judged. With ``labelDelay``, label coverage is measured on rows
older than the delay, and LabelsStale says when labels stopped arriving. Owns ``status.performance``
but its ``segments`` (the fairness evaluator's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec, Task
from modelmonitor.api.spec.performance import Performance
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict, fmt
from modelmonitor.evaluate.observations import Observations
from modelmonitor.quality import calibration
from modelmonitor.quality.chunks import band
from modelmonitor.quality.estimate import CBPE, DLE, MIN_ROWS
from modelmonitor.quality.labels import Labelled, unlabelled
from modelmonitor.quality.metrics import DEFAULT_METRICS, realized

KIND = ConditionType.PERFORMANCE_DEGRADED
MIN_ESTIMATED = 30  # unlabelled predictions below which no estimate is shown
DLE_MAX_ROWS = 5000  # labelled rows DLE's error models are fitted on (the newest)
BASELINE_CHUNKS = 10  # chunks of labelled rows a band is drawn from when no bounds are set


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    perf = spec.performance
    if perf is None:
        return Finding()
    if obs.captured is None:
        reason = obs.capture_reason or ("AwaitingTraffic", "no captured rows yet")
        verdicts = [Verdict(KIND, "Unknown", *reason)]
        if perf.labelDelay:
            verdicts.append(Verdict(ConditionType.LABELS_STALE, "Unknown", *reason))
        return Finding(verdicts, {"performance": {"task": str(perf.task), "rows": 0}})
    frame = obs.captured
    data = obs.labels(str(perf.task), perf.positiveLabel)
    figures = _figures(perf, data) if len(data) >= perf.minLabels else {}
    out: dict[str, Any] = {
        "task": str(perf.task),
        "rows": len(frame),
        "labelledRows": len(data),
        "labelsWaiting": obs.labels_waiting,
        "labelCoverage": _coverage(frame, obs.now, perf),
        "labelDelaySeconds": _delay(data),
        "metrics": {k: round(v, 6) for k, v in figures.items() if v is not None},
        **_estimated(perf, obs, data),
        "summary": _summary(perf, figures, len(data)),
    }
    state: dict[str, Any] = {}
    if perf.metrics or len(data) < perf.minLabels:
        verdicts = [judge_performance(perf, figures, labelled_rows=len(data))]
        kept = obs.state.get("qualityBaseline")
        state = {"qualityBaseline": kept} if isinstance(kept, dict) else {}
    else:
        verdict, baseline = judge_baseline(perf, data, obs.state.get("qualityBaseline"))
        verdicts, state = [verdict], ({"qualityBaseline": baseline} if baseline else {})
        if baseline:
            out["bands"] = baseline["bands"]
    if perf.labelDelay:
        verdicts.append(judge_labels(perf, frame, data, now=obs.now))
    return Finding(verdicts, {"performance": out}, state)


def judge_baseline(perf: Performance, data: Labelled, kept: Any) -> tuple[Verdict, dict[str, Any] | None]:
    """Without bounds: the newest chunk of labelled rows against a band of mean ± 3 standard
    deviations over the baseline's chunks — the first BASELINE_CHUNKS chunks of labelled rows the
    monitor saw, kept in its state across revisions (a worse model version is judged against the
    model as it was), rebuilt when the task or the chunk size changes."""
    chunk = max(perf.minLabels, MIN_ROWS)
    names = [str(n) for n in DEFAULT_METRICS[str(perf.task)]]
    baseline = (
        kept
        if isinstance(kept, dict) and kept.get("task") == str(perf.task) and kept.get("chunk") == chunk
        else None
    )
    if baseline is None:
        if len(data) < BASELINE_CHUNKS * chunk:
            return Verdict(KIND, "Unknown", "CapturingReference", f"{len(data)}/{BASELINE_CHUNKS * chunk} "
                           f"labelled rows for the quality baseline ({BASELINE_CHUNKS} chunks of {chunk}); no "
                           "bounds in spec.performance.metrics"), None  # fmt: skip
        values: dict[str, list[float | None]] = {n: [] for n in names}
        for i in range(BASELINE_CHUNKS):
            part = _figures(perf, _slice(data, i * chunk, (i + 1) * chunk), names)
            for n in names:
                values[n].append(part.get(n))
        bands = {n: b.to_dict() for n in names if (b := band(values[n], n)) is not None}
        baseline = {"task": str(perf.task), "chunk": chunk, "chunks": BASELINE_CHUNKS,
                    "bands": {n: [d["low"], d["high"]] for n, d in bands.items()}}  # fmt: skip
    latest = _figures(perf, _slice(data, len(data) - chunk, len(data)), names)
    outside = []
    for name, (low, high) in baseline["bands"].items():
        value = latest.get(name)
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            outside.append(f"{name} {value:.4g} outside [{fmt(low)}, {fmt(high)}]")
    on = f" (the newest {chunk} labelled rows, against {BASELINE_CHUNKS} baseline chunks; no bounds set)"
    if outside:
        return Verdict(KIND, "True", "OutsideBand", "; ".join(outside) + on), baseline
    shown = ", ".join(f"{n} {fmt(latest.get(n))}" for n in baseline["bands"])
    return Verdict(KIND, "False", "WithinBand", shown + on), baseline


def _slice(data: Labelled, start: int, end: int) -> Labelled:
    score = None if data.score is None else data.score[start:end]
    return Labelled(data.y_true[start:end], data.y_pred[start:end], score, data.ts[start:end],
                    data.label_ts[start:end], data.index[start:end])  # fmt: skip


def _figures(perf: Performance, data: Labelled, names: list[str] | None = None) -> dict[str, float | None]:
    names = names or [str(m.name) for m in perf.metrics] or list(DEFAULT_METRICS[str(perf.task)])
    wanted = [n for n in names if n != "ece"]
    figures = dict(realized(str(perf.task), data.y_true, data.y_pred, score=data.score, metrics=wanted))
    if "ece" in names:
        binary_score = (
            data.score is not None
            and data.score.ndim == 1
            and bool(np.all((data.score >= 0) & (data.score <= 1)))
        )
        figures["ece"] = (
            calibration.ece(data.y_true, data.score) if binary_score and data.score is not None else None
        )
    return {n: figures.get(n) for n in names}


def _estimated(perf: Performance, obs: Observations, data: Labelled) -> dict[str, Any]:
    """The label-free estimate for the predictions still without a label, fitted on the labelled
    rows of the window: CBPE (binary, with probability scores) or DLE (regression); never judged,
    kept apart from the realized figures."""
    if perf.task == Task.REGRESSION:
        return _estimated_regression(perf, obs, data)
    if perf.task != Task.BINARY or data.score is None or len(data) < max(perf.minLabels, MIN_ROWS):
        return {}
    y_pred, score = unlabelled(obs.captured, positive=perf.positiveLabel)
    if score is None or len(score) < MIN_ESTIMATED:
        return {}
    try:
        estimate = CBPE().fit(data.y_true, data.score, y_pred=data.y_pred).estimate(score, y_pred=y_pred)
    except ValueError:  # one class only among the labels: nothing to calibrate on
        return {}
    return {
        "estimated": {k: round(v, 6) for k, v in estimate.items() if v is not None},
        "estimatedRows": len(score),
    }


def _estimated_regression(perf: Performance, obs: Observations, data: Labelled) -> dict[str, Any]:
    """DLE's MAE and RMSE for the unlabelled predictions: error models fitted on at most
    DLE_MAX_ROWS of the newest labelled rows (features and prediction), so one evaluation stays
    within a fraction of a second of CPU."""
    frame = obs.captured
    if len(data) < max(perf.minLabels, MIN_ROWS) or "__label" not in frame.columns:
        return {}
    features = [c for c in frame.columns if not str(c).startswith("__")]
    unlabelled_rows = frame[frame["__label"].isna().to_numpy() & frame["__prediction"].notna().to_numpy()]
    predictions = pd.to_numeric(unlabelled_rows["__prediction"], errors="coerce")
    unlabelled_rows, predictions = unlabelled_rows[predictions.notna().to_numpy()], predictions.dropna()
    if not features or len(unlabelled_rows) < MIN_ESTIMATED:
        return {}
    newest = data.index[-DLE_MAX_ROWS:]
    start = len(data) - len(newest)
    try:
        model = DLE().fit(
            frame.loc[newest, features], data.y_pred[start:].astype(float), data.y_true[start:], seed=0
        )
        estimate = model.estimate(unlabelled_rows[features], predictions.to_numpy(dtype=float))
    except ValueError:  # a feature neither numeric nor categorical, or too few usable rows
        return {}
    return {
        "estimated": {k: round(v, 6) for k, v in estimate.items() if v is not None},
        "estimatedRows": len(unlabelled_rows),
    }


def judge_performance(perf: Performance, figures: dict[str, float | None], *, labelled_rows: int) -> Verdict:
    if labelled_rows < perf.minLabels:
        return Verdict(KIND, "Unknown", "InsufficientData",
                       f"{labelled_rows} labelled rows, fewer than spec.performance.minLabels={perf.minLabels}")  # fmt: skip
    breaches, missing, fine = [], [], []
    for metric in perf.metrics:
        value = figures.get(str(metric.name))
        if value is None:
            missing.append(str(metric.name))
        elif (metric.min is not None and value < metric.min) or (
            metric.max is not None and value > metric.max
        ):
            bound = (
                f"< {metric.min:g}" if metric.min is not None and value < metric.min else f"> {metric.max:g}"
            )
            breaches.append(f"{metric.name} {value:.4g} {bound}")
        else:
            fine.append(f"{metric.name} {value:.4g}")
    on = f" on {labelled_rows} labelled rows"
    if breaches:
        return Verdict(KIND, "True", "MetricOutOfBounds", "; ".join(breaches) + on)
    if missing:
        return Verdict(KIND, "Unknown", "NoData", f"undefined on these labels: {', '.join(missing)} "
                       "(one class only, or no scores captured)" + on)  # fmt: skip
    return Verdict(KIND, "False", "WithinBounds", "; ".join(fine) + on)


def judge_labels(perf: Performance, frame: Any, data: Labelled, *, now: float) -> Verdict:
    """LabelsStale: True when predictions older than labelDelay exist but no label arrived for
    twice labelDelay; Unknown while no prediction is old enough to be labelled yet."""
    kind = ConditionType.LABELS_STALE
    delay = parse_duration(str(perf.labelDelay))
    ts = np.array([float(t) for t in frame["__ts"]]) if "__ts" in frame.columns else np.array([])
    eligible = int(np.sum(ts < now - delay))
    if eligible == 0:
        return Verdict(kind, "Unknown", "InsufficientData",
                       f"no prediction older than spec.performance.labelDelay={perf.labelDelay} yet")  # fmt: skip
    arrived = data.label_ts[~np.isnan(data.label_ts)] if len(data) else np.array([])
    newest = float(arrived.max()) if len(arrived) else None
    coverage = _coverage(frame, now, perf)
    said = f"{fmt(coverage)} of the {eligible} predictions older than {perf.labelDelay} are labelled"
    if newest is None or now - newest > 2 * delay:
        since = (
            "no label has arrived" if newest is None else f"the last label arrived {now - newest:.0f}s ago"
        )
        return Verdict(kind, "True", "LabelsStopped", f"{since} (labelDelay {perf.labelDelay}); {said}")
    return Verdict(kind, "False", "LabelsArriving", f"the last label arrived {now - newest:.0f}s ago; {said}")


def _coverage(frame: Any, now: float, perf: Performance) -> float | None:
    if "__label" not in frame.columns or not len(frame):
        return None
    rows = frame
    if perf.labelDelay and "__ts" in frame.columns:
        rows = frame[frame["__ts"].astype(float) < now - parse_duration(str(perf.labelDelay))]
    if not len(rows):
        return None
    return round(float(rows["__label"].notna().mean()), 6)


def _delay(data: Labelled) -> float | None:
    if not len(data):
        return None
    delays = data.label_ts - data.ts
    delays = delays[~np.isnan(delays)]
    return round(float(np.median(delays)), 3) if len(delays) else None


def _summary(perf: Performance, figures: dict[str, float | None], rows: int) -> str:
    if rows < perf.minLabels:
        return f"{rows}/{perf.minLabels} labels"
    name = str(perf.metrics[0].name) if perf.metrics else next(iter(figures), "")
    return f"{name} {fmt(figures.get(name))}"
