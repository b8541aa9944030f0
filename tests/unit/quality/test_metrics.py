"""Realized metrics equal scikit-learn's on random data; undefined ones are None, never NaN."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from modelmonitor.quality import calibration
from modelmonitor.quality.metrics import (
    DEFAULT_METRICS,
    HIGHER_IS_BETTER,
    METRIC_RANGE,
    SUPPORTED,
    WEIGHTED,
    realized,
)

BINARY, MULTICLASS, REGRESSION = "binary-classification", "multiclass-classification", "regression"


def _no_nan(values: dict[str, float | None]) -> None:
    assert all(v is None or math.isfinite(v) for v in values.values()), values


def _binary_data(seed: int, n: int = 2000) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    score = rng.uniform(size=n)
    y_true = (rng.uniform(size=n) < score**1.5).astype(int)  # informative, a little miscalibrated
    return y_true, (score > 0.5).astype(int), score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_equal_sklearn(seed: int) -> None:
    y_true, y_pred, score = _binary_data(seed)
    got = realized(BINARY, y_true, y_pred, score=score, metrics=SUPPORTED[BINARY])
    want = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred),
        "recall": skm.recall_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred),
        "auc": skm.roc_auc_score(y_true, score),
        "logloss": skm.log_loss(y_true, score),
        "brier": skm.brier_score_loss(y_true, score),
        "positive_rate": float(np.mean(y_pred == 1)),
        "ece": calibration.ece(y_true, score),
    }
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert set(realized(BINARY, y_true, y_pred, score=score)) == set(DEFAULT_METRICS[BINARY])


def test_binary_positive_class_can_be_any_label() -> None:
    y_true, y_pred, score = _binary_data(3)
    names = np.array(["deny", "approve"])
    got = realized(BINARY, names[y_true], names[y_pred], score=score, positive="approve")
    assert got["precision"] == pytest.approx(skm.precision_score(y_true, y_pred))
    assert got["recall"] == pytest.approx(skm.recall_score(y_true, y_pred))
    assert got["positive_rate"] == pytest.approx(float(np.mean(y_pred)))
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y_true, score))


def test_auc_is_on_the_raw_score_even_when_it_is_a_margin() -> None:
    y_true, y_pred, score = _binary_data(4)
    margin = np.log(score / (1 - score)) * 3.0 + 1.0  # not a probability
    got = realized(BINARY, y_true, y_pred, score=margin)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y_true, margin))
    assert got["logloss"] is None and got["brier"] is None  # a margin has no probability to judge


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 3000, 4
    prob = rng.dirichlet(np.ones(k), size=n)
    y_true = np.array([rng.choice(k, p=p) for p in prob])
    y_pred = prob.argmax(axis=1)
    got = realized(MULTICLASS, y_true, y_pred, score=prob, metrics=SUPPORTED[MULTICLASS])
    want: dict[str, float] = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        want[name] = fn(y_true, y_pred, average="macro")
        want[WEIGHTED[name]] = fn(y_true, y_pred, average="weighted")
    want["auc"] = skm.roc_auc_score(y_true, prob, multi_class="ovr")
    want["logloss"] = skm.log_loss(y_true, prob)
    want["brier"] = skm.brier_score_loss(y_true, prob)
    want["ece"] = calibration.ece(y_pred == y_true, prob.max(axis=1))
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    defaults = realized(MULTICLASS, y_true, y_pred)
    assert set(defaults) == {"accuracy", "precision", "recall", "f1", *WEIGHTED.values()}


def test_multiclass_string_labels_match_sorted_probability_columns() -> None:
    rng = np.random.default_rng(5)
    prob = rng.dirichlet(np.ones(3), size=1500)
    labels = np.array(["bird", "cat", "dog"])  # sorted: column j is labels[j]
    idx = np.array([rng.choice(3, p=p) for p in prob])
    got = realized(
        MULTICLASS, labels[idx], labels[prob.argmax(axis=1)], score=prob, metrics=["auc", "logloss"]
    )
    assert got["auc"] == pytest.approx(skm.roc_auc_score(idx, prob, multi_class="ovr"))
    assert got["logloss"] == pytest.approx(skm.log_loss(idx, prob))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.lognormal(3.0, 0.5, size=2000)
    y_pred = y_true + rng.normal(0.0, 5.0, size=2000)
    got = realized(REGRESSION, y_true, y_pred)
    want = {
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "rmse": skm.root_mean_squared_error(y_true, y_pred),
        "mape": skm.mean_absolute_percentage_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred),
    }
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_undefined_binary_metrics_are_none() -> None:
    one_class = realized(BINARY, [1, 1, 1, 1], [1, 0, 1, 1], score=[0.9, 0.4, 0.8, 0.7])
    assert one_class["auc"] is None
    assert one_class["accuracy"] == pytest.approx(0.75)
    assert one_class["logloss"] == pytest.approx(
        skm.log_loss([1, 1, 1, 1], [0.9, 0.4, 0.8, 0.7], labels=[0, 1])
    )
    nothing_positive = realized(BINARY, [0, 1, 0, 1], [0, 0, 0, 0], score=[0.1, 0.2, 0.3, 0.4])
    assert nothing_positive["precision"] is None
    assert nothing_positive["recall"] == 0.0 and nothing_positive["f1"] == 0.0
    assert nothing_positive["positive_rate"] == 0.0
    all_negative = realized(BINARY, [0, 0, 0], [0, 0, 0])
    assert all_negative["precision"] is None and all_negative["recall"] is None and all_negative["f1"] is None
    assert all_negative["accuracy"] == 1.0
    no_score = realized(BINARY, [0, 1, 0, 1], [0, 1, 1, 1])
    assert no_score["auc"] is None and no_score["logloss"] is None and no_score["brier"] is None
    for got in (one_class, nothing_positive, all_negative, no_score):
        _no_nan(got)


def test_undefined_regression_metrics_are_none() -> None:
    assert realized(REGRESSION, [3.0], [2.5])["r2"] is None
    constant = realized(REGRESSION, [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert constant["r2"] is None and constant["mae"] == pytest.approx(2 / 3)
    zero_truth = realized(REGRESSION, [0.0, 1.0, 2.0], [0.5, 1.0, 2.0])
    assert zero_truth["mape"] is None and zero_truth["rmse"] == pytest.approx(math.sqrt(0.25 / 3))
    for got in (constant, zero_truth):
        _no_nan(got)


def test_no_rows_gives_none_everywhere() -> None:
    for task in (BINARY, MULTICLASS, REGRESSION):
        got = realized(task, [], [], metrics=SUPPORTED[task])
        assert got and all(v is None for v in got.values()), (task, got)


def test_unknown_metric_task_and_length_mismatch_are_refused() -> None:
    with pytest.raises(ValueError, match="rmse"):
        realized(BINARY, [0, 1], [0, 1], metrics=["rmse"])
    with pytest.raises(ValueError, match="task"):
        realized("ranking", [0, 1], [0, 1])
    with pytest.raises(ValueError, match="y_pred"):
        realized(BINARY, [0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        realized(BINARY, [0, 1], [0, 1], score=[[0.4, 0.6], [0.3, 0.7]])


def test_every_metric_has_a_range_and_directions_are_consistent() -> None:
    names = {m for task in SUPPORTED.values() for m in task} | set(WEIGHTED.values())
    assert names <= set(METRIC_RANGE)
    assert set(HIGHER_IS_BETTER) <= set(METRIC_RANGE)
    assert METRIC_RANGE["r2"] == (-math.inf, 1.0) and METRIC_RANGE["rmse"] == (0.0, math.inf)
    assert (
        HIGHER_IS_BETTER["auc"]
        and not HIGHER_IS_BETTER["logloss"]
        and "positive_rate" not in HIGHER_IS_BETTER
    )
