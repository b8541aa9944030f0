"""detect(): power, false alarms, bad input, corrections, effect floor, report shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelmonitor.drift import DEFAULT_THRESHOLDS, DriftReport, detect
from modelmonitor.drift.report import FeatureResult
from modelmonitor.drift.verdicts import decide

from .conftest import make_frame


def _by_name(report: DriftReport) -> dict[str, FeatureResult]:
    return {f.name: f for f in report.features}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(10_000, seed=1)


def test_finds_mean_shift_scale_change_and_category_change_at_10k(reference: pd.DataFrame) -> None:
    current = make_frame(10_000, seed=2, shift=0.5, scale=1.5, city_shares=[0.3, 0.3, 0.2, 0.2])
    report = detect(reference, current)
    got = _by_name(report)
    assert got["x0"].drifted and got["x0"].method == "wasserstein"
    assert got["x1"].drifted
    assert got["city"].drifted and got["city"].method == "jensenshannon"
    assert not any(got[n].drifted for n in ("x2", "x3", "age", "flag"))
    assert report.drifted_features[:3] == ["x0", "x1", "city"] or set(report.drifted_features) == {
        "x0",
        "x1",
        "city",
    }


@pytest.mark.parametrize("method", ["ks", "psi", "jensenshannon"])
def test_every_method_finds_the_shifts(reference: pd.DataFrame, method: str) -> None:
    current = make_frame(10_000, seed=2, shift=0.5, scale=1.5, city_shares=[0.3, 0.3, 0.2, 0.2])
    got = _by_name(detect(reference, current, method=method))
    assert got["x0"].drifted and got["x1"].drifted and got["city"].drifted
    assert not got["x2"].drifted


def test_auto_uses_pvalue_tests_for_small_windows(reference: pd.DataFrame) -> None:
    current = make_frame(400, seed=3)
    got = _by_name(detect(reference, current))
    assert got["x0"].method == "ks" and got["x0"].p_value is not None
    assert got["city"].method == "chisquare" and got["city"].threshold == DEFAULT_THRESHOLDS["chisquare"]


def test_false_alarm_rate_of_pvalue_tests_is_the_significance_level() -> None:
    """Same distribution, 300 seeds x 7 features, p-value tests at 5%: about 5% of features alarm."""
    alarms = tests = dataset = 0
    for seed in range(300):
        ref = make_frame(12_000, seed=10_000 + seed, numeric=4)
        cur = make_frame(400, seed=20_000 + seed, numeric=4)
        report = detect(ref, cur)
        assert {f.method for f in report.features} == {"ks", "chisquare"}
        alarms += len(report.drifted_features)
        tests += len(report.features)
        dataset += report.dataset_drift
    assert 0.025 <= alarms / tests <= 0.075
    assert dataset / 300 <= 0.02


def test_no_false_alarm_with_distances_on_large_windows() -> None:
    worst = 0.0
    for seed in range(20):
        report = detect(make_frame(20_000, seed=seed), make_frame(5_000, seed=500 + seed))
        assert report.drifted_features == []
        worst = max(worst, max((f.statistic or 0.0) / (f.threshold or 1.0) for f in report.features))
    assert worst < 0.5  # the null distances stay under half their thresholds


def test_empty_window_is_insufficient_data(reference: pd.DataFrame) -> None:
    report = detect(reference, reference.iloc[:0])
    assert all(f.reason is not None and f.reason.startswith("insufficient data") for f in report.features)
    assert not report.dataset_drift and report.drift_share == 0.0


def test_bad_columns_are_reported_and_the_rest_evaluated(reference: pd.DataFrame) -> None:
    current = make_frame(5_000, seed=4).drop(columns=["x3"])
    current["x2"] = np.nan  # all missing
    current["x1"] = "text"  # numeric became string
    current["extra"] = 1.0
    ref = reference.assign(const=7)
    current["const"] = 7
    report = detect(ref, current, features=[*ref.columns, "ghost"])
    got = _by_name(report)
    assert got["x2"].reason is not None and got["x2"].reason.startswith("insufficient data")
    assert got["x3"].reason == "schema mismatch: column missing from the current window"
    assert got["x1"].reason == "schema mismatch: type changed from number to string"
    assert got["ghost"].reason == "schema mismatch: column missing from the reference"
    assert got["const"].reason is not None and got["const"].reason.startswith("constant column")
    for name in ("x0", "age", "city", "flag"):
        assert got[name].reason is None and got[name].statistic is not None
    integrity = report.integrity
    assert integrity.missing_columns == ["x3"]
    assert integrity.new_columns == ["extra"]
    assert integrity.type_changes == [{"name": "x1", "reference": "number", "current": "string"}]
    assert [c["name"] for c in integrity.null_rate_changes] == ["x2"]
    assert [f.reason is None for f in report.features][-5:] == [False] * 5  # unevaluated ranked last


def test_nan_everywhere_never_crashes_and_missing_share_is_reported(reference: pd.DataFrame) -> None:
    current = make_frame(3_000, seed=5)
    rng = np.random.default_rng(6)
    current = current.astype({"age": "float64"}).mask(rng.random(current.shape) < 0.3)
    current.loc[:10, "x0"] = np.inf
    report = detect(reference, current)
    got = _by_name(report)
    assert all(f.reason is None for f in report.features)
    assert got["x1"].missing_share[0] == 0.0
    assert got["x1"].missing_share[1] == pytest.approx(0.3, abs=0.03)
    assert not got["age"].drifted  # ints arriving as floats keep their values
    assert {c["name"] for c in report.integrity.null_rate_changes} == set(reference.columns)


def test_unseen_categories_are_named_and_counted(reference: pd.DataFrame) -> None:
    current = make_frame(2_000, seed=7)
    current.loc[:99, "city"] = "marseille"
    current.loc[100:104, "city"] = "brest"
    got = _by_name(detect(reference, current))
    assert got["city"].unseen_categories == ["marseille", "brest"]
    assert got["city"].unseen_rows == 105
    report = detect(reference, current)
    assert report.integrity.unseen_rows_share == pytest.approx(105 / 2_000)


def test_min_effect_silences_trivial_but_significant_shifts() -> None:
    ref = make_frame(60_000, seed=8)
    cur = make_frame(60_000, seed=9, shift=0.05)
    plain = _by_name(detect(ref, cur, method="ks"))["x0"]
    floored = _by_name(detect(ref, cur, method="ks", min_effect=0.05))["x0"]
    assert plain.drifted and plain.p_value is not None and plain.p_value < 1e-6
    assert floored.effect is not None and floored.effect < 0.05 and not floored.drifted


def _result(name: str, p: float) -> FeatureResult:
    return FeatureResult(name, "numeric", "ks", 0.1, p, 0.05, False, None, effect=0.2)


@pytest.mark.parametrize(("correction", "drifted"), [(None, 3), ("bonferroni", 1), ("bh", 2)])
def test_corrections_change_which_features_drift(correction: str | None, drifted: int) -> None:
    ps = [0.001, 0.008, 0.03, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    out = decide([_result(f"f{i}", p) for i, p in enumerate(ps)], correction, None)
    assert sum(r.drifted for r in out) == drifted


def test_dataset_drift_uses_drift_share(reference: pd.DataFrame) -> None:
    current = make_frame(10_000, seed=2, shift=0.5, scale=1.5, city_shares=[0.3, 0.3, 0.2, 0.2])
    report = detect(reference, current, drift_share=0.5)
    assert report.drift_share == pytest.approx(3 / 7)
    assert not report.dataset_drift
    assert detect(reference, current, drift_share=0.4).dataset_drift


def test_report_json_shape(reference: pd.DataFrame) -> None:
    report = detect(reference, make_frame(1_000, seed=11, shift=1.0)).to_dict()
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text)["dataset_drift"] is False
    assert {"dataset_drift", "drift_share", "features", "integrity"} <= set(report)
    first = report["features"][0]
    assert {"name", "type", "method", "statistic", "p_value", "threshold", "drifted", "reason"} <= set(first)
    assert first["name"] == "x0" and first["drifted"] is True
    effects = [f["effect"] for f in report["features"]]
    assert effects == sorted(effects, reverse=True)


def test_bad_arguments_are_refused(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        detect(reference, reference, method="t-test")
    with pytest.raises(ValueError, match="needs an explicit method"):
        detect(reference, reference, threshold=0.2)
    with pytest.raises(ValueError, match="drift_share"):
        detect(reference, reference, drift_share=0.0)


def test_threshold_mapping_and_counterparts(reference: pd.DataFrame) -> None:
    current = make_frame(5_000, seed=12)
    got = _by_name(detect(reference, current, threshold={"wasserstein": 0.3}))
    assert got["x0"].threshold == 0.3 and got["city"].threshold == DEFAULT_THRESHOLDS["jensenshannon"]
    got = _by_name(detect(reference, current, method="ks", threshold=0.01))
    assert got["city"].method == "chisquare" and got["city"].threshold == 0.01
    got = _by_name(detect(reference, current, method="wasserstein", threshold=0.3))
    assert (
        got["city"].method == "jensenshannon" and got["city"].threshold == DEFAULT_THRESHOLDS["jensenshannon"]
    )


def test_min_window_rows(reference: pd.DataFrame) -> None:
    report = detect(reference, make_frame(200, seed=13), min_window_rows=500)
    assert all(f.reason == "insufficient data: window shorter than its minimum rows" for f in report.features)


def test_object_columns_holding_numbers_are_numbers(reference: pd.DataFrame) -> None:
    """Windows decoded from JSON payloads may hold numbers in object columns: not a type change."""
    current = make_frame(2_000, seed=14).astype({"x0": object, "flag": object})
    current.loc[:5, "x0"] = None
    got = _by_name(detect(reference, current))
    assert got["x0"].reason is None and got["x0"].type == "numeric" and not got["x0"].drifted
    assert got["flag"].reason is None and not got["flag"].drifted
    profile_ref = detect(reference.astype({"x2": object}), current)
    assert _by_name(profile_ref)["x2"].type == "numeric"
