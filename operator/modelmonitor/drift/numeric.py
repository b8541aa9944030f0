"""Numeric drift statistics over a block of columns.

Columns arrive as the rows of a 2-D float64 array (one row per feature, one column per observation),
NaN meaning missing. Two kernels compute the same figures:

* :func:`exact_stats` — raw reference: the two-sample KS statistic and the Wasserstein-1 distance are
  computed exactly (equal to ``scipy.stats.ks_2samp`` / ``wasserstein_distance`` to rounding) by the
  1-D kernels of :mod:`.exact`, each side sorted once. ``detect`` calls those kernels feature by
  feature; this block form is for callers that hold 2-D arrays.
* :func:`sketch_stats` — reference given as a quantile sketch (see :mod:`.sketch`): the current window
  is sorted and the few hundred knots are located in it, so one evaluation costs O(n log n) on the
  window alone. The KS statistic is within the largest reference mass between two knots (<= 0.004 at
  the default 513 knots) of the exact value.

Python loops run over columns only (numpy has no batched searchsorted), never over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelmonitor.drift.defaults import PSI_BINS
from modelmonitor.drift.exact import FloatArray as FloatArray  # the array types of the engine
from modelmonitor.drift.exact import IntArray as IntArray
from modelmonitor.drift.exact import ks_statistic, wasserstein_distance


@dataclass(frozen=True)
class NumericStats:
    """Per-column results of one kernel call; every array has one entry per column of the block.

    ``ks`` is the KS statistic D (share 0-1); ``wasserstein`` is the raw Wasserstein-1 distance in the
    feature's own unit; ``ref_bins``/``cur_bins`` are row counts per reference-quantile bin (padded bins
    are empty on both sides).
    """

    ks: FloatArray
    wasserstein: FloatArray
    ref_bins: IntArray
    cur_bins: IntArray


def sort_rows(block: FloatArray, *, in_place: bool = False) -> tuple[FloatArray, IntArray]:
    """Sort each row ascending (NaN last) and return it with the count of non-missing values per row;
    ``in_place`` sorts ``block`` itself (no copy)."""
    ordered = block if in_place else block.copy()
    ordered.sort(axis=1)
    n = np.full(block.shape[0], block.shape[1], dtype=np.int64)
    if block.shape[1]:
        gaps = np.flatnonzero(np.isnan(ordered[:, -1]))  # NaN sorts last: only these rows have any
        n[gaps] = np.count_nonzero(~np.isnan(ordered[gaps]), axis=1)
    return ordered, n


def quantiles_sorted(ordered: FloatArray, n: IntArray, probs: FloatArray) -> FloatArray:
    """Linear-interpolation quantiles (numpy's default method) of rows sorted by :func:`sort_rows`.

    Rows with no values give NaN. Shape ``(rows, len(probs))``.
    """
    pos = np.maximum(n - 1, 0)[:, None] * probs[None, :]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0)[:, None])
    frac = pos - lo
    if ordered.shape[1] == 0:
        return np.full((ordered.shape[0], probs.size), np.nan)
    v_lo = np.take_along_axis(ordered, lo, axis=1)
    v_hi = np.take_along_axis(ordered, hi, axis=1)
    out: FloatArray = v_lo + (v_hi - v_lo) * frac
    out[n == 0] = np.nan
    return out


def bin_edges(ordered: FloatArray, n: IntArray, bins: int = PSI_BINS) -> FloatArray:
    """Interior edges of ``bins`` reference-quantile bins, de-duplicated and padded with +inf.

    Bins are ``(-inf, e1], (e1, e2], ..., (e_last, +inf)``; a padded (+inf) edge makes an empty bin on
    both sides, which adds nothing to PSI or Jensen-Shannon.
    """
    probs = np.arange(1, bins, dtype=np.float64) / bins
    edges = quantiles_sorted(ordered, n, probs)
    dup = np.zeros_like(edges, dtype=bool)
    dup[:, 1:] = edges[:, 1:] == edges[:, :-1]
    edges[dup | np.isnan(edges)] = np.inf
    return np.sort(edges, axis=1)


def _bin_counts_sorted(ordered: FloatArray, n: IntArray, edges: FloatArray) -> IntArray:
    """Counts per bin of sorted rows: ``edges`` are interior edges (+inf padded), bins closed on the right."""
    le = np.empty(edges.shape, dtype=np.int64)
    for j in range(ordered.shape[0]):
        le[j] = np.searchsorted(ordered[j, : n[j]], edges[j], side="right")
    cum = np.concatenate([le, n[:, None]], axis=1)
    return np.diff(cum, axis=1, prepend=0)


def exact_stats(ref: FloatArray, cur: FloatArray) -> tuple[NumericStats, FloatArray, IntArray, IntArray]:
    """Exact KS and Wasserstein-1 of each row of ``ref`` against the same row of ``cur``.

    Returns the stats, the reference bin edges, and the non-missing counts (reference, current). Rows
    where either side has no values give NaN statistics (the caller reports them as insufficient data).
    """
    ref_s, n1 = sort_rows(ref)
    cur_s, n2 = sort_rows(cur)
    edges = bin_edges(ref_s, n1)
    ref_bins = _bin_counts_sorted(ref_s, n1, edges)
    cur_bins = _bin_counts_sorted(cur_s, n2, edges)
    ks = np.full(ref_s.shape[0], np.nan)
    wasserstein = np.full(ref_s.shape[0], np.nan)
    for j in np.flatnonzero((n1 > 0) & (n2 > 0)):
        r, c = ref_s[j, : n1[j]], cur_s[j, : n2[j]]
        ks[j], wasserstein[j] = ks_statistic(r, c), wasserstein_distance(r, c)
    return NumericStats(ks, wasserstein, ref_bins, cur_bins), edges, n1, n2


@dataclass(frozen=True)
class SketchMatrix:
    """Quantile sketches of several columns padded into 2-D arrays (one row per column).

    ``knots`` are reference values (ascending, row ``j`` valid up to ``size[j]``, padded with the last
    knot); ``le``/``lt`` are the reference counts <= / < each knot; ``edge_index`` locates the PSI bin
    edges among the knots (-1 for a padded edge); ``count`` is the non-missing reference count.
    """

    knots: FloatArray
    le: IntArray
    lt: IntArray
    size: IntArray
    edge_index: IntArray
    count: IntArray


def sketch_stats(
    sk: SketchMatrix, cur: FloatArray, *, wasserstein: bool = True, overwrite: bool = False
) -> tuple[NumericStats, IntArray]:
    """KS and Wasserstein-1 of each row of ``cur`` (unsorted, NaN = missing) against a sketch row.

    Between two knots the reference ECDF is taken as linear. KS is evaluated at the knots (right value
    and left limit), which is exact up to the reference mass strictly between two knots. Wasserstein is
    integrated interval by interval from the exact integral of each ECDF; where the two ECDFs cross
    inside one interval the crossing is taken as linear (error below interval width x interval mass).
    Without ``wasserstein`` its figures are NaN and the per-bucket sums it needs are not computed;
    ``overwrite`` lets the window block be sorted in place. Returns the stats and the current
    non-missing counts.
    """
    k = sk.knots.shape[1]
    cur_s, n2 = sort_rows(cur, in_place=overwrite)
    le, cnt_l, ties = _knot_counts(sk, cur_s, n2)

    n1f = sk.count[:, None].astype(np.float64)
    cum_cur = np.cumsum(cnt_l, axis=1)[:, :k]  # current values <= knot
    with np.errstate(divide="ignore", invalid="ignore"):
        n2f = n2[:, None].astype(np.float64)
        fr = sk.le / n1f
        frl = sk.lt / n1f
        fc = cum_cur / n2f  # share of current <= knot
        fcl = fc - ties / n2f  # share of current < knot
    kvalid = np.arange(k)[None, :] < sk.size[:, None]
    gap = np.maximum(np.abs(fr - fc), np.abs(frl - fcl))
    ks = np.max(np.where(kvalid, gap, 0.0), axis=1, initial=0.0)
    if wasserstein:
        sums = _bucket_sums(sk, cur_s, le)
        w1 = _sketch_wasserstein(sk, (fr, frl, fc, fcl), cnt_l, sums, n2)
    else:
        w1 = np.full(ks.shape, np.nan)

    # Bin counts: the PSI edges are knots, so counts <= edge come straight from the ECDF counts.
    safe = np.maximum(sk.edge_index, 0)
    cur_le = np.where(sk.edge_index >= 0, np.take_along_axis(cum_cur, safe, axis=1), n2[:, None])
    ref_le = np.where(sk.edge_index >= 0, np.take_along_axis(sk.le, safe, axis=1), sk.count[:, None])
    cur_bins = np.diff(np.concatenate([cur_le, n2[:, None]], axis=1), axis=1, prepend=0)
    ref_bins = np.diff(np.concatenate([ref_le, sk.count[:, None]], axis=1), axis=1, prepend=0)
    missing = (sk.count == 0) | (n2 == 0)
    ks[missing] = np.nan
    w1[missing] = np.nan
    return NumericStats(ks, w1, ref_bins, cur_bins), n2


def _sketch_wasserstein(
    sk: SketchMatrix,
    ecdfs: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    cnt_l: IntArray,
    sums: FloatArray,
    n2: IntArray,
) -> FloatArray:
    """Wasserstein-1 of :func:`sketch_stats`, from the ECDFs at the knots (reference <=, <, current
    <=, <) and the current count and sum of (value - knot 0) per bucket."""
    fr, frl, fc, fcl = ecdfs
    k = sk.knots.shape[1]
    x = sk.knots - sk.knots[:, :1]
    width = np.diff(x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        n2f = n2[:, None].astype(np.float64)
        int_ref = 0.5 * (fr[:, :-1] + frl[:, 1:]) * width
        int_cur = fc[:, :-1] * width + (cnt_l[:, 1:k] * x[:, 1:] - sums[:, 1:k]) / n2f
        area = np.abs(int_ref - int_cur)
        # Where the ECDFs cross inside an interval, model the current values strictly inside it as one
        # step at their mean (keeps the current integral exact) against the linear reference.
        cross = (fr[:, :-1] - fc[:, :-1]) * (frl[:, 1:] - fcl[:, 1:]) < 0
        at_right = (fc[:, 1:] - fcl[:, 1:]) * n2f  # current values equal to the right knot
        inside = cnt_l[:, 1:k] - at_right
        mean = (sums[:, 1:k] - at_right * x[:, 1:]) / inside
        mean = np.where(inside > 0, np.clip(mean, x[:, :-1], x[:, 1:]), x[:, 1:])
        left_w = mean - x[:, :-1]
        f_mid = fr[:, :-1] + (frl[:, 1:] - fr[:, :-1]) * np.where(width > 0, left_w / width, 0.0)
        stepped = _line_vs_level(fr[:, :-1] - fc[:, :-1], f_mid - fc[:, :-1], left_w)
        stepped += _line_vs_level(f_mid - fcl[:, 1:], frl[:, 1:] - fcl[:, 1:], x[:, 1:] - mean)
    area = np.where(cross, stepped, area)
    inner = np.arange(k - 1)[None, :] + 1 < sk.size[:, None]
    w1: FloatArray = np.sum(np.where(inner, area, 0.0), axis=1)
    last = np.take_along_axis(x, (sk.size - 1)[:, None], axis=1)[:, 0]
    tail_hi: FloatArray = np.take_along_axis(sums, sk.size[:, None], axis=1)[:, 0]
    tail_hi = tail_hi - np.take_along_axis(cnt_l, sk.size[:, None], axis=1)[:, 0] * last
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 += (tail_hi - sums[:, 0]) / n2
    return w1


def _knot_buckets(sk: SketchMatrix, cur_s: FloatArray, n2: IntArray) -> tuple[IntArray, FloatArray, IntArray]:
    """Bucket sorted current rows by the sketch knots: bucket ``i`` holds the values in
    (knot i-1, knot i] (bucket 0 those <= knot 0, bucket ``size`` those above the last knot).

    Returns per bucket the value count and the sum of (value - knot 0), and per knot the count of values
    equal to it (:func:`_knot_counts` and :func:`_bucket_sums`).
    """
    le, cnt_l, ties = _knot_counts(sk, cur_s, n2)
    return cnt_l, _bucket_sums(sk, cur_s, le), ties


def _knot_counts(sk: SketchMatrix, cur_s: FloatArray, n2: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Current values <= each knot (with 0 before and n2 after: ``le``), per bucket, and equal to each
    knot. The knots are located in the sorted window (a few hundred binary searches per column), not
    each value among the knots."""
    b, k = sk.knots.shape
    le = np.empty((b, k + 2), dtype=np.int64)
    le[:, 0] = 0
    ties = np.zeros((b, k), dtype=np.int64)
    for j in range(b):
        m, n = int(sk.size[j]), int(n2[j])
        c, knots = cur_s[j, :n], sk.knots[j, :m]
        le[j, 1 : m + 1] = np.searchsorted(c, knots, side="right")
        le[j, m + 1 :] = n
        ties[j, :m] = le[j, 1 : m + 1] - np.searchsorted(c, knots, side="left")
    return le, np.diff(le, axis=1), ties


def _bucket_sums(sk: SketchMatrix, cur_s: FloatArray, le: IntArray) -> FloatArray:
    """Sum of (value - knot 0) of the sorted current values per bucket, from one cumulative sum."""
    b = cur_s.shape[0]
    csum = np.zeros((b, cur_s.shape[1] + 1))
    np.subtract(cur_s, sk.knots[:, :1], out=csum[:, 1:])
    np.cumsum(csum[:, 1:], axis=1, out=csum[:, 1:])  # NaN (missing) only after the n2 valid values
    sums: FloatArray = np.diff(np.take_along_axis(csum, le, axis=1), axis=1)
    return sums


def _line_vs_level(u: FloatArray, v: FloatArray, width: FloatArray) -> FloatArray:
    """Integral of |g| over an interval of ``width`` where g goes linearly from ``u`` to ``v``."""
    same = u * v >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = (u * u + v * v) / (2.0 * (np.abs(u) + np.abs(v)))
    out: FloatArray = np.where(same, 0.5 * (np.abs(u) + np.abs(v)), crossing) * width
    return out
