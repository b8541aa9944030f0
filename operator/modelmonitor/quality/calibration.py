"""Calibration of a binary model's positive-class probability: ECE, the reliability curve, Brier, and
recalibration maps (Platt, isotonic) exported as plain JSON a model server can apply itself.

Bins are EQUAL-COUNT (quantiles of the probability, as ``sklearn.calibration.calibration_curve``
with ``strategy="quantile"``): a confident model puts most rows near 0 and 1, so equal-width bins in
the middle are empty or hold a handful of rows whose fraction positive is noise, while equal-count
bins each average the same number of rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import train_test_split

FORMAT = "modelmonitor.calibrator/v1"
METHODS = ("platt", "isotonic")
MIN_ISOTONIC_LABELS = 1000  # below this an isotonic map follows the noise of the labels (overfits)
# Practically unregularised (Platt's fit is maximum likelihood); the tiny penalty only keeps the slope
# finite when the score separates the labels perfectly.
PLATT_C = 1e4

FloatArray = NDArray[np.float64]


def _labels01(y_true: ArrayLike, name: str = "y_true") -> FloatArray:
    y = np.asarray(y_true)
    if y.dtype == np.bool_:
        return y.astype(np.float64)
    values = y.astype(np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{name}: labels must be 0/1 or booleans (1 = the positive class)")
    return values


def _probabilities(prob: ArrayLike, n: int, name: str = "prob") -> FloatArray:
    p = np.asarray(prob, dtype=np.float64).ravel()
    if p.shape[0] != n:
        raise ValueError(f"{name}: {p.shape[0]} values for {n} labels; pass one per row")
    if not np.isfinite(p).all() or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise ValueError(f"{name}: probabilities must be finite and within [0, 1]")
    return p


def _bins(y_true: ArrayLike, prob: ArrayLike, bins: int) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Per non-empty bin: sum of probabilities, count of positives, rows (sklearn's quantile bins)."""
    y = _labels01(y_true)
    p = _probabilities(prob, y.shape[0])
    if y.shape[0] == 0:
        raise ValueError("y_true: no labelled rows; calibration needs at least one")
    if bins < 1:
        raise ValueError(f"bins: {bins} is not a bin count; pass 1 or more")
    edges = np.percentile(p, np.linspace(0.0, 1.0, bins + 1) * 100)
    ids = np.searchsorted(edges[1:-1], p)  # ties land in one bin, so heavy ties merge bins
    sums = np.bincount(ids, weights=p, minlength=bins).astype(np.float64)
    positives = np.bincount(ids, weights=y, minlength=bins).astype(np.float64)
    rows = np.bincount(ids, minlength=bins).astype(np.int64)
    keep = rows > 0
    return sums[keep], positives[keep], rows[keep]


def ece(y_true: ArrayLike, prob: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error (share 0-1): the row-weighted mean over equal-count bins of
    |mean predicted probability - fraction positive|."""
    sums, positives, rows = _bins(y_true, prob, bins)
    gap = np.abs(sums - positives) / rows
    return float(np.sum(gap * rows) / np.sum(rows))


def reliability_curve(y_true: ArrayLike, prob: ArrayLike, bins: int = 10) -> list[dict[str, Any]]:
    """One point per non-empty equal-count bin, in increasing probability:
    ``{"mean_predicted", "fraction_positive", "rows"}``."""
    sums, positives, rows = _bins(y_true, prob, bins)
    return [
        {"mean_predicted": float(s / r), "fraction_positive": float(k / r), "rows": int(r)}
        for s, k, r in zip(sums, positives, rows, strict=True)
    ]


def brier(y_true: ArrayLike, prob: ArrayLike) -> float:
    """Brier score (mean squared error of the probability, 0-1, lower is better)."""
    y = _labels01(y_true)
    return float(brier_score_loss(y, _probabilities(prob, y.shape[0]), pos_label=1.0))


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from the model's raw positive-class score to a calibrated probability.

    ``to_json()`` gives the whole map in a format a model server can apply without this package:

    - ``{"format": "modelmonitor.calibrator/v1", "method": "platt", "coef": a, "intercept": b}``:
      ``p = 1 / (1 + exp(-(a * s + b)))``;
    - ``{"format": "modelmonitor.calibrator/v1", "method": "isotonic", "x": [...], "y": [...]}``:
      piecewise-linear interpolation through the points ``(x[i], y[i])`` (``x`` increasing), clipped to
      ``y[0]`` / ``y[-1]`` outside ``[x[0], x[-1]]`` — ``numpy.interp`` semantics.
    """

    method: str
    coef: float = 0.0
    intercept: float = 0.0
    x: tuple[float, ...] = field(default=())
    y: tuple[float, ...] = field(default=())

    def apply(self, score: ArrayLike) -> FloatArray:
        """Calibrated probabilities (0-1) of the raw scores, one per value."""
        s = np.asarray(score, dtype=np.float64).ravel()
        if self.method == "platt":
            z = self.coef * s + self.intercept
            return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)
        return np.asarray(np.interp(s, np.asarray(self.x), np.asarray(self.y)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready map (see the class docstring for the format)."""
        if self.method == "platt":
            return {"format": FORMAT, "method": "platt", "coef": self.coef, "intercept": self.intercept}
        return {"format": FORMAT, "method": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Calibrator:
        """The map written by ``to_json``; a ValueError names what is wrong with ``d``."""
        if d.get("format") != FORMAT:
            raise ValueError(f"calibrator: format is {d.get('format')!r}; expected {FORMAT!r}")
        method = d.get("method")
        if method == "platt":
            coef, intercept = float(d["coef"]), float(d["intercept"])
            if not (math.isfinite(coef) and math.isfinite(intercept)):
                raise ValueError("calibrator: platt coef and intercept must be finite numbers")
            return cls(method="platt", coef=coef, intercept=intercept)
        if method == "isotonic":
            x = tuple(float(v) for v in d["x"])
            y = tuple(float(v) for v in d["y"])
            if not x or len(x) != len(y):
                raise ValueError(
                    f"calibrator: isotonic x and y must be non-empty and equally long "
                    f"(got {len(x)} and {len(y)})"
                )
            if any(b < a for a, b in itertools.pairwise(x)):
                raise ValueError("calibrator: isotonic x must be non-decreasing")
            return cls(method="isotonic", x=x, y=y)
        raise ValueError(f"calibrator: method is {method!r}; expected one of {', '.join(METHODS)}")


def fit_calibrator(method: str, y_true: ArrayLike, score: ArrayLike) -> Calibrator:
    """Fit ``method`` ("platt": logistic regression on the 1-D score; "isotonic": a non-decreasing
    step-linear map, which needs ``MIN_ISOTONIC_LABELS`` labelled rows) on labelled rows."""
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is unknown; use one of {', '.join(METHODS)}")
    y = _labels01(y_true)
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"score: {s.shape[0]} values for {y.shape[0]} labels; pass one per row")
    if not np.isfinite(s).all():
        raise ValueError("score: values must be finite (drop unscored rows before calibrating)")
    if np.unique(y).shape[0] < 2:
        raise ValueError("y_true: calibration needs both classes among the labelled rows")
    if method == "isotonic":
        if y.shape[0] < MIN_ISOTONIC_LABELS:
            raise ValueError(
                f"isotonic calibration needs at least {MIN_ISOTONIC_LABELS} labelled rows (got "
                f"{y.shape[0]}): below that it overfits the labels; use method 'platt' or gather more labels"
            )
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(s, y)
        return Calibrator(
            method="isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    lr = LogisticRegression(C=PLATT_C).fit(s.reshape(-1, 1), y)
    return Calibrator(method="platt", coef=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))


def _is_probability(s: FloatArray) -> bool:
    return bool(s.size) and float(s.min()) >= 0.0 and float(s.max()) <= 1.0


def assess(y_true: ArrayLike, score: ArrayLike, *, holdout: float = 0.3, seed: int = 0) -> dict[str, Any]:
    """Calibration now and after recalibration, on a held-out share of the labelled rows.

    The rows are split (stratified by label, seeded); Platt and, with at least
    ``MIN_ISOTONIC_LABELS`` rows in the fit part, isotonic are fitted on the fit part. On the held-out
    part: ``ece`` and ``brier`` of the raw score (None when the score is not a probability),
    ``ece_platt`` / ``brier_platt``, ``ece_isotonic`` / ``brier_isotonic`` (None with too few rows),
    ``rows`` (held-out) and ``fit_rows``.
    """
    y = _labels01(y_true)
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"score: {s.shape[0]} values for {y.shape[0]} labels; pass one per row")
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout: {holdout} is not a share; pass a value strictly between 0 and 1")
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < 2:
        raise ValueError(
            f"y_true: {int(counts[0])} negatives and {int(counts[1])} positives; assessing "
            "calibration needs at least 2 of each"
        )
    s_fit, s_out, y_fit, y_out = train_test_split(s, y, test_size=holdout, stratify=y, random_state=seed)
    raw = _is_probability(s_out)
    out: dict[str, Any] = {
        "ece": ece(y_out, s_out) if raw else None,
        "brier": brier(y_out, s_out) if raw else None,
        "ece_platt": None,
        "brier_platt": None,
        "ece_isotonic": None,
        "brier_isotonic": None,
        "rows": int(y_out.shape[0]),
        "fit_rows": int(y_fit.shape[0]),
    }
    methods: Sequence[str] = METHODS if y_fit.shape[0] >= MIN_ISOTONIC_LABELS else ("platt",)
    if np.unique(y_fit).shape[0] < 2:
        return out
    for method in methods:
        p = fit_calibrator(method, y_fit, s_fit).apply(s_out)
        out[f"ece_{method}"] = ece(y_out, p)
        out[f"brier_{method}"] = brier(y_out, p)
    return out
