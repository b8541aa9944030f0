"""ECE on equal-count bins agrees with scikit-learn's reliability curve; a calibrated model scores
near zero and a planted miscalibration (prob = true_prob ** 3) is repaired by Platt and isotonic;
calibrators match scikit-learn's fits and survive a JSON round trip."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from modelmonitor.quality.calibration import (
    MIN_ISOTONIC_LABELS,
    PLATT_C,
    Calibrator,
    assess,
    brier,
    ece,
    fit_calibrator,
    reliability_curve,
)


def _synthetic(n: int, seed: int) -> tuple[Any, Any]:
    """True positive-class probabilities and labels drawn from them."""
    rng = np.random.default_rng(seed)
    true_prob = rng.beta(2.0, 2.0, size=n)
    return true_prob, (rng.uniform(size=n) < true_prob).astype(int)


def test_reliability_curve_equals_sklearns_quantile_curve() -> None:
    true_prob, y = _synthetic(5000, 0)
    prob = true_prob**2
    curve = reliability_curve(y, prob, bins=10)
    frac, mean = calibration_curve(y, prob, n_bins=10, strategy="quantile")
    np.testing.assert_allclose([c["fraction_positive"] for c in curve], frac, rtol=1e-12)
    np.testing.assert_allclose([c["mean_predicted"] for c in curve], mean, rtol=1e-12)
    assert [c["rows"] for c in curve] == [500] * 10  # equal-count bins
    weighted = sum(c["rows"] * abs(c["mean_predicted"] - c["fraction_positive"]) for c in curve) / 5000
    assert ece(y, prob, bins=10) == pytest.approx(weighted, rel=1e-12)


def test_equal_count_bins_stay_full_for_a_confident_model() -> None:
    rng = np.random.default_rng(1)
    prob = np.clip(rng.beta(0.2, 0.2, size=4000), 1e-6, 1 - 1e-6)  # mass at 0 and 1
    y = (rng.uniform(size=4000) < prob).astype(int)
    rows = [c["rows"] for c in reliability_curve(y, prob, bins=10)]
    assert len(rows) == 10 and min(rows) == max(rows) == 400


def test_tied_probabilities_share_one_bin() -> None:
    prob = np.array([0.2] * 60 + [0.8] * 40)
    y = np.array([1] * 12 + [0] * 48 + [1] * 32 + [0] * 8)
    curve = reliability_curve(y, prob, bins=10)
    assert [c["rows"] for c in curve] == [60, 40]
    assert ece(y, prob) == pytest.approx(0.0)


def test_a_calibrated_model_has_a_small_ece() -> None:
    true_prob, y = _synthetic(20_000, 2)
    assert ece(y, true_prob) < 0.02


def test_brier_equals_sklearn() -> None:
    true_prob, y = _synthetic(3000, 3)
    assert brier(y, true_prob**2) == pytest.approx(brier_score_loss(y, true_prob**2), rel=1e-12)
    assert brier([1, 1], [0.2, 0.9]) == pytest.approx(brier_score_loss([1, 1], [0.2, 0.9]))


def test_bad_inputs_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="prob"):
        ece([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="y_true"):
        ece([0, 2], [0.2, 0.5])
    with pytest.raises(ValueError, match="y_true"):
        ece([], [])


def test_platt_equals_sklearns_logistic_regression() -> None:
    true_prob, y = _synthetic(3000, 4)
    score = true_prob**3
    cal = fit_calibrator("platt", y, score)
    lr = LogisticRegression(C=PLATT_C).fit(score.reshape(-1, 1), y)
    probe = np.linspace(-0.5, 1.5, 101)
    np.testing.assert_allclose(cal.apply(probe), lr.predict_proba(probe.reshape(-1, 1))[:, 1], atol=1e-9)


def test_isotonic_equals_sklearns_and_clips_outside_the_fitted_range() -> None:
    true_prob, y = _synthetic(3000, 5)
    score = true_prob**3
    cal = fit_calibrator("isotonic", y, score)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, y)
    probe = np.concatenate([np.linspace(-0.5, 1.5, 201), score[:200]])
    np.testing.assert_allclose(cal.apply(probe), iso.predict(probe), atol=1e-9)
    assert cal.apply([-10.0])[0] == cal.y[0] and cal.apply([10.0])[0] == cal.y[-1]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_json_round_trip_gives_the_same_probabilities(method: str) -> None:
    true_prob, y = _synthetic(2000, 6)
    score = true_prob**3
    cal = fit_calibrator(method, y, score)
    d = json.loads(json.dumps(cal.to_json()))
    assert d["format"] == "modelmonitor.calibrator/v1" and d["method"] == method
    probe = np.linspace(-0.2, 1.2, 301)
    np.testing.assert_allclose(Calibrator.from_json(d).apply(probe), cal.apply(probe), atol=1e-9)
    # a model server without this package: the documented formula on the plain numbers
    if method == "platt":
        server = 1.0 / (1.0 + np.exp(-(d["coef"] * probe + d["intercept"])))
    else:
        server = np.interp(probe, d["x"], d["y"])
    np.testing.assert_allclose(server, cal.apply(probe), atol=1e-9)


def test_isotonic_refuses_too_few_labels_and_bad_json_is_named() -> None:
    true_prob, y = _synthetic(MIN_ISOTONIC_LABELS - 1, 7)
    with pytest.raises(ValueError, match=f"at least {MIN_ISOTONIC_LABELS} labelled rows"):
        fit_calibrator("isotonic", y, true_prob)
    fit_calibrator("platt", y, true_prob)  # Platt has two parameters: fine on few rows
    with pytest.raises(ValueError, match="method"):
        fit_calibrator("beta", y, true_prob)
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator("platt", np.ones(10), np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="format"):
        Calibrator.from_json({"format": "other/v9", "method": "platt", "coef": 1, "intercept": 0})
    with pytest.raises(ValueError, match="method"):
        Calibrator.from_json({"format": "modelmonitor.calibrator/v1", "method": "beta"})
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibrator.from_json(
            {"format": "modelmonitor.calibrator/v1", "method": "isotonic", "x": [1, 0], "y": [0, 1]}
        )


def test_assess_shows_both_calibrators_repair_a_cubed_probability() -> None:
    true_prob, y = _synthetic(5000, 8)
    got = assess(y, true_prob**3)
    assert got["rows"] == 1500 and got["fit_rows"] == 3500
    assert got["ece"] > 0.15  # the planted miscalibration
    assert got["ece_isotonic"] is not None and got["ece_isotonic"] < got["ece"] / 3
    assert got["ece_platt"] is not None and got["ece_platt"] < got["ece"] / 2
    assert got["brier_isotonic"] < got["brier"] and got["brier_platt"] < got["brier"]


def test_assess_skips_isotonic_on_too_few_rows() -> None:
    true_prob, y = _synthetic(1000, 9)  # 700 rows to fit: under the isotonic minimum
    got = assess(y, true_prob**3)
    assert got["ece_isotonic"] is None and got["ece_platt"] is not None
    with pytest.raises(ValueError, match="positives"):
        assess(np.zeros(100), np.linspace(0, 1, 100))
