"""Alert payloads: Alertmanager v2, Slack-compatible, or plain JSON. Pure.

An alert is raised on a condition transition (True fires, False resolves) and for every action and
every refusal to act, for each ``spec.actions.alerts`` entry whose ``when`` lists the condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmonitor.api.spec import AlertFormat

SEVERITY = {
    "SLOBreached": "critical",
    "PerformanceDegraded": "critical",
    "FairnessViolated": "warning",
    "DataDrift": "warning",
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

    @property
    def name(self) -> str:
        if self.action:
            return f"ModelMonitor{self.action.capitalize()}{self.reason}"
        return f"ModelMonitor{self.condition}"

    @property
    def fingerprint(self) -> tuple[str, ...]:
        return (self.namespace, self.monitor, self.name, str(self.firing), self.reason)


def runbook_url(base: str, condition: str) -> str:
    return f"{base.rstrip('/')}/{condition}.md"


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
