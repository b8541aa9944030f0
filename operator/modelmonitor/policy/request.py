"""One reconcile request (the monitor as Kopf handed it over), and the status helpers every stage
uses to set a condition and to tell what changed. Pure."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.status import ConditionStatus, set_condition
from modelmonitor.api.times import iso as iso  # re-exported: the stages take them from here
from modelmonitor.api.times import parse_iso as parse_iso
from modelmonitor.policy.target import Transition


@dataclass
class Request:
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: dict[str, Any]
    status: dict[str, Any]
    now: datetime.datetime
    deleting: bool = False
    annotations: dict[str, str] = field(default_factory=dict)  # the monitor's (an A/B test's approval)

    def condition(self, kind: str) -> dict[str, Any]:
        """The stored condition of that type ({} when there is none)."""
        return next((c for c in self.status.get("conditions") or [] if c.get("type") == kind), {})


def with_condition(
    conditions: list[dict[str, Any]], req: Request, kind: str, status: str, reason: str, message: str
) -> list[dict[str, Any]]:
    """``conditions`` with one set (lastTransitionTime moves only on a change), as status JSON."""
    return [
        c.model_dump(mode="json", exclude_none=True)
        for c in set_condition(
            conditions, type=kind, status=ConditionStatus(status), reason=reason,
            message=message[:32000], now=iso(req.now), generation=req.generation,
        )
    ]  # fmt: skip


def transitions(req: Request, conditions: list[dict[str, Any]]) -> list[Transition]:
    """The conditions whose status or reason differ from the stored status: one Event each."""
    old = {c["type"]: (c["status"], c["reason"]) for c in req.status.get("conditions") or []}
    return [
        Transition(type=c["type"], status=c["status"], reason=c["reason"], message=c.get("message", ""))
        for c in conditions
        if old.get(c["type"]) != (c["status"], c["reason"])
    ]
