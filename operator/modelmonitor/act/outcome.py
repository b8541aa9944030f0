"""What the act stage reports back: Events to raise, status fields, extra conditions. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelmonitor.evaluate.findings import Verdict
from modelmonitor.policy.alerts import AlertEvent


@dataclass
class Note:
    """An Event to raise (and, with ``alert``, an alert to send for the trigger)."""

    warning: bool
    reason: str
    message: str
    condition: str = ""  # the condition an alert note is about (status.actions[].reason)


@dataclass
class ActOutcome:
    status: dict[str, Any] = field(default_factory=dict)  # status fields to merge
    notes: list[Note] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # extra conditions (RollbackBlocked)
    alerts: list[AlertEvent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Every decision taken, repeats included (status.actions leaves a repeated skip out; the audit
    # trail counts it): (action, reason, result, message).
    decided: list[tuple[str, str, str, str]] = field(default_factory=list)
