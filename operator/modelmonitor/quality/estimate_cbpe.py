"""CBPE: a classifier's accuracy, precision, recall, f1 and ROC AUC estimated without labels.

The score is calibrated on the labelled reference with an isotonic regression; a chunk's calibrated
probabilities give its expected confusion matrix and its expected ROC AUC. The method assumes
``P(y | score)`` is the same in the chunk as in the reference: covariate shift moves the scores, not the
calibration. Memory: one isotonic step function per class (one threshold per step, typically a few
hundred), the threshold and the class labels; no row of the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

MIN_ROWS = 100
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "positive_rate")

Estimate = dict[str, float | None]


def rounded(value: float | None) -> float | None:
    """A JSON-ready metric: rounded to 6 decimals, None where undefined (None or NaN)."""
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _finite_rows(scores: NDArray[Any]) -> NDArray[np.bool_]:
    finite = np.isfinite(scores)
    return np.asarray(finite if finite.ndim == 1 else finite.all(axis=1), dtype=bool)


def _expected_auc(p: NDArray[np.float64], scores: NDArray[Any]) -> float | None:
    """Expected ROC AUC of ``scores`` when row i is a positive with probability ``p[i]``.

    scikit-learn's weighted AUC over the doubled rows (each row once as a positive with weight ``p``,
    once as a negative with weight ``1 - p``) is exactly the expected-pairs ratio, except that it also
    pairs each row with itself (a tie, half a pair); that share is taken back out.
    """
    positives, negatives, itself = p.sum(), (1.0 - p).sum(), (p * (1.0 - p)).sum()
    if positives <= 0.0 or negatives <= 0.0 or positives * negatives <= itself:
        return None
    n = len(p)
    truth = np.r_[np.ones(n, dtype=int), np.zeros(n, dtype=int)]
    weighted = roc_auc_score(truth, np.r_[scores, scores], sample_weight=np.r_[p, 1.0 - p])
    return float((weighted * positives * negatives - 0.5 * itself) / (positives * negatives - itself))


def _labelled(y_true: ArrayLike, score: NDArray[Any], what: str) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """The labels and a mask of the rows with both a label and a score; refuses too few rows."""
    labels = np.asarray(y_true)
    if len(labels) != len(score):
        raise ValueError(
            f"{what}: y_true has {len(labels)} rows and the scores {len(score)}; pass one per row"
        )
    keep = ~pd.isna(labels) & _finite_rows(score)
    if int(keep.sum()) < MIN_ROWS:
        raise ValueError(
            f"{what}: {int(keep.sum())} labelled rows, fewer than {MIN_ROWS}; "
            "fit on a reference with more labelled rows"
        )
    return labels, keep


class CBPE:
    """Confidence-based performance estimation of a classifier, without labels.

    Binary: ``score`` is one column, the model's score for ``positive`` (a probability or any
    monotone scale); the prediction is ``score >= threshold`` unless ``y_pred`` is given. Multiclass:
    ``score`` is a 2-D array, one column per class in the sorted order of the reference labels
    (scikit-learn's ``predict_proba`` order); the prediction is the column of the highest score unless
    ``y_pred`` is given, and precision, recall, f1 and AUC are macro averages of one-vs-rest.
    """

    def __init__(self) -> None:
        self.classes: list[Any] = []
        self.threshold = 0.5
        self.positive: Any = 1
        self.needs_y_pred = False
        self._calibrators: list[IsotonicRegression] = []

    @property
    def task(self) -> str:
        return "multiclass-classification" if len(self._calibrators) > 1 else "binary-classification"

    def fit(
        self,
        y_true: ArrayLike,
        score: ArrayLike,
        *,
        y_pred: ArrayLike | None = None,
        threshold: float = 0.5,
        positive: Any = 1,
    ) -> CBPE:
        """Calibrate on the labelled reference. Rows without a label or a score are left out.

        With ``y_pred`` the model's decisions are not a threshold on the score, so ``estimate`` will
        need them too.
        """
        scores = np.asarray(score, dtype=float)
        labels, keep = _labelled(y_true, scores, "CBPE.fit")
        labels, scores = labels[keep], scores[keep]
        self.threshold, self.positive, self.needs_y_pred = float(threshold), positive, y_pred is not None
        if scores.ndim == 1:
            self.classes, columns = [positive], [scores]
            if (labels == positive).all() or not (labels == positive).any():
                raise ValueError(
                    f"CBPE.fit: every labelled row is {'' if (labels == positive).all() else 'not '}"
                    f"the positive class {positive!r}; fit on a reference with both classes"
                )
        else:
            self.classes, columns = sorted(set(labels.tolist())), list(scores.T)
            if len(self.classes) < 2:
                raise ValueError(
                    f"CBPE.fit: every labelled row is class {self.classes[0]!r}; "
                    "fit on a reference with at least two classes"
                )
            if len(self.classes) != len(columns):
                raise ValueError(
                    f"CBPE.fit: {len(columns)} score columns but {len(self.classes)} classes in y_true "
                    f"({self.classes}); pass one column per class, in sorted class order"
                )
        self._calibrators = [
            IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, (labels == c).astype(float))
            for s, c in zip(columns, self.classes, strict=True)
        ]
        return self

    def calibrated(self, score: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities: of the positive class (binary, 1-D) or of each class (rows sum to 1)."""
        if not self._calibrators:
            raise ValueError("CBPE: estimate before fit; fit on a labelled reference first")
        scores = np.asarray(score, dtype=float)
        if scores.ndim == 1:
            return np.asarray(self._calibrators[0].predict(scores), dtype=float)
        p = np.column_stack([c.predict(s) for c, s in zip(self._calibrators, scores.T, strict=True)])
        total = p.sum(axis=1, keepdims=True)
        # A row every calibrator puts at zero carries no information: spread it evenly.
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / p.shape[1])

    def estimate(self, score: ArrayLike, *, y_pred: ArrayLike | None = None) -> Estimate:
        """Expected metrics of one chunk from its scores (and decisions); None where undefined.

        ``positive_rate`` (share of positive decisions, 0 to 1) is exact; it is None for multiclass.
        """
        scores = np.asarray(score, dtype=float)
        if not self._calibrators:
            raise ValueError("CBPE: estimate before fit; fit on a labelled reference first")
        binary = len(self._calibrators) == 1
        if (scores.ndim == 1) != binary or (not binary and scores.shape[1] != len(self.classes)):
            raise ValueError(f"CBPE.estimate: scores of shape {scores.shape} for a {self.task} fit")
        if self.needs_y_pred and y_pred is None:
            raise ValueError("CBPE.estimate: fitted with y_pred, so pass the chunk's y_pred too")
        keep = _finite_rows(scores)
        if y_pred is not None:
            decisions = np.asarray(y_pred)
            if len(decisions) != len(scores):
                raise ValueError(f"CBPE.estimate: {len(decisions)} y_pred for {len(scores)} scores")
            keep &= ~pd.isna(decisions)
            decisions = decisions[keep]
        scores = scores[keep]
        if len(scores) == 0:
            return dict.fromkeys(CLASSIFICATION_METRICS)
        p = self.calibrated(scores)
        if binary:
            predicted = decisions == self.positive if y_pred is not None else scores >= self.threshold
            return _binary_estimate(p, predicted.astype(int), scores)
        if y_pred is None:
            predicted_index = scores.argmax(axis=1)
        else:
            lookup = {c: i for i, c in enumerate(self.classes)}
            predicted_index = np.array([lookup.get(d, -1) for d in decisions.tolist()])
        return _multiclass_estimate(p, predicted_index, scores)


def _binary_estimate(p: NDArray[np.float64], predicted: NDArray[np.int_], scores: NDArray[Any]) -> Estimate:
    # Each row counts as ``p`` of a positive and ``1 - p`` of a negative: scikit-learn's weighted metrics
    # on the doubled rows are then exactly the expected confusion matrix and the expected ROC curve.
    n = len(p)
    truth = np.r_[np.ones(n, dtype=int), np.zeros(n, dtype=int)]
    decisions, weights = np.r_[predicted, predicted], np.r_[p, 1.0 - p]
    common = {"sample_weight": weights, "zero_division": np.nan}
    return {
        "accuracy": rounded(accuracy_score(truth, decisions, sample_weight=weights)),
        "precision": rounded(precision_score(truth, decisions, **common)),
        "recall": rounded(recall_score(truth, decisions, **common)),
        "f1": rounded(f1_score(truth, decisions, **common)),
        "auc": rounded(_expected_auc(p, scores)),
        "positive_rate": rounded(predicted.mean()),
    }


def _multiclass_estimate(
    p: NDArray[np.float64], predicted: NDArray[np.int_], scores: NDArray[Any]
) -> Estimate:
    # Row i appears once per class c with weight p[i, c]; a decision outside the classes (-1) is wrong.
    n, k = p.shape
    truth = np.repeat(np.arange(k), n)
    decisions, weights = np.tile(predicted, k), p.T.ravel()
    common = {"sample_weight": weights, "zero_division": np.nan, "labels": list(range(k)), "average": "macro"}
    # One-vs-rest by hand: scikit-learn's multiclass AUC wants scores that sum to 1 on each row.
    aucs = [_expected_auc(p[:, c], scores[:, c]) for c in range(k)]
    defined = [a for a in aucs if a is not None]  # like zero_division=nan: undefined classes are left out
    auc = float(np.mean(defined)) if defined else None
    return {
        "accuracy": rounded(accuracy_score(truth, decisions, sample_weight=weights)),
        "precision": rounded(precision_score(truth, decisions, **common)),
        "recall": rounded(recall_score(truth, decisions, **common)),
        "f1": rounded(f1_score(truth, decisions, **common)),
        "auc": rounded(auc),
        "positive_rate": None,
    }
