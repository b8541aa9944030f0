"""Distances between binned distributions, vectorised over rows (one row per feature).

Inputs are count tables (reference row counts, current row counts) with the same bins or categories in
the same columns; padded columns are empty on both sides and contribute nothing.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon

from modelmonitor.drift.defaults import PSI_EPSILON
from modelmonitor.drift.numeric import FloatArray, IntArray


def _shares(counts: IntArray) -> FloatArray:
    total = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, counts / total, np.nan)


def psi(ref: IntArray, cur: IntArray, epsilon: float = PSI_EPSILON) -> FloatArray:
    """Population stability index (nats): sum over bins of (c - r) * ln(c / r).

    Shares below ``epsilon`` (empty bins) are raised to it on either side so the result stays finite.
    """
    r = np.maximum(_shares(ref), epsilon)
    c = np.maximum(_shares(cur), epsilon)
    out: FloatArray = np.sum((c - r) * np.log(c / r), axis=1)
    return out


def jensen_shannon(ref: IntArray, cur: IntArray) -> FloatArray:
    """Jensen-Shannon distance, base 2 (share 0-1): ``scipy.spatial.distance.jensenshannon(base=2)``
    per row; NaN where a side has no rows.

    Rounding can leave the divergence of two near-identical rows a hair below zero, where scipy's
    square root gives NaN: such rows are at distance 0.
    """
    filled = (ref.sum(axis=1) > 0) & (cur.sum(axis=1) > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        js = np.asarray(jensenshannon(ref, cur, base=2, axis=1), dtype=np.float64)
    out: FloatArray = np.where(filled & np.isnan(js), 0.0, js)
    return out
