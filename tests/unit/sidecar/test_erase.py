"""Erasure in process, with an injected clock: a data subject's window rows (raw or hashed value),
labels, audit lines (rewritten in place, the rest kept) and registered records go; bad requests are
refused without echoing the value."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.sidecar.audit import AuditLog
from modelmonitor.sidecar.erase import EraseError, Eraser, Subject, parse_request
from modelmonitor.sidecar.redact import Redactor
from modelmonitor.sidecar.retention import Retention
from modelmonitor.sidecar.window import Window

T0 = 1_800_000_000.0
EMAIL = "jane.doe@example.org"
SALT = "pepper-0123"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Notes:
    """A store as the explanations plug in: records by request id, and rows without one (a background)."""

    name = "explanations"

    def __init__(self, ids: list[str], rows: list[dict[str, Any]]) -> None:
        self.ids = set(ids)
        self.rows = rows
        self.asked: set[str] = set()

    def prune(self, older_than: float) -> int:
        return 0

    def oldest(self) -> float | None:
        return None

    def erase(self, request_ids: Collection[str], subject: Subject) -> int:
        self.asked = set(request_ids)
        gone = self.ids & self.asked
        self.ids -= gone
        rows = [r for r in self.rows if not subject.tree(r)]
        removed = len(gone) + len(self.rows) - len(rows)
        self.rows = rows
        return removed


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "must be JSON"),
        (b"[1]", "JSON object"),
        (b'{"value": "x"}', "missing field"),
        (b'{"field": "email"}', "missing value"),
        (b'{"field": 3, "value": "x"}', "field must be a feature name"),
        (b'{"field": " ", "value": "x"}', "field must be a feature name"),
        (b'{"field": "email", "value": ["x"]}', "not a list"),
        (b'{"field": "email", "value": true}', "not a boolean"),
        (b'{"field": "email", "value": null}', "not null"),
        (b'{"field": "email", "value": ""}', "non-empty string"),
        (b'{"field": "email", "value": "x", "values": ["y"]}', "unknown key(s) 'values'"),
        (b'{"ids": "r1"}', "ids must be a list"),
        (b'{"ids": ["r1", ""]}', "ids must be a list"),
        (b'{"ids": ["r1"], "field": "email"}', "missing value"),
    ],
)
def test_bad_requests_say_what_to_send_and_never_echo_the_value(body: bytes, said: str) -> None:
    with pytest.raises(EraseError) as refused:
        parse_request(body)
    assert said in str(refused.value)
    for secret in ("x", "y") if b'"x"' in body else ():
        assert f"'{secret}'" not in str(refused.value) and f'"{secret}"' not in str(refused.value)


def test_a_value_matches_raw_hashed_in_its_numeric_spellings_and_inside_a_text() -> None:
    redactor = Redactor(["email"], salt=SALT)
    subject = Subject("EMAIL", EMAIL, redactor)
    hashed = redactor.hash(EMAIL)
    assert subject.matches(EMAIL) and subject.matches(hashed) and subject.matches(f"mail {hashed}!")
    assert not subject.matches("john@example.org") and not subject.matches(redactor.hash("john@example.org"))
    number = Subject("customer", "1042", redactor)
    assert all(number.matches(v) for v in (1042, 1042.0, "1042", redactor.hash(1042), redactor.hash(1042.0)))
    assert not number.matches(1043) and not number.matches(True)
    card = Subject("card", "4111 1111 1111 1111", Redactor(detectors=["card"], salt=SALT))
    assert card.matches(Redactor(detectors=["card"], salt=SALT).scrub_text("4111 1111 1111 1111"))


def line(rid: str, **inputs: Any) -> bytes:
    record = {"ts": T0, "msg": "request", "request_id": rid, "status": 200, "inputs": [inputs]}
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def test_erasure_removes_rows_labels_audit_lines_and_records_of_the_subject_only(tmp_path: Path) -> None:
    clock = Clock()
    redactor = Redactor(["email"], salt=SALT)  # the field is hashed before anything keeps it
    window = Window(max_rows=100, max_age=86400, label_ttl=3600, clock=clock)
    hashed, other = redactor.hash(EMAIL), redactor.hash("john@example.org")

    def add(rid: str, *rows: dict[str, Any]) -> None:
        window.add(T0, rid, "v1", [redactor.row(r) for r in rows], [1] * len(rows), None)

    add("r1", {"email": EMAIL, "x": 1.0})
    add("r3", {"email": "john@example.org", "x": 2.0})
    add("batch", {"email": "john@example.org", "x": 3.0}, {"email": EMAIL, "x": 4.0})
    assert window.feedback("r1", 1) == "joined" and window.feedback("r3", 0) == "joined"
    assert window.feedback("r0", 1) == "pending"  # its prediction is only in the audit trail now
    audit = AuditLog(tmp_path, clock=clock)
    closed = tmp_path / "audit-20270115T000000-7-0001.jsonl"
    closed.write_bytes(
        line("r0", email=hashed) + line("r9", email=other) + b"not json " + hashed.encode() + b"\n"
    )
    os.utime(closed, (T0 - 60, T0 - 60))
    audit.write(line("r1", email=hashed) + line("r3", email=other))
    audit.write(b'{"msg":"explanation","request_id":"r0","attributions":{"x":0.1}}\n')
    current = audit.current
    notes = Notes(["r0", "r1", "r3"], [{"email": hashed, "x": 1.0}, {"email": other, "x": 2.0}])
    retention = Retention(30 * 86400, window, audit, clock=clock)
    retention.register(notes)
    logged: list[dict[str, Any]] = []
    flushed: list[bool] = []
    eraser = Eraser(retention, redactor, lambda: flushed.append(True), log=lambda msg, **f: logged.append(f))

    answer = eraser.erase("email", EMAIL)

    assert flushed == [True]
    assert answer == {
        "removed": {"window": 2, "labels": 2, "audit": 4, "explanations": 3},
        "requests": 3,
        "segments_rewritten": 2,
        "ids": ["batch", "batch#1", "r0", "r1"],
    }
    assert (
        notes.asked >= {"r0", "r1", "batch"}
        and notes.ids == {"r3"}
        and notes.rows == [{"email": other, "x": 2.0}]
    )
    assert [r.id for r in window.rows] == ["r3", "batch#0"] and "r0" not in window.pending
    body = json.dumps(window.query(0))
    assert hashed not in body and EMAIL not in body and other in body
    assert window.query(0)["rows"]["label"] == [0, None] and [e[2] for e in window.events] == ["r3"]
    for path in tmp_path.iterdir():  # every file, temporary ones included
        data = path.read_bytes()
        assert hashed.encode() not in data and EMAIL.encode() not in data, path.name
    assert closed.read_bytes() == line("r9", email=other)  # the rest kept, in order
    assert os.stat(closed).st_mtime == T0 - 60  # retention still sees its newest record's time
    assert current is not None and current.read_bytes() == line("r3", email=other)
    assert audit.current is None  # the rewritten segment is closed: the next line starts a new one
    audit.write(line("late", email=hashed) + line("r4", email=other))  # queued before the erasure
    assert hashed.encode() not in audit.segments()[-1].read_bytes()
    assert logged == [{"field": "email", "ids": 0, "removed": answer["removed"], "requests": 3}]
    assert EMAIL not in repr(logged) and hashed not in repr(logged)
    assert retention.erased == answer["removed"]


def test_an_erasure_without_audit_trail_or_match_removes_nothing() -> None:
    window = Window(clock=Clock())
    window.add(T0, "r1", "v1", [{"email": "a@b.c"}], [1], None)
    eraser = Eraser(Retention(86400, window), Redactor(salt=SALT))
    assert eraser.erase("email", "x@y.z") == {"removed": {"window": 0, "labels": 0}, "requests": 0,
                                              "segments_rewritten": 0, "ids": []}  # fmt: skip
    assert eraser.erase("other", "a@b.c")["removed"]["window"] == 0  # the value under another field
    assert eraser.erase("Email", "a@b.c")["removed"]["window"] == 1 and not window.rows


def test_the_ids_another_pod_answered_erase_the_labels_waiting_here() -> None:
    """Ground truth often reaches another pod than the one that served the prediction: the ids an
    erasure answers remove, on every other pod, the labels waiting there and the rows of those ids."""
    clock = Clock()
    served, other = Window(clock=clock), Window(clock=clock)
    served.add(T0, "r1", "v1", [{"email": "a@b.c"}], [1], None)
    served.add(T0, "b", "v1", [{"email": "z@b.c"}, {"email": "a@b.c"}], [1, 0], None)
    assert other.feedback("r1", 1) == "pending" and other.feedback("b#1", 0) == "pending"
    assert other.feedback("r2", 0) == "pending"
    first = Eraser(Retention(86400, served), Redactor(salt=SALT)).erase("email", "a@b.c")
    assert first["ids"] == ["b", "b#1", "r1"] and first["removed"]["window"] == 2
    assert parse_request(json.dumps({"ids": first["ids"]}).encode()) == ("", None, first["ids"])
    then = Eraser(Retention(86400, other), Redactor(salt=SALT)).erase("", None, first["ids"])
    assert then["removed"] == {"window": 0, "labels": 2} and list(other.pending) == ["r2"]


def test_an_audit_trail_that_cannot_be_rewritten_answers_500_and_a_second_try_completes(
    tmp_path: Path,
) -> None:
    from modelmonitor.sidecar.admin import build_handler
    from modelmonitor.sidecar.adminhttp import Request
    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.metrics import SidecarMetrics

    clock = Clock()
    window = Window(clock=clock)
    audit = AuditLog(tmp_path, clock=clock)
    audit.write(line("r1", email=EMAIL) + line("r2", email="john@example.org"))
    segment = audit.segments()[0]
    blocker = segment.with_name(segment.name + ".tmp")
    blocker.mkdir()  # where the rewrite's temporary file must go: the write fails
    config = SidecarConfig(("127.0.0.1", 0), ("127.0.0.1", 1), ("127.0.0.1", 0))
    eraser = Eraser(Retention(86400, window, audit, clock=clock), Redactor(salt=SALT))
    handle = build_handler(config, window, SidecarMetrics("m", "v", window), eraser=eraser)
    erase = Request("POST", "/v1/erase", {}, {}, json.dumps({"field": "email", "value": EMAIL}).encode())
    refused = handle(erase)
    assert refused.status == 500 and b"not complete" in refused.body and EMAIL.encode() not in refused.body
    assert EMAIL.encode() in segment.read_bytes()  # the segment is as it was, never half written
    blocker.rmdir()
    done = handle(erase)
    assert done.status == 200 and json.loads(done.body)["removed"]["audit"] == 1
    assert EMAIL.encode() not in segment.read_bytes() and b'"r2"' in segment.read_bytes()
