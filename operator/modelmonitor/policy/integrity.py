"""From a drift report's integrity section to the DataIntegrity verdict. Pure.

A feature is broken when it is missing from the current window, every current value of it is null
(while the reference had values), or its type changed. Unknown for the same reasons as DataDrift
(no window, no reference), so missing data never triggers an action.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.policy.verdict import Observations, Verdict

MAX_MESSAGE = 1000  # characters: the condition's message names the broken features up to this length


def broken_features(report: dict[str, Any]) -> list[dict[str, str]]:
    """Each broken feature of a ``DriftReport.to_dict()``, in the report's order, with its problem:
    ``missing``, ``all null`` or ``type changed from <reference> to <current>``."""
    integrity = report.get("integrity") or {}
    missing = [str(n) for n in integrity.get("missing_columns") or []]
    changed = {
        str(c["name"]): f"type changed from {c.get('reference')} to {c.get('current')}"
        for c in integrity.get("type_changes") or []
    }
    out: dict[str, str] = {}
    for feature in report.get("features") or []:
        name = str(feature["name"])
        share = feature.get("missing_share") or {}
        reference, current = share.get("reference"), share.get("current")
        if name in missing:
            out[name] = "missing"
        elif name in changed:
            out[name] = changed[name]
        elif current is not None and current >= 1.0 and (reference is None or reference < 1.0):
            out[name] = "all null"
    for name in missing:
        out.setdefault(name, "missing")
    for name, problem in changed.items():
        out.setdefault(name, problem)
    return [{"name": name, "problem": problem} for name, problem in out.items()]


def _listed(broken: list[dict[str, str]]) -> str:
    parts: list[str] = []
    for i, b in enumerate(broken):
        part = f"{b['name']} ({b['problem']})"
        rest = len(broken) - i - 1
        more = f", and {rest} more" if rest else ""
        if parts and len(", ".join([*parts, part])) + len(more) > MAX_MESSAGE:
            return ", ".join(parts) + f", and {len(broken) - i} more"
        parts.append(part[:MAX_MESSAGE])
    return ", ".join(parts)


def judge_integrity(spec: ModelMonitorSpec, obs: Observations) -> Verdict:
    """DataIntegrity: True ``FeaturesBroken`` naming each broken feature and how, False ``Intact``."""
    kind = ConditionType.DATA_INTEGRITY
    if obs.drift_reason is not None:
        return Verdict(kind, "Unknown", *obs.drift_reason)
    report = obs.drift or {}
    features = report.get("features") or []
    if not features:
        return Verdict(kind, "Unknown", "InsufficientData", "no feature to check")
    broken = broken_features(report)
    if broken:
        count = f"{len(broken)} of {len(features)} features broken"
        return Verdict(kind, "True", "FeaturesBroken", f"{count}: {_listed(broken)}")
    return Verdict(
        kind, "False", "Intact", f"{len(features)} features present, typed as in the reference, not all null"
    )
