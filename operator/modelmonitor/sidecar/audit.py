"""Audit trail: the log lines also appended to JSONL segment files on a volume.

A segment is ``audit-<UTC yyyymmddThhmmss>-<pid>-<n>.jsonl``. The writer rotates to a new segment
when the current one reaches ``segment_bytes`` or ``segment_age`` seconds, and deletes the oldest
segments beyond ``keep``. Each batch is flushed to the OS as it is written, so a restart loses at most
what was still queued in memory; after a restart a new segment is started beside the old ones.
Only the writer thread calls :meth:`AuditLog.write`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


class AuditLog:
    """Size- and age-rotated JSONL segments in one directory."""

    def __init__(
        self,
        directory: str | Path,
        segment_bytes: int = 64 * 1024 * 1024,
        segment_age: float = 3600.0,
        keep: int = 48,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.segment_age = segment_age
        self.keep = keep
        self.clock = clock
        self._file: IO[bytes] | None = None
        self._opened_at = 0.0
        self._size = 0
        self._n = 0
        self.errors = 0

    @property
    def current(self) -> Path | None:
        return Path(self._file.name) if self._file is not None else None

    def segments(self) -> list[Path]:
        """Audit segments in the directory, oldest first (names sort by time)."""
        return sorted(self.directory.glob("audit-*.jsonl"))

    def write(self, data: bytes) -> None:
        """Append whole lines (``data`` ends with a newline); rotates so no segment overflows.

        A batch that does not fit in the current segment is split at line ends; a single line larger
        than ``segment_bytes`` gets a segment of its own.
        """
        now = self.clock()
        if self._file is not None and now - self._opened_at >= self.segment_age:
            self._close()
        if self._size + len(data) <= self.segment_bytes:
            self._append(data, now)
            return
        for line in data.splitlines(keepends=True):
            if self._file is not None and self._size > 0 and self._size + len(line) > self.segment_bytes:
                self._close()
            self._append(line, now)

    def _append(self, data: bytes, now: float) -> None:
        if self._file is None:
            self._open(now)
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        self._size += len(data)

    def _open(self, now: float) -> None:
        self._n += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        path = self.directory / f"audit-{stamp}-{os.getpid()}-{self._n:04d}.jsonl"
        self._file = open(path, "ab")  # noqa: SIM115 - held open across writes, closed on rotation
        self._opened_at = now
        self._size = 0
        self._prune()

    def _prune(self) -> None:
        for old in self.segments()[: -self.keep]:
            try:
                old.unlink()
            except OSError:
                self.errors += 1

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
                self._size = 0

    def close(self) -> None:
        self._close()
