"""From per-feature figures to verdicts: method choice, insufficient data, corrections, effect floor."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from modelmonitor.drift.corrections import adjust
from modelmonitor.drift.defaults import METHODS, ColumnType
from modelmonitor.drift.methods import Threshold, choose, threshold_for
from modelmonitor.drift.numeric import FloatArray, IntArray
from modelmonitor.drift.report import FeatureResult


@dataclass
class Figures:
    """Per-feature figures of one column type; every array is aligned with ``names``.

    ``stats`` maps method name -> statistic; ``pvalues`` maps p-value methods -> p-value; counts are
    non-missing (``n_*``) and missing (``miss_*``) rows of reference and current.
    """

    names: list[str]
    n_ref: IntArray
    n_cur: IntArray
    miss_ref: IntArray
    miss_cur: IntArray
    stats: dict[str, FloatArray]
    pvalues: dict[str, FloatArray]
    constant: NDArray[np.bool_]
    unseen: list[list[str]] = field(default_factory=list)
    unseen_rows: list[int] = field(default_factory=list)
    unseen_any: NDArray[np.bool_] | None = None
    levels: IntArray | None = None  # categories seen on either side (categorical features)


def _share(missing: int, present: int) -> float | None:
    total = missing + present
    return missing / total if total else None


def verdicts(
    fig: Figures,
    column: ColumnType,
    method: str,
    threshold: Threshold,
    min_rows: int,
    window_too_short: bool,
) -> list[FeatureResult]:
    """One preliminary result per feature (``drifted`` decided later, after the correction)."""
    out: list[FeatureResult] = []
    effect = fig.stats["jensenshannon"]
    for j, name in enumerate(fig.names):
        n_ref, n_cur = int(fig.n_ref[j]), int(fig.n_cur[j])
        levels = int(fig.levels[j]) if fig.levels is not None else 0
        used = choose(method, column, n_ref, n_cur, levels)
        level = threshold_for(method, used, threshold)
        reason = None
        if window_too_short:
            reason = "insufficient data: window shorter than its minimum rows"
        elif n_cur < min_rows or n_ref < min_rows:
            side, have = ("current", n_cur) if n_cur < min_rows else ("reference", n_ref)
            reason = f"insufficient data: {have} non-missing values in {side} (minimum {min_rows})"
        elif bool(fig.constant[j]):
            reason = "constant column: one value on both sides, nothing to compare"
        stat = float(fig.stats[used][j])
        pval = float(fig.pvalues[used][j]) if used in fig.pvalues else None
        if reason is None and not np.isfinite(stat):
            reason = "statistic undefined: reference spread is zero"
        unseen = fig.unseen[j] if fig.unseen else []
        out.append(
            FeatureResult(
                name=name,
                type=column,
                method=used,
                statistic=stat if reason is None else None,
                p_value=pval if reason is None else None,
                threshold=level,
                drifted=False,
                reason=reason,
                effect=float(effect[j]) if reason is None else None,
                rows=(n_ref, n_cur),
                missing_share=(_share(int(fig.miss_ref[j]), n_ref), _share(int(fig.miss_cur[j]), n_cur)),
                unseen_categories=unseen,
                unseen_rows=fig.unseen_rows[j] if fig.unseen_rows else 0,
            )
        )
    return out


def decide(
    results: list[FeatureResult], correction: str | None, min_effect: float | None
) -> list[FeatureResult]:
    """Apply the multiple-testing correction across p-value tests, then the thresholds and effect floor.

    p-value tests drift when the (adjusted) p-value is below the threshold; distances when the statistic
    reaches the threshold; with ``min_effect`` the effect must also reach that floor.
    """
    tested = [i for i, r in enumerate(results) if r.reason is None and r.p_value is not None]
    raw = np.array([results[i].p_value for i in tested], dtype=np.float64)
    adjusted = dict(zip(tested, adjust(raw, correction).tolist(), strict=True))
    out = list(results)
    for i, r in enumerate(out):
        p_adjusted = adjusted.get(i, r.p_value_adjusted)
        if r.reason is None and r.method is not None and r.threshold is not None:
            if METHODS[r.method].kind == "pvalue":
                drifted = (p_adjusted if p_adjusted is not None else 1.0) < r.threshold
            else:
                drifted = r.statistic is not None and r.statistic >= r.threshold
            if min_effect is not None:
                drifted = drifted and (r.effect or 0.0) >= min_effect
            out[i] = dataclasses.replace(r, drifted=bool(drifted), p_value_adjusted=p_adjusted)
        elif i in adjusted:
            out[i] = dataclasses.replace(r, p_value_adjusted=p_adjusted)
    return out
