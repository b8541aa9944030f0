"""Labels and predictions as the model and the feedback sent them, coerced once per task."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelmonitor.quality.labels import labelled, predicted_positive


def frame(
    labels: list[object], predictions: list[object], probabilities: list[object] | None = None
) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame({
        "__ts": [float(n - i) for i in range(n)],  # newest first: labelled() sorts by prediction time
        "__label": labels, "__prediction": predictions,
        "__probabilities": probabilities or [None] * n, "__label_ts": [100.0] * n,
    })  # fmt: skip


def test_binary_without_a_positive_label_takes_1_and_true() -> None:
    data = labelled(frame([1, "true", 0, False, None, 1.0], [1, 1, True, 0, 1, "0"]), "binary-classification")
    # Sorted oldest first; the unlabelled row is left out.
    assert data.y_true.tolist() == [1, 0, 0, 1, 1] and data.y_pred.tolist() == [0, 0, 1, 1, 1]
    assert data.score is None and len(data) == 5


def test_binary_with_a_named_positive_class_and_scores() -> None:
    data = labelled(
        frame(["Approved", "denied", "approved"], ["approved", "approved", "denied"], [[0.2, 0.8], [0.4, 0.6], 0.3]),
        "binary-classification", positive="approved",
    )  # fmt: skip
    assert data.y_true.tolist() == [1, 0, 1] and data.y_pred.tolist() == [0, 1, 1]
    assert data.score is not None and data.score.tolist() == [0.3, 0.6, 0.8]


def test_a_prediction_that_is_a_probability_is_the_score_and_thresholded() -> None:
    data = labelled(frame([1, 0, 1], [0.9, 0.2, 0.4]), "binary-classification")
    assert data.score is not None and data.score.tolist() == [0.4, 0.2, 0.9]
    assert data.y_pred.tolist() == [0, 0, 1]
    y_pred, rows = predicted_positive(frame([None, None, 1], [0.9, 0.2, 0.4]))
    assert y_pred.tolist() == [1, 0, 0] and list(rows) == [0, 1, 2]


def test_multiclass_scores_only_when_every_row_has_one_per_class() -> None:
    data = labelled(frame(["cat", "dog", "cat"], ["cat", "cat", "dog"], [[0.7, 0.3], [0.6, 0.4], [0.1, 0.9]]),
                    "multiclass-classification")  # fmt: skip
    assert (
        data.y_true.tolist() == ["cat", "dog", "cat"]
        and data.score is not None
        and data.score.shape == (3, 2)
    )
    data = labelled(
        frame(["cat", "dog"], ["cat", "bird"], [[0.7, 0.3], [0.6, 0.4]]), "multiclass-classification"
    )
    assert data.score is None  # three classes seen, two probabilities each


def test_regression_drops_rows_that_are_not_numbers() -> None:
    data = labelled(frame([1.5, "n/a", 3, 2.0], [1.0, 2.0, "x", 2.5]), "regression")
    assert data.y_true.tolist() == [2.0, 1.5] and data.y_pred.tolist() == [2.5, 1.0]
    assert np.allclose(data.label_ts, 100.0) and not any(math.isnan(t) for t in data.ts)


def test_an_unknown_task_is_refused_and_an_empty_window_gives_nothing() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        labelled(frame([1], [1]), "ranking")
    assert len(labelled(pd.DataFrame(), "regression")) == 0
