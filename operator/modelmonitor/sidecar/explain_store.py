"""What explanations keep: the reference background and the recent explanation records.

Both are stores of records taken from traffic, so both are under the sidecar's retention and erasure
(``retention.Store``): the sweep drops background rows captured and explanations made before the
cut-off, ``POST /v1/erase`` drops the background rows holding a data subject's value and the
explanations of the subject's requests. The background is written to ``explain-background.json`` in
the audit directory (atomically: temporary file, fsync, rename) so that a restart keeps the same
reference; a row removed there is replaced by the next row captured.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmonitor.sidecar import jsonfast
from modelmonitor.sidecar.logline import iso_time

if TYPE_CHECKING:
    from modelmonitor.sidecar.erase import Subject
    from modelmonitor.sidecar.redact import Redactor

KEEP = 1000  # explanations held in memory
BACKGROUND_FILE = "explain-background.json"


class Background:
    """The first ``target`` rows captured (redacted as the window is), with when each was captured;
    ``fixed`` names the features redaction changes (never perturbed: their hash means nothing to the
    model)."""

    name = "explain_background"

    def __init__(self, target: int, redactor: Redactor, directory: str = "", version: str = "") -> None:
        self.target = target
        self.redactor = redactor
        self.version = version
        self.rows: list[dict[str, Any]] = []
        self.ts: list[float] = []
        self.fixed: set[str] = set()
        self.errors: dict[str, int] = {}
        self.path = Path(directory) / BACKGROUND_FILE if directory else None
        self.saved = False
        self._load()

    @property
    def ready(self) -> bool:
        return len(self.rows) >= self.target

    def collect(self, ts: float, rows: list[dict[str, Any]]) -> None:
        """Keep rows until the target is met (their copies, redacted)."""
        for row in rows[: self.target - len(self.rows)]:
            kept = self.redactor.row(row) if self.redactor.active else dict(row)
            self.fixed.update(k for k, v in row.items() if k not in kept or kept[k] != v)
            self.rows.append(kept)
            self.ts.append(ts)
            self.saved = False

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            saved = jsonfast.loads(self.path.read_bytes())
            pairs = [
                (r, float(t)) for r, t in zip(saved["rows"], saved["ts"], strict=True) if isinstance(r, dict)
            ]
            fixed = {str(f) for f in saved.get("fixed", [])}
        except (OSError, ValueError, KeyError, TypeError):
            self.errors["background_unreadable"] = self.errors.get("background_unreadable", 0) + 1
            return
        pairs = pairs[: self.target]
        self.rows, self.ts, self.fixed = [r for r, _ in pairs], [t for _, t in pairs], fixed
        self.saved = True

    def save(self) -> None:
        """Write the rows (blocking: call it off the loop, or for a small file as the sweep does)."""
        if self.path is None:
            return
        body = {"created": iso_time(time.time()), "version": self.version, "fixed": sorted(self.fixed),
                "ts": self.ts, "rows": self.rows}  # fmt: skip
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(jsonfast.dumps(body))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            self.saved = True
        except OSError:
            self.errors["background_unsaved"] = self.errors.get("background_unsaved", 0) + 1
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _keep_only(self, keep: list[bool]) -> int:
        removed = keep.count(False)
        if removed:
            self.rows = [r for r, k in zip(self.rows, keep, strict=True) if k]
            self.ts = [t for t, k in zip(self.ts, keep, strict=True) if k]
            self.save()
        return removed

    # retention.Store ------------------------------------------------------------------------------
    def prune(self, older_than: float) -> int:
        return self._keep_only([t >= older_than for t in self.ts])

    def oldest(self) -> float | None:
        return min(self.ts) if self.ts else None

    def erase(self, request_ids: Collection[str], subject: Subject) -> int:
        return self._keep_only([not subject.tree(r) for r in self.rows])


class Records:
    """The last ``KEEP`` explanations, by sequence number and by request id."""

    name = "explanations"

    def __init__(self) -> None:
        self.items: collections.deque[dict[str, Any]] = collections.deque()
        self.by_id: dict[str, dict[str, Any]] = {}
        self.seq = 0

    def add(self, record: dict[str, Any]) -> None:
        self.seq += 1
        kept = {**record, "seq": self.seq}
        if len(self.items) >= KEEP:
            self._drop(self.items.popleft())
        self.items.append(kept)
        self.by_id[record["request_id"]] = kept

    def _drop(self, old: dict[str, Any]) -> None:
        if self.by_id.get(old["request_id"]) is old:
            del self.by_id[old["request_id"]]

    def since(self, cursor: int, limit: int) -> dict[str, Any]:
        """Explanations after ``cursor`` (at most ``limit``) and the drift attribution over all of them:
        the mean attribution per feature (largest first), which sums to the shift of the mean
        prediction from the mean over the reference (the baselines)."""
        after = [r for r in self.items if r["seq"] > cursor]
        page = after[:limit]
        sums: dict[str, float] = {}
        for r in after:
            for name, value in r["attributions"].items():
                sums[name] = sums.get(name, 0.0) + value
        n = len(after)
        drift: dict[str, Any] = {"explanations": n}
        if n:
            reference = sum(r["baseline"] for r in after) / n
            recent = sum(r["prediction"] for r in after) / n
            ranked = sorted(sums.items(), key=lambda kv: -abs(kv[1]))
            drift.update(output=after[-1]["output"], reference=reference, recent=recent,
                         shift=recent - reference, attribution={k: v / n for k, v in ranked})  # fmt: skip
        return {"explanations": page, "cursor": page[-1]["seq"] if page else cursor,
                "more": len(after) > len(page), "drift": drift}  # fmt: skip

    # retention.Store ------------------------------------------------------------------------------
    def prune(self, older_than: float) -> int:
        removed = 0
        while self.items and self.items[0]["request_ts"] < older_than:
            self._drop(self.items.popleft())
            removed += 1
        return removed

    def oldest(self) -> float | None:
        return self.items[0]["request_ts"] if self.items else None

    def erase(self, request_ids: Collection[str], subject: Subject) -> int:
        ids = set(request_ids)
        gone = [r for r in self.items if r["request_id"] in ids]
        if gone:
            self.items = collections.deque(r for r in self.items if r["request_id"] not in ids)
            for r in gone:
                self._drop(r)
        return len(gone)
