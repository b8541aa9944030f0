"""SLOBreached: latency, error rate, throughput and utilization from Prometheus against ``spec.slos``.

Pure: takes the figures the Prometheus gatherer found; owns ``status.slo``.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict, fmt
from modelmonitor.evaluate.observations import Observations

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
            f"{fmt(requests)} requests in the last {window}, fewer than spec.slos.minRequests={slos.minRequests}",
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
                f"{figure} {fmt(value, unit)} {'>' if how == 'max' else '<'} {bound:g}{unit}{note}"
            )
        else:
            fine.append(f"{figure} {fmt(value, unit)}{note}")
    if breaches:
        return Verdict(
            kind, "True", "ObjectiveBreached", "; ".join(breaches + unjudged) + f" (over the last {window})"
        )
    if unjudged:
        return Verdict(kind, "Unknown", "NoLimitOrRequest", "; ".join(unjudged))
    if missing:
        return Verdict(kind, "Unknown", "NoData", f"no series for {', '.join(missing)} in Prometheus")
    return Verdict(kind, "False", "WithinObjectives", "; ".join(fine) + f" (over the last {window})")


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    figures = {k: (round(v, 6) if v is not None else None) for k, v in obs.slo.items()}
    return Finding([judge_slos(spec, obs)], {"slo": figures})
