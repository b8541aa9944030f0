"""Fairness by segment: each group's rates against scikit-learn's, the Wilson interval against its formula,
and the disparity figures on planted effects."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import accuracy_score, recall_score

from modelmonitor.quality.fairness import MISSING, segment


def planted(rates: dict[str, float], rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of ``rows`` rows each with the given approval rate; labels independent (Bernoulli 0.4)."""
    rng = np.random.default_rng(seed)
    values = np.repeat(list(rates), rows)
    y_pred = (rng.random(len(values)) < np.array([rates[v] for v in values])).astype(int)
    y_true = (rng.random(len(values)) < 0.4).astype(int)
    return values, y_pred, y_true


def wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    z = norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_each_groups_rates_are_scikit_learns() -> None:
    values, y_pred, y_true = planted({"a": 0.6, "b": 0.3, "c": 0.45}, 700)
    report = segment(values, y_pred=y_pred, y_true=y_true)
    assert [g.value for g in report.groups] == ["a", "b", "c"]
    for group in report.groups:
        rows = values == group.value
        t, p = y_true[rows], y_pred[rows]
        assert group.rows == 700
        assert group.rate("approval_rate") == pytest.approx(p.mean())
        assert group.rate("accuracy") == pytest.approx(accuracy_score(t, p))
        assert group.rate("error_rate") == pytest.approx(1 - accuracy_score(t, p))
        assert group.rate("true_positive_rate") == pytest.approx(recall_score(t, p, pos_label=1))
        assert group.rate("false_positive_rate") == pytest.approx(1 - recall_score(t, p, pos_label=0))


def test_intervals_are_wilsons_and_cover_the_planted_rate() -> None:
    values, y_pred, y_true = planted({"a": 0.6, "b": 0.3}, 400, seed=3)
    report = segment(values, y_pred=y_pred, y_true=y_true, confidence=0.9)
    for group, rate in zip(report.groups, (0.6, 0.3), strict=True):
        r = group.rates["approval_rate"]
        assert r is not None
        assert (r.low, r.high) == pytest.approx(wilson(r.successes, r.trials, 0.9), abs=1e-9)
        assert r.low < rate < r.high
        assert r.low < r.value < r.high


def test_planted_disparity_is_found_and_judged_against_the_bound() -> None:
    values, y_pred, y_true = planted({"a": 0.5, "b": 0.3}, 3000, seed=1)
    report = segment(values, y_pred=y_pred, y_true=y_true)
    a, b = (y_pred[values == v].mean() for v in ("a", "b"))
    assert report.disparate_impact == pytest.approx(b / a)
    assert report.disparate_impact == pytest.approx(0.6, abs=0.05)
    assert report.parity_difference == pytest.approx(a - b)
    assert (report.lowest_group, report.highest_group, report.violated) == ("b", "a", True)
    # The bound is the caller's: the same figures pass a looser one.
    assert segment(values, y_pred=y_pred, min_ratio=0.5).violated is False


def test_equal_rates_are_not_a_violation() -> None:
    values, y_pred, y_true = planted({"a": 0.4, "b": 0.4, "c": 0.4}, 3000, seed=2)
    report = segment(values, y_pred=y_pred, y_true=y_true)
    assert report.disparate_impact is not None and report.disparate_impact > 0.9
    assert report.violated is False
    assert report.equal_opportunity_difference is not None and report.equal_opportunity_difference < 0.06


def test_small_groups_are_reported_not_judged() -> None:
    values, y_pred, y_true = planted({"a": 0.6, "b": 0.5, "tiny": 0.0}, 1000, seed=4)
    keep = (values != "tiny") | (np.arange(len(values)) % 20 == 0)  # 50 rows of "tiny", none approved
    report = segment(values[keep], y_pred=y_pred[keep], y_true=y_true[keep], min_rows=100)
    tiny = next(g for g in report.groups if g.value == "tiny")
    assert (tiny.rows, tiny.judged, tiny.rate("approval_rate")) == (50, False, 0.0)
    assert report.lowest_group == "b" and report.violated is False


def test_none_and_nan_are_one_missing_group() -> None:
    values = np.array(["x"] * 200 + [None] * 100 + [np.nan] * 100, dtype=object)
    y_pred = np.r_[np.ones(200), np.zeros(200)].astype(int)
    report = segment(values, y_pred=y_pred)
    assert [(g.value, g.rows) for g in report.groups] == [("x", 200), (MISSING, 200)]
    assert report.lowest_group == MISSING
    assert report.disparate_impact == 0.0 and report.violated is True


def test_error_rate_is_compared_on_the_good_rate() -> None:
    rng = np.random.default_rng(5)
    values = np.repeat(["a", "b"], 2000)
    y_true = rng.integers(0, 2, 4000)
    wrong = rng.random(4000) < np.where(values == "a", 0.1, 0.4)
    y_pred = np.where(wrong, 1 - y_true, y_true)
    report = segment(values, y_pred=y_pred, y_true=y_true, metric="error_rate")
    err = {v: wrong[values == v].mean() for v in ("a", "b")}
    assert report.lowest_group == "b"  # the higher error rate is the worse-off group
    assert report.disparate_impact == pytest.approx((1 - err["b"]) / (1 - err["a"]))
    assert report.violated is True


def test_rates_without_positives_are_undefined() -> None:
    values = np.repeat(["a", "b"], 150)
    y_true = np.r_[np.zeros(150), np.tile([0, 1], 75)].astype(int)  # group a has no positives
    y_pred = np.tile([0, 1, 1], 100)
    report = segment(values, y_pred=y_pred, y_true=y_true, metric="true_positive_rate")
    a = report.groups[0]
    assert a.rates["true_positive_rate"] is None
    assert a.to_dict()["true_positive_rate"] is None and a.to_dict()["true_positive_rate_ci"] is None
    assert report.disparate_impact is None and report.violated is None
    assert report.reason is not None and "two are needed" in report.reason


def test_one_judged_group_gives_a_reason_and_no_figures() -> None:
    values, y_pred, _ = planted({"a": 0.5, "b": 0.1}, 120, seed=6)
    report = segment(values, y_pred=y_pred, min_rows=200)
    d = report.to_dict()
    assert [g["judged"] for g in d["groups"]] == [False, False]
    assert d["disparate_impact"] is None and d["violated"] is None and d["lowest_group"] is None
    assert "0 group(s)" in d["reason"]


def test_no_approvals_anywhere_leave_the_ratio_undefined() -> None:
    values = np.repeat(["a", "b"], 200)
    report = segment(values, y_pred=np.zeros(400, dtype=int))
    assert report.disparate_impact is None and report.violated is None
    assert report.parity_difference == 0.0


def test_report_is_json_ready_and_names_the_feature() -> None:
    values, y_pred, y_true = planted({"a": 0.5, "b": 0.4}, 200, seed=7)
    d = segment(pd.Series(values, name="region"), y_pred=y_pred, y_true=y_true).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["feature"] == "region" and d["metric"] == "approval_rate"
    assert set(d["groups"][0]) >= {"value", "rows", "judged", "approval_rate", "approval_rate_ci", "accuracy"}
    assert "feature" not in segment(values, y_pred=y_pred).to_dict()


def test_numeric_group_values_are_plain_json() -> None:
    values = np.repeat(np.array([1, 2], dtype=np.int64), 150)
    d = segment(values, y_pred=np.tile([0, 1, 1], 100)).to_dict()
    assert [g["value"] for g in d["groups"]] == [1, 2]
    assert type(d["groups"][0]["value"]) is int


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "accuracy"}, "needs y_true"),
        ({"metric": "recall"}, "is not one of"),
        ({"confidence": 1.5}, "between 0 and 1"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment(["a", "b"], y_pred=[0, 1], **kwargs)  # type: ignore[arg-type]


def test_rows_must_line_up() -> None:
    with pytest.raises(ValueError, match="one entry per row"):
        segment(["a", "b", "c"], y_pred=[0, 1])
