"""The ``quality`` command's report: a reference and a current table, chunked, measured and judged.

The reference's chunks give each metric's alert band (``quality.chunks.band``); CBPE (classification
with scores) or DLE (regression) is fitted on the whole reference. The current table is chunked the
same way: per chunk the realized metrics where labels exist, the estimates always, and the metrics
outside their band. Then calibration, fairness by segment and concept drift on the error stream.
Rows come in prediction-time order; columns have been checked by the command (``quality.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelmonitor.quality import BINARY, REGRESSION, calibration, fairness
from modelmonitor.quality.chunks import Band, band, chunk_bounds, outside
from modelmonitor.quality.concept import Change, ConceptDetector
from modelmonitor.quality.estimate import CBPE, DLE, MIN_ROWS
from modelmonitor.quality.metrics import realized

MIN_BAND_CHUNKS = 20  # reference chunks below which the bands are noted as unreliable


@dataclass(frozen=True)
class Columns:
    """Which columns hold what; ``scores`` is empty when the model's scores are not used."""

    target: str
    prediction: str
    scores: tuple[str, ...] = ()
    timestamp: str | None = None
    segments: tuple[str, ...] = ()

    def model_columns(self) -> set[str]:
        """The columns that are not model inputs (DLE learns from every other column)."""
        return {self.target, self.prediction, *self.scores, *([self.timestamp] if self.timestamp else [])}


@dataclass(frozen=True)
class Settings:
    task: str
    metrics: tuple[str, ...]
    chunk_size: int = 5000
    detector: str = "adwin"
    positive: Any = 1
    min_ratio: float = 0.8
    min_rows: int = 100


@dataclass
class Table:
    """One file's rows as arrays, in prediction-time order; ``labelled`` marks rows with a target."""

    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    score: NDArray[np.float64] | None
    labelled: NDArray[np.bool_]
    times: list[Any] | None
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y_pred)


@dataclass
class Report:
    """The figures of one run; ``to_dict()`` is the JSON output, the rest serves the table."""

    reference_realized: dict[str, float | None]
    bands: dict[str, Band | None]
    chunks: list[dict[str, Any]]
    calibration: dict[str, Any] | None
    segments: list[dict[str, Any]]
    detector: str
    changes: list[Change]
    reference_rows: int = 0
    reference_chunks: int = 0
    estimator: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        bands = {m: None if b is None else list(b.to_dict().values()) for m, b in self.bands.items()}
        out: dict[str, Any] = clean(
            {
                "reference": {"realized": self.reference_realized, "bands": bands},
                "chunks": self.chunks,
                "calibration": self.calibration,
                "segments": self.segments,
                "concept_drift": {"detector": self.detector, "changes": [c.row for c in self.changes]},
            }
        )
        return out

    @property
    def alerting(self) -> bool:
        """Any chunk alert (realized or estimated), violated segment or concept-drift change."""
        return (
            any(c["alerts"] or c["estimated_alerts"] for c in self.chunks)
            or any(s.get("violated") is True for s in self.segments)
            or bool(self.changes)
        )


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python values, floats rounded to 6 decimals, NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def table(frame: pd.DataFrame, columns: Columns, task: str, *, scored: bool) -> Table:
    """Sort ``frame`` by the timestamp (stable: ties keep file order) and take its columns apart."""
    times: list[Any] | None = None
    if columns.timestamp is not None and columns.timestamp in frame.columns:
        stamps = _timestamps(frame[columns.timestamp], columns.timestamp)
        order = np.argsort(stamps.to_numpy(), kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        times = [_time(t) for t in stamps.iloc[order]]
    pred = frame[columns.prediction].to_numpy()
    if columns.target in frame.columns:
        truth = frame[columns.target]
        labelled = (truth.notna() & frame[columns.prediction].notna()).to_numpy()
        y_true = _like(truth.to_numpy(), pred, labelled) if task != REGRESSION else truth.to_numpy(float)
    else:
        labelled, y_true = np.zeros(len(frame), dtype=bool), np.full(len(frame), np.nan, dtype=object)
    score = None
    if scored:
        values = frame[list(columns.scores)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        score = values[:, 0] if task == BINARY else values
    return Table(y_true, pred, score, labelled, times, frame)


def _timestamps(column: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column
    try:
        return pd.to_datetime(column)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--timestamp {name!r}: cannot read its values as times ({exc})") from exc


def _time(value: Any) -> Any:
    return value.isoformat() if isinstance(value, pd.Timestamp) else value


def _like(truth: NDArray[Any], pred: NDArray[Any], labelled: NDArray[np.bool_]) -> NDArray[Any]:
    """Labels read as floats (a CSV column with gaps) back as the predictions' integers: 1.0 is 1."""
    if pred.dtype.kind in "iu" and truth.dtype.kind == "f":
        known = truth[labelled]
        if np.all(np.mod(known, 1) == 0):
            out = np.zeros(len(truth), dtype=pred.dtype)
            out[labelled] = known.astype(pred.dtype)
            return out
    return truth


def _realized(data: Table, rows: slice, settings: Settings) -> dict[str, float | None] | None:
    mask = np.zeros(len(data), dtype=bool)
    mask[rows] = data.labelled[rows]
    if not mask.any():
        return None
    return realized(
        settings.task,
        data.y_true[mask],
        data.y_pred[mask],
        score=None if data.score is None else data.score[mask],
        metrics=settings.metrics,
        positive=settings.positive,
    )


class _Estimator:
    """CBPE or DLE fitted on the reference, applied to a slice of a table."""

    def __init__(self, reference: Table, columns: Columns, settings: Settings, source: str) -> None:
        self.kind: str | None = None
        self.features: list[str] = []
        labelled = int(reference.labelled.sum())
        if settings.task == REGRESSION:
            self.kind = "DLE"
            self.features = [c for c in reference.frame.columns if c not in columns.model_columns()]
        elif reference.score is not None:
            self.kind = "CBPE"
        if self.kind is None:
            return
        if labelled < MIN_ROWS:
            raise ValueError(
                f"{source}: {labelled} labelled rows; {self.kind} needs at least {MIN_ROWS} to fit on"
            )
        keep = reference.labelled
        if self.kind == "DLE":
            self.dle = DLE().fit(
                reference.frame[self.features], reference.y_pred.astype(float), reference.y_true
            )
        else:
            assert reference.score is not None
            self.cbpe = CBPE().fit(
                reference.y_true[keep],
                reference.score[keep],
                y_pred=reference.y_pred[keep],
                positive=settings.positive,
            )

    def estimate(self, data: Table, rows: slice) -> dict[str, float | None]:
        if self.kind == "DLE":
            return self.dle.estimate(data.frame[self.features].iloc[rows], data.y_pred[rows].astype(float))
        if self.kind == "CBPE":
            assert data.score is not None
            return self.cbpe.estimate(data.score[rows], y_pred=data.y_pred[rows])
        return {}


def build(reference: Table, current: Table, columns: Columns, settings: Settings, source: str) -> Report:
    """Measure and judge ``current`` against ``reference`` (``source`` names the reference in errors)."""
    if not reference.labelled.any():
        raise ValueError(f"{source}: no row has a target ({columns.target!r}); the reference needs labels")
    names = settings.metrics
    ref_bounds = chunk_bounds(len(reference), settings.chunk_size)
    ref_values = [_realized(reference, slice(a, b), settings) or {} for a, b in ref_bounds]
    bands = {m: band([v.get(m) for v in ref_values], m) for m in names}
    estimator = _Estimator(reference, columns, settings, source)
    chunks = []
    for index, (start, stop) in enumerate(chunk_bounds(len(current), settings.chunk_size)):
        rows = slice(start, stop)
        real = _realized(current, rows, settings)
        estimate = estimator.estimate(current, rows)
        estimated = {m: estimate[m] for m in names if m in estimate}
        chunk: dict[str, Any] = {"index": index, "start": start, "end": stop - 1}
        if current.times is not None:
            chunk |= {"start_time": current.times[start], "end_time": current.times[stop - 1]}
        chunk |= {
            "rows": stop - start,
            "labelled": int(current.labelled[rows].sum()),
            "realized": real,
            "estimated": estimated,
            "alerts": [m for m in names if real is not None and outside(real.get(m), bands[m])],
            "estimated_alerts": [m for m in names if outside(estimated.get(m), bands[m])],
        }
        chunks.append(chunk)
    notes = []
    if len(ref_bounds) < 2:
        notes.append(
            f"the reference makes {len(ref_bounds)} chunk(s) of {settings.chunk_size} rows; bands need 2 "
            "or more, so nothing alerts (lower --chunk-size)"
        )
    elif len(ref_bounds) < MIN_BAND_CHUNKS:
        notes.append(
            f"the reference makes {len(ref_bounds)} chunks of {settings.chunk_size} rows: a standard deviation "
            f"over fewer than {MIN_BAND_CHUNKS} chunks is often too small, and the bands raise false alarms "
            "(lower --chunk-size)"
        )
    detector = ConceptDetector(settings.detector)
    return Report(
        reference_realized=_realized(reference, slice(None), settings) or {},
        bands=bands,
        chunks=chunks,
        calibration=_calibration(reference, current, settings),
        segments=[_segment(current, c, columns, settings) for c in columns.segments],
        detector=settings.detector,
        changes=_concept(current, settings.task, detector),
        reference_rows=len(reference),
        reference_chunks=len(ref_bounds),
        estimator=estimator.kind,
        notes=notes,
    )


def _calibration(reference: Table, current: Table, settings: Settings) -> dict[str, Any] | None:
    """Calibration of the binary score on CURRENT's labels when it has enough, else on the reference's."""
    if settings.task != BINARY:
        return None
    for source, data in (("current", current), ("reference", reference)):
        if data.score is None:
            return None
        keep = data.labelled & np.isfinite(data.score)
        positives = data.y_true[keep] == settings.positive
        if keep.sum() < MIN_ROWS or positives.sum() < 2 or (~positives).sum() < 2:
            continue
        return {"source": source, **calibration.assess(positives, data.score[keep])}
    return None


def _segment(current: Table, feature: str, columns: Columns, settings: Settings) -> dict[str, Any]:
    # Labels only when every row has one: rates over a labelled subset would not be the model's rates.
    truth = current.y_true if current.labelled.all() and len(current) else None
    report = fairness.segment(
        current.frame[feature],
        y_pred=current.y_pred,
        y_true=truth,
        positive=settings.positive,
        metric="approval_rate",
        min_rows=settings.min_rows,
        min_ratio=settings.min_ratio,
        feature=feature,
    )
    return report.to_dict()


def _concept(current: Table, task: str, detector: ConceptDetector) -> list[Change]:
    """Rises of the per-row error over the labelled rows of CURRENT, at their row positions."""
    rows = np.flatnonzero(current.labelled)
    if not len(rows):
        return []
    truth, pred = current.y_true[rows], current.y_pred[rows]
    if task == REGRESSION:
        errors = np.abs(truth.astype(float) - pred.astype(float))
    else:
        errors = (truth != pred).astype(float)
    try:
        changes = detector.update(errors.tolist())
    except ValueError as exc:
        raise ValueError(f"--detector {detector.kind}: {exc}") from exc
    return [
        Change(int(rows[c.row]), int(rows[c.change_point]), c.error_before, c.error_after) for c in changes
    ]
