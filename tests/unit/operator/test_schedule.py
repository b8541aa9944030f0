"""When an evaluation is due: at once for new or changed monitors, then once per interval in a slot."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from modelmonitor.operator.schedule import due, seconds_until_due
from modelmonitor.policy.request import Request

T0 = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.UTC)


def req(uid: str, now: datetime.datetime, last: datetime.datetime | None, **status: Any) -> Request:
    stamp = last.strftime("%Y-%m-%dT%H:%M:%SZ") if last else None
    return Request(
        namespace="ns", name="m", uid=uid, generation=1, spec={},
        status={"lastEvaluation": stamp, "observedGeneration": 1, **status}, now=now,
    )  # fmt: skip


def test_new_and_changed_monitors_are_due_at_once() -> None:
    assert due(60, req("a", T0, None))
    assert due(60, req("a", T0, T0, observedGeneration=0))


def evaluations(uid: str, minutes: int = 10, tick: int = 10) -> list[datetime.datetime]:
    done: list[datetime.datetime] = [T0]
    for step in range(1, minutes * 60 // tick + 1):
        now = T0 + datetime.timedelta(seconds=step * tick)
        if due(60, req(uid, now, done[-1])):
            done.append(now)
    return done


def test_once_per_interval_in_steady_state() -> None:
    for uid in ("a", "b", "c", "uid-1234"):
        done = evaluations(uid)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(done[1:])]
        assert gaps and all(g == 60 for g in gaps), (uid, gaps)
        assert 0 < (done[1] - done[0]).total_seconds() <= 60  # the one-off move into the slot


def test_monitors_created_together_are_spread_over_the_interval() -> None:
    slots = {evaluations(f"monitor-{i}")[-1].second for i in range(200)}
    assert len(slots) == 6  # every 10 s tick of the minute is used, not one burst


def test_overdue_monitors_do_not_wait_for_their_slot() -> None:
    assert due(60, req("a", T0 + datetime.timedelta(seconds=121), T0))


def test_waking_after_seconds_until_due_finds_the_monitor_due_and_not_before() -> None:
    for i, (last_s, now_s) in enumerate(itertools.product((0, 7, 59, 61), (1, 13, 45, 59, 90, 119))):
        uid = f"uid-{i}"
        last = T0 + datetime.timedelta(seconds=last_s)
        now = last + datetime.timedelta(seconds=now_s)
        wait = seconds_until_due(60, req(uid, now, last))
        if due(60, req(uid, now, last)):
            assert wait == 0
            continue
        assert 0 < wait <= 60, (uid, wait)
        assert not due(60, req(uid, now + datetime.timedelta(seconds=wait - 0.5), last)), (uid, wait)
        assert due(60, req(uid, now + datetime.timedelta(seconds=wait + 0.01), last)), (uid, wait)


def test_overdue_mark_bounds_the_wait() -> None:
    last = T0
    now = T0 + datetime.timedelta(seconds=119.5)
    # two intervals after the last evaluation it is due whatever its slot: never wait past that
    for uid in ("a", "b", "c", "d"):
        assert seconds_until_due(60, req(uid, now, last)) <= 0.5 + 1e-6
