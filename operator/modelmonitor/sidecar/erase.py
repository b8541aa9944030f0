"""Erasure of one data subject: ``POST /v1/erase`` with ``{"field": F, "value": V}``.

Everything this sidecar keeps of the requests where feature ``F`` (matched as redaction matches
names: ignoring case) holds ``V`` goes: window rows whose ``F`` is ``V`` or ``V``'s salted hash as
``redact.py`` writes it (same salt), their labels (joined, in label events, waiting), every audit
line that carries such a value under ``F`` or the hash anywhere (an address the e-mail detector
replaced inside a text), every audit line and label of those requests' ids, and the records of the
stores registered with the retention (explanations) under those ids. Numbers match across their
spellings (``42``, ``"42"``, ``42.0``). The audit segments are rewritten atomically (``audit.py``).

The value is never logged, counted by value, echoed in an answer or an error: the answer holds
counts per store only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from modelmonitor.sidecar import jsonfast
from modelmonitor.sidecar.redact import luhn_ok
from modelmonitor.sidecar.retention import AUDIT, LABELS, WINDOW
from modelmonitor.sidecar.window import MAX_STRING

if TYPE_CHECKING:
    from modelmonitor.sidecar.redact import Redactor
    from modelmonitor.sidecar.retention import Retention
    from modelmonitor.sidecar.window import Row

MAX_FIELD_CHARS = 256
MAX_VALUE_CHARS = 4096
MAX_DEPTH = 64
MAX_IDS = 100_000
MAX_ID_CHARS = 256  # as the window's ids
ID_NEEDLES = 64  # up to this many request ids are each looked for in a segment; more: one regex pass
GRACE_SECONDS = 60.0  # lines still queued for the audit writer when an erasure runs are dropped on write
_REQUEST_ID = re.compile(rb'"request_id":"((?:[^"\\]|\\.)*)"')
USAGE = '{"field": "<feature name>", "value": "<the value to erase, a string or a number>"}'


class EraseError(ValueError):
    """A request to erase that cannot be done as sent; the message never holds the value."""


def parse_request(body: bytes) -> tuple[str, str | int | float | None, list[str]]:
    """``(field, value, ids)`` from a ``POST /v1/erase`` body; EraseError says what is wrong with it.

    The body names the subject, ``{"field": F, "value": V}``, or the ids of the subject's requests and
    rows another pod's erasure answered, ``{"ids": [...]}`` (labels waiting here for a prediction that
    pod served); both may come together."""
    try:
        payload = jsonfast.loads(body)
    except ValueError:
        raise EraseError(f"the body must be JSON: {USAGE}") from None
    if not isinstance(payload, dict):
        raise EraseError(f"the body must be a JSON object: {USAGE}")
    unknown = sorted(str(k)[:64] for k in payload if k not in ("field", "value", "ids"))
    if unknown:
        raise EraseError(f"unknown key(s) {', '.join(map(repr, unknown))}: send only {USAGE}")
    ids = _ids(payload["ids"]) if "ids" in payload else []
    missing = [k for k in ("field", "value") if k not in payload]
    if "ids" in payload and len(missing) == 2:
        return "", None, ids
    if missing:
        raise EraseError(f"missing {' and '.join(missing)}: send {USAGE}")
    field, value = payload["field"], payload["value"]
    if not isinstance(field, str) or not field.strip() or len(field) > MAX_FIELD_CHARS:
        raise EraseError(
            f"field must be a feature name: a non-empty string of at most {MAX_FIELD_CHARS} characters"
        )
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EraseError(f"value must be a string or a number, not {_kind(value)}")
    if isinstance(value, str) and not 0 < len(value) <= MAX_VALUE_CHARS:
        raise EraseError(f"value must be a non-empty string of at most {MAX_VALUE_CHARS} characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise EraseError("value must be a finite number")
    return field, value, ids


def _ids(ids: Any) -> list[str]:
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_IDS
        or not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_CHARS for i in ids)
    ):
        raise EraseError(
            f"ids must be a list of at most {MAX_IDS} request or row ids (non-empty strings of at most "
            f"{MAX_ID_CHARS} characters), as an erasure answers them"
        )
    return list(ids)


def _kind(value: Any) -> str:
    return {bool: "a boolean", type(None): "null", list: "a list", dict: "an object"}.get(type(value), "that")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


class Subject:
    """One data subject: a field name and the forms its value takes in what the sidecar keeps (its
    text, cut as the window cuts strings, its numeric spellings, and the salted hashes of each)."""

    def __init__(self, field: str, value: str | int | float | None, redactor: Redactor) -> None:
        self.field = field.strip().lower()
        self.forms: frozenset[str] = frozenset()
        self.hashes: tuple[str, ...] = ()
        self.needles: tuple[bytes, ...] = ()
        self._names: dict[tuple[str, ...], tuple[int, ...]] = {}
        if value is None:  # an erasure by ids only: no value matches
            return
        text = _text(value)
        plain = {text, text[:MAX_STRING]}
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            plain.add(repr(number))
            if number.is_integer():
                plain.add(str(int(number)))
        hashed = {redactor.hash(t) for t in plain}
        digits = re.sub(r"\D", "", text)
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            hashed.add(redactor.hash(digits))  # as the card detector hashes a number it finds
        self.forms = frozenset(plain | hashed)
        self.hashes = tuple(sorted(hashed))
        needles = {h.encode() for h in hashed} | {
            jsonfast.dumps(t) if not _numeric(t) else t.encode() for t in plain
        }
        self.needles = tuple(sorted(needles))  # found with bytes.find: ten times faster than a regex

    def holds(self, data: bytes) -> bool:
        """Whether ``data`` holds any form of the value (a fast test before parsing)."""
        return any(n in data for n in self.needles)

    def matches(self, value: Any) -> bool:
        """Whether a kept value is this subject's (its value, or its hash, or a text holding the hash)."""
        kind = type(value)
        if kind is str:
            return value in self.forms or any(h in value for h in self.hashes)
        if kind is int or kind is float:
            return repr(value) in self.forms
        return False

    def row(self, row: Row) -> bool:
        """Whether a window row holds this subject's value under the field."""
        where = self._names.get(row.names)
        if where is None:
            where = self._names[row.names] = tuple(
                i for i, name in enumerate(row.names) if name.lower() == self.field
            )
        values = row.values
        return any(self.matches(values[i]) for i in where)

    def tree(self, value: Any, depth: int = 0) -> bool:
        """Whether a JSON value holds the subject's value under the field (at any depth) or its hash."""
        if isinstance(value, str):
            return any(h in value for h in self.hashes)
        if depth >= MAX_DEPTH:
            return False
        if isinstance(value, dict):
            return any(
                (str(k).lower() == self.field and self.matches(v)) or self.tree(v, depth + 1)
                for k, v in value.items()
            )
        if isinstance(value, list):
            return any(self.tree(v, depth + 1) for v in value)
        return False

    def line(
        self, line: bytes, ids: Collection[str] = (), has_id: Callable[[bytes], bool] | None = None
    ) -> tuple[bool, str | None]:
        """Whether an audit line is this subject's (by value, or by a request id in ``ids``, which
        ``has_id`` tells fast), and its request id. A line that is not JSON goes when it holds one of
        the value's forms."""
        if not self.holds(line) and not (has_id is not None and has_id(line)):
            return False, None
        try:
            record = jsonfast.loads(line)
        except ValueError:
            return True, None
        if not isinstance(record, dict):
            return True, None
        rid = record.get("request_id")
        rid = rid if isinstance(rid, str) else None
        return (rid is not None and rid in ids) or self.tree(record), rid


def _numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.strip() == text
    except ValueError:
        return False


def _decoded(raw: bytes) -> str | None:
    """A JSON string's content (escapes and all) as text."""
    try:
        text = jsonfast.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return text if isinstance(text, str) else None


class Eraser:
    """Erases data subjects from the window, the audit trail and the registered stores."""

    def __init__(
        self,
        retention: Retention,
        redactor: Redactor,
        flush: Callable[[], None] = lambda: None,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.retention = retention
        self.redactor = redactor
        self.flush = flush  # capture what is queued first, so it is erased too
        self.log = log
        self.erasures = 0

    def erase(
        self, field: str, value: str | int | float | None, known: Collection[str] = ()
    ) -> dict[str, Any]:
        """Remove every record of the subject (``value`` None: of the request and row ids ``known``
        only); returns the counts by store, the requests found and the ids of the subject's requests
        and rows (for the other pods: a label may wait there for a prediction served here)."""
        self.flush()
        subject = Subject(field, value, self.redactor)
        retention = self.retention
        window, audit = retention.window, retention.audit
        gone, waiting = window.remove(subject.row, known)
        ids = set(known) | {r.id for r in gone if r.id} | {r.batch for r in gone if r.batch}
        requests = {r.batch or r.id for r in gone if r.batch or r.id}
        removed = {WINDOW: len(gone), LABELS: sum(r.label is not None for r in gone) + waiting}
        segments = 0
        if audit is not None:
            found = self._audit_ids(subject)  # requests the window no longer holds
            requests |= found
            ids |= found
            more, waiting = window.remove(lambda r: False, ids)
            removed[WINDOW] += len(more)
            removed[LABELS] += sum(r.label is not None for r in more) + waiting
            has_id = _id_test(ids)
            id_needles = _id_needles(ids)

            def spans(data: bytes) -> list[tuple[int, int]]:
                found = (
                    lines_with(data, subject.needles + id_needles)
                    if id_needles is not None
                    else lines_of(data)
                )
                return [(a, b) for a, b in found if subject.line(data[a:b], ids, has_id)[0]]

            removed[AUDIT], segments = audit.rewrite(
                spans, lambda line: subject.line(line, ids, has_id)[0], GRACE_SECONDS
            )
        for store in retention.stores:
            removed[store.name] = store.erase(ids, subject)
        for name, n in removed.items():
            retention.erased[name] = retention.erased.get(name, 0) + n
        self.erasures += 1
        if self.log is not None:  # the field and the counts: never the value
            self.log("records erased", field=field[:MAX_FIELD_CHARS] or None, ids=len(known), removed=removed,
                     requests=len(requests))  # fmt: skip
        return {
            "removed": removed,
            "requests": len(requests),
            "segments_rewritten": segments,
            "ids": sorted(ids),
        }

    def _audit_ids(self, subject: Subject) -> set[str]:
        """The request ids of the audit lines holding the subject's value."""
        assert self.retention.audit is not None
        found: set[str] = set()
        for path in self.retention.audit.segments():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            for start, end in lines_with(data, subject.needles):
                hit, rid = subject.line(data[start:end])
                if hit and rid is not None:
                    found.add(rid)
        return found


def _id_needles(ids: Collection[str]) -> tuple[bytes, ...] | None:
    """The request ids as the log line writes them (``"request_id":"<id>"``), while there are few."""
    return tuple(b'"request_id":' + jsonfast.dumps(rid) for rid in ids) if len(ids) <= ID_NEEDLES else None


def _id_test(ids: Collection[str]) -> Callable[[bytes], bool]:
    """A test of whether a line holds one of the request ids."""
    needles = _id_needles(ids)
    if needles is not None:
        return lambda data: any(n in data for n in needles)
    return lambda data: any(_decoded(m.group(1)) in ids for m in _REQUEST_ID.finditer(data))


def lines_with(data: bytes, needles: Iterable[bytes]) -> list[tuple[int, int]]:
    """The byte ranges ``(start, end)`` of the lines of ``data`` (newline included) holding any of
    ``needles``, in order: found with ``bytes.find``, so a segment is scanned at memory speed and
    only its lines with a hit are parsed."""
    found: set[tuple[int, int]] = set()
    for needle in needles:
        at = data.find(needle)
        while at != -1:
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end == -1 else end + 1
            found.add((start, end))
            at = data.find(needle, end)
    return sorted(found)


def lines_of(data: bytes) -> list[tuple[int, int]]:
    """The byte ranges of every line of ``data``."""
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end == -1 else end + 1
        out.append((start, end))
        start = end
    return out
