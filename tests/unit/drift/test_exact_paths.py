"""The fast kernels compute the same figures as scipy and as a brute-force count, on awkward inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelmonitor.drift import exact
from modelmonitor.drift.exact import bin_counts, column_edges, ks_statistic, load_column
from modelmonitor.drift.methods import kstwo_sf
from modelmonitor.drift.numeric import (
    _bin_counts_sorted,
    _knot_buckets,
    bin_edges,
    exact_stats,
    sketch_stats,
    sort_rows,
)
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


def test_one_column_edges_and_bins_equal_the_block_form() -> None:
    """The 1-D kernels of the cold path give the block kernels' edges and counts, bit for bit, from
    an empty column to one full of ties."""
    rng = np.random.default_rng(4)
    for x in (
        np.empty(0),
        np.array([2.5]),
        np.array([1.0, 1.0]),
        np.round(rng.normal(size=37)),
        rng.normal(size=1001),
    ):
        x = np.sort(x)
        block = np.full((1, max(x.size, 1) + 3), np.nan)
        block[0, : x.size] = x
        n = np.array([x.size])
        edges = bin_edges(block, n)
        assert column_edges(x).tolist() == edges[0].tolist()
        assert bin_counts(x, edges[0]).tolist() == _bin_counts_sorted(block, n, edges)[0].tolist()


def test_load_column_makes_missing_and_infinite_values_nan() -> None:
    buf = np.empty(5)
    assert load_column(pd.Series([1.0, np.inf, np.nan, -np.inf, 2.0]), buf) == 2
    assert np.isnan(buf[1:4]).all() and buf[[0, 4]].tolist() == [1.0, 2.0]
    assert load_column(pd.Series([3, None, 4, 5, 6], dtype="Int64"), buf) == 4
    assert np.isnan(buf[1]) and buf[[0, 2, 3, 4]].tolist() == [3.0, 4.0, 5.0, 6.0]


def test_sketch_stats_without_wasserstein_keep_every_other_figure() -> None:
    """Skipping the Wasserstein integral (a method that does not use it) changes nothing else, and
    sorting the window block in place gives the figures of sorting a copy."""
    rng = np.random.default_rng(9)
    ref = np.stack([rng.normal(size=4000), rng.exponential(size=4000)])
    sk = stack_sketches(build_sketches(ref, np.zeros(2, dtype=np.int64), knots=65))
    cur = np.stack([rng.normal(0.2, 1.0, 900), np.append(rng.exponential(1.3, 800), [np.nan] * 100)])
    full, n_full = sketch_stats(sk, cur)
    lean, n_lean = sketch_stats(sk, cur.copy(), wasserstein=False, overwrite=True)
    assert np.isfinite(full.wasserstein).all() and np.isnan(lean.wasserstein).all()
    assert full.ks.tolist() == lean.ks.tolist() and n_full.tolist() == n_lean.tolist() == [900, 800]
    assert full.ref_bins.tolist() == lean.ref_bins.tolist()
    assert full.cur_bins.tolist() == lean.cur_bins.tolist()


@pytest.mark.parametrize("seed", [0, 1])
def test_ks_statistic_evaluating_part_of_the_window_is_the_full_evaluation(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows with hundreds to thousands of distinct values (sampled first, then only the stretches
    that can hold the maximum): no drift, a shift, a narrow bump peaking between two samples, ties.
    The statistic equals scipy's and, bit for bit, that of every value evaluated."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=6000)
    bump = np.concatenate([rng.normal(size=2000), rng.normal(0.7, 0.001, 40)])
    pairs = [
        (ref, rng.normal(size=2000)),
        (ref, rng.normal(0.1, 1.0, 2000)),
        (ref, bump),
        (np.round(ref, 2), np.round(rng.normal(size=2000), 2)),  # ~500 distinct values, shared
    ]
    for r, c in pairs:
        r, c = np.sort(r), np.sort(c)
        sampled = ks_statistic(r, c)
        assert sampled == pytest.approx(stats.ks_2samp(r, c).statistic, abs=1e-12)
        with monkeypatch.context() as m:
            m.setattr(exact, "_KS_STEP", c.size)  # no sampling: every distinct value
            assert sampled == ks_statistic(r, c)


def test_load_column_sorted_counts_what_the_unsorted_load_counts() -> None:
    buf = np.empty(6)
    for values in (
        [3.0, np.nan, 1.0, 2.0, np.nan, 0.5],
        [np.inf, 1.0, -np.inf, np.nan, 2.0, 0.0],
        [np.nan] * 6,
    ):
        n = load_column(pd.Series(values), buf, sort=True)
        finite = np.sort(np.array(values)[np.isfinite(values)])
        assert n == finite.size and buf[:n].tolist() == finite.tolist() and np.isnan(buf[n:]).all()
