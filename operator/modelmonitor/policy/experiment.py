"""The A/B test's lifecycle and what the act stage does about it. Pure.

An experiment is one challenger pod template against one champion pod template. It starts when the
operator first sees that pair, runs (traffic split, rows counted) until the always-valid test decides
or a guard rail stops it, and then stays decided while the challenger's template stays the same: a
new challenger template (a new candidate) starts a new experiment; a new champion template while it
runs (someone else changed the model) starts it again, since the rows so far compared another model.
After a promotion the champion carries the challenger's model, and the experiment stays Promoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.spec.types import ActionMode, Promote
from modelmonitor.evaluate.experiment import (
    ABORTED,
    AWAITING_APPROVAL,
    CHAMPION_KEPT,
    PROMOTED,
    PROMOTING,
    RUNNING,
    same_experiment,
)

APPROVAL_ANNOTATION = "modelmonitor.io/promote"
APPROVED = "approved"

# The states (status.experiment.state) are the experiment evaluator's.
__all__ = [
    "ABORTED",
    "AWAITING_APPROVAL",
    "CHAMPION_KEPT",
    "PROMOTED",
    "PROMOTING",
    "RUNNING",
    "Plan",
    "challenger_spec",
    "plan",
    "same_experiment",
]


def challenger_spec(spec: ModelMonitorSpec) -> ModelMonitorSpec:
    """The spec as it applies to the challenger: the same sidecar, window and objectives, with the
    challenger as the target (injection, selectors and the SLO guard rails take it from there)."""
    assert spec.experiment is not None
    wanted = spec.experiment.challenger
    target = spec.target.model_copy(update={"deployment": wanted.deployment, "container": wanted.container})
    return spec.model_copy(update={"target": target, "checks": []})


@dataclass(frozen=True)
class Plan:
    """What the act stage does this evaluation: ``split`` the traffic, ``stop`` the challenger's
    traffic, ``promote``, or nothing (``none``); ``why`` for the record."""

    action: str
    why: str = ""


def plan(spec: ModelMonitorSpec, experiment: dict[str, Any], *, annotations: dict[str, str]) -> Plan:
    """From the experiment's state (status.experiment as evaluated now) to the action. Observe mode
    decides and reports, and touches nothing."""
    if spec.experiment is None or not experiment:
        return Plan("none")
    state = experiment.get("state")
    observe = spec.actions.mode == ActionMode.OBSERVE
    if state == RUNNING:
        return Plan("none" if observe else "split", "the experiment runs")
    if state in (CHAMPION_KEPT, ABORTED):
        return Plan("none" if observe else "stop", str(experiment.get("message") or state))
    if state in (AWAITING_APPROVAL, PROMOTING):
        approved = spec.experiment.promote == Promote.AUTO or annotations.get(APPROVAL_ANNOTATION) == APPROVED
        if not approved:
            return Plan("none", "waiting for approval")
        return Plan("none" if observe else "promote", str(experiment.get("message") or "challenger won"))
    return Plan("none")


def awaiting_message(monitor: str, namespace: str) -> str:
    return (
        f"waiting for approval: kubectl annotate mm -n {namespace} {monitor} {APPROVAL_ANNOTATION}={APPROVED}"
    )
