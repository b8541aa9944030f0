"""Reading reference and current data from files: CSV, Parquet, or a profile JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from modelmonitor.drift.profile import PROFILE_FORMAT, Profile

TABLES = ".csv, .tsv or .parquet"
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".txt")
_TSV = (".tsv", ".tsv.gz")


class InputError(Exception):
    """A file cannot be read; the message names the file and what is wrong with it."""


def read_table(path: str | Path, *, allow_empty: bool = True) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.txt``), TSV (``.tsv``, ``.tsv.gz``) or Parquet (``.parquet``,
    ``.pq``) file. With ``allow_empty=False`` a file without data rows (a CSV of only a header) is an
    error rather than an empty frame."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    name = p.name.lower()
    if name.endswith(".json"):
        raise InputError(
            f"{p}: a profile (.json) stands only for a reference, the first argument of "
            f"`modelmonitor drift`; data to compare must be {TABLES}"
        )
    parquet = name.endswith(_PARQUET)
    try:
        if parquet:
            frame = pd.read_parquet(p)
        elif name.endswith(_CSV):
            frame = pd.read_csv(p)
        elif name.endswith(_TSV):
            frame = pd.read_csv(p, sep="\t")
        else:
            raise InputError(f"{p}: unknown format; use {TABLES}")
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(
            f"{p}: reading Parquet needs pyarrow (pip install 'modelmonitor[parquet]'): {exc}"
        ) from exc
    except Exception as exc:  # pandas raises many types for malformed files
        raise InputError(f"{p}: cannot read as {'Parquet' if parquet else 'CSV'}: {exc}") from exc
    if not allow_empty and len(frame) == 0:
        shape = "no rows" if parquet else "a header and no rows"
        raise InputError(f"{p}: no data: the file has {shape}; give at least one row to profile or compare")
    return frame


def read_reference(path: str | Path, *, allow_empty: bool = True) -> pd.DataFrame | Profile:
    """A profile when ``path`` is a profile JSON, else the data table (see :func:`read_table`)."""
    p = Path(path)
    if not p.name.lower().endswith(".json"):
        if p.is_file() and not p.name.lower().endswith(_PARQUET + _CSV + _TSV):
            raise InputError(f"{p}: unknown format; use .csv, .tsv, .parquet or a profile .json")
        return read_table(p, allow_empty=allow_empty)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise InputError(f'{p}: not a drift profile (expected "format": "{PROFILE_FORMAT}")')
    try:
        return Profile.from_dict(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{p}: damaged profile: {exc}") from exc
