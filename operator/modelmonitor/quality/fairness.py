"""Fairness by segment: the model's rates in each group of one feature, and how far apart they are.

``segment`` splits the rows by the distinct values of a feature (missing values form their own group,
``"(missing)"``) and reports each group's approval rate (share of predictions equal to ``positive``)
and, given labels, its accuracy, error rate, true and false positive rates, each with a Wilson score
interval (the closed form ``scipy.stats.binomtest(...).proportion_ci(method="wilson")`` computes,
with ``norm.ppf`` once per confidence level: building a whole test per rate cost most of the time). Groups with fewer than
``min_rows`` rows are reported but not judged: their rates are too noisy to compare.

Over the judged groups, ``disparate_impact`` is always the lowest group's figure over the highest's,
so it lies in [0, 1] and no one has to pick a numerator. For ``error_rate`` and
``false_positive_rate``, where lower is better, the ratio is taken on the "good" rate ``1 - rate``:
the group with the highest error rate is then the lowest group, the worse-off one, in every metric.

The default bound ``min_ratio=0.8`` is the "four-fifths rule", a screening heuristic of US employment
law (the EEOC's Uniform Guidelines) for adverse impact in hiring. It is often misapplied outside that
setting: it is not a statistical test, and it is no legal or ethical threshold for other decisions.
The bound is the user's choice; the report gives the figures and the intervals to judge it with.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

MISSING = "(missing)"
METRICS = ("approval_rate", "accuracy", "error_rate", "true_positive_rate", "false_positive_rate")
LOWER_IS_BETTER = frozenset({"error_rate", "false_positive_rate"})


@dataclass(frozen=True)
class Rate:
    """A share (0 to 1) of ``trials`` rows, with its Wilson score interval."""

    successes: int
    trials: int
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, successes: int, trials: int, confidence: float) -> Rate | None:
        """The rate, or None when there are no rows to take it over (undefined)."""
        if trials == 0:
            return None
        low, high = _wilson(successes, trials, confidence)
        return cls(successes, trials, successes / trials, low, high)


@dataclass(frozen=True)
class Group:
    """One value of the feature: its row count and rates (None where undefined or without labels)."""

    value: Any
    rows: int
    judged: bool
    rates: dict[str, Rate | None] = field(default_factory=dict)

    def rate(self, metric: str) -> float | None:
        r = self.rates.get(metric)
        return None if r is None else r.value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _json_value(self.value), "rows": self.rows, "judged": self.judged}
        for name in METRICS:
            r = self.rates.get(name)
            out[name] = None if r is None else _round(r.value)
            out[f"{name}_ci"] = None if r is None else [_round(r.low), _round(r.high)]
        return out


@dataclass(frozen=True)
class SegmentReport:
    """Each group's rates and, over the judged groups, the gaps between them."""

    metric: str
    groups: list[Group]
    min_ratio: float
    feature: str | None = None
    disparate_impact: float | None = None
    parity_difference: float | None = None
    equal_opportunity_difference: float | None = None
    lowest_group: Any = None
    highest_group: Any = None
    violated: bool | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.feature is None else {"feature": self.feature}
        out |= {
            "metric": self.metric,
            "min_ratio": self.min_ratio,
            "groups": [g.to_dict() for g in self.groups],
            "disparate_impact": _round(self.disparate_impact),
            "parity_difference": _round(self.parity_difference),
            "equal_opportunity_difference": _round(self.equal_opportunity_difference),
            "lowest_group": _json_value(self.lowest_group),
            "highest_group": _json_value(self.highest_group),
            "violated": self.violated,
            "reason": self.reason,
        }
        return out


def segment(
    values: Sequence[Any] | np.ndarray[Any, Any] | pd.Series[Any],
    *,
    y_pred: Sequence[Any] | np.ndarray[Any, Any] | pd.Series[Any],
    y_true: Sequence[Any] | np.ndarray[Any, Any] | pd.Series[Any] | None = None,
    positive: Any = 1,
    metric: str = "approval_rate",
    min_rows: int = 100,
    min_ratio: float = 0.8,
    confidence: float = 0.95,
    feature: str | None = None,
) -> SegmentReport:
    """Rates of the predictions in each group of ``values`` (one feature, row-aligned with ``y_pred``).

    ``metric`` is the rate the groups are compared on (one of ``METRICS``; all but ``approval_rate``
    need ``y_true``). ``violated`` is ``disparate_impact < min_ratio``; it and the gaps are None, with
    a ``reason``, when fewer than two judged groups have the metric defined. ``feature`` defaults to
    the name of a pandas Series.
    """
    if metric not in METRICS:
        raise ValueError(f"segment: metric {metric!r} is not one of {', '.join(METRICS)}")
    if metric != "approval_rate" and y_true is None:
        raise ValueError(f"segment: metric {metric!r} needs y_true (labels); pass them or use approval_rate")
    if not 0 < confidence < 1:
        raise ValueError(f"segment: confidence {confidence} must be between 0 and 1")
    if feature is None and isinstance(values, pd.Series) and values.name is not None:
        feature = str(values.name)
    keys = pd.Series(np.asarray(values, dtype=object), dtype=object)
    pred = np.asarray(y_pred, dtype=object)
    true = None if y_true is None else np.asarray(y_true, dtype=object)
    if len(pred) != len(keys) or (true is not None and len(true) != len(keys)):
        raise ValueError(
            f"segment: values ({len(keys)}), y_pred ({len(pred)}) and y_true "
            f"({'-' if true is None else len(true)}) must have one entry per row"
        )
    missing = keys.isna().to_numpy()
    keys = keys.where(~missing, MISSING)
    groups = []
    for value, index in sorted(keys.groupby(keys, sort=False).indices.items(), key=_order):
        rows = len(index)
        rates = _rates(pred[index], None if true is None else true[index], positive, confidence)
        groups.append(Group(value, rows, rows >= min_rows, rates))
    return _judge(groups, metric, min_ratio, min_rows, feature)


def _rates(
    pred: np.ndarray[Any, Any], true: np.ndarray[Any, Any] | None, positive: Any, confidence: float
) -> dict[str, Rate | None]:
    n = len(pred)
    said_yes = pred == positive
    rates = {"approval_rate": Rate.of(int(said_yes.sum()), n, confidence)}
    if true is None:
        return rates
    correct = int((pred == true).sum())
    actual = true == positive  # a 2x2 count of booleans: numpy, not a confusion_matrix call per group
    tp, fp = int((said_yes & actual).sum()), int((said_yes & ~actual).sum())
    fn, tn = int((~said_yes & actual).sum()), int((~said_yes & ~actual).sum())
    rates |= {
        "accuracy": Rate.of(correct, n, confidence),
        "error_rate": Rate.of(n - correct, n, confidence),
        "true_positive_rate": Rate.of(tp, tp + fn, confidence),
        "false_positive_rate": Rate.of(fp, fp + tn, confidence),
    }
    return rates


def _judge(
    groups: list[Group], metric: str, min_ratio: float, min_rows: int, feature: str | None
) -> SegmentReport:
    judged = [g for g in groups if g.judged]

    def good(g: Group) -> float | None:
        r = g.rate(metric)
        return None if r is None else (1 - r if metric in LOWER_IS_BETTER else r)

    scored = [(s, g) for g in judged if (s := good(g)) is not None]
    if len(scored) < 2:
        reason = (
            f"{len(scored)} group(s) with at least {min_rows} rows and {metric} defined; "
            "two are needed to compare"
        )
        return SegmentReport(metric, groups, min_ratio, feature, reason=reason)
    low_score, low = min(scored, key=lambda sg: sg[0])
    high_score, high = max(scored, key=lambda sg: sg[0])
    impact = None if high_score == 0 else low_score / high_score
    return SegmentReport(
        metric,
        groups,
        min_ratio,
        feature,
        disparate_impact=impact,
        parity_difference=_spread(judged, "approval_rate"),
        equal_opportunity_difference=_spread(judged, "true_positive_rate"),
        lowest_group=low.value,
        highest_group=high.value,
        violated=None if impact is None else impact < min_ratio,
    )


def _spread(groups: list[Group], name: str) -> float | None:
    figures = [r for g in groups if (r := g.rate(name)) is not None]
    return max(figures) - min(figures) if len(figures) >= 2 else None


def _order(item: tuple[Any, Any]) -> tuple[bool, str]:
    return (item[0] == MISSING, str(item[0]))


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


@functools.lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    return float(norm.ppf(1 - (1 - confidence) / 2))


def _wilson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of ``successes / trials`` (no continuity correction)."""
    z = _z(confidence)
    p, n = successes / trials, trials
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)
