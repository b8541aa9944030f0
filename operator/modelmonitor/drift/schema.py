"""Column types: what a reference column is (numeric or categorical) and whether a window still matches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelmonitor.drift.defaults import CATEGORICAL_MAX_UNIQUE
from modelmonitor.drift.numeric import FloatArray

Family = Literal["number", "bool", "string", "datetime", "other"]
FeatureType = Literal["numeric", "categorical", "unsupported"]


@dataclass(frozen=True)
class FeatureSchema:
    """Type of one reference column: ``type`` decides the tests, ``family`` the storage kind."""

    name: str
    type: FeatureType
    family: Family

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "family": self.family}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(str(data["name"]), data["type"], data["family"])


_FAMILIES: dict[Any, Family] = {}  # dtype -> family: pandas' dtype checks cost ~10 us each


def family(dtype: Any) -> Family:
    """Storage family of a pandas dtype (``other`` for object columns, judged by :func:`object_family`)."""
    try:
        return _FAMILIES[dtype]
    except (KeyError, TypeError):  # not seen yet, or unhashable
        pass
    fam = _family(dtype)
    if len(_FAMILIES) < 256:
        with contextlib.suppress(TypeError):
            _FAMILIES[dtype] = fam
    return fam


def _family(dtype: Any) -> Family:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype):
        return "other"  # decided from the values by object_family
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "string"
    return "other"


def compatible(reference: Family, current: Family) -> bool:
    """Whether a current column of family ``current`` can be compared with a ``reference`` column.

    ``int`` and ``float`` are one family (a missing value turns an int column into float); a boolean
    column holding missing values arrives as strings/objects, so ``bool`` and ``string`` are compatible.
    """
    return reference == current or {reference, current} == {"bool", "string"}


def _few_values(series: pd.Series) -> bool:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiu":
        # Most numeric columns show more distinct values in their first few rows: np.unique of 64 is a
        # tenth of pandas' nunique of 2000, and counts no more (NaN dropped, equal floats as one).
        start = series.to_numpy()[:64]
        if (
            np.unique(start[~np.isnan(start)] if start.dtype.kind == "f" else start).size
            > CATEGORICAL_MAX_UNIQUE
        ):
            return False
    head = series.iloc[:2000]
    if head.nunique(dropna=True) > CATEGORICAL_MAX_UNIQUE:
        return False
    return bool(series.nunique(dropna=True) <= CATEGORICAL_MAX_UNIQUE)


def infer_schema(frame: pd.DataFrame, names: Sequence[str] | None = None) -> dict[str, FeatureSchema]:
    """Schema of the reference: numbers with more than ``CATEGORICAL_MAX_UNIQUE`` distinct values are
    numeric, other numbers, booleans and strings are categorical, dates and objects unsupported."""
    out: dict[str, FeatureSchema] = {}
    for name in names if names is not None else [str(c) for c in frame.columns]:
        series = frame[name]
        fam = family(series.dtype)
        kind: FeatureType
        if fam == "number":
            kind = "categorical" if _few_values(series) else "numeric"
        elif fam in ("bool", "string"):
            kind = "categorical"
        elif fam == "other" and pd.api.types.is_object_dtype(series.dtype):
            fam = object_family(series)
            kind = "unsupported" if fam == "datetime" else "categorical"
            if fam == "number" and not _few_values(series):
                kind = "numeric"
        else:
            kind = "unsupported"
        out[name] = FeatureSchema(name, kind, fam)
    return out


def object_family(series: pd.Series) -> Family:
    """Family of an object column from its values (JSON payloads give objects holding numbers or bools)."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if kind == "boolean":
        return "bool"
    if kind in ("datetime", "datetime64", "date"):
        return "datetime"
    return "string"


def current_family(series: pd.Series) -> Family:
    """Family of a current-window column (object columns judged by their values)."""
    fam = family(series.dtype)
    if fam == "other" and pd.api.types.is_object_dtype(series.dtype):
        return object_family(series)
    return fam


def numeric_block(frame: pd.DataFrame, names: Sequence[str]) -> FloatArray:
    """Columns ``names`` as a C-contiguous (features, rows) float64 array; missing and +-inf are NaN.

    Column by column: selecting a sub-frame costs pandas an index lookup and a block copy per call,
    which for one column of 100k rows is more than the column's own statistics.
    """
    block = np.empty((len(names), len(frame)))
    for i, name in enumerate(names):
        column = frame[name]
        if column.dtype == np.float64:
            block[i] = column.to_numpy()  # NaN already means missing: no conversion pass
        else:
            block[i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(block)
    if infinite.any():
        block[infinite] = np.nan
    return block


def redacted_columns(columns: Iterable[Any], redact: Iterable[str]) -> list[Any]:
    """The columns named in ``spec.sidecar.redact``, matched as the sidecar matches them: ignoring
    case and surrounding spaces. Their values are salted hashes, unique per value: meaningless to
    compare with a reference."""
    fields = {f.strip().lower() for f in redact if f.strip()}
    return [c for c in columns if str(c).lower() in fields]
