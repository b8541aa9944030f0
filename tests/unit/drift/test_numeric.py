"""Numeric statistics equal scipy's on raw data, and stay within 0.01 of them from a sketch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelmonitor.drift.distances import jensen_shannon, psi
from modelmonitor.drift.methods import ks_pvalues
from modelmonitor.drift.numeric import exact_stats, sketch_stats
from modelmonitor.drift.sketch import NumericSketch, build_sketches, stack_sketches


def _columns(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six reference/current column pairs covering ties, missing values, skew and unequal sizes."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(6, 4000))
    cur = rng.normal(0.2, 1.3, size=(6, 2500))
    ref[1], cur[1] = np.round(ref[1] * 2), np.round(cur[1] * 2)  # many ties, shared values
    ref[2, :300] = np.nan
    cur[3, 1000:] = np.nan
    ref[4], cur[4] = rng.lognormal(size=4000), rng.lognormal(0.3, 1.0, size=2500)
    ref[5], cur[5] = rng.integers(0, 50, 4000), rng.integers(5, 60, 2500)
    return ref, cur


def _valid(row: np.ndarray) -> np.ndarray:
    return row[~np.isnan(row)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_ks_and_wasserstein_equal_scipy(seed: int) -> None:
    ref, cur = _columns(seed)
    result, _, n1, n2 = exact_stats(ref, cur)
    for j in range(ref.shape[0]):
        a, b = _valid(ref[j]), _valid(cur[j])
        expected = stats.ks_2samp(a, b)
        assert result.ks[j] == pytest.approx(expected.statistic, abs=1e-9)
        assert result.wasserstein[j] == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9)
        assert (n1[j], n2[j]) == (a.size, b.size)
    pvals = ks_pvalues(result.ks, n1, n2)
    for j in range(ref.shape[0]):
        expected_p = stats.ks_2samp(_valid(ref[j]), _valid(cur[j])).pvalue
        assert pvals[j] == pytest.approx(expected_p, abs=1e-9)


def test_ks_pvalue_asymptotic_branch_equals_scipy() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(2, 20_000))
    cur = rng.normal(0.03, 1.0, size=(2, 3_000))
    result, _, n1, n2 = exact_stats(ref, cur)
    pvals = ks_pvalues(result.ks, n1, n2)
    for j in range(2):
        expected = stats.ks_2samp(ref[j], cur[j])
        assert pvals[j] == pytest.approx(expected.pvalue, abs=1e-9)


def test_identical_samples_give_zero() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 500))
    result, _, _, _ = exact_stats(x, x.copy())
    assert result.ks[0] == 0.0
    assert result.wasserstein[0] == 0.0


def test_psi_and_js_on_bins() -> None:
    ref = np.array([[100, 200, 300, 0], [10, 10, 10, 10]])
    cur = np.array([[150, 150, 250, 50], [10, 10, 10, 10]])
    js = jensen_shannon(ref, cur)
    assert js[0] == pytest.approx(jensenshannon(ref[0], cur[0], base=2), abs=1e-12)
    assert js[1] == pytest.approx(0.0, abs=1e-12)
    r, c = np.array([1 / 6, 2 / 6, 3 / 6, 1e-4]), np.array([0.25, 0.25, 250 / 600, 50 / 600])
    assert psi(ref, cur)[0] == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)
    assert psi(ref, cur)[1] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_js_equals_scipy_on_random_bins_and_is_nan_without_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 500, size=(30, 12))
    cur = rng.integers(0, 500, size=(30, 12))
    ref[:, 10:] = cur[:, 10:] = 0  # padded columns
    ref[3], cur[5] = 0, 0  # a side without rows
    cur[7] = ref[7] * 3  # same shares
    js = jensen_shannon(ref, cur)
    for j in range(30):
        if j in (3, 5):
            assert np.isnan(js[j])
        else:
            assert js[j] == pytest.approx(jensenshannon(ref[j], cur[j], base=2), abs=1e-12)
    assert js[7] == pytest.approx(0.0, abs=1e-7)


def test_exact_ks_pvalues_equal_scipy_for_small_and_unequal_samples() -> None:
    rng = np.random.default_rng(11)
    for _ in range(40):
        n1, n2 = (int(n) for n in rng.integers(1, 400, size=2))
        a, b = rng.normal(size=n1), np.round(rng.normal(rng.uniform(0, 1), size=n2), 1)
        d = np.array([stats.ks_2samp(a, b).statistic])
        got = ks_pvalues(d, np.array([n1]), np.array([n2]))
        assert got[0] == stats.ks_2samp(a, b, method="exact").pvalue


def test_reference_decile_bins() -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(1, 10_000))
    result, edges, _, _ = exact_stats(ref, ref[:, :5000].copy())
    np.testing.assert_allclose(edges[0], np.quantile(ref[0], np.arange(1, 10) / 10), rtol=0, atol=1e-12)
    assert result.ref_bins[0].tolist() == [1000] * 10


@pytest.mark.parametrize("seed", [0, 1])
def test_sketch_statistics_within_tolerance(seed: int) -> None:
    ref, cur = _columns(seed)
    exact, _, _, _ = exact_stats(ref, cur)
    missing = np.count_nonzero(np.isnan(ref), axis=1)
    sketches = [NumericSketch.from_dict(s.to_dict()) for s in build_sketches(ref, missing)]
    approx, n2 = sketch_stats(stack_sketches(sketches), cur)
    std = np.nanstd(ref, axis=1)
    assert np.all(np.abs(approx.ks - exact.ks) <= 0.01)
    assert np.all(np.abs(approx.wasserstein - exact.wasserstein) / std <= 0.01)
    assert np.array_equal(approx.ref_bins, exact.ref_bins)
    assert np.array_equal(approx.cur_bins, exact.cur_bins)
    assert n2.tolist() == np.count_nonzero(~np.isnan(cur), axis=1).tolist()


def test_sketch_of_heavy_tail_and_outlier() -> None:
    rng = np.random.default_rng(9)
    ref = np.stack([rng.pareto(1.5, 50_000), np.append(rng.normal(size=49_999), 1e6)])
    cur = np.stack([rng.pareto(1.3, 5_000), rng.normal(0.1, 1.0, 5_000)])
    exact, _, _, _ = exact_stats(ref, cur)
    sk = stack_sketches(build_sketches(ref, np.zeros(2, dtype=np.int64)))
    approx, _ = sketch_stats(sk, cur)
    assert np.all(np.abs(approx.ks - exact.ks) <= 0.01)
    assert np.all(np.abs(approx.wasserstein - exact.wasserstein) / ref.std(axis=1) <= 0.01)


def test_profile_pvalues_approximate_scipy_kstwo() -> None:
    """With a profile reference the vectorised Stephens approximation replaces scipy's kstwo."""
    n_ref = np.full(40, 100_000)
    n_cur = np.repeat([500, 1_000, 5_000, 20_000], 10)
    en = n_ref * n_cur / (n_ref + n_cur)
    d = np.tile(np.linspace(0.5, 1.9, 10), 4) / np.sqrt(en)
    approx = ks_pvalues(d, n_ref, n_cur, exact=False)
    expected = stats.kstwo.sf(d, np.round(en))
    small = expected < 0.2
    assert np.all(np.abs(approx - expected)[small] < 0.0015)
    assert np.all(np.abs(approx - expected) < 0.01)
