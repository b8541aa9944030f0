"""Data integrity of a window against the reference schema, reported apart from distribution drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from modelmonitor.drift.defaults import NULL_RATE_TOLERANCE
from modelmonitor.drift.report import FeatureResult, IntegrityReport
from modelmonitor.drift.schema import Family, FeatureSchema, compatible, current_family


def current_families(
    schema: Mapping[str, FeatureSchema], current: pd.DataFrame, names: Sequence[str]
) -> dict[str, Family]:
    """Storage family of each compared column present in the window (judged once per evaluation)."""
    return {
        n: current_family(current[n])
        for n in names
        if n in schema and n in current.columns and schema[n].type != "unsupported"
    }


def check_columns(
    schema: Mapping[str, FeatureSchema],
    current: pd.DataFrame,
    names: Sequence[str],
    families: Mapping[str, Family] | None = None,
) -> dict[str, str | None]:
    """Why each feature cannot be evaluated (None when it can): missing on a side, type changed,
    unsupported type. An entirely missing current column is not a type change (it is reported later as
    insufficient data). ``families`` is :func:`current_families` when the caller has it already."""
    fams = current_families(schema, current, names) if families is None else families
    out: dict[str, str | None] = {}
    for name in names:
        if name not in schema:
            out[name] = "schema mismatch: column missing from the reference"
        elif name not in current.columns:
            out[name] = "schema mismatch: column missing from the current window"
        elif schema[name].type == "unsupported":
            out[name] = f"unsupported type: {schema[name].family} columns are not compared"
        else:
            fam = fams[name]
            if not compatible(schema[name].family, fam) and current[name].notna().any():
                out[name] = f"schema mismatch: type changed from {schema[name].family} to {fam}"
            else:
                out[name] = None
    return out


def integrity_report(
    schema: Mapping[str, FeatureSchema],
    current: pd.DataFrame,
    names: Sequence[str],
    results: Sequence[FeatureResult],
    unseen_rows_share: float,
    families: Mapping[str, Family] | None = None,
) -> IntegrityReport:
    """Columns missing or new, type changes, missing-share changes above ``NULL_RATE_TOLERANCE``, and
    the share of current rows holding at least one category unseen in the reference."""
    missing = [n for n in names if n in schema and n not in current.columns]
    new = [str(c) for c in current.columns if str(c) not in schema]
    fams = current_families(schema, current, names) if families is None else families
    changes: list[dict[str, str]] = []
    for name, fam in fams.items():
        if not compatible(schema[name].family, fam) and current[name].notna().any():
            changes.append({"name": name, "reference": schema[name].family, "current": fam})
    nulls = []
    for r in results:
        ref_share, cur_share = r.missing_share
        if (
            ref_share is not None
            and cur_share is not None
            and abs(cur_share - ref_share) > NULL_RATE_TOLERANCE
        ):
            nulls.append(
                {
                    "name": r.name,
                    "reference": ref_share,
                    "current": cur_share,
                    "change": cur_share - ref_share,
                }
            )
    unseen = {r.name: list(r.unseen_categories) for r in results if r.unseen_categories}
    return IntegrityReport(missing, new, changes, nulls, unseen_rows_share, unseen)
