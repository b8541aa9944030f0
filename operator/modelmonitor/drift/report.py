"""Drift results as plain data: per-feature verdicts, data integrity, and the dataset verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class FeatureResult:
    """Verdict for one feature.

    ``statistic`` is in the method's unit (see ``METHODS``); ``p_value`` is the raw test p-value (None
    for distances) and ``p_value_adjusted`` the corrected one; ``threshold`` is the significance level
    (p-value tests) or the distance floor. ``effect`` is the Jensen-Shannon distance (base 2, share 0-1)
    on reference-decile bins or categories, the common scale features are ranked by and ``min_effect``
    is compared with. ``reason`` is None when evaluated, else why not (``drifted`` is then False).
    """

    name: str
    type: str
    method: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    reason: str | None
    effect: float | None = None
    p_value_adjusted: float | None = None
    rows: tuple[int, int] = (0, 0)
    missing_share: tuple[float | None, float | None] = (None, None)
    unseen_categories: list[str] = field(default_factory=list)
    unseen_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        ref_missing, cur_missing = self.missing_share
        change = None if ref_missing is None or cur_missing is None else cur_missing - ref_missing
        return {
            "name": self.name,
            "type": self.type,
            "method": self.method,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "p_value_adjusted": _num(self.p_value_adjusted),
            "threshold": _num(self.threshold),
            "drifted": self.drifted,
            "reason": self.reason,
            "effect": _num(self.effect),
            "rows": {"reference": self.rows[0], "current": self.rows[1]},
            "missing_share": {
                "reference": _num(ref_missing),
                "current": _num(cur_missing),
                "change": _num(change),
            },
            "unseen_categories": list(self.unseen_categories),
            "unseen_rows": self.unseen_rows,
        }


@dataclass(frozen=True)
class IntegrityReport:
    """Data integrity of the current window against the reference schema, apart from drift.

    ``null_rate_changes`` lists features whose missing share moved by more than the tolerance (share
    0-1); ``unseen_rows_share`` is the share of current rows with at least one category never seen in
    the reference.
    """

    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    type_changes: list[dict[str, str]] = field(default_factory=list)
    null_rate_changes: list[dict[str, Any]] = field(default_factory=list)
    unseen_rows_share: float = 0.0
    unseen_categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.missing_columns
            or self.new_columns
            or self.type_changes
            or self.null_rate_changes
            or self.unseen_rows_share
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "missing_columns": list(self.missing_columns),
            "new_columns": list(self.new_columns),
            "type_changes": list(self.type_changes),
            "null_rate_changes": list(self.null_rate_changes),
            "unseen_rows_share": self.unseen_rows_share,
            "unseen_categories": dict(self.unseen_categories),
        }


@dataclass(frozen=True)
class DriftReport:
    """Result of :func:`modelmonitor.drift.detect`; ``to_dict()`` is the documented JSON shape.

    ``drift_share`` is the share of evaluated features that drifted (0 when none could be evaluated);
    ``dataset_drift`` is ``drift_share >= drift_share_threshold`` with at least one feature evaluated.
    """

    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float
    features: list[FeatureResult]
    integrity: IntegrityReport
    rows: tuple[int, int]
    method: str
    correction: str | None
    min_effect: float | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        evaluated = sum(1 for f in self.features if f.reason is None)
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "n_features": len(self.features),
            "n_evaluated": evaluated,
            "n_drifted": len(self.drifted_features),
            "method": self.method,
            "correction": self.correction or "none",
            "min_effect": self.min_effect,
            "rows": {"reference": self.rows[0], "current": self.rows[1]},
            "features": [f.to_dict() for f in self.features],
            "integrity": self.integrity.to_dict(),
        }

    def to_table(self) -> str:
        """A fixed-width text table for terminals, one line per feature, in ranking order."""
        head = f"{'feature':<24} {'type':<11} {'method':<13} {'statistic':>10} {'p-value':>9} "
        head += f"{'threshold':>9} {'effect':>7}  drift  reason"
        lines = [head, "-" * len(head)]
        for f in self.features:
            lines.append(
                f"{f.name[:24]:<24} {f.type:<11} {f.method or '-':<13} {_fmt(f.statistic):>10} "
                f"{_fmt(f.p_value):>9} {_fmt(f.threshold):>9} {_fmt(f.effect):>7}  "
                f"{'YES' if f.drifted else 'no':<5}  {f.reason or ''}"
            )
        verdict = "DRIFT" if self.dataset_drift else "no drift"
        lines.append(
            f"dataset: {verdict} — {len(self.drifted_features)} drifted, share {self.drift_share:.3f} "
            f"(threshold {self.drift_share_threshold}); rows reference={self.rows[0]} current={self.rows[1]}"
        )
        integ = self.integrity
        if not integ.ok:
            lines.append(f"integrity: {integ.to_dict()}")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"
