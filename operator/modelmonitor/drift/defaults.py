"""Every default of the drift engine, in one place, with the reason for it.

The documentation (``docs/drift.md``) and the API layer (``spec.drift``) refer to these names; change a
value here and both follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ColumnType = Literal["numeric", "categorical"]
MethodKind = Literal["pvalue", "distance"]

#: Method names accepted by :func:`modelmonitor.drift.detect` and by ``spec.drift.method``.
METHOD_NAMES: Final = ("auto", "ks", "psi", "wasserstein", "jensenshannon", "chisquare")
CORRECTIONS: Final = ("none", "bonferroni", "bh")


@dataclass(frozen=True)
class MethodInfo:
    """One row of the defaults table.

    ``threshold`` is a significance level (share 0-1, drift when p < threshold) for p-value tests and a
    distance floor (drift when statistic >= threshold) for effect-size distances.
    """

    name: str
    kind: MethodKind
    column_types: tuple[ColumnType, ...]
    threshold: float
    statistic: str
    why: str


METHODS: Final[dict[str, MethodInfo]] = {
    "ks": MethodInfo(
        "ks",
        "pvalue",
        ("numeric",),
        0.05,
        "two-sample Kolmogorov-Smirnov D (share 0-1)",
        "Conventional 5% significance; D is exact and distribution-free, good for small windows.",
    ),
    "chisquare": MethodInfo(
        "chisquare",
        "pvalue",
        ("categorical",),
        0.05,
        "chi-square statistic of the 2 x k contingency table (reference vs current counts)",
        "Conventional 5% significance; the homogeneity test accounts for sampling error on both sides.",
    ),
    "wasserstein": MethodInfo(
        "wasserstein",
        "distance",
        ("numeric",),
        0.1,
        "Wasserstein-1 distance divided by the reference standard deviation (unit: reference sd)",
        "A shift of 0.1 reference standard deviations is the smallest change worth acting on in most "
        "models (Evidently uses the same floor); under no drift the statistic is about "
        "1/sqrt(n_eff), below 0.04 from 1,000 rows.",
    ),
    "psi": MethodInfo(
        "psi",
        "distance",
        ("numeric", "categorical"),
        0.1,
        "population stability index on reference-decile bins or categories (nats)",
        "Credit-risk convention: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.",
    ),
    "jensenshannon": MethodInfo(
        "jensenshannon",
        "distance",
        ("numeric", "categorical"),
        0.1,
        "Jensen-Shannon distance, base 2 (share 0-1) on reference-decile bins or categories",
        "Bounded in [0, 1]; 0.1 is reached by a 0.25 sd mean shift or a ~7 point move in a category "
        "share, while sampling noise stays under 0.05 from 1,000 rows.",
    ),
}

#: Default threshold per method (drift when p < threshold for p-value tests, statistic >= threshold else).
DEFAULT_THRESHOLDS: Final[dict[str, float]] = {name: info.threshold for name, info in METHODS.items()}

#: ``auto`` uses p-value tests while the effective sample size n_ref*n_cur/(n_ref+n_cur) is at most this,
#: effect-size distances above it. Evidently switches at 1,000 reference rows; we use the effective size
#: because a 100k reference does not make a 300-row window any more powerful.
AUTO_PVALUE_MAX_N: Final = 1000

#: ``auto`` keeps the chi-square test for a categorical feature unless the effective sample size is at least
#: this many rows per degree of freedom (categories - 1). Under no drift the Jensen-Shannon distance is about
#: sqrt((k-1) / (5.5 n_eff)); 100 rows per degree of freedom keeps it near 0.04, under half its threshold,
#: so a 5,000-category column in a 3,000-row window is tested, not "measured" into a false alarm.
AUTO_ROWS_PER_CATEGORY: Final = 100

#: ``auto`` for numeric columns: (small samples, large samples).
AUTO_NUMERIC: Final = ("ks", "wasserstein")
#: ``auto`` for categorical columns: (small samples, large samples).
AUTO_CATEGORICAL: Final = ("chisquare", "jensenshannon")

#: When an explicit method does not apply to a column type, its counterpart of the same kind is used.
COUNTERPART: Final[dict[tuple[str, ColumnType], str]] = {
    ("ks", "categorical"): "chisquare",
    ("chisquare", "numeric"): "ks",
    ("wasserstein", "categorical"): "jensenshannon",
}

#: A numeric column with at most this many distinct non-missing values in the reference is treated as
#: categorical (flags, ratings, small enumerations), as Evidently does.
CATEGORICAL_MAX_UNIQUE: Final = 5

#: Number of reference-quantile bins for PSI and Jensen-Shannon on numeric columns (deciles: the PSI
#: convention the 0.1/0.25 rule of thumb was calibrated on).
PSI_BINS: Final = 10

#: Share that replaces an empty bin in PSI (either side) so the logarithm stays finite. 1e-4 is one row in
#: 10,000: an empty bin then adds at most about share*ln(share/1e-4) instead of infinity (same as Evidently).
PSI_EPSILON: Final = 1e-4

#: Minimum non-missing values per feature, on each side, below which a feature is "insufficient data".
MIN_ROWS: Final = 30

#: Share of drifted features (among evaluated ones) from which the dataset is drifting.
DRIFT_SHARE: Final = 0.5

#: ks_2samp computes an exact p-value when both samples have at most this many values (as scipy's 'auto').
KS_EXACT_MAX_N: Final = 10_000

#: Target number of knots of a numeric quantile sketch. Knots are spaced evenly in (probability + range
#: share), so no interval holds more than 2/(knots-1) of the reference nor spans more than 2/(knots-1) of
#: its range: KS from a profile is within 2/512 = 0.004 of the raw value, and 100 features fit in about
#: 0.6 MiB of JSON.
SKETCH_KNOTS: Final = 513

#: Categorical profiles keep the most frequent categories up to this count; rarer ones share one bucket.
PROFILE_MAX_CATEGORIES: Final = 256

#: Absolute change of a feature's missing share reported by the integrity check.
NULL_RATE_TOLERANCE: Final = 0.05

#: Names of unseen categories listed per feature (their total count is always reported).
MAX_UNSEEN_LISTED: Final = 20

#: Working memory per 2-D intermediate array, bytes: numeric columns are processed in blocks of about this
#: size (both paths), so the peak stays a fraction of the input instead of a multiple of it.
BLOCK_BYTES: Final = 1024 * 1024
