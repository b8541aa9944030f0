"""Realized performance from ground truth, computed with scikit-learn's metrics.

A metric undefined on the data is None (never NaN, never an exception): AUC with one class present,
precision with nothing predicted positive, r2 on fewer than 2 rows or a constant truth, MAPE with a
zero truth, and every score-based metric without ``score``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from modelmonitor.quality import BINARY, MULTICLASS, REGRESSION, TASKS, calibration

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy", "precision", "recall", "f1", "auc", "logloss", "brier", "positive_rate"),
    MULTICLASS: ("accuracy", "precision", "recall", "f1"),
    REGRESSION: ("mae", "rmse", "mape", "r2"),
}
# Everything a task can compute when asked (``metrics=``), beyond its defaults.
SUPPORTED: dict[str, tuple[str, ...]] = {
    BINARY: (*DEFAULT_METRICS[BINARY], "ece"),
    MULTICLASS: (*DEFAULT_METRICS[MULTICLASS], "auc", "logloss", "brier", "ece"),
    REGRESSION: DEFAULT_METRICS[REGRESSION],
}
# Multiclass precision/recall/f1 are macro averages; each also reports its class-weighted average.
WEIGHTED = {"precision": "precision_weighted", "recall": "recall_weighted", "f1": "f1_weighted"}

_INF = math.inf
_SHARE = (0.0, 1.0)
METRIC_RANGE: dict[str, tuple[float, float]] = {
    "accuracy": _SHARE,
    "precision": _SHARE,
    "recall": _SHARE,
    "f1": _SHARE,
    "precision_weighted": _SHARE,
    "recall_weighted": _SHARE,
    "f1_weighted": _SHARE,
    "auc": _SHARE,
    "logloss": (0.0, _INF),
    "brier": _SHARE,
    "ece": _SHARE,
    "positive_rate": _SHARE,
    "mae": (0.0, _INF),
    "rmse": (0.0, _INF),
    "mape": (0.0, _INF),  # a share: 0.1 is 10 %
    "r2": (-_INF, 1.0),
    # segment metrics (quality.fairness), so their chunks get bands too
    "approval_rate": _SHARE,
    "error_rate": _SHARE,
    "true_positive_rate": _SHARE,
    "false_positive_rate": _SHARE,
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "precision_weighted": True,
    "recall_weighted": True,
    "f1_weighted": True,
    "auc": True,
    "logloss": False,
    "brier": False,
    "ece": False,
    "mae": False,
    "rmse": False,
    "mape": False,
    "r2": True,
    "error_rate": False,
    "true_positive_rate": True,
    "false_positive_rate": False,
}  # positive_rate and approval_rate have no better direction


def _defined(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _quiet(fn: Callable[[], Any]) -> float | None:
    """``fn()`` as a finite float, or None where the metric is undefined on the data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return _defined(fn())
        except ValueError:  # sklearn's "only one class present" and the like
            return None


def _names(task: str, metrics: Sequence[str] | None) -> tuple[str, ...]:
    if task not in TASKS:
        raise ValueError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")
    names = DEFAULT_METRICS[task] if metrics is None else tuple(metrics)
    unknown = [m for m in names if m not in SUPPORTED[task]]
    if unknown:
        raise ValueError(
            f"metrics {', '.join(unknown)} are not available for {task}; use {', '.join(SUPPORTED[task])}"
        )
    return names


def _is_probability(s: NDArray[np.float64]) -> bool:
    return bool(np.isfinite(s).all()) and float(s.min()) >= 0.0 and float(s.max()) <= 1.0


def _prf(t: NDArray[Any], p: NDArray[Any]) -> tuple[float | None, float | None, float | None]:
    """Binary precision, recall and F1 (booleans in) from one ``precision_recall_fscore_support``:
    the three separate functions would each count the confusion matrix again. None where undefined."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            prf = skm.precision_recall_fscore_support(
                t, p, pos_label=True, average="binary", zero_division=np.nan
            )
    except ValueError:
        return None, None, None
    return _defined(prf[0]), _defined(prf[1]), _defined(prf[2])


def _binary(
    name: str,
    y_true: NDArray[Any],
    y_pred: NDArray[Any],
    score: NDArray[np.float64] | None,
    positive: Any,
    prf: tuple[float | None, float | None, float | None] | None = None,
) -> float | None:
    t, p = y_true == positive, y_pred == positive
    if name == "accuracy":
        return _quiet(lambda: skm.accuracy_score(y_true, y_pred))
    if name == "positive_rate":
        return float(np.mean(p))
    if name in ("precision", "recall", "f1"):
        return (prf or _prf(t, p))[("precision", "recall", "f1").index(name)]
    if score is None:
        return None
    if name == "auc":  # on the raw score: AUC ranks, and a calibration map only adds ties
        return _quiet(lambda: skm.roc_auc_score(t, score)) if t.any() and not t.all() else None
    if not _is_probability(score):  # a margin or logit: no probability to judge
        return None
    if name == "logloss":
        return _quiet(lambda: skm.log_loss(t, score, labels=[False, True]))
    if name == "brier":
        return _quiet(lambda: calibration.brier(t, score))
    return _quiet(lambda: calibration.ece(t, score))


def _multiclass(
    name: str, y_true: NDArray[Any], y_pred: NDArray[Any], score: NDArray[np.float64] | None
) -> dict[str, float | None]:
    if name == "accuracy":
        return {name: _quiet(lambda: skm.accuracy_score(y_true, y_pred))}
    if name in WEIGHTED:
        # zero_division=0: a class never predicted (or never true) counts as a miss in the macro
        # average instead of silently leaving it out.
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        return {
            name: _quiet(lambda: fn(y_true, y_pred, average="macro", zero_division=0.0)),
            WEIGHTED[name]: _quiet(lambda: fn(y_true, y_pred, average="weighted", zero_division=0.0)),
        }
    if score is None or score.ndim != 2:
        return {name: None}
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if labels.shape[0] != score.shape[1] or not _is_probability(score):
        return {name: None}  # columns cannot be matched to labels, or are not probabilities
    if name == "auc":  # one-vs-rest, macro; undefined unless every class is present in y_true
        if np.unique(y_true).shape[0] < labels.shape[0]:
            return {name: None}
        return {name: _quiet(lambda: skm.roc_auc_score(y_true, score, multi_class="ovr", labels=labels))}
    if name == "logloss":
        return {name: _quiet(lambda: skm.log_loss(y_true, score, labels=labels))}
    if name == "brier":
        return {name: _quiet(lambda: skm.brier_score_loss(y_true, score, labels=labels))}
    # top-label ECE: is the confidence of the predicted class as often right as it claims?
    top = labels[np.argmax(score, axis=1)]
    return {name: _quiet(lambda: calibration.ece(top == y_true, score.max(axis=1)))}


def _regression(name: str, y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float | None:
    if name == "mae":
        return _quiet(lambda: skm.mean_absolute_error(y_true, y_pred))
    if name == "rmse":
        return _quiet(lambda: skm.root_mean_squared_error(y_true, y_pred))
    if name == "mape":
        if (y_true == 0).any():  # sklearn divides by max(|y|, eps): ~1e15 for a zero truth, not a share
            return None
        return _quiet(lambda: skm.mean_absolute_percentage_error(y_true, y_pred))
    if y_true.shape[0] < 2:
        return None
    return _quiet(lambda: skm.r2_score(y_true, y_pred, force_finite=False))


def realized(
    task: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    score: ArrayLike | None = None,
    metrics: Sequence[str] | None = None,
    positive: Any = 1,
) -> dict[str, float | None]:
    """Realized metrics of labelled rows, by name (``DEFAULT_METRICS[task]`` unless ``metrics``).

    ``y_pred`` is the predicted class (or value). ``score`` is the raw positive-class score (binary,
    1-D) or the class probabilities (multiclass, 2-D, columns in sorted label order: the labels seen
    in ``y_true`` and ``y_pred``). AUC, log loss, Brier and ECE need ``score``; log loss, Brier and ECE
    need it to be a probability (0-1). ``positive`` is the positive class (binary); ``positive_rate``
    is the share of ``y_pred == positive``. Multiclass precision/recall/f1 are macro averages, each
    with its ``*_weighted`` companion. Values are floats, or None where undefined.
    """
    names = _names(task, metrics)
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_pred: {p.shape[0]} predictions for {t.shape[0]} labels; pass one per row")
    s = None if score is None else np.asarray(score, dtype=np.float64)
    if s is not None and s.shape[0] != t.shape[0]:
        raise ValueError(f"score: {s.shape[0]} rows for {t.shape[0]} labels; pass one per row")
    if s is not None and task == BINARY and s.size != t.shape[0]:
        raise ValueError(
            "score: binary needs the positive class's score alone (1-D), not a probability matrix"
        )
    out: dict[str, float | None] = {}
    prf = None
    if task == BINARY and t.shape[0] and {"precision", "recall", "f1"} & set(names):
        prf = _prf(t == positive, p == positive)  # once for the three
    for name in names:
        if t.shape[0] == 0:
            out[name] = None
            if task == MULTICLASS and name in WEIGHTED:
                out[WEIGHTED[name]] = None
        elif task == BINARY:
            out[name] = _binary(name, t, p, None if s is None else s.ravel(), positive, prf)
        elif task == MULTICLASS:
            out.update(_multiclass(name, t, p, s))
        else:
            out[name] = _regression(name, t.astype(np.float64), p.astype(np.float64))
    return out
