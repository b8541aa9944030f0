"""Window bounds, cursor semantics and the feedback join, with a fake clock."""

from __future__ import annotations

from modelmonitor.sidecar.window import MAX_FEATURES, MAX_STRING, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def add(w: Window, rid: str, n: int = 1, ts: float = 1000.0) -> None:
    w.add(ts, rid, "v1", [{"x": i, "g": "a"} for i in range(n)], list(range(n)), None)


def test_rows_bounded_by_count_and_age() -> None:
    clock = Clock()
    w = Window(max_rows=3, max_age=60, clock=clock)
    for i in range(5):
        add(w, f"r{i}")
    assert [r.id for r in w.rows] == ["r2", "r3", "r4"] and "r0" not in w.by_id
    clock.now += 61
    add(w, "new", ts=clock.now)
    assert [r.id for r in w.rows] == ["new"]
    assert w.rows_total == 6


def test_cursor_paging_and_reset() -> None:
    w = Window(clock=Clock())
    for i in range(5):
        add(w, f"r{i}")
    page = w.query(0, limit=2)
    assert page["rows"]["id"] == ["r0", "r1"] and page["cursor"] == 2 and page["more"]
    page = w.query(page["cursor"], limit=10)
    assert page["rows"]["id"] == ["r2", "r3", "r4"] and page["cursor"] == 5 and not page["more"]
    empty = w.query(5)
    assert empty["cursor"] == 5 and empty["rows"]["id"] == [] and not empty["reset"]
    assert w.query(99)["reset"] and w.query(99)["rows"]["id"][0] == "r0"


def test_schema_and_columns() -> None:
    w = Window(clock=Clock())
    w.add(1.0, "a", "v1", [{"n": 1, "s": "x", "b": True}], [1], [[0.1, 0.9]])
    w.add(2.0, "b", "v1", [{"n": None, "s": 3, "extra": [1]}], [0], None)
    q = w.query(0)
    assert q["schema"] == {"n": "number", "s": "mixed", "b": "boolean", "extra": "array"}
    assert q["rows"]["features"]["b"] == [True, None]
    assert q["rows"]["probabilities"] == [[0.1, 0.9], None]


def test_feedback_after_prediction_emits_label_event() -> None:
    w = Window(clock=Clock())
    add(w, "a")
    add(w, "b")
    cursor = w.query(0)["cursor"]
    assert w.feedback("a", 1) == "joined"
    q = w.query(cursor)
    assert q["rows"]["id"] == [] and q["labels"]["id"] == ["a"] and q["labels"]["label"] == [1]
    assert q["cursor"] == 3 and w.query(3)["labels"]["id"] == []
    assert w.query(0)["rows"]["label"] == [1, None]


def test_feedback_before_prediction_waits_then_joins_or_is_lost() -> None:
    clock = Clock()
    w = Window(label_ttl=10, clock=clock)
    assert w.feedback("early", "yes") == "pending"
    assert w.feedback("never", "no") == "pending"
    add(w, "early")
    assert w.by_id["early"].label == "yes" and w.labels_joined == 1
    clock.now += 11
    w.evict()
    assert w.labels_lost == 1 and not w.pending


def test_batch_ids_and_batch_feedback() -> None:
    w = Window(clock=Clock())
    add(w, "req", n=3)
    assert [r.id for r in w.rows] == ["req#0", "req#1", "req#2"]
    assert w.feedback("req", [1, 0, 1]) == "joined"
    assert [r.label for r in w.rows] == [1, 0, 1]
    assert w.feedback("req#1", 1) == "joined" and w.rows[1].label == 1


def test_invalid_feedback_and_bounded_pending() -> None:
    w = Window(max_pending=2, clock=Clock())
    assert w.feedback("", 1) == "invalid" and w.feedback(7, 1) == "invalid"  # type: ignore[arg-type]
    for i in range(5):
        w.feedback(f"p{i}", i)
    assert len(w.pending) == 2 and w.labels_lost == 3


def test_values_and_features_capped() -> None:
    w = Window(clock=Clock())
    w.add(1.0, "a", "v", [{f"k{i}": "x" * 1000 for i in range(MAX_FEATURES + 10)}], [1], None)
    row = w.rows[0]
    assert len(row.features) == MAX_FEATURES and all(len(v) == MAX_STRING for v in row.features.values())


def test_a_known_shape_keeps_short_strings_and_still_clips_long_ones() -> None:
    w = Window(clock=Clock())
    short, edge, long = "a" * 3, "b" * MAX_STRING, "c" * (MAX_STRING + 1)
    rows = [{"x": 1.5, "g": s, "n": None} for s in ("first", short, edge, long)]
    rows.append({"x": 2.5, "g": short, "n": ["abcdefgh"] * 200})  # a list is not a plain value: bounded
    w.add(1.0, "r", "v", rows, [0] * len(rows), None)
    got = [row.features for row in w.rows]
    assert [f["g"] for f in got] == ["first", short, edge, "c" * MAX_STRING, short]
    assert [f["x"] for f in got] == [1.5] * 4 + [2.5]
    assert got[4]["n"] == repr(["abcdefgh"] * 200)[: MAX_STRING * 4]
    assert len({id(row.names) for row in w.rows}) == 1  # every row shares the one shape


def test_labels_keep_their_arrival_time_and_waiting_ones_are_listed_on_the_last_page() -> None:
    clock = Clock()
    w = Window(label_ttl=100, clock=clock)
    assert w.feedback("early", "yes") == "pending"  # arrives at t0, before its prediction
    clock.now += 5
    add(w, "early")
    add(w, "late")
    clock.now += 7
    assert w.feedback("late", "no") == "joined"
    assert w.feedback("elsewhere", 1) == "pending"  # served by another pod, perhaps
    t0 = clock.now - 12
    q = w.query(0, limit=1)
    assert q["more"] and "pending" not in q  # only the last page lists the waiting labels
    assert q["rows"]["id"] == ["early"] and q["rows"]["label_ts"] == [t0]
    last = w.query(q["cursor"])
    assert not last["more"] and last["rows"]["label"] == ["no"] and last["rows"]["label_ts"] == [t0 + 12]
    assert last["pending"] == {"id": ["elsewhere"], "label": [1], "ts": [t0 + 12]}
    clock.now += 1
    assert w.feedback("early", "maybe") == "joined"  # a corrected label: an event with its own time
    assert w.query(last["cursor"])["labels"]["ts"][-1] == t0 + 13
