"""What explanations keep is under retention and erasure: the background (redacted, on the audit
volume, read back after a restart) and the recent records (by id, since a cursor, with the drift
attribution summing to the shift of the mean prediction)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelmonitor.sidecar.erase import Subject
from modelmonitor.sidecar.explain_store import BACKGROUND_FILE, KEEP, Background, Records
from modelmonitor.sidecar.redact import Redactor


def record(rid: str, ts: float, baseline: float, a: float, b: float) -> dict[str, object]:
    return {"request_id": rid, "request_ts": ts, "ts": ts + 1, "output": "prediction", "baseline": baseline,
            "prediction": baseline + a + b, "attributions": {"a": a, "b": b}}  # fmt: skip


def test_records_by_id_since_a_cursor_and_the_drift_attribution() -> None:
    records = Records()
    for i in range(KEEP + 2):
        records.add(record(f"r{i}", float(i), 0.5, 0.1 * (i % 3), -0.05))
    assert "r0" not in records.by_id and "r1" not in records.by_id and len(records.items) == KEEP
    page = records.since(KEEP - 1, 2)  # the last 3, two on this page
    assert [r["request_id"] for r in page["explanations"]] == [f"r{KEEP - 1}", f"r{KEEP}"]
    assert page["more"] is True and page["cursor"] == KEEP + 1
    drift = page["drift"]
    assert drift["explanations"] == 3 and list(drift["attribution"]) == ["a", "b"]
    assert sum(drift["attribution"].values()) == pytest.approx(drift["shift"])
    assert records.prune(10.0) == 8 and records.oldest() == 10.0
    assert records.erase({"r10", "r11", "nope"}, Subject("a", 1, Redactor())) == 2
    assert "r10" not in records.by_id and records.oldest() == 12.0


def test_the_background_is_redacted_kept_on_disk_pruned_and_erased(tmp_path: Path) -> None:
    redactor = Redactor(["ssn"], salt="s")
    bg = Background(3, redactor, str(tmp_path), "v1")
    bg.collect(100.0, [{"x": 1.0, "ssn": "123", "city": "Oslo"}, {"x": 2.0, "ssn": "456", "city": "Rome"}])
    bg.collect(200.0, [{"x": 3.0, "ssn": "789", "city": "Oslo"}, {"x": 4.0, "ssn": "000", "city": "Bonn"}])
    assert bg.ready and [r["x"] for r in bg.rows] == [1.0, 2.0, 3.0] and bg.fixed == {"ssn"}
    bg.save()
    text = (tmp_path / BACKGROUND_FILE).read_text()
    assert "123" not in text and json.loads(text)["rows"][0]["ssn"] == redactor.hash("123")
    again = Background(3, redactor, str(tmp_path))
    assert again.rows == bg.rows and again.ts == [100.0, 100.0, 200.0] and again.fixed == {"ssn"}
    assert again.erase((), Subject("city", "Oslo", redactor)) == 2 and [r["x"] for r in again.rows] == [2.0]
    assert again.erase((), Subject("ssn", "456", redactor)) == 1 and again.rows == []  # by its hash
    assert json.loads((tmp_path / BACKGROUND_FILE).read_text())["rows"] == []  # rewritten
    bg.collect(300.0, [{"x": 5.0, "ssn": "1", "city": "Rome"}])  # full: not taken
    assert bg.prune(150.0) == 2 and bg.oldest() == 200.0 and not bg.ready
    bg.collect(300.0, [{"x": 5.0, "ssn": "1", "city": "Rome"}])
    assert [r["x"] for r in bg.rows] == [3.0, 5.0]
