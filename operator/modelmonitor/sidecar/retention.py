"""Retention: nothing the sidecar captured is kept longer than ``--retention`` (``spec.retention``).

A sweep (at start, then every ``SWEEP_SECONDS`` on the event loop, traffic or not) removes window rows
captured before the cut-off with their labels, labels (joined or waiting) that arrived before it,
audit segments whose newest record is older (``audit.py``), and whatever older records the other
stores registered here hold. This is a hard bound on top of the window's own ``maxAge`` and
``maxRows`` and the audit trail's ``keep``: a record lives at most the retention plus one sweep
interval; an audit record at most that plus the segment's age (a segment goes whole).

Another store of records taken from traffic (explanations and their background rows, ...) plugs in
with :meth:`Retention.register`: it implements :class:`Store`, and is then pruned by the sweep,
erased by ``POST /v1/erase`` (by the request ids of the data subject, or by the subject's value in
records that carry no request id) and reported in ``modelmonitor_sidecar_oldest_record_age_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelmonitor.sidecar.audit import AuditLog
    from modelmonitor.sidecar.erase import Subject
    from modelmonitor.sidecar.window import Window

SWEEP_SECONDS = 60.0  # retention is at least an hour: enforced to within a minute
MIN_RETENTION = 3600.0  # as spec.retention: at least 1h
WINDOW, LABELS, AUDIT = "window", "labels", "audit"


class Store(Protocol):
    """A store of per-request records the sidecar keeps, under the retention and erasure rules."""

    name: str  # the ``store`` label of the metrics and the key of the erasure's counts

    def prune(self, older_than: float) -> int:
        """Remove the records made before ``older_than`` (unix seconds); returns how many."""
        ...

    def oldest(self) -> float | None:
        """Unix time of the oldest record kept; None when empty."""
        ...

    def erase(self, request_ids: Collection[str], subject: Subject) -> int:
        """Remove every record of these request ids, and every record ``subject.tree(record)`` (or
        ``subject.matches(value)``) says holds the subject's value; returns how many. A file on disk
        is rewritten atomically (temporary file, fsync, rename), as ``audit.py`` does."""
        ...


class Retention:
    """The retention of one sidecar's stores: the window (rows, labels), the audit trail, and the
    stores registered; ``removed`` counts what the sweeps removed by store (audit: segments),
    ``erased`` what erasures removed (``erase.py`` adds to it)."""

    def __init__(
        self,
        seconds: float,
        window: Window,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = seconds
        self.window = window
        self.audit = audit
        self.clock = clock
        self.stores: list[Store] = []
        self.removed: dict[str, int] = {}
        self.erased: dict[str, int] = {}
        self.sweeps = 0

    def register(self, store: Store) -> None:
        """Put ``store`` under retention and erasure (call before the sidecar serves)."""
        if store.name in (WINDOW, LABELS, AUDIT) or any(s.name == store.name for s in self.stores):
            raise ValueError(f"a store named {store.name!r} is already registered")
        self.stores.append(store)

    def sweep(self) -> dict[str, int]:
        """Remove everything older than the retention now; returns the counts of this sweep by store."""
        cutoff = self.clock() - self.seconds
        rows, labels = self.window.prune(cutoff)
        counts = {WINDOW: rows, LABELS: labels}
        if self.audit is not None:
            counts[AUDIT] = self.audit.prune(cutoff)
        for store in self.stores:
            counts[store.name] = store.prune(cutoff)
        for name, n in counts.items():
            self.removed[name] = self.removed.get(name, 0) + n
        self.sweeps += 1
        return counts

    def oldest_ages(self) -> dict[str, float]:
        """Age in seconds of the oldest record of each store (0 when the store is empty)."""
        now = self.clock()
        row, label = self.window.oldest()
        stamps: dict[str, float | None] = {WINDOW: row, LABELS: label}
        if self.audit is not None:
            stamps[AUDIT] = self.audit.oldest()
        for store in self.stores:
            stamps[store.name] = store.oldest()
        return {name: max(0.0, now - ts) if ts is not None else 0.0 for name, ts in stamps.items()}
