"""Alert payloads: Alertmanager v2, Slack-compatible, or plain JSON. Pure.

An alert is raised on a condition transition (True fires, False resolves) and for every action and
every refusal to act, for each ``spec.actions.alerts`` entry whose ``when`` lists the condition.

Alertmanager resolves an alert nobody re-sends (after its ``resolve_timeout``), so for the
alertmanager format a condition's alert is sent again on every evaluation while the condition
stays True, each time with ``endsAt`` a few evaluation intervals ahead: the alert stays firing
as long as the operator keeps seeing the condition, and resolves on its own soon after the
operator stops saying so. Slack and JSON receivers get one message per transition.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from modelmonitor.api.spec import AlertFormat
from modelmonitor.api.times import iso as _iso

SEVERITY = {
    "SLOBreached": "critical",
    "PerformanceDegraded": "critical",
    "FairnessViolated": "warning",
    "DataDrift": "warning",
    "DataIntegrity": "warning",
    "ConceptDrift": "warning",
    "CheckFailed": "warning",
    "RollbackBlocked": "warning",
}


@dataclass(frozen=True)
class AlertEvent:
    namespace: str
    monitor: str
    condition: str  # the condition (or the action's trigger)
    firing: bool
    reason: str
    message: str
    time: str
    runbook_url: str
    action: str | None = None  # rollback, retrain, ... when the alert is about a decision
    ends_at: str | None = None  # RFC 3339: when Alertmanager may resolve a firing alert not re-sent
    repeat: bool = False  # a condition still True, sent again (to Alertmanager only)

    @property
    def name(self) -> str:
        if self.action:
            return f"ModelMonitor{self.action.capitalize()}{self.reason}"
        return f"ModelMonitor{self.condition}"

    @property
    def fingerprint(self) -> tuple[str, ...]:
        return (self.namespace, self.monitor, self.name, str(self.firing), self.reason)


RESEND_INTERVALS = 3  # endsAt of a firing alert: this many evaluation intervals ahead


def runbook_url(base: str, condition: str) -> str:
    return f"{base.rstrip('/')}/{condition}.md"


def condition_alerts(
    namespace: str, monitor: str, *, before: dict[str, str], conditions: list[dict[str, Any]],
    changed: set[str], now: datetime.datetime, interval: float, runbook_base: str,
) -> list[AlertEvent]:  # fmt: skip
    """The condition alerts of one evaluation: a transition to True fires, to False resolves only
    what had fired, Unknown alerts nothing (missing data); a condition still True fires again
    (``repeat``). ``before`` is each condition's status before the evaluation, ``changed`` the
    types whose status or reason changed, ``interval`` the evaluation interval in seconds."""
    stamp = _iso(now)
    ends_at = _iso(now + datetime.timedelta(seconds=RESEND_INTERVALS * interval))
    events = []
    for c in conditions:
        kind, status = c["type"], c["status"]
        fired, was_firing = status == "True", before.get(kind) == "True"
        transition = kind in changed and (fired or (status == "False" and was_firing))
        still_firing = kind not in changed and fired and was_firing
        if not (transition or still_firing):
            continue
        events.append(
            AlertEvent(namespace, monitor, kind, fired, c["reason"], c.get("message", ""),
                       c.get("lastTransitionTime") or stamp if fired else stamp,
                       runbook_url(runbook_base, kind), ends_at=ends_at if fired else None,
                       repeat=kind not in changed)
        )  # fmt: skip
    return events


def payload(event: AlertEvent, fmt: AlertFormat) -> Any:
    """The request body for one alert in ``fmt``."""
    state = "FIRING" if event.firing else "RESOLVED"
    summary = f"{event.namespace}/{event.monitor}: {event.condition} {event.reason}"
    if fmt == AlertFormat.ALERTMANAGER:
        alert: dict[str, Any] = {
            "labels": {
                "alertname": event.name,
                "namespace": event.namespace,
                "monitor": event.monitor,
                "condition": event.condition,
                "severity": SEVERITY.get(event.condition, "warning"),
            },
            "annotations": {
                "summary": summary,
                "description": event.message,
                "runbook_url": event.runbook_url,
            },
            "startsAt": event.time,
        }
        if event.action:
            alert["labels"]["action"] = event.action
        if not event.firing:
            alert["endsAt"] = event.time
        elif event.ends_at:
            alert["endsAt"] = event.ends_at
        return [alert]
    if fmt == AlertFormat.SLACK:
        return {
            "text": f"[{state}] ModelMonitor {summary}\n{event.message}\nRunbook: {event.runbook_url}",
            "username": "ModelMonitor",
        }
    return {
        "state": state.lower(),
        "alertname": event.name,
        "namespace": event.namespace,
        "monitor": event.monitor,
        "condition": event.condition,
        "action": event.action,
        "reason": event.reason,
        "message": event.message,
        "time": event.time,
        "runbook_url": event.runbook_url,
    }
