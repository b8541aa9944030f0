"""CheckFailed: each PromQL check of ``spec.checks`` within its bounds, with consecutive failures.

Pure: takes the checks' values the Prometheus gatherer found and the failures counted so far
(``status.checks``); owns ``status.checks``.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict
from modelmonitor.evaluate.observations import Observations


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
            # no value and no verdict: the keys are left out (the status schema has no nulls, the
            # server would drop them and the patch would never match what is stored)
            states.append({"name": check.name, "failures": failures, "reason": reason})
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


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    previous = {c.get("name"): int(c.get("failures") or 0) for c in status.get("checks") or []}
    verdict, states = judge_checks(spec, obs, previous)
    return Finding([verdict] if verdict is not None else [], {"checks": states})
