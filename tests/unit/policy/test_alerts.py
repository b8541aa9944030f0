"""Which condition alerts one evaluation sends: transitions, and conditions still firing."""

from __future__ import annotations

import datetime
from typing import Any

from modelmonitor.api.spec import AlertFormat
from modelmonitor.policy.alerts import condition_alerts, payload

NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.UTC)


def cond(kind: str, status: str, reason: str = "R", since: str = "2026-11-23T11:00:00Z") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": "m", "lastTransitionTime": since}


def alerts(before: dict[str, str], conditions: list[dict[str, Any]], changed: set[str]) -> list[Any]:
    return condition_alerts("ns", "mm", before=before, conditions=conditions, changed=changed, now=NOW,
                            interval=60, runbook_base="https://r")  # fmt: skip


def test_a_transition_to_true_fires_with_an_end_a_few_intervals_ahead() -> None:
    (event,) = alerts({"SLOBreached": "False"}, [cond("SLOBreached", "True", since="2026-11-23T12:00:00Z")],
                      {"SLOBreached"})  # fmt: skip
    assert event.firing and not event.repeat
    (am,) = payload(event, AlertFormat.ALERTMANAGER)
    assert (am["startsAt"], am["endsAt"]) == ("2026-11-23T12:00:00Z", "2026-11-23T12:03:00Z")


def test_a_condition_still_true_fires_again_from_its_first_start() -> None:
    (event,) = alerts({"SLOBreached": "True"}, [cond("SLOBreached", "True")], set())
    assert event.firing and event.repeat and event.time == "2026-11-23T11:00:00Z"
    assert payload(event, AlertFormat.ALERTMANAGER)[0]["endsAt"] == "2026-11-23T12:03:00Z"


def test_false_resolves_only_what_fired_and_unknown_says_nothing() -> None:
    (resolved,) = alerts({"DataDrift": "True"}, [cond("DataDrift", "False")], {"DataDrift"})
    assert not resolved.firing and resolved.ends_at is None
    assert payload(resolved, AlertFormat.ALERTMANAGER)[0]["endsAt"] == "2026-11-23T12:00:00Z"
    assert alerts({"DataDrift": "Unknown"}, [cond("DataDrift", "False")], {"DataDrift"}) == []
    assert alerts({"DataDrift": "True"}, [cond("DataDrift", "Unknown")], {"DataDrift"}) == []
    assert alerts({"DataDrift": "False"}, [cond("DataDrift", "False")], set()) == []
