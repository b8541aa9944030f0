"""Writing the audit trail into the monitor's ring of ConfigMaps (workload/audit.py plans it).

Only get, create and patch of ConfigMaps (what the chart's RBAC already grants): a segment is never
deleted by the operator, a slot of the ring is overwritten (the oldest segment dropped) and the
whole ring goes with the monitor (ownerReferences: the API server's garbage collector).

Every write is guarded by the resourceVersion read: a concurrent writer (the timer's evaluation and
a spec change's handler, or another replica during a shard move) makes it answer 409, and the
records are planned again on a fresh read. What is kept between writes, per monitor, is small:
which slot is the newest, and of each slot its segment number, oldest record time and highest
sequence number, so a write reads only the newest segment (and, when a rotation or an expiry is
due, the slots concerned), and an evaluation with nothing to record and nothing expired reads
nothing.
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.api.times import iso
from modelmonitor.workload import audit as ring

log = logging.getLogger(__name__)
TRIES = 5  # fresh reads after a 409 before the conflict is raised


class _Stale(Exception):
    """The slot held as the newest was sealed by another writer's rotation."""


class AuditRefused(Exception):
    """A ConfigMap of the ring's name exists and is not this monitor's: nothing is written there."""


@dataclass(frozen=True)
class Slot:
    number: int
    oldest: str | None
    last_seq: int


class AuditStore:
    def __init__(
        self, kube: KubernetesPort, *, segments: int = ring.DEFAULT_SEGMENTS,
        max_bytes: int = ring.DEFAULT_SEGMENT_BYTES,
    ) -> None:  # fmt: skip
        self.kube = kube
        self.segments = max(1, segments)
        self.max_bytes = max_bytes
        self._rings: dict[str, dict[int, Slot]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def record(
        self, namespace: str, monitor: str, uid: str, records: list[dict[str, Any]], *,
        retention_seconds: float, now: datetime.datetime,
    ) -> None:  # fmt: skip
        """Append ``records`` (oldest first) and drop those older than ``retention_seconds``.
        Raises KubernetesError when the API server refuses (409s are retried on fresh reads) and
        AuditRefused when a slot's name is taken by a ConfigMap that is not this monitor's."""
        cutoff = iso(now - datetime.timedelta(seconds=retention_seconds))
        # An id per record: a retry after a write that got through does not add it twice.
        records = [{**r, "id": r.get("id") or uuid.uuid4().hex[:16]} for r in records]
        with self._lock(uid):
            for attempt in range(TRIES):
                try:
                    self._write(namespace, monitor, uid, records, cutoff)
                    return
                except _Stale:
                    self._rings.pop(uid, None)  # another writer rotated the ring: read it whole
                except KubernetesError as exc:
                    self._rings.pop(uid, None)  # whatever was cached may be stale now
                    if exc.status != 409 or attempt == TRIES - 1:
                        raise
                    log.info("Audit of %s/%s written meanwhile (409): planned again on a fresh read",
                             namespace, monitor)  # fmt: skip
            raise KubernetesError(409, "Conflict", f"the audit ring of {namespace}/{monitor} kept changing")

    def forget(self, uid: str) -> None:
        """The monitor is gone: what was kept of its ring goes too."""
        with self._guard:
            self._rings.pop(uid, None)
            self._locks.pop(uid, None)

    def _lock(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    def _read(self, namespace: str, monitor: str, uid: str, index: int) -> ring.Segment | None:
        cm = self.kube.get_configmap(namespace, ring.slot_name(monitor, index))
        if cm is None:
            return None
        if not ring.owned(cm, monitor, uid):
            raise AuditRefused(
                f"ConfigMap {namespace}/{ring.slot_name(monitor, index)} exists and is not this monitor's "
                "audit segment (a monitor of this name deleted a moment ago leaves its own until the garbage "
                "collector takes it): nothing is recorded there; delete or rename it"
            )
        return ring.read(cm, index)

    def _scan(self, namespace: str, monitor: str, uid: str) -> dict[int, ring.Segment]:
        """Every slot of the ring there is (they are created in order: the first missing ends it)."""
        found: dict[int, ring.Segment] = {}
        for index in range(self.segments):
            segment = self._read(namespace, monitor, uid, index)
            if segment is None:
                break
            found[index] = segment
        return found

    def _write(
        self, namespace: str, monitor: str, uid: str, records: list[dict[str, Any]], cutoff: str
    ) -> None:
        slots = self._rings.get(uid)
        read: dict[int, ring.Segment] = {}
        if slots is None:
            read = self._scan(namespace, monitor, uid)
            slots = {i: Slot(s.number, s.oldest(), s.last_seq()) for i, s in read.items()}
        expired = [i for i, s in slots.items() if s.oldest is not None and s.oldest < cutoff]
        if not records and not expired:
            self._rings[uid] = slots
            return
        head = max(slots, key=lambda i: slots[i].number) if slots else 0
        for index in {head, *expired} - set(read):
            read[index] = self._read(namespace, monitor, uid, index) or ring.Segment(
                index, slots.get(index, Slot(0, None, 0)).number
            )
        if uid in self._rings and read[head].sealed:
            raise _Stale()
        if read[head].sealed or ring.rotates(read[head], records, self.max_bytes):
            for index in range(self.segments):
                if index not in read:
                    read[index] = self._read(namespace, monitor, uid, index) or ring.Segment(index, -1)
        last_seq = max((s.last_seq for i, s in slots.items() if i not in read), default=0)
        writes, after = ring.plan(read, head, records, cutoff=cutoff, slots=self.segments,
                                  max_bytes=self.max_bytes, last_seq=last_seq)  # fmt: skip
        for write in writes:
            if write.version is None:
                self.kube.create_configmap(namespace, ring.configmap(monitor, uid, namespace, write))
            else:
                self.kube.merge_patch_configmap(
                    namespace, ring.slot_name(monitor, write.index), ring.patch(write)
                )
        self._rings[uid] = {
            **{i: s for i, s in slots.items() if i not in after},
            **{
                i: Slot(s.number, s.oldest(), s.last_seq())
                for i, s in after.items()
                if s.version is not None or s.records
            },
        }
