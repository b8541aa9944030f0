"""Reference profiles: a compact, JSON-serialisable summary of a reference dataset.

A profile holds the schema (type of every column), a quantile sketch per numeric feature (see
:mod:`.sketch`), category counts per categorical feature and the missing count of each. It is what the
operator keeps in a ConfigMap (100 features take about 0.6 MiB) and what ``detect`` accepts in place of
raw reference data.

JSON layout (``format`` and ``version`` are checked on load)::

    {"format": "modelmonitor.drift/profile", "version": 1, "rows": 100000,
     "features": [
        {"name": "age", "type": "numeric", "family": "number",
         "numeric": {"count", "missing", "mean", "std", "min", "max", "edges", "knots", "le", "eq"}},
        {"name": "city", "type": "categorical", "family": "string",
         "categorical": {"count", "missing", "categories": {"paris": 120, ...}, "other": 0}}]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelmonitor.drift.categorical import value_counts
from modelmonitor.drift.defaults import BLOCK_BYTES, PROFILE_MAX_CATEGORIES, SKETCH_KNOTS
from modelmonitor.drift.numeric import IntArray, SketchMatrix
from modelmonitor.drift.schema import FeatureSchema, infer_schema, numeric_block
from modelmonitor.drift.sketch import NumericSketch, build_sketches, stack_sketches

PROFILE_FORMAT = "modelmonitor.drift/profile"
PROFILE_VERSION = 1


@dataclass(frozen=True)
class CategoricalProfile:
    """Category counts of one feature (most frequent first); ``other`` pools categories beyond the list."""

    count: int
    missing: int
    categories: list[str]
    counts: IntArray
    other: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "missing": self.missing,
            "categories": {c: int(n) for c, n in zip(self.categories, self.counts, strict=True)},
            "other": self.other,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        cats: dict[str, int] = data["categories"]
        counts = np.array(list(cats.values()), dtype=np.int64)
        return cls(int(data["count"]), int(data["missing"]), list(cats), counts, int(data.get("other", 0)))


def categorical_profile(series: pd.Series, limit: int | None = PROFILE_MAX_CATEGORIES) -> CategoricalProfile:
    """Count the categories of a raw column; keep at most ``limit`` (None: all) and pool the rest."""
    # Hash the raw values once and label only the distinct ones (labelling every row costs more than
    # counting); values sharing a label (1 and 1.0) are merged in order of first appearance.
    names, per_unique = value_counts(series)
    missing = 0
    totals: dict[str, int] = {}
    for name, n in zip(names, per_unique.tolist(), strict=True):
        if pd.isna(name):
            missing += n
        else:
            totals[str(name)] = totals.get(str(name), 0) + n
    found = np.fromiter(totals.values(), dtype=np.int64, count=len(totals))
    order = np.argsort(-found, kind="stable")  # most frequent first, ties in order of appearance
    keys = list(totals)
    cats, counts = [keys[i] for i in order], found[order]
    other = 0
    if limit is not None and len(cats) > limit:
        other = int(counts[limit:].sum())
        cats, counts = cats[:limit], counts[:limit]
    return CategoricalProfile(int(found.sum()), missing, cats, counts, other)


@dataclass(frozen=True)
class FeatureProfile:
    """One column of a profile: its schema plus the sketch that matches its type (None if unsupported)."""

    schema: FeatureSchema
    numeric: NumericSketch | None = None
    categorical: CategoricalProfile | None = None

    @property
    def missing(self) -> int:
        part = self.numeric or self.categorical
        return part.missing if part is not None else 0

    @property
    def count(self) -> int:
        part = self.numeric or self.categorical
        return part.count if part is not None else 0


@dataclass(frozen=True)
class Profile:
    """A reference profile. Build with :func:`build_profile`, persist with ``to_json``/``from_json``."""

    rows: int
    features: dict[str, FeatureProfile]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, FeatureSchema]:
        return {name: f.schema for name, f in self.features.items()}

    def to_dict(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for f in self.features.values():
            item = f.schema.to_dict()
            if f.numeric is not None:
                item["numeric"] = f.numeric.to_dict()
            if f.categorical is not None:
                item["categorical"] = f.categorical.to_dict()
            items.append(item)
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "meta": self.meta,
            "features": items,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(
                f"not a drift profile: format is {data.get('format')!r}, want {PROFILE_FORMAT!r}"
            )
        if data.get("version") != PROFILE_VERSION:
            raise ValueError(f"unsupported profile version {data.get('version')!r}, want {PROFILE_VERSION}")
        features: dict[str, FeatureProfile] = {}
        for item in data["features"]:
            schema = FeatureSchema.from_dict(item)
            num = NumericSketch.from_dict(item["numeric"]) if "numeric" in item else None
            cat = CategoricalProfile.from_dict(item["categorical"]) if "categorical" in item else None
            features[schema.name] = FeatureProfile(schema, num, cat)
        return cls(int(data["rows"]), features, dict(data.get("meta", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:  # what orjson refuses (NaN literals, integers past 64 bits)
            data = json.loads(text)
        return cls.from_dict(data)

    @cached_property
    def numeric_names(self) -> list[str]:
        return [n for n, f in self.features.items() if f.numeric is not None]

    @cached_property
    def sketch_matrix(self) -> SketchMatrix:
        """The numeric sketches padded for :func:`.numeric.sketch_stats`; built once per profile."""
        sketches = [f.numeric for f in self.features.values() if f.numeric is not None]
        return stack_sketches(sketches)


def build_profile(
    reference: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    knots: int = SKETCH_KNOTS,
    max_categories: int = PROFILE_MAX_CATEGORIES,
) -> Profile:
    """Profile a reference DataFrame (numeric sketches with ``knots`` knots, top ``max_categories``)."""
    names = list(features) if features is not None else [str(c) for c in reference.columns]
    missing_cols = [n for n in names if n not in reference.columns]
    if missing_cols:
        raise KeyError(f"features not in the reference data: {', '.join(missing_cols)}")
    schema = infer_schema(reference, names)
    numeric = [n for n in names if schema[n].type == "numeric"]
    sketches: dict[str, NumericSketch] = {}
    per_block = max(1, BLOCK_BYTES // max(1, 8 * len(reference)))
    for start in range(0, len(numeric), per_block):
        cols = numeric[start : start + per_block]
        block = numeric_block(reference, cols)
        missing = np.count_nonzero(np.isnan(block), axis=1).astype(np.int64)
        sketches.update(zip(cols, build_sketches(block, missing, knots), strict=True))
    out: dict[str, FeatureProfile] = {}
    for name in names:
        sch = schema[name]
        if sch.type == "numeric":
            out[name] = FeatureProfile(sch, numeric=sketches[name])
        elif sch.type == "categorical":
            out[name] = FeatureProfile(sch, categorical=categorical_profile(reference[name], max_categories))
        else:
            out[name] = FeatureProfile(sch)
    return Profile(len(reference), out, {"knots": knots, "max_categories": max_categories})
