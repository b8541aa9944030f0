"""Distances between binned distributions, vectorised over rows (one row per feature).

Inputs are count tables (reference row counts, current row counts) with the same bins or categories in
the same columns; padded columns are empty on both sides and contribute nothing.
"""

from __future__ import annotations

import numpy as np

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
    """Jensen-Shannon distance, base 2 (share 0-1), as ``scipy.spatial.distance.jensenshannon(base=2)``."""
    r = _shares(ref)
    c = _shares(cur)
    m = 0.5 * (r + c)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_r = np.where(r > 0, r * np.log2(r / m), 0.0)
        kl_c = np.where(c > 0, c * np.log2(c / m), 0.0)
    div = 0.5 * np.sum(kl_r + kl_c, axis=1)
    out: FloatArray = np.sqrt(np.clip(div, 0.0, None))
    return out
