"""The audit store's layout: a ring of ConfigMaps the monitor owns, planned here. Pure.

``<monitor>-modelmonitor-audit-<i>`` for i in 0..segments-1, each labelled as the monitor's audit
and owned by it (deleting the monitor deletes them: the API server's garbage collector). A ConfigMap
is one segment: its data keys are the records' sequence numbers (12 digits, so they sort), each
value one record as one line of JSON; the annotation ``modelmonitor.io/audit-segment`` is the
segment's number, one more at each rotation. Records go into the newest segment while it stays
under ``max_bytes``; then the next slot of the ring takes the next number, dropping what it held
(the oldest segment), and the segment left is sealed (``modelmonitor.io/audit-sealed``). Records
older than the retention are dropped wherever they are.

A key per record keeps a write small: appending is a merge patch of the new keys, guarded by the
resourceVersion read, not a rewrite of the whole segment. The same decision repeated (a rollback
in cooldown at every evaluation) stays one record, with ``count``, ``lastTime`` and, when it
changed, ``lastMessage``; it keeps the place of its first occurrence.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.policy.audit import signature
from modelmonitor.workload.jobs import owner_reference

SEGMENT_ANNOTATION = "modelmonitor.io/audit-segment"
SEALED_ANNOTATION = "modelmonitor.io/audit-sealed"
MONITOR_LABEL = "modelmonitor.io/monitor"
KIND_LABEL = "modelmonitor.io/configmap"
DEFAULT_SEGMENTS = 8
DEFAULT_SEGMENT_BYTES = 900 * 1024  # under a ConfigMap's 1 MiB, with room for its metadata
KEY_DIGITS = 12


def slot_name(monitor: str, index: int) -> str:
    return f"{monitor[:200]}-modelmonitor-audit-{index}"


def labels(monitor: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "modelmonitor", MONITOR_LABEL: monitor[:63], KIND_LABEL: "audit"}


def key(seq: int) -> str:
    return f"{seq:0{KEY_DIGITS}d}"


def text(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def last_time(record: dict[str, Any]) -> str:
    return str(record.get("lastTime") or record.get("time") or "")


@dataclass
class Segment:
    """One ConfigMap of the ring as read: ``version`` None when it does not exist yet."""

    index: int
    number: int
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: str | None = None
    sealed: bool = False  # a newer segment follows

    def size(self) -> int:
        return sum(len(k) + len(text(r).encode()) for k, r in self.records.items())

    def oldest(self) -> str | None:
        return min((last_time(r) for r in self.records.values()), default=None)

    def last_seq(self) -> int:
        return max((int(k) for k in self.records if k.isdigit()), default=0)


@dataclass(frozen=True)
class Write:
    """A merge patch of one ConfigMap (a create when ``version`` is None): keys to set (None drops)."""

    index: int
    number: int
    version: str | None
    data: dict[str, str | None]
    sealed: bool = False


def owned(cm: dict[str, Any], monitor: str, uid: str) -> bool:
    meta = cm.get("metadata") or {}
    if (meta.get("labels") or {}).get(KIND_LABEL) != "audit":
        return False
    return any(r.get("kind") == "ModelMonitor" and r.get("uid") == uid and r.get("controller") is True
               for r in meta.get("ownerReferences") or [])  # fmt: skip


def read(cm: dict[str, Any], index: int) -> Segment:
    """A segment from its ConfigMap; a value that is not a JSON object is left out (and kept)."""
    meta = cm.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    try:
        number = int(annotations.get(SEGMENT_ANNOTATION, index))
    except ValueError:
        number = index
    records = {}
    for k, v in (cm.get("data") or {}).items():
        try:
            record = json.loads(v)
        except (ValueError, TypeError):
            continue
        if isinstance(record, dict):
            records[k] = record
    sealed = annotations.get(SEALED_ANNOTATION) == "true"
    return Segment(index, number, records, meta.get("resourceVersion"), sealed)


def configmap(monitor: str, uid: str, namespace: str, write: Write) -> dict[str, Any]:
    """The ConfigMap a create sends."""
    meta = {
        "name": slot_name(monitor, write.index),
        "namespace": namespace,
        "labels": labels(monitor),
        "annotations": {
            SEGMENT_ANNOTATION: str(write.number),
            **({SEALED_ANNOTATION: "true"} if write.sealed else {}),
        },
        "ownerReferences": [owner_reference(monitor, uid)],
    }
    data = {k: v for k, v in write.data.items() if v is not None}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def patch(write: Write) -> dict[str, Any]:
    """The merge patch: guarded by the resourceVersion read (a concurrent write answers 409)."""
    annotations = {SEGMENT_ANNOTATION: str(write.number), SEALED_ANNOTATION: "true" if write.sealed else None}
    return {"metadata": {"resourceVersion": write.version, "annotations": annotations}, "data": write.data}


def fit(record: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The record, made to fit a segment: first the spec and the values of a diff go (the paths
    stay), then the paths (``truncated`` says so)."""
    if len(text(record).encode()) + KEY_DIGITS <= max_bytes:
        return record
    small = {**record, "truncated": True}
    small.pop("spec", None)
    if "changes" in small:
        small["changes"] = [{"op": c.get("op"), "path": c.get("path")} for c in small["changes"]]
    if len(text(small).encode()) + KEY_DIGITS > max_bytes:
        small.pop("changes", None)
        small["message"] = str(small.get("message") or "")[:200]
    return small


def rotates(head: Segment, records: list[dict[str, Any]], max_bytes: int) -> bool:
    """Would these records overflow the newest segment (so the next slot is needed)?"""
    return head.size() + sum(len(text(fit(r, max_bytes)).encode()) + KEY_DIGITS for r in records) > max_bytes


def plan(
    segments: dict[int, Segment], head: int, records: list[dict[str, Any]], *, cutoff: str, slots: int,
    max_bytes: int, last_seq: int = 0,
) -> tuple[list[Write], dict[int, Segment]]:  # fmt: skip
    """The writes that append ``records`` (oldest first) and drop what is older than ``cutoff`` (an
    RFC 3339 time), and the segments as they will be. ``segments`` holds the slots read (the newest,
    ``head``, always; every slot when a rotation may come; those holding expired records);
    ``last_seq`` the highest sequence number known of the slots not read.

    A record whose ``id`` is already there is not added again (a retry after a write that got
    through). A rotation seals the segment it leaves: a writer holding it as the newest learns from
    the seal that it is not. The writes come oldest segment first."""
    after = {i: copy.deepcopy(s) for i, s in segments.items()}
    data: dict[int, dict[str, str | None]] = {i: {} for i in after}
    seq = max([last_seq, *(s.last_seq() for s in after.values())])
    known = {r.get(f) for s in after.values() for r in s.records.values() for f in ("id", "lastId")} - {None}
    for i, segment in after.items():  # retention first: what it drops makes room
        for k in [k for k, r in segment.records.items() if last_time(r) < cutoff]:
            del segment.records[k]
            data[i][k] = None
    current = after[head]
    for raw in records:
        if raw.get("id") is not None and raw.get("id") in known:
            continue
        record = fit(raw, max_bytes)
        if not current.sealed and _coalesce(current, record, data[current.index], max_bytes):
            continue
        line = text(record)
        if current.sealed or (
            current.records and current.size() + len(line.encode()) + KEY_DIGITS > max_bytes
        ):
            index = (current.index + 1) % slots
            current.sealed = True
            reused = after.setdefault(index, Segment(index, current.number + 1))
            data.setdefault(index, {}).update({k: None for k in reused.records})  # the oldest segment goes
            reused.records, reused.number, reused.sealed = {}, current.number + 1, False
            current = reused
        seq += 1
        current.records[key(seq)] = record
        data[current.index][key(seq)] = line
    changed = [i for i in data if data[i] or i not in segments or (segments[i].number, segments[i].sealed)
               != (after[i].number, after[i].sealed)]  # fmt: skip
    writes = [Write(i, after[i].number, after[i].version, data[i], after[i].sealed)
              for i in sorted(changed, key=lambda i: after[i].number)]  # fmt: skip
    return writes, after


def _coalesce(head: Segment, record: dict[str, Any], data: dict[str, str | None], max_bytes: int) -> bool:
    """The same decision as the newest one of its action in the segment: counted into it."""
    mark = signature(record)
    if mark is None:
        return False
    same = [
        k
        for k, r in head.records.items()
        if r.get("action") == record.get("action") and signature(r) is not None
    ]
    if not same:
        return False
    last_key = max(same)
    last = head.records[last_key]
    if signature(last) != mark:
        return False
    merged = {**last, "count": int(last.get("count") or 1) + 1, "lastTime": record.get("time")}
    if record.get("id") is not None:
        merged["lastId"] = record["id"]
    if record.get("message") != last.get("message"):
        merged["lastMessage"] = record.get("message")
    else:
        merged.pop("lastMessage", None)
    grown = len(text(merged).encode()) - len(text(last).encode())
    if head.size() + grown > max_bytes:
        return False
    head.records[last_key] = merged
    data[last_key] = text(merged)
    return True


def export(segments: list[Segment], *, since: str, namespace: str, monitor: str) -> list[dict[str, Any]]:
    """The records of these segments, oldest first, that happened at or after ``since`` (RFC 3339;
    a repeated decision counts from its last time), each with its monitor and sequence number."""
    found = [
        (int(k), r) for s in segments for k, r in s.records.items() if k.isdigit() and last_time(r) >= since
    ]
    return [
        {"namespace": namespace, "monitor": monitor, "seq": seq, **r}
        for seq, r in sorted(found, key=lambda x: x[0])
    ]
