"""Multiple-testing corrections for the p-value tests of one evaluation (one p-value per feature)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from modelmonitor.drift.numeric import FloatArray


def adjust(p_values: FloatArray, correction: str | None) -> FloatArray:
    """Adjusted p-values (share 0-1), compared with the same significance level as raw ones.

    ``bonferroni`` multiplies by the number of tests (controls the family-wise error rate);
    ``bh`` is Benjamini-Hochberg (controls the false discovery rate, more power with many features).
    NaN entries (features not tested) are ignored and stay NaN.
    """
    if correction in (None, "none"):
        return p_values.copy()
    out = np.full_like(p_values, np.nan)
    ok = ~np.isnan(p_values)
    p = p_values[ok]
    m = p.size
    if m == 0:
        return out
    if correction == "bonferroni":
        out[ok] = np.minimum(p * m, 1.0)
        return out
    if correction == "bh":
        out[ok] = stats.false_discovery_control(p, method="bh")
        return out
    raise ValueError(f"correction must be one of none, bonferroni, bh; got {correction!r}")
