"""The performance and segments sections' figures, per time chunk of the window.

Realized metrics per chunk come from its labelled rows (``quality.metrics.realized``, the labels
coerced by ``quality.labels`` as the operator coerces them). The label-free estimate is the
operator's: CBPE for a binary classifier with scores, DLE for a regressor, fitted on the window's
labelled rows (DLE on the newest ``DLE_MAX_ROWS``), then applied to every prediction of each chunk
— so a chunk without labels yet still gets a figure. Segments: each group's rows and rate with its
Wilson interval (``quality.fairness.segment``), as the fairness evaluator computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.spec import ModelMonitorSpec, Task
from modelmonitor.evaluate.performance import DLE_MAX_ROWS, MIN_ESTIMATED
from modelmonitor.quality import BINARY, REGRESSION, calibration
from modelmonitor.quality.estimate import CBPE, DLE
from modelmonitor.quality.fairness import segment
from modelmonitor.quality.labels import Labelled, labelled, predicted_positive, unlabelled
from modelmonitor.quality.metrics import DEFAULT_METRICS, SUPPORTED, realized
from modelmonitor.report.drift_figures import chunk_label, time_chunks

MIN_CALIBRATION_ROWS = 50  # labelled rows with scores below which no reliability diagram is drawn


@dataclass
class Chunk:
    label: str
    rows: int
    labelled: int
    realized: dict[str, float | None] = field(default_factory=dict)
    estimated: dict[str, float | None] = field(default_factory=dict)


@dataclass
class QualityFigures:
    task: str
    metrics: list[str]
    chunks: list[Chunk]
    estimator: str | None = None
    notes: list[str] = field(default_factory=list)
    calibration: list[tuple[float, float, int]] = field(default_factory=list)
    ece: float | None = None


def metric_names(spec: ModelMonitorSpec) -> list[str]:
    """``spec.performance.metrics``' names the task supports, else the task's defaults."""
    assert spec.performance is not None
    task = str(spec.performance.task)
    asked = [str(m.name) for m in spec.performance.metrics if str(m.name) in SUPPORTED[task]]
    return asked or list(DEFAULT_METRICS[task])


def figures(frame: pd.DataFrame, spec: ModelMonitorSpec) -> QualityFigures:
    """Per-chunk realized and estimated metrics of the window (sorted by time, indexed 0..n-1)."""
    assert spec.performance is not None
    perf = spec.performance
    task, names = str(perf.task), metric_names(spec)
    data = labelled(frame, task, positive=perf.positiveLabel)
    out = QualityFigures(task, names, [])
    position = np.asarray(data.index, dtype=np.int64)
    with np.errstate(all="ignore"):
        estimate = _estimator(frame, data, spec, out)
        for start, stop in time_chunks(len(frame)):
            mask = (position >= start) & (position < stop)
            chunk = Chunk(chunk_label(frame, stop), stop - start, int(mask.sum()))
            if mask.any():
                score = None if data.score is None else data.score[mask]
                chunk.realized = realized(
                    task, data.y_true[mask], data.y_pred[mask], score=score, metrics=names
                )
            if estimate is not None:
                chunk.estimated = estimate(frame.iloc[start:stop])
            out.chunks.append(chunk)
        if task == BINARY and data.score is not None:
            _calibration(data, out)
    if not len(data):
        out.notes.append("no captured row has a label yet: no realized metric")
    return out


def _estimator(frame: pd.DataFrame, data: Labelled, spec: ModelMonitorSpec, out: QualityFigures) -> Any:
    """A function from a chunk of rows to its estimate, or None (with a note saying why)."""
    assert spec.performance is not None
    perf = spec.performance
    if perf.task == Task.BINARY:
        if data.score is None:
            out.notes.append("no estimate: the captured predictions carry no scores (CBPE needs them)")
            return None
        try:
            cbpe = CBPE().fit(data.y_true, data.score, y_pred=data.y_pred)
        except ValueError as exc:
            out.notes.append(f"no estimate: {exc}")
            return None
        out.estimator = "CBPE"

        def binary(rows: pd.DataFrame) -> dict[str, float | None]:
            y_pred, score = unlabelled(rows.assign(__label=None), positive=perf.positiveLabel)
            if score is None or len(score) < MIN_ESTIMATED:
                return {}
            return {k: v for k, v in cbpe.estimate(score, y_pred=y_pred).items() if k in out.metrics}

        return binary
    if perf.task == Task.REGRESSION:
        names = [c for c in frame.columns if not str(c).startswith("__")]
        newest = data.index[-DLE_MAX_ROWS:]
        start = len(data) - len(newest)
        try:
            dle = DLE().fit(frame.loc[newest, names], data.y_pred[start:].astype(float), data.y_true[start:])
        except ValueError as exc:
            out.notes.append(f"no estimate: {exc}")
            return None
        out.estimator = "DLE"

        def regression(rows: pd.DataFrame) -> dict[str, float | None]:
            predictions = pd.to_numeric(rows["__prediction"], errors="coerce")
            keep = predictions.notna().to_numpy()
            if int(keep.sum()) < MIN_ESTIMATED:
                return {}
            return dle.estimate(rows.loc[keep, names], predictions[keep].to_numpy(dtype=float))

        return regression
    out.notes.append(f"no label-free estimate for {perf.task} (the operator estimates binary and regression)")
    return None


def _calibration(data: Labelled, out: QualityFigures) -> None:
    assert data.score is not None
    score = data.score
    if len(score) < MIN_CALIBRATION_ROWS or not bool(np.all((score >= 0) & (score <= 1))):
        out.notes.append(
            f"no reliability diagram: it needs {MIN_CALIBRATION_ROWS} labelled rows with probability scores"
        )
        return
    points = calibration.reliability_curve(data.y_true, score)
    out.calibration = [(p["mean_predicted"], p["fraction_positive"], p["rows"]) for p in points]
    out.ece = calibration.ece(data.y_true, score)


def segments(frame: pd.DataFrame, spec: ModelMonitorSpec) -> dict[str, dict[str, Any]]:
    """``{feature: SegmentReport.to_dict()}`` for each ``spec.performance.segments`` the window holds."""
    perf = spec.performance
    if perf is None or perf.task == REGRESSION or not perf.segments:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for seg in perf.segments:
        if seg.feature not in frame.columns:
            continue
        if seg.metric == "approval_rate":
            y_pred, rows = predicted_positive(frame, positive=perf.positiveLabel)
            report = segment(frame.loc[rows, seg.feature].tolist(), y_pred=y_pred, positive=1,
                             metric=str(seg.metric), min_rows=seg.minRows, min_ratio=seg.minRatio,
                             feature=seg.feature)  # fmt: skip
        else:
            data = labelled(frame, str(perf.task), positive=perf.positiveLabel)
            positive = 1 if perf.task == Task.BINARY else (perf.positiveLabel or "").strip().lower()
            report = segment(frame.loc[data.index, seg.feature].tolist(), y_pred=data.y_pred,
                             y_true=data.y_true, positive=positive, metric=str(seg.metric),
                             min_rows=seg.minRows, min_ratio=seg.minRatio, feature=seg.feature)  # fmt: skip
        out[seg.feature] = report.to_dict()
    return out
