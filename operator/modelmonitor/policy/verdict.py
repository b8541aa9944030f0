"""From figures to conditions and a phase: SLOs, PromQL checks, data drift.

Pure. Missing data is its own verdict: a figure that could not be had makes its condition
``Unknown`` with the reason (never ``True``), and too little traffic says ``InsufficientData``
instead of passing or failing, so low traffic or a dead Prometheus can never trigger an action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType, Phase

# Unknown because we are waiting for data (the monitor is young, traffic is low): phase Pending.
# Asked for by the spec, not evaluated by this operator version (policy/unbuilt.py): not a verdict,
# not missing data; left out of the phase.
NOT_IMPLEMENTED = "NotImplemented"
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


@dataclass(frozen=True)
class Verdict:
    type: str
    status: str  # True | False | Unknown
    reason: str
    message: str


@dataclass
class Observations:
    """What one evaluation gathered. ``None`` figures were not available; ``*_error`` says why."""

    lookback_seconds: float
    slo: dict[str, float | None] = field(default_factory=dict)
    slo_error: str | None = None
    slo_basis: dict[str, tuple[str, str]] = field(default_factory=dict)
    """(reason, message) for a utilization figure not judged against a limit: ``NoLimit`` (against
    the request) or ``NoLimitOrRequest`` (not at all)."""
    checks: dict[str, float | None] = field(default_factory=dict)
    check_errors: dict[str, str] = field(default_factory=dict)
    drift: dict[str, Any] | None = None  # DriftReport.to_dict()
    drift_reason: tuple[str, str] | None = None  # (reason, message) when drift was not evaluated


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.4g}{unit}"


# objective field -> (figure, comparison, unit)
_OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "latencyP95Ms": ("latencyP95Ms", "max", "ms"),
    "latencyP99Ms": ("latencyP99Ms", "max", "ms"),
    "errorRate": ("errorRate", "max", ""),
    "minThroughput": ("throughputRps", "min", " req/s"),
    "cpuUtilization": ("cpuUtilization", "max", ""),
    "memoryUtilization": ("memoryUtilization", "max", ""),
    "gpuUtilization": ("gpuUtilization", "max", ""),
}


def judge_slos(spec: ModelMonitorSpec, obs: Observations) -> Verdict:
    slos = spec.slos
    wanted = {name: getattr(slos, name) for name in _OBJECTIVES if getattr(slos, name) is not None}
    kind = ConditionType.SLO_BREACHED
    if not wanted:
        return Verdict(
            kind, "False", "NoObjectives", "no objective set in spec.slos; figures are reported only"
        )
    if obs.slo_error:
        return Verdict(kind, "Unknown", "PrometheusUnavailable", obs.slo_error)
    requests = obs.slo.get("requests")
    window = f"{obs.lookback_seconds:g}s"
    if requests is None or requests < slos.minRequests:
        return Verdict(
            kind,
            "Unknown",
            "InsufficientData",
            f"{_fmt(requests)} requests in the last {window}, fewer than spec.slos.minRequests={slos.minRequests}",
        )
    breaches, unjudged, missing, fine = [], [], [], []
    for name, bound in wanted.items():
        figure, how, unit = _OBJECTIVES[name]
        value = obs.slo.get(figure)
        reason, note = obs.slo_basis.get(figure, ("", ""))
        note = f" ({note})" if note and reason == "NoLimit" else ""
        if reason == "NoLimitOrRequest":
            unjudged.append(f"{figure}: {obs.slo_basis[figure][1]}")
        elif value is None:
            missing.append(figure)
        elif (how == "max" and value > bound) or (how == "min" and value < bound):
            breaches.append(
                f"{figure} {_fmt(value, unit)} {'>' if how == 'max' else '<'} {bound:g}{unit}{note}"
            )
        else:
            fine.append(f"{figure} {_fmt(value, unit)}{note}")
    if breaches:
        return Verdict(
            kind, "True", "ObjectiveBreached", "; ".join(breaches + unjudged) + f" (over the last {window})"
        )
    if unjudged:
        return Verdict(kind, "Unknown", "NoLimitOrRequest", "; ".join(unjudged))
    if missing:
        return Verdict(kind, "Unknown", "NoData", f"no series for {', '.join(missing)} in Prometheus")
    return Verdict(kind, "False", "WithinObjectives", "; ".join(fine) + f" (over the last {window})")


def judge_checks(
    spec: ModelMonitorSpec, obs: Observations, previous: dict[str, int]
) -> tuple[Verdict | None, list[dict[str, Any]]]:
    """The CheckFailed verdict and each check's status; ``previous`` holds consecutive failures by name."""
    if not spec.checks:
        return None, []
    states: list[dict[str, Any]] = []
    failing, unknown = [], []
    for check in spec.checks:
        value = obs.checks.get(check.name)
        failures = previous.get(check.name, 0)
        error = obs.check_errors.get(check.name)
        if error or value is None:
            reason = error or "the query returned no sample"
            states.append(
                {"name": check.name, "value": None, "passed": None, "failures": failures, "reason": reason}
            )
            unknown.append(f"{check.name}: {reason}")
            continue
        passed = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
        failures = 0 if passed else failures + 1
        states.append({"name": check.name, "value": value, "passed": passed, "failures": failures})
        if failures >= check.failureLimit:
            bounds = " ".join(
                part for part in (f"min {check.min:g}" if check.min is not None else "",
                                  f"max {check.max:g}" if check.max is not None else "") if part
            )  # fmt: skip
            failing.append(f"{check.name} = {value:.4g} outside {bounds} for {failures} evaluations")
    kind = ConditionType.CHECK_FAILED
    if failing:
        return Verdict(kind, "True", "CheckFailed", "; ".join(failing)), states
    if unknown:
        reason = "PrometheusUnavailable" if obs.slo_error else "NoData"
        return Verdict(kind, "Unknown", reason, "; ".join(unknown)), states
    return Verdict(kind, "False", "ChecksPassing", f"{len(states)} checks within bounds"), states


def judge_drift(spec: ModelMonitorSpec, obs: Observations) -> Verdict:
    kind = ConditionType.DATA_DRIFT
    if obs.drift_reason is not None:
        return Verdict(kind, "Unknown", *obs.drift_reason)
    report = obs.drift or {}
    features = report.get("features") or []
    evaluated = [f for f in features if not f.get("reason")]
    if not evaluated:
        return Verdict(kind, "Unknown", "InsufficientData", "no feature could be evaluated")
    drifted = [f for f in evaluated if f.get("drifted")]
    share = float(report.get("drift_share") or 0.0)
    top = ", ".join(f"{f['name']} ({f['method']} {_fmt(f.get('statistic'))})" for f in drifted[:3])
    if report.get("dataset_drift"):
        message = f"{len(drifted)} of {len(evaluated)} features drift (share {share:.2f} >= {spec.drift.driftShare:g})"
        return Verdict(kind, "True", "DriftDetected", message + (f": {top}" if top else ""))
    message = (
        f"{len(drifted)} of {len(evaluated)} features drift (share {share:.2f} < {spec.drift.driftShare:g})"
    )
    return Verdict(kind, "False", "NoDatasetDrift", message + (f": {top}" if top else ""))


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
    true_types = {v.type for v in verdicts if v.status == "True"}
    for types, phase in _BAD_PHASE:
        if true_types & types:
            return phase
    unknown = [v for v in verdicts if v.status == "Unknown" and v.reason != NOT_IMPLEMENTED]
    if any(v.reason not in WAITING for v in unknown):
        return Phase.UNKNOWN
    if unknown:
        return Phase.PENDING
    return Phase.HEALTHY
