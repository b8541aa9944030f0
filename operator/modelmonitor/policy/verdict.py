"""From verdicts to the phase: the one-word summary ``kubectl get mm`` shows. Pure.

Missing data is its own verdict (evaluate/findings.py): a condition that is Unknown because data is
awaited makes the phase Pending, one that is Unknown because something failed makes it Unknown, and
neither ever counts as a breach.
"""

from __future__ import annotations

from modelmonitor.api.status import ConditionType, Phase
from modelmonitor.evaluate.findings import Verdict

# Unknown because we are waiting for data (the monitor is young, traffic is low): phase Pending.
WAITING = {"InsufficientData", "CapturingReference", "RolloutInProgress", "AwaitingTraffic"}
# Unknown because something failed (Prometheus, a sidecar, the reference): phase Unknown.
FAILING = {
    "PrometheusUnavailable",
    "SidecarUnreachable",
    "ReferenceUnavailable",
    "EvaluationFailed",
    "NoData",
    "NoLimitOrRequest",
}


_BAD_PHASE = (
    ({ConditionType.SLO_BREACHED, ConditionType.CHECK_FAILED}, Phase.BREACHED),
    (
        {ConditionType.PERFORMANCE_DEGRADED, ConditionType.FAIRNESS_VIOLATED, ConditionType.CONCEPT_DRIFT},
        Phase.DEGRADED,
    ),
    ({ConditionType.DATA_DRIFT, ConditionType.DATA_INTEGRITY}, Phase.DRIFTING),
)


def phase_of(verdicts: list[Verdict]) -> Phase:
    """The one-word summary: the worst True condition, else Unknown/Pending for missing data, else Healthy."""
    # An A/B test's verdict is about the challenger, not the monitored model: it leaves the phase alone.
    verdicts = [v for v in verdicts if v.type != ConditionType.EXPERIMENT]
    true_types = {v.type for v in verdicts if v.status == "True"}
    for types, phase in _BAD_PHASE:
        if true_types & types:
            return phase
    unknown = [v for v in verdicts if v.status == "Unknown"]
    if any(v.reason not in WAITING for v in unknown):
        return Phase.UNKNOWN
    if unknown:
        return Phase.PENDING
    return Phase.HEALTHY
