"""Retention with an injected clock: window rows, labels (joined, in events, waiting), audit segments
(by their newest record, the current one too) and registered stores go once past the retention, and
the oldest record's age of each store is in /metrics."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.sidecar.audit import AuditLog
from modelmonitor.sidecar.config import ConfigError, resolve
from modelmonitor.sidecar.erase import Subject
from modelmonitor.sidecar.metrics import SidecarMetrics
from modelmonitor.sidecar.retention import Retention
from modelmonitor.sidecar.window import Window

HOUR = 3600.0
T0 = 1_800_000_000.0  # 2027-01-15


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def window(clock: Clock) -> Window:
    """A window whose own bounds (10 days, 1000 rows) are far above the retention tested."""
    return Window(max_rows=1000, max_age=10 * 86400, label_ttl=2 * HOUR, clock=clock)


def add(w: Window, rid: str, ts: float) -> None:
    w.add(ts, rid, "v1", [{"x": 1.0, "email": "a@b.c"}], [1], None)


class Notes:
    """A store of records by request id, as the explanations store plugs in."""

    name = "explanations"

    def __init__(self) -> None:
        self.records: dict[str, float] = {}

    def prune(self, older_than: float) -> int:
        old = [k for k, ts in self.records.items() if ts < older_than]
        for k in old:
            del self.records[k]
        return len(old)

    def oldest(self) -> float | None:
        return min(self.records.values(), default=None)

    def erase(self, request_ids: Collection[str], subject: Subject) -> int:
        gone = [k for k in self.records if k in request_ids]
        for k in gone:
            del self.records[k]
        return len(gone)


def test_rows_and_labels_go_once_past_the_retention_even_without_traffic() -> None:
    clock = Clock()
    w = window(clock)
    add(w, "old", T0 - 3 * HOUR)
    add(w, "labelled", T0 - 2.5 * HOUR)
    add(w, "recent", T0 - 0.5 * HOUR)
    clock.now = T0 - 2.4 * HOUR
    assert w.feedback("labelled", 1) == "joined"  # a label event at T0 - 2.4h
    clock.now = T0 - 1.5 * HOUR
    assert w.feedback("elsewhere", 0) == "pending"  # waiting since T0 - 1.5h
    clock.now = T0
    retention = Retention(2 * HOUR, w, clock=clock)
    assert retention.oldest_ages() == {"window": 3 * HOUR, "labels": 2.4 * HOUR}
    assert retention.sweep() == {"window": 2, "labels": 1}
    assert [r.id for r in w.rows] == ["recent"] and "old" not in w.by_id
    assert not w.events and "elsewhere" in w.pending
    assert w.query(0)["rows"]["id"] == ["recent"]
    clock.now = T0 + 0.6 * HOUR  # the waiting label is now 2.1h old, the recent row 1.1h
    assert retention.sweep() == {"window": 0, "labels": 1}
    assert not w.pending and retention.removed == {"window": 2, "labels": 2}
    assert retention.oldest_ages() == {"window": pytest.approx(1.1 * HOUR), "labels": 0.0}


def test_a_label_that_waited_for_its_row_goes_when_it_is_past_the_retention() -> None:
    clock = Clock(T0 - 2.5 * HOUR)
    w = window(clock)
    assert w.feedback("r", 1) == "pending"
    add(w, "r", T0 - 1.5 * HOUR)  # joined on arrival: the label keeps its own (older) time
    clock.now = T0
    assert Retention(2 * HOUR, w, clock=clock).sweep() == {"window": 0, "labels": 1}
    (row,) = w.rows
    assert row.label is None and row.label_ts is None


def audit_dir(tmp_path: Path, clock: Clock) -> tuple[AuditLog, list[Path]]:
    """Three closed segments whose newest records are 5h, 3h and 1h old (their modification times)."""
    paths = []
    for age in (5, 3, 1):
        stamp = _stamp(T0 - age * HOUR - 600)
        path = tmp_path / f"audit-{stamp}-7-0001.jsonl"
        path.write_bytes(b'{"msg":"request"}\n')
        os.utime(path, (T0 - age * HOUR, T0 - age * HOUR))
        paths.append(path)
    return AuditLog(tmp_path, clock=clock), paths


def _stamp(ts: float) -> str:
    import time

    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts))


def test_audit_segments_go_by_their_newest_record_at_start_and_later(tmp_path: Path) -> None:
    clock = Clock()
    audit, (_, _, newest) = audit_dir(tmp_path, clock)
    retention = Retention(2 * HOUR, window(clock), audit, clock=clock)
    assert retention.oldest_ages()["audit"] == 5 * HOUR + 600  # the oldest segment's first record
    assert retention.sweep()["audit"] == 2  # segments a previous process left
    assert audit.segments() == [newest]
    audit.write(b'{"msg":"request","n":2}\n')  # the current segment, written at T0
    current = audit.current
    assert current is not None and current != newest
    os.utime(current, (T0, T0))
    clock.now = T0 + 1.5 * HOUR
    assert retention.sweep()["audit"] == 1 and audit.segments() == [current]
    clock.now = T0 + 2.5 * HOUR  # no traffic since: the current segment goes too, and is closed
    assert retention.sweep()["audit"] == 1 and audit.segments() == [] and audit.current is None
    audit.write(b'{"msg":"request","n":3}\n')
    assert len(audit.segments()) == 1 and retention.removed["audit"] == 4


def test_registered_stores_are_swept_and_reported(tmp_path: Path) -> None:
    clock = Clock()
    w = window(clock)
    add(w, "r", T0 - 10)
    notes = Notes()
    notes.records = {"a": T0 - 3 * HOUR, "b": T0 - 60}
    retention = Retention(2 * HOUR, w, clock=clock)
    retention.register(notes)
    with pytest.raises(ValueError, match="already registered"):
        retention.register(notes)
    metrics = SidecarMetrics("credit", "v7", w)
    metrics.retention = retention
    text = metrics.render().decode()
    assert (
        'modelmonitor_sidecar_oldest_record_age_seconds{model="credit",store="explanations",version="v7"} '
        "10800.0" in text
    )
    assert (
        'modelmonitor_sidecar_oldest_record_age_seconds{model="credit",store="window",version="v7"} 10.0'
        in text
    )
    assert retention.sweep()["explanations"] == 1 and list(notes.records) == ["b"]
    text = metrics.render().decode()
    assert (
        'modelmonitor_sidecar_retention_removed_total{model="credit",store="explanations",version="v7"} 1.0'
        in text
    )
    assert "# TYPE modelmonitor_sidecar_oldest_record_age_seconds gauge" in text


def test_retention_is_a_duration_of_at_least_an_hour() -> None:
    class Args:
        upstream = "http://127.0.0.1:1"

    assert resolve(Args(), {}).retention == 720 * HOUR  # type: ignore[arg-type]
    assert resolve(Args(), {"MODELMONITOR_RETENTION": "1h30m"}).retention == 1.5 * HOUR  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 1h"):
        resolve(Args(), {"MODELMONITOR_RETENTION": "30m"})  # type: ignore[arg-type]


def test_the_spec_reaches_the_sidecar_and_its_default_leaves_the_pod_template_unchanged() -> None:
    """A template injected before retention existed stays as it was (no rollout of every model at an
    upgrade): the default is the sidecar's own, so the variable is set only for another retention."""
    from modelmonitor.api.spec import ModelMonitorSpec
    from modelmonitor.workload.injection import sidecar_container

    deployment = {"metadata": {"name": "credit"}, "spec": {"template": {"spec": {"containers": [
        {"name": "model", "image": "m", "ports": [{"containerPort": 8080}]}]}}}}  # fmt: skip

    def env(**spec: Any) -> dict[str, Any]:
        body = ModelMonitorSpec.model_validate({"target": {"deployment": "credit", "port": 8080}, **spec})
        container = sidecar_container(body, deployment, image="i", monitor="credit")
        return {e["name"]: e.get("value") for e in container["env"]}

    assert ModelMonitorSpec.model_fields["retention"].default == "720h"
    assert resolve(_Args(), {}).retention == 720 * HOUR  # type: ignore[arg-type]
    assert "MODELMONITOR_RETENTION" not in env()
    assert env(retention="48h")["MODELMONITOR_RETENTION"] == "48h"
    assert resolve(_Args(), {"MODELMONITOR_RETENTION": "48h"}).retention == 48 * HOUR  # type: ignore[arg-type]


class _Args:
    upstream = "http://127.0.0.1:1"
