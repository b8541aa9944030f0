"""Profiles: round trip, size, and drift against a profile agreeing with drift against raw data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelmonitor.drift import Profile, build_profile, detect

from .conftest import make_frame

TOLERANCE = 0.01


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    frame = make_frame(30_000, seed=21, numeric=6)
    rng = np.random.default_rng(22)
    frame["income"] = rng.lognormal(10, 1, len(frame))
    frame["score"] = np.round(rng.normal(600, 50, len(frame)))  # many ties
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "x2"] = np.nan
    return frame


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> Profile:
    return Profile.from_json(build_profile(reference).to_json())


def test_round_trip_keeps_schema_and_counts(reference: pd.DataFrame, profile: Profile) -> None:
    assert profile.rows == len(reference)
    assert {n: s.type for n, s in profile.schema.items()} == {
        **{f"x{i}": "numeric" for i in range(6)},
        "age": "numeric",
        "city": "categorical",
        "flag": "categorical",
        "income": "numeric",
        "score": "numeric",
    }
    x2 = profile.features["x2"]
    assert x2.missing == int(reference["x2"].isna().sum()) and x2.count == int(reference["x2"].notna().sum())
    city = profile.features["city"].categorical
    assert city is not None
    assert (
        dict(zip(city.categories, city.counts.tolist(), strict=True))
        == reference["city"].value_counts().to_dict()
    )
    assert Profile.from_json(profile.to_json()).to_dict() == profile.to_dict()


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "jensenshannon"])
@pytest.mark.parametrize("shift", [0.0, 0.2, 0.5])
def test_profile_statistics_agree_with_raw_reference(
    reference: pd.DataFrame, profile: Profile, method: str, shift: float
) -> None:
    current = make_frame(10_000, seed=23, shift=shift, scale=1 + shift, numeric=6)
    rng = np.random.default_rng(24)
    current["income"] = rng.lognormal(10 + shift, 1, len(current))
    current["score"] = np.round(rng.normal(600 + 50 * shift, 50, len(current)))
    raw = {f.name: f for f in detect(reference, current, method=method).features}
    approx = {f.name: f for f in detect(profile, current, method=method).features}
    assert raw.keys() == approx.keys()
    for name, exact in raw.items():
        got = approx[name]
        assert got.method == exact.method
        assert exact.statistic is not None and got.statistic is not None
        if got.method in ("psi", "jensenshannon", "chisquare"):
            assert got.statistic == pytest.approx(exact.statistic, abs=1e-12)  # same bins: exact
        else:
            assert abs(got.statistic - exact.statistic) <= TOLERANCE
        clear = exact.threshold is not None and abs(exact.statistic - exact.threshold) > TOLERANCE
        if clear and exact.p_value is None:
            assert got.drifted == exact.drifted


def test_hundred_features_fit_a_configmap() -> None:
    rng = np.random.default_rng(25)
    frame = pd.DataFrame(
        rng.normal(size=(20_000, 100)) * rng.lognormal(size=100), columns=[f"f{i}" for i in range(100)]
    )
    text = build_profile(frame).to_json()
    assert len(text.encode()) < 1024 * 1024
    assert json.loads(text)["format"] == "modelmonitor.drift/profile"


def test_high_cardinality_categories_are_pooled() -> None:
    rng = np.random.default_rng(26)
    frame = pd.DataFrame({"sku": rng.integers(0, 5_000, 20_000).astype(str)})
    prof = build_profile(frame, max_categories=100)
    cat = prof.features["sku"].categorical
    assert cat is not None and len(cat.categories) == 100 and cat.other == 20_000 - int(cat.counts.sum())
    current = pd.DataFrame({"sku": rng.integers(0, 5_000, 3_000).astype(str)})
    result = detect(prof, current).features[0]
    assert result.reason is None and not result.drifted and result.unseen_categories == []


def test_profile_refuses_other_json() -> None:
    with pytest.raises(ValueError, match="not a drift profile"):
        Profile.from_dict({"format": "something-else"})


@pytest.mark.parametrize("columns", [["x0", "x1"], ["city", "flag"]])
def test_single_type_frames_and_feature_subsets(
    reference: pd.DataFrame, profile: Profile, columns: list[str]
) -> None:
    current = make_frame(2_000, seed=27, shift=1.0, city_shares=[0.1, 0.1, 0.4, 0.4], numeric=6)
    for ref in (reference[columns], profile):
        report = detect(ref, current[columns], features=columns)
        assert [f.name for f in report.features if f.drifted] == [columns[0]]
        assert report.integrity.new_columns == []
