"""The drift section's figures: the window against the reference with the project's drift engine
(``modelmonitor.drift.detect``), the distributions of the features shown, and their drift over time.

Time chunks: the window, in prediction-time order, is cut with ``quality.chunks.chunk_bounds`` into
about ``CHUNKS`` chunks of equal rows (the quality command's chunks). Each chunk is compared with the
reference on its own; the line drawn is each feature's effect (Jensen-Shannon distance, 0-1), the one
scale every method shares, so features tested with KS and with chi-square can sit on one chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift.categorical import labels
from modelmonitor.drift.compare import detect
from modelmonitor.drift.profile import FeatureProfile, Profile
from modelmonitor.drift.report import DriftReport, FeatureResult
from modelmonitor.drift.schema import redacted_columns
from modelmonitor.quality.chunks import chunk_bounds

CHUNKS = 10  # time chunks the window is cut into
TOP = 10  # features drawn at most
BINS = 20  # histogram bins of a numeric feature
CATEGORIES = 12  # bars of a categorical feature (the rest pooled as "(other)")
TAIL = 0.01  # share cut from each tail for a numeric histogram's range (outliers go to the end bins)


@dataclass
class Distribution:
    """Reference and current shares (0-1) over the same bins or categories."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass
class DriftFigures:
    report: DriftReport
    shown: list[FeatureResult]
    distributions: dict[str, Distribution]
    chunk_labels: list[str] = field(default_factory=list)
    over_time: dict[str, list[float | None]] = field(default_factory=dict)


def time_chunks(rows: int) -> list[tuple[int, int]]:
    """Half-open row ranges of the window cut into about CHUNKS chunks (none for an empty window)."""
    return chunk_bounds(rows, max(1, math.ceil(rows / CHUNKS))) if rows else []


def chunk_label(frame: pd.DataFrame, stop: int) -> str:
    """The prediction time (UTC) of a chunk's last row, ``MM-DD HH:MM``; the row number without times."""
    if "__ts" in frame.columns:
        value = frame["__ts"].iloc[stop - 1]
        if isinstance(value, int | float) and math.isfinite(value):
            return datetime.fromtimestamp(float(value), UTC).strftime("%m-%d %H:%M")
    return f"row {stop}"


def features(frame: pd.DataFrame, spec: ModelMonitorSpec | None) -> pd.DataFrame:
    """The feature columns, without the ones the sidecar redacts (salted hashes, as the gatherer drops)."""
    names = [c for c in frame.columns if not str(c).startswith("__")]
    redacted = set(redacted_columns(names, spec.sidecar.redact)) if spec is not None else set()
    return frame[[c for c in names if c not in redacted]]


def _detect(reference: Profile, current: pd.DataFrame, spec: ModelMonitorSpec | None) -> DriftReport:
    if spec is None:
        return detect(reference, current)
    d = spec.drift
    return detect(
        reference, current, method=str(d.method), threshold=d.threshold, drift_share=d.driftShare,
        correction=None if d.correction == "none" else str(d.correction), features=d.features,
        min_effect=d.minEffect,
    )  # fmt: skip


def shown(report: DriftReport) -> list[FeatureResult]:
    """The drifted features, highest effect first, at most TOP; without any, the TOP evaluated ones."""
    evaluated = [f for f in report.features if f.reason is None]
    drifted = [f for f in evaluated if f.drifted]
    return (drifted or evaluated)[:TOP]


def figures(reference: Profile, frame: pd.DataFrame, spec: ModelMonitorSpec | None) -> DriftFigures:
    """The window (sorted by time) against ``reference``: now, per feature shown, and per chunk."""
    current = features(frame, spec)
    with np.errstate(all="ignore"):
        report = _detect(reference, current, spec)
        top = shown(report)
        out = DriftFigures(report, top, {})
        for result in top:
            dist = distribution(reference.features[result.name], current[result.name])
            if dist is not None:
                out.distributions[result.name] = dist
        names = [f.name for f in top]
        bounds = time_chunks(len(frame))
        if names and len(bounds) > 1:
            out.chunk_labels = [chunk_label(frame, stop) for _, stop in bounds]
            effects: dict[str, list[float | None]] = {n: [] for n in names}
            for start, stop in bounds:
                part = _detect(reference, current.iloc[start:stop], spec)
                by_name = {f.name: f for f in part.features}
                for n in names:
                    found = by_name.get(n)
                    effects[n].append(None if found is None or found.reason else found.effect)
            out.over_time = effects
    return out


def distribution(profile: FeatureProfile, column: pd.Series) -> Distribution | None:
    """Reference (from the profile's sketch or counts) and current shares of one feature."""
    if profile.numeric is not None and profile.numeric.count > 0:
        return _numeric(profile, column)
    if profile.categorical is not None and profile.categorical.count > 0:
        return _categorical(profile, column)
    return None


def _numeric(profile: FeatureProfile, column: pd.Series) -> Distribution | None:
    sketch = profile.numeric
    assert sketch is not None
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = values[np.isfinite(values)]
    if not values.size or not sketch.knots.size:
        return None
    count = float(sketch.count)

    def ref_quantile(q: float) -> float:
        # The sketch's ECDF is linear between knots: its inverse is too.
        return float(np.interp(q * count, sketch.le.astype(float), sketch.knots))

    low = min(ref_quantile(TAIL), float(np.quantile(values, TAIL)))
    high = max(ref_quantile(1 - TAIL), float(np.quantile(values, 1 - TAIL)))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, BINS + 1)
    cdf = np.interp(edges, sketch.knots, sketch.le.astype(float), left=0.0, right=count)
    ref = np.diff(cdf)
    ref[0] += cdf[0]  # mass below the range into the first bin, above it into the last
    ref[-1] += count - cdf[-1]
    cur, _ = np.histogram(np.clip(values, low, high), bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    return Distribution(
        [f"{c:.3g}" for c in centres],
        [float(v) / count for v in ref],
        [float(v) / values.size for v in cur],
    )


def _categorical(profile: FeatureProfile, column: pd.Series) -> Distribution:
    cat = profile.categorical
    assert cat is not None
    ref_counts = {c: int(n) for c, n in zip(cat.categories, cat.counts, strict=True)}
    cur = labels(column).dropna().value_counts()
    cur_counts = {str(k): int(v) for k, v in cur.items()}
    order = sorted(
        set(ref_counts) | set(cur_counts), key=lambda c: (-ref_counts.get(c, 0), -cur_counts.get(c, 0), c)
    )
    keep = order[:CATEGORIES]
    ref_total, cur_total = max(1, cat.count), max(1, sum(cur_counts.values()))
    ref = [ref_counts.get(c, 0) / ref_total for c in keep]
    now = [cur_counts.get(c, 0) / cur_total for c in keep]
    rest_ref = cat.count - sum(ref_counts.get(c, 0) for c in keep)
    rest_cur = sum(cur_counts.values()) - sum(cur_counts.get(c, 0) for c in keep)
    if rest_ref > 0 or rest_cur > 0:
        keep, ref, now = [*keep, "(other)"], [*ref, rest_ref / ref_total], [*now, rest_cur / cur_total]
    return Distribution(keep, ref, now)


def status_features(status: dict[str, Any]) -> Sequence[dict[str, Any]]:
    """``status.drift.features`` (the operator's last verdicts), [] when absent."""
    drift = status.get("drift")
    found = drift.get("features") if isinstance(drift, dict) else None
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []
