"""The evaluate timer waits in its own run until the monitor is due (one Kopf run per evaluation, not
one per tick), looks at the live state every tick and at the due time, and returns when stopped."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from modelmonitor.operator import handlers
from modelmonitor.operator.schedule import due
from tests.unit.operator.fakes import settings

T0 = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.UTC)
TICK = 10.0
READY = {"type": "Ready", "status": "True", "reason": "Evaluated"}
INJECTED = {"type": "SidecarInjected", "status": "True", "reason": "Injected"}


def stamp(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """The time the handler reads; the fake stopper's waits move it on."""

    def __init__(self, at: datetime.datetime) -> None:
        self.at = at

    def __call__(self) -> datetime.datetime:
        return self.at


class Stopper:
    """Kopf's ``stopped`` kwarg: ``await stopped.wait(t)`` returns the flag, true once stopped. Here a
    wait moves the clock by ``t`` (no real sleep) and runs ``during`` (another writer, a deletion)."""

    def __init__(self, clock: Clock, during: Any = None) -> None:
        self.clock, self.during, self.waits, self.stopped = clock, during, [], False

    def __bool__(self) -> bool:
        return self.stopped

    async def _wait(self, timeout: float) -> Stopper:
        self.waits.append(timeout)
        self.clock.at += datetime.timedelta(seconds=timeout)
        if self.during is not None:
            self.during(self, len(self.waits))
        return self

    def wait(self, timeout: float) -> Any:
        return self._wait(timeout)


def monitor(last: datetime.datetime, **status: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    spec = {"interval": "60s", "target": {"name": "model"}}
    state = {
        "lastEvaluation": stamp(last),
        "observedGeneration": 1,
        "conditions": [READY, INJECTED],
        **status,
    }
    return spec, state, {"generation": 1, "annotations": {}}


def run(spec: dict[str, Any], status: dict[str, Any], meta: dict[str, Any], stopper: Stopper) -> Any:
    return asyncio.run(
        handlers._wait_until_due(spec, status, meta, "ns", "m", "uid-7", stopper, clock=stopper.clock)  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "SETTINGS", settings(tick_seconds=TICK))


def test_a_settled_monitor_is_held_in_one_run_until_its_slot_then_returned_due() -> None:
    stopper = Stopper(Clock(T0 + datetime.timedelta(seconds=1)))
    spec, status, meta = monitor(T0)
    req = run(spec, status, meta, stopper)
    assert req is not None and due(60, req)
    assert all(0 < w <= TICK for w in stopper.waits)  # the live state is looked at every tick at least
    waited = sum(stopper.waits)
    assert 1 + waited - 60 < 60  # within the next interval's slot, not a tick late or an interval late
    # just before the last wake it was not due yet: the wait ends on the slot, within the margin
    before = handlers._request(spec, status, meta, "ns", "m", "uid-7", stopper.clock.at - datetime.timedelta(
        seconds=handlers.DUE_MARGIN_SECONDS + 0.001))  # fmt: skip
    assert not due(60, before)


def test_a_spec_change_during_the_wait_is_evaluated_on_the_next_wake() -> None:
    def edit(stopper: Stopper, waits: int) -> None:
        if waits == 2:
            meta["generation"] = 2  # the live view: Kopf updates it from the watch event

    spec, status, meta = monitor(T0)
    stopper = Stopper(Clock(T0 + datetime.timedelta(seconds=1)), during=edit)
    req = run(spec, status, meta, stopper)
    assert req is not None and req.generation == 2
    assert len(stopper.waits) == 2


def test_a_monitor_that_is_not_settled_is_returned_at_once() -> None:
    spec, status, meta = monitor(T0, conditions=[READY])  # the sidecar is not in place yet
    stopper = Stopper(Clock(T0 + datetime.timedelta(seconds=1)))
    assert run(spec, status, meta, stopper) is not None
    assert stopper.waits == []


def test_a_stopped_timer_returns_none_without_evaluating() -> None:
    def delete(stopper: Stopper, waits: int) -> None:
        stopper.stopped = True

    spec, status, meta = monitor(T0)
    stopper = Stopper(Clock(T0 + datetime.timedelta(seconds=1)), during=delete)
    assert run(spec, status, meta, stopper) is None
    assert len(stopper.waits) == 1


def test_a_failed_monitor_waits_for_its_next_attempt_then_is_returned() -> None:
    attempt = T0 + datetime.timedelta(seconds=25)
    spec, status, meta = monitor(T0, retry={"reason": "KubernetesUnavailable", "failures": 1,
                                            "nextAttempt": stamp(attempt)})  # fmt: skip
    status["conditions"] = [{"type": "Ready", "status": "False", "reason": "KubernetesUnavailable"}]
    stopper = Stopper(Clock(T0 + datetime.timedelta(seconds=1)))
    req = run(spec, status, meta, stopper)
    assert req is not None
    assert attempt <= req.now <= attempt + datetime.timedelta(seconds=1)
