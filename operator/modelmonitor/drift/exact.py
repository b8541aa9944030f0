"""Exact statistics of one numeric feature from its raw values, on 1-D sorted arrays.

The cold path (raw reference) works one feature at a time: the column is copied once into a reused
buffer (missing and +-inf as NaN, :func:`load_column`) and sorted in place. Sorting the reference is
most of the cost, as it is for ``scipy.stats.ks_2samp``; the rest is a few numpy calls per feature:

* decile bin counts (PSI and Jensen-Shannon, the effect every feature reports): 9 binary searches a
  side (:func:`column_edges`, :func:`bin_counts`);
* :func:`ks_statistic` locates distinct current values in the reference (no merge), and only those
  where the largest gap can be;
* :func:`wasserstein_distance` integrates the quantile functions on a grid that depends only on the
  two sample sizes (cached).

``detect`` computes the KS statistic and the Wasserstein distance only for the features whose method
uses them (the method follows from the non-missing counts, known before any statistic).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelmonitor.drift.defaults import PSI_BINS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_PROBS = np.arange(1, PSI_BINS, dtype=np.float64) / PSI_BINS


def load_column(series: pd.Series, out: FloatArray, *, sort: bool = False) -> int:
    """Copy a numeric column into ``out`` (same length) as float64, missing and +-inf as NaN; return
    the count of the other (non-missing) values. With ``sort``, ``out`` is also sorted (NaN last) and
    the count read off the sorted values, which saves a pass over them."""
    if series.dtype == np.float64:
        np.copyto(out, series.to_numpy())  # NaN already means missing: no conversion pass
    else:
        out[:] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if sort:
        out.sort()
        n = int(np.searchsorted(out, np.nan, side="left")) if out.size and np.isnan(out[-1]) else out.size
        if n == 0 or (out[0] != -np.inf and out[n - 1] != np.inf):
            return n
    n = int(np.count_nonzero(np.isfinite(out)))
    if n < out.size:
        out[np.isinf(out)] = np.nan
    if sort:
        out.sort()
    return n


def column_edges(x: FloatArray) -> FloatArray:
    """Interior edges of the ``PSI_BINS`` reference-quantile bins of sorted non-missing values ``x``.

    The same arithmetic as :func:`.numeric.bin_edges` on one row (linear-interpolation quantiles,
    duplicates and NaN replaced by +inf, ascending), without its 2-D indexing.
    """
    n = x.size
    if n == 0:
        return np.full(_PROBS.size, np.inf)
    pos = float(n - 1) * _PROBS
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    v_lo = x[lo]
    edges: FloatArray = v_lo + (x[hi] - v_lo) * (pos - lo)
    dup = np.zeros(edges.size, dtype=bool)
    dup[1:] = edges[1:] == edges[:-1]
    edges[dup | np.isnan(edges)] = np.inf
    edges.sort()
    return edges


def bin_counts(x: FloatArray, edges: FloatArray) -> IntArray:
    """Values of sorted ``x`` per bin ``(-inf, e1], (e1, e2], ..., (e_last, +inf)``."""
    le = np.empty(edges.size + 1, dtype=np.int64)
    le[:-1] = np.searchsorted(x, edges, side="right")
    le[-1] = x.size
    return np.diff(le, prepend=0)


#: The KS statistic is first evaluated at every ``_KS_STEP``-th distinct window value (see
#: :func:`ks_statistic`); at or below ``4 * _KS_STEP`` distinct values, at all of them at once.
_KS_STEP = 32


def ks_statistic(r: FloatArray, c: FloatArray) -> float:
    """Two-sample KS statistic of two sorted, non-empty samples without merging them.

    Only the distinct current values ``v`` are located in the reference. Between two consecutive ``v``
    the current ECDF is flat while the reference ECDF rises, so the largest gap is at a ``v`` or just
    below the next one: the same values scipy evaluates, computed the same way (count / n).

    Most of them need not be located: the gaps are first taken at every ``_KS_STEP``-th ``v``; between
    two such samples both ECDFs are monotone, so no gap there exceeds (reference ECDF at the right
    sample - current ECDF at the left) or (current ECDF at the right - reference ECDF at the left).
    Only the stretches whose bound reaches the sampled maximum are evaluated value by value: the
    statistic is the one a full evaluation gives, bit for bit, for a fraction of the binary searches.
    """
    n1, n2 = r.size, c.size
    last = np.empty(n2, dtype=bool)
    np.not_equal(c[1:], c[:-1], out=last[:-1])
    last[-1] = True
    v = c[last]
    k_le = np.flatnonzero(last) + 1  # current values <= v
    k_lt = np.concatenate(([0], k_le[:-1]))  # current values < v

    def gaps(at: IntArray | slice) -> tuple[FloatArray, IntArray, IntArray]:
        a_le = np.searchsorted(r, v[at], side="right")  # reference values <= v
        a_lt = a_le.copy()
        tied = np.flatnonzero((a_le > 0) & (r[np.maximum(a_le - 1, 0)] == v[at]))
        if tied.size:
            a_lt[tied] = np.searchsorted(r, v[at][tied], side="left")
        gap = np.maximum(np.abs(a_le / n1 - k_le[at] / n2), np.abs(a_lt / n1 - k_lt[at] / n2))
        return gap, a_le, a_lt

    m = v.size
    if m <= 4 * _KS_STEP:
        return float(np.max(gaps(slice(None))[0]))
    sampled = np.arange(0, m, _KS_STEP)
    if sampled[-1] != m - 1:
        sampled = np.append(sampled, m - 1)
    gap, a_le, a_lt = gaps(sampled)
    d = float(np.max(gap))
    lo, hi = sampled[:-1], sampled[1:]
    bound = np.maximum(a_le[1:] / n1 - k_le[lo] / n2, k_lt[hi] / n2 - a_lt[:-1] / n1)
    # The margin keeps a stretch whose bound is the maximum up to rounding.
    open_ = np.flatnonzero((bound > d - 1e-9) & (hi - lo > 1))
    if open_.size:
        lengths = hi[open_] - lo[open_] - 1
        first = np.cumsum(lengths) - lengths
        inside = np.arange(int(lengths.sum())) - np.repeat(first, lengths) + np.repeat(lo[open_] + 1, lengths)
        d = max(d, float(np.max(gaps(inside)[0])))
    return d


def wasserstein_distance(r: FloatArray, c: FloatArray) -> float:
    """Wasserstein-1 distance of two sorted, non-empty samples, in their unit.

    The integral of |Q_ref(p) - Q_cur(p)| over p in (0, 1) (equal to the integral of the ECDF gap), on
    the merged grid of the two samples' steps 1/n, which depends only on the two sizes.
    """
    n1, n2 = r.size, c.size
    long, short = (r, c) if n1 >= n2 else (c, r)
    grid = _quantile_grid(long.size, short.size)
    gap = long - np.repeat(short, grid.repeats)
    np.abs(gap, out=gap)
    total = float(short.size) * float(np.sum(gap))
    if grid.split.size:
        moved = np.abs(long[grid.split] - short[grid.split_lower + 1]) - gap[grid.split]
        total += float(np.sum(grid.split_weight * moved))
    return total / (float(n1) * float(n2))


@dataclass(frozen=True)
class _Grid:
    """Where the quantile steps of a sample of n_short values fall among those of n_long values.

    On the scale p * n_long * n_short, long value ``a`` covers (a n_short, (a + 1) n_short] and short
    value ``b`` covers (b n_long, (b + 1) n_long]. Short value ``b`` is at the start of ``repeats[b]``
    long steps, which it covers whole, except where a short boundary falls inside a long step
    (``split``; at most one per long step, as n_long >= n_short): there the next short value, after
    ``split_lower``, takes ``split_weight`` of it.
    """

    repeats: IntArray
    split: IntArray
    split_lower: IntArray
    split_weight: FloatArray


@lru_cache(maxsize=4)
def _quantile_grid(n_long: int, n_short: int) -> _Grid:
    """The grid of two sample sizes (the same for every column without missing values: cached)."""
    start = np.arange(n_long, dtype=np.int64) * n_short
    lower = start // n_long
    upper = (start + (n_short - 1)) // n_long
    split = np.flatnonzero(upper > lower)
    inside = upper[split] * n_long - start[split]  # length still covered by the lower short value
    repeats = np.bincount(lower, minlength=n_short).astype(np.int64)
    grid = _Grid(repeats, split, lower[split], (n_short - inside).astype(np.float64))
    for arr in (grid.repeats, grid.split, grid.split_lower, grid.split_weight):
        arr.flags.writeable = False
    return grid
