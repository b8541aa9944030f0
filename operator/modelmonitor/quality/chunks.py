"""Chunks of rows and the alert band a chunk's metric is judged against.

A metric is computed per chunk of the reference period; its band is the reference mean ± 3 standard
deviations (as NannyML's thresholds), clipped to the metric's possible range. A monitored chunk
outside the band is an alert; a chunk whose metric is undefined (None) never is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelmonitor.quality.metrics import METRIC_RANGE

SIGMAS = 3.0


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` row ranges of ``size`` rows covering rows ``0..n`` once, in row order
    (the caller sorts rows by prediction time, not by label arrival).

    A last partial chunk of fewer than ``size / 2`` rows is merged into the previous chunk (so it holds
    up to 1.5 x ``size`` rows) rather than judged alone on too few rows; one of at least half a chunk
    stays a chunk of its own. Fewer than ``size`` rows in all make one chunk; no rows make none.
    """
    if size < 1:
        raise ValueError(f"chunk size: {size} rows; pass 1 or more")
    if n < 0:
        raise ValueError(f"rows: {n}; pass 0 or more")
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    if len(bounds) >= 2:
        start, stop = bounds[-1]
        if stop - start < size / 2:
            bounds[-2:] = [(bounds[-2][0], stop)]
    return bounds


@dataclass(frozen=True)
class Band:
    """The values a metric may take without an alert, both ends included."""

    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready ends, rounded to 6 decimals; an infinite end is None (unbounded)."""
        return {
            "low": round(self.low, 6) if math.isfinite(self.low) else None,
            "high": round(self.high, 6) if math.isfinite(self.high) else None,
        }


def _values(reference_values: Sequence[float | None]) -> NDArray[np.float64]:
    return np.asarray([v for v in reference_values if v is not None and math.isfinite(v)], dtype=np.float64)


def band(reference_values: Sequence[float | None], metric: str) -> Band | None:
    """Mean ± 3 standard deviations (ddof=1) of ``metric`` over the reference chunks, clipped to the
    metric's range (``METRIC_RANGE``); None with fewer than 2 defined reference values."""
    if metric not in METRIC_RANGE:
        raise ValueError(f"metric {metric!r} has no known range; use one of {', '.join(METRIC_RANGE)}")
    values = _values(reference_values)
    if values.shape[0] < 2:
        return None
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    lo, hi = METRIC_RANGE[metric]
    return Band(low=min(max(mean - SIGMAS * sd, lo), hi), high=max(min(mean + SIGMAS * sd, hi), lo))


def sampling_error(
    reference_values: Sequence[float | None], reference_chunk_rows: int, rows: int
) -> float | None:
    """The metric's expected noise on a chunk of ``rows`` rows: the standard deviation (ddof=1) over
    the reference chunks of ``reference_chunk_rows`` rows, scaled by sqrt(reference_chunk_rows / rows)
    (how NannyML reports it). None with fewer than 2 defined values or no rows."""
    if reference_chunk_rows < 1 or rows < 0:
        raise ValueError(
            f"rows: reference chunks of {reference_chunk_rows} and a chunk of {rows}; pass positive counts"
        )
    values = _values(reference_values)
    if values.shape[0] < 2 or rows == 0:
        return None
    return float(values.std(ddof=1)) * math.sqrt(reference_chunk_rows / rows)


def outside(value: float | None, band: Band | None) -> bool:
    """True when a defined value lies outside the band; missing data (None, NaN, no band) never alerts."""
    if value is None or band is None or not math.isfinite(value):
        return False
    return value < band.low or value > band.high
