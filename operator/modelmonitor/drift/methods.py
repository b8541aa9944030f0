"""Choosing a method and threshold per feature, and KS p-values."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
from scipy import special, stats

from modelmonitor.drift.defaults import (
    AUTO_CATEGORICAL,
    AUTO_NUMERIC,
    AUTO_PVALUE_MAX_N,
    AUTO_ROWS_PER_CATEGORY,
    CORRECTIONS,
    COUNTERPART,
    DEFAULT_THRESHOLDS,
    KS_EXACT_MAX_N,
    METHOD_NAMES,
    METHODS,
    ColumnType,
)
from modelmonitor.drift.numeric import FloatArray, IntArray

Threshold = float | Mapping[str, float] | None


def validate(method: str, threshold: Threshold, correction: str | None, drift_share: float) -> None:
    """Raise ValueError naming the argument and the accepted values."""
    if method not in METHOD_NAMES:
        raise ValueError(f"method must be one of {', '.join(METHOD_NAMES)}; got {method!r}")
    if correction not in (None, *CORRECTIONS):
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}; got {correction!r}")
    if not 0.0 < drift_share <= 1.0:
        raise ValueError(f"drift_share is a share of features in (0, 1]; got {drift_share}")
    if isinstance(threshold, Mapping):
        unknown = set(threshold) - set(METHODS)
        if unknown:
            raise ValueError(
                f"threshold keys must be method names {', '.join(METHODS)}; got {sorted(unknown)}"
            )
    elif threshold is not None and method == "auto":
        raise ValueError(
            "a single threshold needs an explicit method: with method='auto' pass a mapping such as "
            "{'ks': 0.01, 'wasserstein': 0.2}, or choose a method"
        )


def choose(method: str, column: ColumnType, n_ref: int, n_cur: int, levels: int = 0) -> str:
    """Method used for one feature: ``auto`` picks a p-value test while the effective sample size
    n_ref*n_cur/(n_ref+n_cur) is at most ``AUTO_PVALUE_MAX_N`` (or, for a categorical feature with
    ``levels`` categories, below ``AUTO_ROWS_PER_CATEGORY`` * (levels - 1)) and an effect-size distance
    above it; an explicit method that does not fit the column type falls back to its counterpart."""
    if method == "auto":
        n_eff = effective_n(n_ref, n_cur)
        small = n_eff <= AUTO_PVALUE_MAX_N
        if column == "categorical":
            small = small or n_eff < AUTO_ROWS_PER_CATEGORY * (levels - 1)
        pair = AUTO_NUMERIC if column == "numeric" else AUTO_CATEGORICAL
        return pair[0] if small else pair[1]
    if column in METHODS[method].column_types:
        return method
    return COUNTERPART[(method, column)]


def threshold_for(requested: str, used: str, threshold: Threshold) -> float:
    """Threshold of ``used``: a mapping entry, else a float given for ``requested`` when ``used`` is the
    same method or a p-value test like it (significance levels carry over), else the default."""
    if isinstance(threshold, Mapping):
        return float(threshold.get(used, DEFAULT_THRESHOLDS[used]))
    if threshold is not None and (
        used == requested or METHODS[used].kind == METHODS.get(requested, METHODS[used]).kind == "pvalue"
    ):
        return float(threshold)
    return DEFAULT_THRESHOLDS[used]


def effective_n(n_ref: int, n_cur: int) -> float:
    """n_ref*n_cur/(n_ref+n_cur): the sample size that governs a two-sample test's power (rows)."""
    return 0.0 if n_ref + n_cur == 0 else n_ref * n_cur / (n_ref + n_cur)


def ks_pvalues(d: FloatArray, n_ref: IntArray, n_cur: IntArray, *, exact: bool = True) -> FloatArray:
    """Two-sided two-sample KS p-values.

    ``exact=True`` (raw reference) reproduces ``scipy.stats.ks_2samp(method='auto')``: the exact
    distribution when both sides have at most ``KS_EXACT_MAX_N`` values, else Smirnov's asymptotic
    ``kstwo.sf(D, round(n_eff))``. ``exact=False`` (profile reference, whose D is itself approximate)
    uses Stephens' corrected Kolmogorov limit ``kstwobign.sf((sqrt(n_eff) + 0.12 + 0.11/sqrt(n_eff)) D)``,
    vectorised and within 0.001 of ``kstwo`` below p = 0.2 from n_eff = 500 (0.003 at n_eff = 30). With a
    profile, ``n_ref`` is the reference's non-missing row count: the sketch stands for that sample, so it
    carries that sample's error.
    """
    out = np.full(d.shape, np.nan)
    ok = ~np.isnan(d) & (n_ref > 0) & (n_cur > 0)
    m = np.maximum(n_ref, n_cur).astype(np.float64)
    n = np.minimum(n_ref, n_cur).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        en = m * n / (m + n)
    if not exact:
        root = np.sqrt(en[ok])
        out[ok] = stats.kstwobign.sf((root + 0.12 + 0.11 / root) * d[ok])
        clipped: FloatArray = np.clip(out, 0.0, 1.0)
        return clipped
    en = np.round(en)
    asym = ok & (m > KS_EXACT_MAX_N)
    out[asym] = kstwo_sf(d[asym], en[asym])
    for j in np.flatnonzero(ok & ~asym):
        out[j] = _exact_pvalue(float(d[j]), int(n_ref[j]), int(n_cur[j]))
    clipped = np.clip(out, 0.0, 1.0)
    return clipped


def kstwo_sf(d: FloatArray, n: FloatArray) -> FloatArray:
    """``scipy.stats.kstwo.sf(d, n)``: the two-sided one-sample KS distribution (n integer-valued).

    Where scipy evaluates it as ``2 * smirnov(n, d)`` (n > 140, 2.2 <= n d^2 < 370: p below ~0.03,
    the drifted features), its scalar loop takes about 10 ms a value at n = 10^4; there the same exact
    Birnbaum-Tingey sum is vectorised (equal to scipy's to 1e-10 relative). Elsewhere scipy computes.
    """
    out = np.empty(d.shape)
    t = n * d
    nxsquared = t * d  # scipy's own expression, so the branches fall where scipy's do
    series = (n > 140) & (d > 0) & (d < 0.5) & (t > 1) & (t < n - 1) & (nxsquared >= 2.2)
    out[series & (nxsquared >= 370)] = 0.0
    for j in np.flatnonzero(series & (nxsquared < 370)):
        out[j] = min(max(2.0 * _smirnov(int(n[j]), float(d[j])), 0.0), 1.0)
    if not series.all():
        out[~series] = stats.kstwo.sf(d[~series], n[~series])
    return out


def _smirnov(n: int, d: float) -> float:
    """One-sided KS survival P(D+_n >= d) by Birnbaum and Tingey's finite sum, in logs:
    d * sum_{j <= n(1-d)} C(n, j) (1 - d - j/n)^(n-j) (d + j/n)^(j-1)."""
    j = np.arange(math.floor(n * (1.0 - d)) + 1, dtype=np.float64)
    below = 1.0 - d - j / n
    j = j[below >= 0.0]
    with np.errstate(divide="ignore"):
        log_terms = (
            special.gammaln(n + 1.0)
            - special.gammaln(j + 1.0)
            - special.gammaln(n - j + 1.0)
            + (n - j) * np.log1p(-(d + j / n))
            + (j - 1.0) * np.log(d + j / n)
        )
    top = float(np.max(log_terms))
    return d * math.exp(top) * float(np.sum(np.exp(log_terms - top)))


def _exact_pvalue(d: float, n1: int, n2: int) -> float:
    """``scipy.stats.ks_2samp(method='exact')`` p-value of statistic ``d`` between samples of n1 and n2.

    ks_2samp takes samples, not a statistic, and its exact distribution depends only on (n1, n2, D):
    D is on the lattice k / lcm(n1, n2), and two samples of two values each (i of the n1 and j of the
    n2 at 0, the rest at 1) have D = i/n1 - j/n2, and every D of two such samples is of that form. Where the
    exact computation fails, ks_2samp itself falls back to ``kstwo.sf(D, round(n_eff))`` with a warning.
    """
    g = math.gcd(n1, n2)
    n1g, n2g = n1 // g, n2 // g
    k = round(d * n1g * n2)  # D = k / lcm(n1, n2) = (i * n2g - j * n1g) / lcm
    i = np.arange(n1 + 1)
    num = i * n2g - k
    fits = (num >= 0) & (num % n1g == 0) & (num // n1g <= n2)
    if not fits.any():
        raise ValueError(f"{d!r} is not a KS statistic of two samples of {n1} and {n2} values")
    first = int(np.flatnonzero(fits)[0])
    j = (first * n2g - k) // n1g
    x = np.repeat([0.0, 1.0], [first, n1 - first])
    y = np.repeat([0.0, 1.0], [j, n2 - j])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ks_2samp(x, y, method="exact").pvalue)
