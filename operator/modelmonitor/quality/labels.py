"""From captured rows to arrays the metrics take: ground truth, predictions, scores, times.

The sidecar keeps labels and predictions as the JSON the model and the feedback sent (``1``,
``true``, ``"approved"``, ``0.83``, ``[0.2, 0.8]``), so they are coerced here, once, by task:

- binary: a value is positive when it equals the positive label (compared as text, so ``1``, ``"1"``
  and ``1.0`` agree; ``true``/``false`` as ``"true"``/``"false"``); without one, ``1`` and ``true``
  are positive. The score of the positive class is the second of two probabilities, the single one,
  or a prediction that is itself a probability (a number strictly between 0 and 1, thresholded at
  0.5 for the predicted class).
- multiclass: classes as text; probabilities only when every row has one per class seen.
- regression: numbers; rows whose label or prediction is not a number are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelmonitor.quality import BINARY, MULTICLASS, REGRESSION


@dataclass
class Labelled:
    """The labelled rows of a window, in prediction-time order."""

    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    score: NDArray[np.float64] | None  # binary: 1-D; multiclass: 2-D (sorted classes); None when absent
    ts: NDArray[np.float64]  # prediction times (unix s)
    label_ts: NDArray[np.float64]  # label arrival times (NaN when unknown)
    index: pd.Index  # the rows of the window they come from

    def __len__(self) -> int:
        return len(self.y_true)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower() if isinstance(value, str) else str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def positive_of(value: Any, positive: str | None) -> int:
    text = _text(value)
    return int(text == positive.strip().lower() if positive is not None else text in ("1", "true"))


def _binary_score(prediction: Any, probabilities: Any) -> float | None:
    if (
        isinstance(probabilities, list | tuple)
        and probabilities
        and all(isinstance(p, int | float) and not isinstance(p, bool) for p in probabilities)
    ):
        return float(probabilities[1] if len(probabilities) == 2 else probabilities[0])
    if isinstance(probabilities, int | float) and not isinstance(probabilities, bool):
        return float(probabilities)
    if isinstance(prediction, float) and 0.0 < prediction < 1.0:
        return prediction
    return None


def _positives(values: list[Any], positive: str | None) -> list[int]:
    """``positive_of`` of each value, computed once per distinct value (labels take few)."""
    try:
        table = {v: positive_of(v, positive) for v in set(values)}
    except TypeError:  # an unhashable value (a list): one by one
        return [positive_of(v, positive) for v in values]
    return [table[v] for v in values]


def _scores(predictions: list[Any], probabilities: list[Any]) -> list[float | None]:
    """``_binary_score`` of each row; all at once when every row has two probabilities."""
    try:
        block = np.array(probabilities, dtype=float)
    except (TypeError, ValueError):
        block = None
    if block is not None and block.ndim == 2 and block.shape[1] == 2 and len(block) == len(predictions):
        return block[:, 1].tolist()  # type: ignore[no-any-return]
    return [_binary_score(p, q) for p, q in zip(predictions, probabilities, strict=True)]


def labelled(frame: pd.DataFrame, task: str, *, positive: str | None = None) -> Labelled:
    """The rows of ``frame`` (a captured window: ``__label``, ``__prediction``, ``__probabilities``,
    ``__ts``, ``__label_ts``) that have a label, coerced for ``task``."""
    if "__label" not in frame.columns or "__prediction" not in frame.columns or not len(frame):
        empty = np.array([])
        return Labelled(empty, empty, None, empty, empty, pd.Index([]))
    needed = [
        c for c in ("__label", "__prediction", "__probabilities", "__ts", "__label_ts") if c in frame.columns
    ]
    rows = frame.loc[frame["__label"].notna().to_numpy(), needed]  # not the features: sorting copies
    if "__ts" in rows.columns:
        rows = rows.sort_values("__ts", kind="stable")
    # .tolist(), not list(): iterating a pandas (Arrow) column row by row is slow.
    labels, predictions = rows["__label"].tolist(), rows["__prediction"].tolist()
    probabilities = (
        rows["__probabilities"].tolist() if "__probabilities" in rows.columns else [None] * len(rows)
    )
    keep = rows["__prediction"].notna().tolist()
    score: NDArray[np.float64] | None = None
    if task == BINARY:
        scores = _scores(predictions, probabilities)
        y_true = np.array(_positives(labels, positive))
        y_pred = np.array(_predicted(predictions, scores, positive))
        if all(s is not None for s, k in zip(scores, keep, strict=True) if k):
            score = np.array([s for s, k in zip(scores, keep, strict=True) if k], dtype=float)
    elif task == MULTICLASS:
        y_true, y_pred = np.array([_text(v) for v in labels]), np.array([_text(p) for p in predictions])
        classes = sorted(set(y_true[keep]) | set(y_pred[keep])) if any(keep) else []
        if classes and all(isinstance(q, list) and len(q) == len(classes)
                           for q, k in zip(probabilities, keep, strict=True) if k):  # fmt: skip
            score = np.array([q for q, k in zip(probabilities, keep, strict=True) if k], dtype=float)
    elif task == REGRESSION:
        y_true, y_pred = np.array([_number(v) for v in labels]), np.array([_number(p) for p in predictions])
        keep = [
            k and not (math.isnan(t) or math.isnan(p)) for k, t, p in zip(keep, y_true, y_pred, strict=True)
        ]
    else:
        raise ValueError(f"unknown task {task!r}")
    mask = np.array(keep, dtype=bool)
    ts = _times(rows["__ts"]) if "__ts" in rows.columns else np.zeros(len(rows))
    label_ts = _times(rows["__label_ts"]) if "__label_ts" in rows.columns else np.full(len(rows), math.nan)
    return Labelled(y_true[mask], y_pred[mask], score, ts[mask], label_ts[mask], rows.index[mask])


def _times(column: pd.Series) -> NDArray[np.float64]:
    """Unix times as floats; NaN where there is none or it is not a number."""
    out: NDArray[np.float64] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=math.nan)
    return out


def predicted_positive(frame: pd.DataFrame, *, positive: str | None = None) -> tuple[NDArray[Any], pd.Index]:
    """Binary predictions (0/1) of every captured row that has one, labelled or not, and their rows."""
    if "__prediction" not in frame.columns or not len(frame):
        return np.array([], dtype=int), pd.Index([])
    rows = frame[frame["__prediction"].notna().to_numpy()]
    probabilities = (
        rows["__probabilities"].tolist() if "__probabilities" in rows.columns else [None] * len(rows)
    )
    predictions = rows["__prediction"].tolist()
    return np.array(
        _predicted(predictions, _scores(predictions, probabilities), positive), dtype=int
    ), rows.index


def unlabelled(
    frame: pd.DataFrame, *, positive: str | None = None
) -> tuple[NDArray[Any], NDArray[np.float64] | None]:
    """Binary predictions (0/1) and positive-class scores of the rows still without a label (None
    for the scores unless every such row has one): what a label-free estimate is made on."""
    if "__prediction" not in frame.columns or "__label" not in frame.columns or not len(frame):
        return np.array([], dtype=int), None
    rows = frame[(frame["__label"].isna() & frame["__prediction"].notna()).to_numpy()]
    probabilities = (
        rows["__probabilities"].tolist() if "__probabilities" in rows.columns else [None] * len(rows)
    )
    predictions = rows["__prediction"].tolist()
    scores = _scores(predictions, probabilities)
    y_pred = np.array(_predicted(predictions, scores, positive), dtype=int)
    if not scores or any(s is None for s in scores):
        return y_pred, None
    return y_pred, np.array(scores, dtype=float)


def _predicted(predictions: list[Any], scores: list[float | None], positive: str | None) -> list[int]:
    """The predicted class (0/1): a prediction that is a probability is thresholded at 0.5."""
    named = _positives(predictions, positive)
    if not any(type(p) is float for p in predictions):  # the common case: classes, not probabilities
        return named
    return [
        int(s >= 0.5) if isinstance(p, float) and s is not None and 0.0 < p < 1.0 else n
        for p, s, n in zip(predictions, scores, named, strict=True)
    ]


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
