"""A failed evaluation: status says why, attempts back off exponentially, a changed spec goes at once."""

from __future__ import annotations

import datetime

from modelmonitor.policy.retry import after_failure, backing_off, reason_for

NOW = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.UTC)
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "TargetFound",
    "message": "",
    "lastTransitionTime": "t0",
}


def fail(status: dict, now: datetime.datetime = NOW, reason: str = "Forbidden"):  # type: ignore[no-untyped-def,type-arg]
    return after_failure(
        status, reason=reason, message="deployments.apps \"m\" is forbidden", now=now, generation=3,
        base_seconds=10, cap_seconds=300,
    )  # fmt: skip


def test_reasons_by_http_status() -> None:
    assert [reason_for(s) for s in (403, 409, 422, 500, 503, None, 418)] == [
        "Forbidden", "Conflict", "Invalid", "APIServerError", "APIServerError", "APIUnreachable", "APIError",
    ]  # fmt: skip


def test_first_failure_sets_ready_false_with_the_reason_and_is_announced() -> None:
    failure = fail({"conditions": [READY], "observedGeneration": 3})
    ready = next(c for c in failure.status_patch["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Forbidden")
    assert "is forbidden" in ready["message"] and "attempt 1 failed, next in 10s" in ready["message"]
    assert failure.status_patch["phase"] == "Unknown" and failure.announce
    assert failure.status_patch["retry"] == {
        "reason": "Forbidden", "failures": 1, "since": "2026-12-01T10:00:00Z", "nextAttempt": "2026-12-01T10:00:10Z",
    }  # fmt: skip


def test_repeated_failures_double_the_delay_up_to_the_cap_and_are_not_announced_again() -> None:
    status: dict = {"conditions": [READY], "observedGeneration": 3}  # type: ignore[type-arg]
    delays, announced = [], []
    now = NOW
    for _ in range(7):
        failure = fail(status, now)
        status = {**status, **failure.status_patch}
        delays.append(failure.delay_seconds)
        announced.append(failure.announce)
        now += datetime.timedelta(seconds=failure.delay_seconds)
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert announced == [True, False, False, False, False, False, False]
    assert status["retry"]["since"] == "2026-12-01T10:00:00Z" and status["retry"]["failures"] == 7
    # A new reason is news.
    assert fail(status, now, reason="Conflict").announce


def test_backing_off_until_the_next_attempt_unless_the_spec_changed() -> None:
    status = {"observedGeneration": 3, **fail({"conditions": [READY]}).status_patch}
    assert backing_off(status, now=NOW + datetime.timedelta(seconds=9), generation=3)
    assert not backing_off(status, now=NOW + datetime.timedelta(seconds=10), generation=3)
    assert not backing_off(status, now=NOW + datetime.timedelta(seconds=1), generation=4)
    assert not backing_off({"observedGeneration": 3}, now=NOW, generation=3)
