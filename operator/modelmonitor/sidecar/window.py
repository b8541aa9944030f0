"""The capture window: recent rows (features, prediction, label) and the ground-truth join.

Rows and label joins share one monotonically increasing sequence number. ``query(since=N)`` returns
everything with a sequence number above N in order - new rows (carrying their label if it is
already known) and label events for rows delivered earlier - and a ``cursor`` to pass as ``since``
next time. The window is bounded by a row count and an age; labels that arrive before (or without)
their prediction wait up to ``label_ttl`` seconds, then are counted as lost; the last page of a query
lists them (``pending``), so the operator can join a label that reached this pod with a prediction
another pod served. Each label keeps the time it arrived (``label_ts``). Memory is bounded:
rows, label events and waiting labels are each capped, features per row and string lengths too.
"""

from __future__ import annotations

import collections
import os
import time
from array import array
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

MAX_FEATURES = 256  # features kept per row
MAX_STRING = 256  # characters kept per string value
MAX_LABEL_BYTES = 1024  # a label's JSON text beyond this is refused
MAX_SHAPES = 1024  # distinct feature-name tuples shared between rows
_FLOAT = frozenset((float,))
_PLAIN = frozenset((float, int, bool, type(None)))  # values kept as they are
_PLAIN_STR = _PLAIN | {str}  # a known shape's values kept as they are when every string is short
_SHORT_REPR = frozenset((float, bool, type(None)))  # at most 24 characters each in a repr
SHORT_LIST = MAX_STRING * 4 // 26  # items of those (and ", ") whose list's repr is within the bound


@dataclass(slots=True)
class Row:
    """One captured row. Features are kept as a tuple of names shared by every row of the same shape
    and a tuple of values: a third of the memory of a dict per row (the window holds 10,000 rows by
    default, in every pod)."""

    seq: int
    ts: float
    id: str
    version: str
    names: tuple[str, ...]
    values: tuple[Any, ...] | array[float]  # all-float rows packed: 8 bytes a value, not 32
    prediction: Any
    probabilities: Any
    label: Any = None
    batch: str = ""
    label_ts: float | None = None  # when the label arrived

    @property
    def features(self) -> dict[str, Any]:
        """The features as a mapping, name -> value."""
        return dict(zip(self.names, self.values, strict=True))


def _clip(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list and len(value) <= SHORT_LIST and set(map(type, value)) <= _SHORT_REPR:
        return value  # its repr is within the bound: no need to build it (a probability vector)
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING]
    if isinstance(value, list | dict):
        text = repr(value)
        return value if len(text) <= MAX_STRING * 4 else text[: MAX_STRING * 4]
    return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Window:
    """Bounded in-memory window of captured rows, with labels joined by id."""

    def __init__(
        self,
        max_rows: int = 10_000,
        max_age: float = 3600.0,
        label_ttl: float = 3600.0,
        max_pending: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_rows = max_rows
        self.max_age = max_age
        self.label_ttl = label_ttl
        self.max_pending = max_pending if max_pending is not None else max(max_rows, 1000)
        self.clock = clock
        self.instance = os.urandom(8).hex()
        self.seq = 0
        self.rows: collections.deque[Row] = collections.deque()
        self.by_id: dict[str, Row] = {}
        self.batches: dict[str, list[Row]] = {}
        # (seq, row seq, row id, label, label arrival time)
        self.events: collections.deque[tuple[int, int, str, Any, float]] = collections.deque(maxlen=max_rows)
        self.pending: dict[str, tuple[Any, float]] = {}  # row id -> (label, expiry)
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple object per feature shape
        self.rows_total = 0
        self.labels_joined = 0
        self.labels_lost = 0
        self.labels_invalid = 0

    # capture ----------------------------------------------------------------------------------------
    def add(
        self,
        ts: float,
        request_id: str,
        version: str,
        features: list[dict[str, Any]],
        predictions: list[Any],
        probabilities: list[Any] | None,
    ) -> int:
        """Append the rows of one request; returns how many were added."""
        n = len(features)
        batch: list[Row] = []
        for i in range(n):
            row_id = request_id if n == 1 else f"{request_id}#{i}"
            feats = features[i]
            if len(feats) > MAX_FEATURES:
                feats = dict(list(feats.items())[:MAX_FEATURES])
            self.seq += 1
            names = tuple(feats)
            shared = self._names.get(names)  # a known shape: its names are strings, and distinct
            values = tuple(feats.values())
            kinds = set(map(type, values))
            if (
                shared is not None
                and kinds <= _PLAIN_STR
                and (kinds <= _PLAIN or all(len(v) <= MAX_STRING for v in values if type(v) is str))
            ):
                packed: tuple[Any, ...] | array[float] = array("d", values) if kinds == _FLOAT else values
            else:
                shared, packed = self._slow(feats)
            row = Row(
                self.seq,
                ts,
                row_id,
                version,
                shared,
                packed,
                _clip(predictions[i]) if i < len(predictions) else None,
                _clip(probabilities[i]) if probabilities is not None and i < len(probabilities) else None,
                None,
                request_id if n > 1 else "",
            )
            old = self.by_id.get(row_id)
            if old is not None:  # a reused request id: the newest row wins the id
                old.id = ""
            self.rows.append(row)
            self.by_id[row_id] = row
            if n > 1:
                batch.append(row)
            waiting = self.pending.pop(row_id, None)
            if waiting is not None:
                row.label = waiting[0]
                row.label_ts = waiting[1] - self.label_ttl
                self.labels_joined += 1
        if batch:
            self.batches[request_id] = batch
        self.rows_total += n
        rows = self.rows
        # Most adds have nothing to evict: skip the clock and the scan then. The age is checked
        # against the row's own time; query(), /metrics and the sweep evict against the clock.
        if self.pending or (rows and (len(rows) > self.max_rows or rows[0].ts < ts - self.max_age)):
            self.evict()
        return n

    def _slow(self, feats: dict[Any, Any]) -> tuple[tuple[str, ...], tuple[Any, ...] | array[float]]:
        """Names and values of a row of a new shape, or with values to clip: keys made strings, long
        strings cut, nested values bounded; the name tuple is shared with later rows of the shape."""
        clipped: dict[str, Any] = {}
        floats = True
        for k, v in feats.items():
            t = type(v)
            if t is not float:
                floats = False
            if t is str:
                if len(v) > MAX_STRING:
                    v = v[:MAX_STRING]
            elif t is not float and t is not int and t is not bool and v is not None:
                v = _clip(v)
            clipped[k if type(k) is str else str(k)] = v
        names = tuple(clipped)
        shared = self._names.get(names)
        if shared is None:
            if len(self._names) >= MAX_SHAPES:  # rows of ever-new shapes: stop sharing, stay bounded
                self._names.clear()
            shared = self._names[names] = names
        values = tuple(clipped.values())
        return shared, array("d", values) if floats else values

    def evict(self) -> None:
        """Drop rows beyond the count or older than the age bound; expire waiting labels."""
        now = self.clock()
        rows = self.rows
        oldest = now - self.max_age
        while rows and (len(rows) > self.max_rows or rows[0].ts < oldest):
            row = rows.popleft()
            if row.id and self.by_id.get(row.id) is row:
                del self.by_id[row.id]
            if row.batch:
                self.batches.pop(row.batch, None)
        pending = self.pending
        while pending:
            key = next(iter(pending))
            if pending[key][1] >= now and len(pending) <= self.max_pending:
                break
            del pending[key]
            self.labels_lost += 1

    # retention and erasure (sidecar/retention.py, sidecar/erase.py) --------------------------------
    def remove(self, doomed: Callable[[Row], bool], ids: Collection[str] = ()) -> tuple[list[Row], int]:
        """Remove the rows ``doomed`` picks or whose id is in ``ids``, their labels (on the row, its
        label events, its batch's entry) and the labels waiting under ``ids`` or under the id or
        request id of a removed row. Returns the rows removed and how many waiting labels went."""
        wanted = set(ids)
        rows = self.rows
        gone = [r for r in rows if (r.id and r.id in wanted) or doomed(r)]
        if gone:
            seqs = {r.seq for r in gone}
            kept = [r for r in rows if r.seq not in seqs]
            rows.clear()
            rows.extend(kept)
            for row in gone:
                if row.id and self.by_id.get(row.id) is row:
                    del self.by_id[row.id]
                if row.batch:
                    self.batches.pop(row.batch, None)
            events = [e for e in self.events if e[1] not in seqs]
            self.events.clear()
            self.events.extend(events)
            wanted.update(r.id for r in gone if r.id)
            wanted.update(r.batch for r in gone if r.batch)
        waiting = [key for key in self.pending if key in wanted]
        for key in waiting:
            del self.pending[key]
        return gone, len(waiting)

    def prune(self, older_than: float) -> tuple[int, int]:
        """Retention: remove rows captured before ``older_than`` (unix seconds) with their labels, and
        labels (joined or waiting) that arrived before it. Returns (rows, labels) removed; a label
        is counted once, whether it was held on its row, in a label event or both."""
        rows_n, labelled = 0, set[int]()
        if any(r.ts < older_than for r in self.rows):
            gone, waiting = self.remove(lambda r: r.ts < older_than)
            rows_n = len(gone)
            labelled.update(r.seq for r in gone if r.label is not None)
        else:
            waiting = 0
        for row in self.rows:  # a label that waited for its prediction may predate the row
            if row.label_ts is not None and row.label_ts < older_than:
                row.label, row.label_ts = None, None
                labelled.add(row.seq)
        events = self.events
        if events and min(e[4] for e in events) < older_than:
            kept = [e for e in events if e[4] >= older_than]
            labelled.update(e[1] for e in events if e[4] < older_than)
            events.clear()
            events.extend(kept)
        old = [key for key, (_, expiry) in self.pending.items() if expiry - self.label_ttl < older_than]
        for key in old:
            del self.pending[key]
        return rows_n, len(labelled) + waiting + len(old)

    def oldest(self) -> tuple[float | None, float | None]:
        """Unix times of the oldest row kept and of the oldest label kept apart from its row (a label
        event or a waiting label); None for an empty store."""
        row = min((r.ts for r in self.rows), default=None) if self.rows else None
        stamps = [self.events[0][4]] if self.events else []
        if self.pending:
            stamps.append(next(iter(self.pending.values()))[1] - self.label_ttl)
        return row, min(stamps) if stamps else None

    # feedback ---------------------------------------------------------------------------------------
    def feedback(self, row_id: str, label: Any) -> str:
        """Join one label; returns ``joined``, ``pending`` (waiting for its prediction) or ``invalid``."""
        if not isinstance(row_id, str) or not row_id or len(row_id) > 256:
            self.labels_invalid += 1
            return "invalid"
        row = self.by_id.get(row_id)
        if row is not None:
            self._join(row, label)
            return "joined"
        batch = self.batches.get(row_id)
        if batch is not None and isinstance(label, list) and len(label) == len(batch):
            for r, lab in zip(batch, label, strict=True):
                self._join(r, lab)
            return "joined"
        self.pending.pop(row_id, None)  # re-insert: order of the dict is order of expiry
        self.pending[row_id] = (_clip(label), self.clock() + self.label_ttl)
        self.evict()
        return "pending"

    def _join(self, row: Row, label: Any) -> None:
        row.label = _clip(label)
        row.label_ts = self.clock()
        self.seq += 1
        self.events.append((self.seq, row.seq, row.id, row.label, row.label_ts))
        self.labels_joined += 1

    # query ------------------------------------------------------------------------------------------
    def _first_after(self, seq: int) -> int:
        rows = self.rows
        lo, hi = 0, len(rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if rows[mid].seq <= seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def query(self, since: int = 0, limit: int = 10_000) -> dict[str, Any]:
        """Rows and label events after ``since``, oldest first, at most ``limit`` items, columnar."""
        self.evict()
        reset = since > self.seq
        if reset or since < 0:
            since = 0
        limit = max(1, limit)
        i = self._first_after(since)
        rows = self.rows
        events = [e for e in self.events if e[0] > since and e[1] <= since]
        j = 0
        out_rows: list[Row] = []
        out_events: list[tuple[int, int, str, Any, float]] = []
        cursor = since
        while len(out_rows) + len(out_events) < limit and (i < len(rows) or j < len(events)):
            if j >= len(events) or (i < len(rows) and rows[i].seq < events[j][0]):
                out_rows.append(rows[i])
                cursor = rows[i].seq
                i += 1
            else:
                out_events.append(events[j])
                cursor = events[j][0]
                j += 1
        names: dict[str, str] = {}
        for row in out_rows:
            for key, value in zip(row.names, row.values, strict=True):
                kind = _type(value)
                seen = names.get(key)
                if seen is None or seen == "null":
                    names[key] = kind
                elif kind not in (seen, "null"):
                    names[key] = "mixed"
        columns: dict[str, list[Any]] = {key: [] for key in names}
        for n, row in enumerate(out_rows):
            for key, value in zip(row.names, row.values, strict=True):
                columns[key].append(value)
            for column in columns.values():  # a feature this row does not have: null
                if len(column) == n:
                    column.append(None)
        body: dict[str, Any] = {
            "instance": self.instance,
            "cursor": cursor,
            "head": self.seq,
            "reset": reset,
            "more": i < len(rows) or j < len(events),
            "schema": names,
            "rows": {
                "seq": [r.seq for r in out_rows],
                "id": [r.id for r in out_rows],
                "ts": [round(r.ts, 6) for r in out_rows],
                "version": [r.version for r in out_rows],
                "features": columns,
                "prediction": [r.prediction for r in out_rows],
                "probabilities": [r.probabilities for r in out_rows],
                "label": [r.label for r in out_rows],
                "label_ts": [None if r.label_ts is None else round(r.label_ts, 6) for r in out_rows],
            },
            "labels": {
                "seq": [e[0] for e in out_events],
                "row_seq": [e[1] for e in out_events],
                "id": [e[2] for e in out_events],
                "label": [e[3] for e in out_events],
                "ts": [round(e[4], 6) for e in out_events],
            },
        }
        if not body["more"]:
            # Labels still waiting here for their prediction: it may have been served by another pod,
            # whose window the operator joins them with. On the last page only, once per read.
            body["pending"] = {
                "id": list(self.pending),
                "label": [v[0] for v in self.pending.values()],
                "ts": [round(v[1] - self.label_ttl, 6) for v in self.pending.values()],
            }
        return body
