"""Reading reference and current data from files: CSV, Parquet, or a profile JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from modelmonitor.drift.profile import PROFILE_FORMAT, Profile


class InputError(Exception):
    """A file cannot be read; the message names the file and what is wrong with it."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(p)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(p)
        if name.endswith((".tsv", ".tsv.gz")):
            return pd.read_csv(p, sep="\t")
    except ImportError as exc:
        raise InputError(
            f"{p}: reading Parquet needs pyarrow (pip install 'modelmonitor[parquet]'): {exc}"
        ) from exc
    except Exception as exc:  # pandas raises many types for malformed files
        raise InputError(
            f"{p}: cannot read as {'Parquet' if 'parq' in name or name.endswith('.pq') else 'CSV'}: {exc}"
        ) from exc
    raise InputError(f"{p}: unknown format; use .csv, .tsv, .parquet or a profile .json")


def read_reference(path: str | Path) -> pd.DataFrame | Profile:
    """A profile when ``path`` is a profile JSON, else the data table."""
    p = Path(path)
    if p.name.lower().endswith(".json"):
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
    return read_table(p)
