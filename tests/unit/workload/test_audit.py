"""The audit ring, planned: appends, rotation at the bound, the oldest segment dropped, retention by
an injected clock, repeats counted into one record, an oversized record cut to fit."""

from __future__ import annotations

import datetime
import json

from modelmonitor.api.times import iso
from modelmonitor.policy.audit import decision
from modelmonitor.workload import audit as ring

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


class Ring:
    """The ConfigMaps, as the writes leave them (what the store does through the API)."""

    def __init__(self, slots: int, max_bytes: int) -> None:
        self.slots, self.max_bytes = slots, max_bytes
        self.segments: dict[int, ring.Segment] = {}
        self.writes: list[ring.Write] = []

    def append(self, records: list[dict[str, object]], now: datetime.datetime, retention: float) -> None:
        head = max(self.segments, key=lambda i: self.segments[i].number) if self.segments else 0
        read = dict(self.segments) or {0: ring.Segment(0, 0)}
        writes, after = ring.plan(read, head, records, cutoff=iso(now - datetime.timedelta(seconds=retention)),
                                  slots=self.slots, max_bytes=self.max_bytes)  # fmt: skip
        self.writes += writes
        for write in writes:  # as the server applies a merge patch: null drops a key
            prev = self.segments.get(write.index)
            stored = dict(prev.records) if prev is not None else {}
            for k, v in write.data.items():
                if v is None:
                    stored.pop(k, None)
                else:
                    stored[k] = json.loads(v)
            assert stored == after[write.index].records  # the writes make what the plan says
            self.segments[write.index] = after[write.index]
        self.segments.update({i: s for i, s in after.items() if i in self.segments})

    def keys(self) -> list[int]:
        return sorted(int(k) for s in self.segments.values() for k in s.records)


def note(i: int, now: datetime.datetime) -> dict[str, object]:
    return {
        "time": iso(now),
        "kind": "specChanged",
        "generation": i,
        "changes": [{"op": "add", "path": f"spec.x{i}"}],
    }


def test_the_ring_rotates_at_its_bound_and_drops_the_oldest_segment_first() -> None:
    r = Ring(slots=3, max_bytes=1000)
    for i in range(60):
        r.append([note(i, T0)], T0, retention=3600)
        assert all(s.size() <= 1000 for s in r.segments.values())
    assert len(r.segments) == 3  # never more than the bound
    numbers = sorted(s.number for s in r.segments.values())
    assert numbers == list(range(numbers[0], numbers[0] + 3)) and numbers[0] > 0  # rotated, in order
    kept = r.keys()
    assert kept == list(range(kept[0], 61)) and kept[0] > 1  # the newest kept, without a gap
    out = ring.export(list(r.segments.values()), since="", namespace="ns", monitor="m")
    assert [x["seq"] for x in out] == kept and out[-1]["generation"] == 59 and out[0]["monitor"] == "m"
    # An append is a patch of the new keys only (a seal, of none); only a rotation drops keys.
    assert all(len([v for v in w.data.values() if v is not None]) <= 1 for w in r.writes)


def test_records_past_the_retention_are_dropped_by_the_clock() -> None:
    r = Ring(slots=4, max_bytes=100_000)
    r.append([note(1, T0), note(2, T0 + datetime.timedelta(hours=1))], T0 + datetime.timedelta(hours=1), 7200)
    assert r.keys() == [1, 2]
    later = T0 + datetime.timedelta(hours=2, minutes=30)  # record 1 is 2h30 old, record 2 1h30
    r.append([], later, 7200)
    assert r.keys() == [2] and r.writes[-1].data == {ring.key(1): None}
    r.append([note(3, later)], later + datetime.timedelta(hours=3), 7200)  # everything before is past
    assert r.keys() == [3]  # the sequence goes on


def test_a_repeated_decision_is_one_record_counted_until_something_differs() -> None:
    r = Ring(slots=2, max_bytes=100_000)
    for minute in range(5):
        now = T0 + datetime.timedelta(minutes=minute)
        r.append([decision("rollback", "SLOBreached", "Skipped", f"in cooldown for another {600 - 60 * minute}s",
                           generation=1, now=iso(now))], now, 3600)  # fmt: skip
    [only] = ring.export(list(r.segments.values()), since="", namespace="ns", monitor="m")
    assert (
        only["count"] == 5
        and only["time"] == iso(T0)
        and only["lastTime"] == iso(T0 + datetime.timedelta(minutes=4))
    )
    assert (
        only["message"] == "in cooldown for another 600s"
        and only["lastMessage"] == "in cooldown for another 360s"
    )
    # Another generation (the spec changed), another result, another action: records of their own.
    now = T0 + datetime.timedelta(minutes=5)
    r.append([decision("rollback", "SLOBreached", "Skipped", "in cooldown", generation=2, now=iso(now)),
              decision("retrain", "DataDrift", "Observed", "would retrain", generation=2, now=iso(now)),
              decision("rollback", "SLOBreached", "Done", "rolled back", generation=2, now=iso(now))], now, 3600)  # fmt: skip
    out = ring.export(list(r.segments.values()), since="", namespace="ns", monitor="m")
    assert [(x["action"], x["result"], x.get("count", 1)) for x in out] == [
        ("rollback", "Skipped", 5), ("rollback", "Skipped", 1), ("retrain", "Observed", 1), ("rollback", "Done", 1)
    ]  # fmt: skip
    # --since counts a repeated decision from its last time.
    assert len(ring.export(list(r.segments.values()), since=iso(now), namespace="n", monitor="m")) == 3


def test_a_record_too_big_for_a_segment_keeps_its_paths_and_says_it_was_cut() -> None:
    big = {"time": iso(T0), "kind": "created", "generation": 1, "spec": {"x": "y" * 5000}}
    assert ring.fit(big, 1000) == {"time": iso(T0), "kind": "created", "generation": 1, "truncated": True}
    changed = {
        "time": iso(T0),
        "kind": "specChanged",
        "changes": [{"op": "change", "path": "spec.x", "old": "a" * 3000, "new": "b"}],
    }
    assert ring.fit(changed, 1000)["changes"] == [{"op": "change", "path": "spec.x"}]
    r = Ring(slots=2, max_bytes=1000)
    r.append([big], T0, 3600)
    assert (
        ring.export(list(r.segments.values()), since="", namespace="n", monitor="m")[0]["truncated"] is True
    )


def test_a_rotation_seals_the_segment_it_leaves_and_a_retried_record_is_not_added_twice() -> None:
    r = Ring(slots=3, max_bytes=200)  # one record a segment
    batch = [{**note(i, T0), "id": f"r{i}"} for i in range(3)]
    r.append(batch, T0, 3600)
    assert [s.sealed for _, s in sorted(r.segments.items())] == [True, True, False]
    assert [w.index for w in r.writes] == [0, 1, 2]  # oldest segment first
    sealed = ring.patch(r.writes[0])["metadata"]["annotations"]
    assert sealed == {ring.SEGMENT_ANNOTATION: "0", ring.SEALED_ANNOTATION: "true"}
    before = len(r.writes)
    r.append(batch, T0, 3600)  # the same records again (a retry after a write that got through)
    assert len(r.writes) == before and r.keys() == [1, 2, 3]
    # A sealed newest segment (a writer that rotated and stopped) is left, not written into.
    r.segments[2].sealed = True
    r.append([{**note(9, T0), "id": "r9"}], T0, 3600)
    assert r.segments[0].number == 3 and list(r.segments[0].records) == [ring.key(4)]
