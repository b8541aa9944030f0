"""Quantile sketches of numeric reference columns: building, padding, compact encoding.

A sketch keeps, per numeric feature, a few hundred *knots* (actual reference values) with the exact
reference counts ``<= knot`` and ``< knot``. Knots are spread evenly in "probability + share of range",
so both dense regions and long tails are covered; the PSI bin edges are added as knots so bin shares are
exact. The reference ECDF between two knots is taken as linear.

Encoding (JSON-safe, ConfigMap friendly): knots are float64 little-endian, byte-shuffled, zlib-compressed
and base64-encoded; counts are delta-encoded uint64 the same way. 513 knots take about 5 KiB per feature.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmonitor.drift.defaults import SKETCH_KNOTS
from modelmonitor.drift.numeric import FloatArray, IntArray, SketchMatrix, bin_edges, sort_rows


@dataclass(frozen=True)
class NumericSketch:
    """Profile of one numeric feature. Counts are rows; ``std`` is the population sd (ddof=0)."""

    count: int
    missing: int
    mean: float
    std: float
    knots: FloatArray
    le: IntArray
    lt: IntArray
    edges: FloatArray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see the module docstring for the encoding)."""
        return {
            "count": self.count,
            "missing": self.missing,
            "mean": _json_float(self.mean),
            "std": _json_float(self.std),
            "min": _json_float(float(self.knots[0])) if self.knots.size else None,
            "max": _json_float(float(self.knots[-1])) if self.knots.size else None,
            "edges": [_json_float(float(e)) for e in self.edges],
            "knots": _encode(self.knots.astype("<f8")),
            "le": _encode(np.diff(self.le, prepend=0).astype("<u8")),
            "eq": _encode((self.le - self.lt).astype("<u8")),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSketch:
        knots = _decode(data["knots"], "<f8").astype(np.float64, copy=False)
        # Counts are non-negative and far below 2**63, so their uint64 bytes read as int64 unchanged.
        le = np.cumsum(_decode(data["le"], "<i8"))
        lt = le - _decode(data["eq"], "<i8")
        edges = data["edges"]
        # JSON has no infinity: a padded (+inf) edge is written as null.
        edges = np.array([np.inf if e is None else e for e in edges] if None in edges else edges, np.float64)
        mean, std = data["mean"], data["std"]
        return cls(
            count=int(data["count"]),
            missing=int(data["missing"]),
            mean=math.nan if mean is None else float(mean),
            std=math.nan if std is None else float(std),
            knots=knots,
            le=le,
            lt=lt,
            edges=edges,
        )


def _json_float(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _encode(arr: np.ndarray[Any, Any]) -> str:
    shuffled = arr.view(np.uint8).reshape(-1, arr.itemsize).T.tobytes()
    return base64.b64encode(zlib.compress(shuffled, 9)).decode("ascii")


def _decode(text: str, dtype: str) -> np.ndarray[Any, Any]:
    raw = np.frombuffer(zlib.decompress(binascii.a2b_base64(text)), dtype=np.uint8)
    width = np.dtype(dtype).itemsize
    return raw.reshape(width, -1).T.copy().view(dtype).ravel()


def build_sketches(block: FloatArray, missing: IntArray, knots: int = SKETCH_KNOTS) -> list[NumericSketch]:
    """Sketch each row of ``block`` (NaN = missing); ``missing`` is the per-row missing count."""
    ordered, n = sort_rows(block)
    edges = bin_edges(ordered, n)
    out: list[NumericSketch] = []
    for j in range(ordered.shape[0]):
        x = ordered[j, : n[j]]
        e = edges[j]
        if x.size == 0:
            empty = np.empty(0)
            none = np.empty(0, dtype=np.int64)
            out.append(NumericSketch(0, int(missing[j]), np.nan, np.nan, empty, none, none, e))
            continue
        span = x[-1] - x[0]
        level = np.arange(1, x.size + 1) / x.size
        if span > 0:
            level = level + (x - x[0]) / span
        targets = np.linspace(level[0], level[-1], knots)
        pick = np.minimum(np.searchsorted(level, targets, side="left"), x.size - 1)
        # A knot after a gap wider than the knot spacing also gets the value just before the gap, so no
        # interval is both wide and holds reference mass (linear interpolation across an outlier's gap
        # would otherwise misplace that mass).
        step = (level[-1] - level[0]) / max(knots - 1, 1)
        before = np.maximum(pick - 1, 0)
        gap = before[(pick > 0) & (level[pick] - level[before] > step)]
        k = np.unique(np.concatenate([x[pick], x[gap], x[:1], x[-1:], e[np.isfinite(e)]]))
        le = np.searchsorted(x, k, side="right").astype(np.int64)
        lt = np.searchsorted(x, k, side="left").astype(np.int64)
        out.append(NumericSketch(x.size, int(missing[j]), float(x.mean()), float(x.std()), k, le, lt, e))
    return out


def stack_sketches(sketches: Sequence[NumericSketch]) -> SketchMatrix:
    """Pad sketches into the 2-D arrays :func:`.numeric.sketch_stats` works on."""
    b = len(sketches)
    size = np.array([s.knots.size for s in sketches], dtype=np.int64)
    width = max(1, int(size.max(initial=1)))
    n_edges = max((s.edges.size for s in sketches), default=0)
    knots = np.zeros((b, width))
    le = np.zeros((b, width), dtype=np.int64)
    lt = np.zeros((b, width), dtype=np.int64)
    edge_index = np.full((b, n_edges), -1, dtype=np.int64)
    count = np.array([s.count for s in sketches], dtype=np.int64)
    for j, s in enumerate(sketches):
        m = s.knots.size
        if m == 0:
            continue
        knots[j, :m], knots[j, m:] = s.knots, s.knots[-1]
        le[j, :m], le[j, m:] = s.le, s.count
        lt[j, :m], lt[j, m:] = s.lt, s.count
        finite = np.isfinite(s.edges)
        edge_index[j, : s.edges.size][finite] = np.searchsorted(s.knots, s.edges[finite])
    return SketchMatrix(knots, le, lt, size, edge_index, count)
