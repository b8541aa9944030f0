"""Say so in status when a spec asks for what this operator version does not evaluate yet.

``spec.experiment`` (A/B tests) is accepted and validated, so manifests written for them keep
working when they are built; until then no condition may look as if they were checked. Each such
condition is Unknown with reason ``NotImplemented``, which ``phase_of`` leaves out of the phase (it
is not missing data, and it is not a verdict) and no action ever counts as a breach.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import NOT_IMPLEMENTED, Finding, Verdict
from modelmonitor.evaluate.observations import Observations

_NO_VERDICT = "this version of the operator does not evaluate it yet: no verdict, no action, no alert"


def judge_unbuilt(spec: ModelMonitorSpec) -> list[Verdict]:
    """One Unknown/NotImplemented verdict per condition the spec asks for and nothing evaluates."""
    out: list[Verdict] = []
    if spec.experiment is not None:
        out.append(Verdict(ConditionType.EXPERIMENT, "Unknown", NOT_IMPLEMENTED,
                           f"spec.experiment (challenger {spec.experiment.challenger.deployment}) is accepted, "
                           f"but {_NO_VERDICT}: no traffic is split and nothing is promoted"))  # fmt: skip
    return out


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    return Finding(judge_unbuilt(spec))
