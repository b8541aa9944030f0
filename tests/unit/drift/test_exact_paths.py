"""The fast kernels compute the same figures as scipy and as a brute-force count, on awkward inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelmonitor.drift.methods import kstwo_sf
from modelmonitor.drift.numeric import _knot_buckets, exact_stats, sort_rows
from modelmonitor.drift.sketch import build_sketches, stack_sketches


def test_exact_stats_equal_scipy_whichever_side_is_larger() -> None:
    """Window larger than the reference, coprime sizes, ties across sides, a single value, missing."""
    rng = np.random.default_rng(21)
    ref = np.full((4, 701), np.nan)
    cur = np.full((4, 2303), np.nan)
    ref[0], cur[0] = rng.normal(size=701), rng.normal(0.3, 1.0, size=2303)
    ref[1], cur[1] = np.round(rng.normal(size=701)), np.round(rng.normal(size=2303))
    ref[2, :1], cur[2, :1000] = 0.5, rng.normal(size=1000)
    ref[3, :650], cur[3] = rng.exponential(size=650), rng.exponential(1.2, size=2303)
    result, _, n1, n2 = exact_stats(ref, cur)
    for j in range(4):
        a, b = ref[j, : n1[j]], cur[j, : n2[j]]
        assert result.ks[j] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
        assert result.wasserstein[j] == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9)


def test_kstwo_sf_equals_scipy_where_it_sums_the_smirnov_series() -> None:
    """p-values of drifted features (2.2 <= n d^2 < 370) and around the branch limits."""
    for n in (141, 2000):
        d = np.concatenate([np.sqrt(np.linspace(2.2, 370.0, 12) / n), np.sqrt([2.1, 371.0]) / np.sqrt(n)])
        n_arr = np.full(d.shape, float(n))
        np.testing.assert_allclose(kstwo_sf(d, n_arr), stats.kstwo.sf(d, n_arr), rtol=0, atol=1e-11)


def test_knot_buckets_equal_a_brute_force_count() -> None:
    """Values equal to knots, above and below every knot, missing values, sketches of different sizes."""
    rng = np.random.default_rng(8)
    ref = np.stack([rng.normal(size=3000), np.append(rng.integers(0, 40, 2000), [np.nan] * 1000)])
    sk = stack_sketches(build_sketches(ref, np.count_nonzero(np.isnan(ref), axis=1), knots=65))
    cur = np.stack([np.concatenate([sk.knots[0, :50], rng.normal(0, 3, 450)]), rng.integers(-5, 50, 500)])
    cur[1, ::9] = np.nan
    cnt, sums, ties = _knot_buckets(sk, *sort_rows(cur))
    for j in range(2):
        knots, x = sk.knots[j, : sk.size[j]], cur[j][~np.isnan(cur[j])]
        bucket = np.searchsorted(knots, x, side="left")  # knots strictly below each value
        want = np.bincount(bucket, minlength=knots.size + 1)
        assert cnt[j, : knots.size + 1].tolist() == want.tolist()
        assert not cnt[j, knots.size + 1 :].any()
        np.testing.assert_allclose(
            sums[j, : knots.size + 1],
            np.bincount(bucket, weights=x - knots[0], minlength=knots.size + 1),
            rtol=1e-12,
            atol=1e-9,
        )
        assert ties[j, : knots.size].tolist() == [int(np.sum(x == k)) for k in knots]
