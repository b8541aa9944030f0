"""Reading a profile back gives exactly the arrays that were written, whichever JSON parser reads it."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmonitor.drift import Profile, build_profile, detect
from modelmonitor.drift.profile import CategoricalProfile, FeatureProfile
from modelmonitor.drift.schema import FeatureSchema
from modelmonitor.drift.sketch import NumericSketch, build_sketches

from .conftest import make_frame


def _reference_decode(text: str, dtype: str) -> np.ndarray[Any, Any]:
    """The encoding as documented: base64, zlib, byte-shuffled little-endian words."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    width = np.dtype(dtype).itemsize
    return raw.reshape(width, -1).T.copy().view(dtype).ravel()


def _reference_sketch(data: dict[str, Any]) -> NumericSketch:
    """A sketch read the straightforward way (unsigned counts, edge by edge): the oracle."""
    le = np.cumsum(_reference_decode(data["le"], "<u8")).astype(np.int64)
    return NumericSketch(
        count=int(data["count"]),
        missing=int(data["missing"]),
        mean=float("nan") if data["mean"] is None else float(data["mean"]),
        std=float("nan") if data["std"] is None else float(data["std"]),
        knots=_reference_decode(data["knots"], "<f8").astype(np.float64),
        le=le,
        lt=le - _reference_decode(data["eq"], "<u8").astype(np.int64),
        edges=np.array([np.inf if e is None else e for e in data["edges"]], dtype=np.float64),
    )


def _edge_case_frame() -> pd.DataFrame:
    frame = make_frame(3_000, seed=11)
    rng = np.random.default_rng(5)
    n = len(frame)
    with_gaps = frame["x0"].to_numpy().copy()
    with_gaps[rng.random(n) < 0.1] = np.nan
    frame["x0"] = with_gaps
    # Mostly zeros: the repeated quantile edges are padded with +inf (written as null).
    frame["zeros"] = np.where(rng.random(n) < 0.8, 0.0, rng.normal(0, 1, n))
    frame["tail"] = np.where(rng.random(n) < 0.01, 1e12, rng.exponential(1.0, n))  # an outlier's gap
    frame["tiny"] = rng.normal(0, 1e-300, n)
    frame["big_int"] = rng.integers(-(2**52), 2**52, n)
    city = frame["city"].astype(object)
    city[rng.random(n) < 0.05] = None
    frame["city"] = city
    frame["word"] = [f"w{i % 300}" for i in range(n)]  # more than max_categories: pooled into other
    return frame


@pytest.fixture(scope="module")
def profile() -> Profile:
    built = build_profile(_edge_case_frame(), max_categories=64)
    # A numeric feature with every value missing (no knots, NaN mean and sd), as a sketch of one.
    (empty,) = build_sketches(np.full((1, 8), np.nan), np.array([8], dtype=np.int64))
    schema = FeatureSchema(name="empty", type="numeric", family="number")
    return Profile(built.rows, {**built.features, "empty": FeatureProfile(schema, numeric=empty)}, built.meta)


def _assert_same_array(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _assert_same_numeric(a: NumericSketch, b: NumericSketch) -> None:
    assert (a.count, a.missing) == (b.count, b.missing)
    assert np.array_equal([a.mean, a.std], [b.mean, b.std], equal_nan=True)
    for name in ("knots", "le", "lt", "edges"):
        _assert_same_array(getattr(a, name), getattr(b, name))


def _assert_same_feature(a: FeatureProfile, b: FeatureProfile) -> None:
    assert a.schema == b.schema
    assert (a.numeric is None) == (b.numeric is None) and (a.categorical is None) == (b.categorical is None)
    if a.numeric is not None and b.numeric is not None:
        _assert_same_numeric(a.numeric, b.numeric)
    if a.categorical is not None and b.categorical is not None:
        ca, cb = a.categorical, b.categorical
        assert (ca.count, ca.missing, ca.categories, ca.other) == (
            cb.count,
            cb.missing,
            cb.categories,
            cb.other,
        )
        _assert_same_array(ca.counts, cb.counts)


def test_the_edge_cases_are_in_the_profile(profile: Profile) -> None:
    empty, constant = profile.features["empty"].numeric, profile.features["zeros"].numeric
    assert empty is not None and empty.knots.size == 0 and np.isnan(empty.mean)
    assert constant is not None and np.isinf(constant.edges).any()
    city, word = profile.features["city"].categorical, profile.features["word"].categorical
    assert city is not None and city.missing > 0 and word is not None and word.other > 0


def test_a_profile_reads_back_to_the_arrays_it_was_built_with(profile: Profile) -> None:
    back = Profile.from_json(profile.to_json())
    assert (
        back.rows == profile.rows
        and back.meta == profile.meta
        and list(back.features) == list(profile.features)
    )
    for name, feature in profile.features.items():
        _assert_same_feature(back.features[name], feature)


def test_the_fast_read_matches_the_reference_decoding(profile: Profile) -> None:
    text = profile.to_json()
    fast = Profile.from_json(text)
    slow = Profile.from_dict(json.loads(text))
    for item in json.loads(text)["features"]:
        name = item["name"]
        _assert_same_feature(fast.features[name], slow.features[name])
        if "numeric" in item:
            numeric = fast.features[name].numeric
            assert numeric is not None
            _assert_same_numeric(numeric, _reference_sketch(item["numeric"]))
            assert numeric.le.flags.writeable and numeric.knots.flags.c_contiguous
        if "categorical" in item:
            expected = CategoricalProfile.from_dict(item["categorical"])
            categorical = fast.features[name].categorical
            assert categorical is not None and categorical.categories == expected.categories


def test_detect_gives_the_same_report_on_either_read(profile: Profile) -> None:
    text = profile.to_json()
    current = _edge_case_frame().sample(frac=0.5, random_state=3).reset_index(drop=True)
    current["x0"] = current["x0"] + 0.4
    fast = detect(Profile.from_json(text), current).to_dict()
    slow = detect(Profile.from_dict(json.loads(text)), current).to_dict()
    assert json.dumps(fast, sort_keys=True, default=str) == json.dumps(slow, sort_keys=True, default=str)
    assert any(f["drifted"] for f in fast["features"])


def test_json_that_orjson_refuses_is_still_read(profile: Profile) -> None:
    data = json.loads(profile.to_json())
    data["meta"]["note"] = float("nan")  # a NaN literal, as a hand-written profile might hold
    data["meta"]["serial"] = 2**70  # an integer past 64 bits
    back = Profile.from_json(json.dumps(data))
    assert back.meta["serial"] == 2**70 and np.isnan(back.meta["note"])
    _assert_same_feature(back.features["x0"], profile.features["x0"])


def test_bytes_are_read_like_text(profile: Profile) -> None:
    text = profile.to_json()
    back = Profile.from_json(text.encode())
    for name, feature in profile.features.items():
        _assert_same_feature(back.features[name], feature)
