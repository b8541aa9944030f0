"""Audit trail: the log lines also appended to JSONL segment files on a volume.

A segment is ``audit-<UTC yyyymmddThhmmss>-<pid>-<n>.jsonl``. The writer rotates to a new segment
when the current one reaches ``segment_bytes`` or ``segment_age`` seconds, and deletes the oldest
segments beyond ``keep``. Each batch is flushed to the OS as it is written, so a restart loses at most
what was still queued in memory; after a restart a new segment is started beside the old ones.
Only the writer thread calls :meth:`AuditLog.write`; retention (:meth:`AuditLog.prune`: a segment goes
once its newest record, its modification time, is older than the retention) and erasure
(:meth:`AuditLog.rewrite`) run on the event loop and take the same lock.
"""

from __future__ import annotations

import calendar
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".tmp"  # a segment being rewritten by an erasure; a leftover of a crash is deleted at start
_STAMP = re.compile(r"^audit-(\d{8}T\d{6})-")


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
        self.lock = threading.Lock()
        # (until, doomed): lines still queued for the writer when an erasure ran are dropped on write
        self.filters: list[tuple[float, Callable[[bytes], bool]]] = []
        for leftover in self.directory.glob(f"audit-*.jsonl{TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)

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
        with self.lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        now = self.clock()
        if self.filters:
            self.filters = [f for f in self.filters if f[0] > now]
            for _, doomed in self.filters:
                data = b"".join(line for line in data.splitlines(keepends=True) if not doomed(line))
            if not data:
                return
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
        with self.lock:
            self._close()

    # retention and erasure --------------------------------------------------------------------------
    def prune(self, older_than: float) -> int:
        """Delete the segments whose newest record (their modification time) is before ``older_than``
        (unix seconds), the current one included; returns how many were deleted."""
        deleted = 0
        with self.lock:
            for path in self.segments():
                try:
                    if path.stat().st_mtime >= older_than:
                        continue
                    if path == self.current:
                        self._close()
                    path.unlink()
                    deleted += 1
                except FileNotFoundError:
                    continue
                except OSError:
                    self.errors += 1
        return deleted

    def oldest(self) -> float | None:
        """Unix time of the oldest record kept (the first record of the oldest segment, to the second,
        from its name); None without segments."""
        for path in self.segments():
            match = _STAMP.match(path.name)
            if match:
                return float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%S")))
        return None

    def rewrite(
        self,
        spans: Callable[[bytes], list[tuple[int, int]]],
        doomed: Callable[[bytes], bool],
        grace: float,
    ) -> tuple[int, int]:
        """Erasure: remove the lines ``spans(data)`` picks in each segment (their byte ranges, in order,
        newline included), keeping the other lines.

        A segment with lines removed is written to a temporary file beside it, synced, given the old
        modification time (so retention still sees its newest record) and renamed over it. Lines
        still on their way to the writer are dropped on write for ``grace`` seconds when ``doomed``
        picks them. Returns (lines removed, segments rewritten)."""
        removed = rewritten = 0
        with self.lock:
            self.filters.append((self.clock() + grace, doomed))
            for path in self.segments():
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                drop = spans(data)
                if not drop:
                    continue
                if path == self.current:
                    self._close()  # the next write starts a new segment
                kept, at = [], 0
                for start, end in drop:
                    kept.append(data[at:start])
                    at = end
                kept.append(data[at:])
                removed += len(drop)
                rewritten += 1
                rest = b"".join(kept)
                if rest:
                    _replace(path, rest)
                else:
                    path.unlink()
                    _sync_dir(path.parent)
        return removed, rewritten


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    stat = path.stat()
    temp = path.with_name(path.name + TEMP_SUFFIX)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.utime(temp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
