"""Categorical drift statistics: labels, count tables and a vectorised chi-square test.

Category values are compared as strings (labels). Numbers are labelled without a spurious ``.0`` so that
an integer column that arrives as float (because a window has a missing value) keeps its categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from modelmonitor.drift.numeric import FloatArray, IntArray

ObjectArray = NDArray[np.object_]


def labels(series: pd.Series) -> pd.Series:
    """Category labels of a column as strings (missing values stay missing)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("string")
    numeric_objects = pd.api.types.is_object_dtype(series.dtype) and pd.api.types.infer_dtype(
        series, skipna=True
    ) in ("integer", "floating", "mixed-integer-float", "decimal")
    if numeric_objects or pd.api.types.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        finite = values[np.isfinite(values)]
        if bool((finite == np.round(finite)).all()):
            return values.where(np.isfinite(values)).astype("Int64").astype("string")
        return values.where(np.isfinite(values)).astype("string")
    return series.astype("string")


@dataclass(frozen=True)
class CategoryCounts:
    """Counts of one feature in the current window against the reference categories.

    ``counts`` has one entry per reference category (same order), then one per unseen category
    (``unseen`` names, same order, most frequent first). ``unseen_rows`` flags each row whose category is
    not in the reference.
    """

    counts: IntArray
    unseen: list[str]
    unseen_rows: NDArray[np.bool_]
    missing: int


def distinct_labels(series: pd.Series) -> tuple[IntArray, list[object], IntArray]:
    """Factorise a raw column: (code per row, -1 for missing; label of each distinct value, which may be
    missing, e.g. an infinite number; rows per distinct value). Only the distinct values are labelled."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names: list[object]
    if isinstance(series.dtype, pd.StringDtype):
        names = list(uniques)  # strings are their own labels; factorize left missing values out
    else:
        names = list(labels(pd.Series(uniques, dtype=series.dtype if len(uniques) else None)))
    per_unique = np.bincount(codes[codes >= 0], minlength=len(names)).astype(np.int64)
    return codes.astype(np.int64, copy=False), names, per_unique


def _held_by_arrow(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"


def value_counts(series: pd.Series) -> tuple[list[object], IntArray]:
    """Count a raw column per distinct value: (label of each distinct value, which is missing for
    missing values, rows per distinct value), distinct values in order of first appearance.

    Strings held by Arrow are counted by Arrow itself (one hash pass, no per-row codes); other columns
    through :func:`distinct_labels`.
    """
    if _held_by_arrow(series):
        import pyarrow as pa  # present: it holds this column
        import pyarrow.compute as pc

        counted = pc.value_counts(pa.array(series.array))
        found = counted.field("counts").to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return counted.field("values").to_pylist(), found
    codes, names, per_unique = distinct_labels(series)
    missing = int(np.count_nonzero(codes < 0))
    if missing:
        return [*names, None], np.append(per_unique, missing)
    return names, per_unique


def _targets(names: Sequence[object], index: dict[str, int]) -> IntArray:
    """Reference category of each distinct label: -2 missing, -1 unseen."""
    return np.array([-2 if pd.isna(n) else index.get(str(n), -1) for n in names], dtype=np.int64)


def count_against(series: pd.Series, categories: Sequence[str], pooled: bool) -> CategoryCounts:
    """Count ``series`` (raw column) per reference category; vectorised over the rows.

    The column is hashed once (no per-row Python); only its distinct values are labelled and looked
    up. Per-row codes, which flag the rows of unseen categories, are made only when there are such
    rows (Arrow-held strings are counted without them first). With ``pooled`` (a truncated profile
    keeps only its frequent categories), values outside the list are counted in a last "(other)"
    bucket instead of being unseen.
    """
    index = {c: i for i, c in enumerate(categories)}
    codes: IntArray | None = None
    if _held_by_arrow(series):
        names, per_unique = value_counts(series)
    else:
        codes, names, per_unique = distinct_labels(series)
    target = _targets(names, index)
    if codes is None and not pooled and bool((target == -1).any()):
        codes, names, per_unique = distinct_labels(series)
        target = _targets(names, index)
    k = len(categories)
    missing = int(per_unique[target == -2].sum())
    missing += int(np.count_nonzero(codes < 0)) if codes is not None else 0
    known = target >= 0
    base = np.bincount(target[known], weights=per_unique[known], minlength=k).astype(np.int64)
    unseen_u = np.flatnonzero(target == -1)
    if pooled:
        counts = np.append(base, per_unique[unseen_u].sum())
        return CategoryCounts(counts, [], np.zeros(len(series), dtype=bool), missing)
    if unseen_u.size == 0:
        return CategoryCounts(base, [], np.zeros(len(series), dtype=bool), missing)
    assert codes is not None  # made above: there are unseen values
    flag = np.zeros(len(names) + 1, dtype=bool)
    flag[unseen_u] = True
    rows = flag[codes]  # code -1 (missing) reads the extra False at the end
    # Several raw values can share one label (1 and 1.0): merge them, most frequent first.
    merged = pd.Series(per_unique[unseen_u], index=[str(names[i]) for i in unseen_u], dtype=np.int64)
    merged = merged.groupby(level=0, sort=False).sum().sort_values(ascending=False, kind="stable")
    counts = np.concatenate([base, merged.to_numpy(dtype=np.int64)])
    return CategoryCounts(counts, [str(x) for x in merged.index], rows, missing)


def pad(rows: Sequence[IntArray]) -> IntArray:
    """Stack 1-D count arrays of different lengths into one zero-padded 2-D array."""
    width = max((r.size for r in rows), default=0)
    out = np.zeros((len(rows), max(width, 1)), dtype=np.int64)
    for j, r in enumerate(rows):
        out[j, : r.size] = r
    return out


def chi_square(ref: IntArray, cur: IntArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Chi-square homogeneity test of each row pair (2 x k table), as ``scipy.stats.chi2_contingency``.

    Categories empty on both sides are dropped; Yates' continuity correction is applied when the table
    has one degree of freedom (scipy's default). Returns (statistic, p-value, degrees of freedom); a row
    with fewer than two categories or an empty side has NaN statistic and 0 degrees of freedom.
    """
    obs = np.stack([ref, cur], axis=1).astype(np.float64)  # (features, 2, k)
    col = obs.sum(axis=1, keepdims=True)
    row = obs.sum(axis=2, keepdims=True)
    total = row.sum(axis=1, keepdims=True)
    used = col > 0
    dof = (np.count_nonzero(used[:, 0, :], axis=1) - 1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = row * col / total
        delta = obs - expected
        yates = (dof == 1)[:, None, None]
        delta = np.where(yates, np.sign(delta) * np.maximum(np.abs(delta) - 0.5, 0.0), delta)
        terms = np.where(used, delta * delta / expected, 0.0)
    stat = terms.sum(axis=(1, 2))
    ok = (dof > 0) & (row[:, :, 0] > 0).all(axis=1)
    stat = np.where(ok, stat, np.nan)
    pval = np.where(ok, stats.chi2.sf(stat, np.maximum(dof, 1)), np.nan)
    return stat, pval, np.where(ok, dof, 0)
