"""Chunks cover every row once; bands are mean ± 3 sd clipped to the metric's range; a planted drop in
accuracy falls outside the band and the reference's own chunks mostly do not."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from modelmonitor.quality.chunks import Band, band, chunk_bounds, outside, sampling_error


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 10])
def test_chunk_bounds_cover_every_row_once(size: int) -> None:
    for n in range(0, 50):
        bounds = chunk_bounds(n, size)
        rows = [i for start, stop in bounds for i in range(start, stop)]
        assert rows == list(range(n)), (n, size, bounds)
        if len(bounds) > 1:
            lengths = [stop - start for start, stop in bounds]
            assert all(length == size for length in lengths[:-1])
            assert size / 2 <= lengths[-1] < 1.5 * size


def test_a_short_last_chunk_is_merged_and_a_half_one_kept() -> None:
    assert chunk_bounds(9, 4) == [(0, 4), (4, 9)]  # 1 row left over (< 2): merged
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]  # 2 left over (half a chunk): kept
    assert chunk_bounds(3, 4) == [(0, 3)]
    assert chunk_bounds(0, 4) == []
    with pytest.raises(ValueError, match="chunk size"):
        chunk_bounds(10, 0)


def test_band_is_mean_plus_minus_three_sd_ignoring_missing_values() -> None:
    values = [0.80, 0.82, None, 0.79, 0.81, float("nan"), 0.83]
    defined = [0.80, 0.82, 0.79, 0.81, 0.83]
    mean, sd = statistics.mean(defined), statistics.stdev(defined)
    got = band(values, "accuracy")
    assert got is not None
    assert got.low == pytest.approx(mean - 3 * sd) and got.high == pytest.approx(mean + 3 * sd)


def test_band_clips_to_the_metric_range() -> None:
    high = band([0.99, 0.97, 1.0, 0.95], "accuracy")
    assert high is not None and high.high == 1.0 and high.low < 0.95
    rmse = band([0.1, 2.0, 0.2, 3.0], "rmse")
    assert rmse is not None and rmse.low == 0.0 and rmse.high > 3.0
    r2 = band([0.1, -2.0, 0.9, 0.5], "r2")  # unbounded below, clipped at 1 above
    assert r2 is not None and r2.high == 1.0 and r2.low < -2.0
    assert r2.to_dict() == {"low": round(r2.low, 6), "high": 1.0}
    assert Band(0.0, math.inf).to_dict() == {"low": 0.0, "high": None}


def test_band_needs_two_defined_values_and_a_known_metric() -> None:
    assert band([0.8], "accuracy") is None
    assert band([0.8, None, float("nan")], "accuracy") is None
    with pytest.raises(ValueError, match="accurracy"):
        band([0.8, 0.9], "accurracy")


def test_outside_never_alerts_on_missing_data() -> None:
    b = Band(0.7, 0.9)
    assert outside(0.69, b) and outside(0.91, b)
    assert not outside(0.7, b) and not outside(0.9, b) and not outside(0.8, b)
    assert not outside(None, b) and not outside(float("nan"), b) and not outside(0.1, None)


def test_sampling_error_scales_the_reference_spread_by_chunk_size() -> None:
    values = [0.80, 0.82, None, 0.79, 0.81]
    sd = statistics.stdev([0.80, 0.82, 0.79, 0.81])
    assert sampling_error(values, 500, 2000) == pytest.approx(sd * 0.5)
    assert sampling_error(values, 500, 500) == pytest.approx(sd)
    assert sampling_error([0.8], 500, 500) is None
    assert sampling_error(values, 500, 0) is None


def _accuracy_per_chunk(correct: np.ndarray, size: int) -> list[float | None]:
    return [float(np.mean(correct[a:b])) for a, b in chunk_bounds(correct.shape[0], size)]


def test_planted_accuracy_drop_is_outside_and_sampling_error_matches_binomial_noise() -> None:
    rng = np.random.default_rng(0)
    size, p = 500, 0.9
    reference = _accuracy_per_chunk(rng.uniform(size=40 * size) < p, size)
    b = band(reference, "accuracy")
    assert b is not None
    # the binomial standard error of one chunk's accuracy: sqrt(p(1-p)/n) = 0.0134
    se = sampling_error(reference, size, size)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / size), rel=0.25)
    same = _accuracy_per_chunk(rng.uniform(size=20 * size) < p, size)
    worse = _accuracy_per_chunk(rng.uniform(size=20 * size) < 0.82, size)
    assert sum(outside(v, b) for v in same) <= 1
    assert all(outside(v, b) for v in worse)
