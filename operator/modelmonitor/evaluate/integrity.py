"""DataIntegrity: from the drift report's integrity section. Pure; its broken features are listed in
``status.drift.brokenFeatures`` by the drift evaluator.

A feature is broken when it is missing from the current window, every current value of it is null
(while the reference had values), or its type changed. Unknown for the same reasons as DataDrift
(no window, no reference), so missing data never triggers an action.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict
from modelmonitor.evaluate.observations import Observations, broken_features

MAX_MESSAGE = 1000  # characters: the condition's message names the broken features up to this length


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


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    return Finding([judge_integrity(spec, obs)])
