"""The per-request log line and the thread that writes log lines to stdout (and the audit trail).

Writing happens on a thread of its own, fed batches through a bounded queue, so a slow or blocked
stdout (a full pipe to the container runtime) can never stall the proxy: when the queue is full the
batch is dropped and counted. One line is one JSON object; see ``docs/sidecar.md`` for the fields.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from modelmonitor.sidecar import jsonfast
from modelmonitor.sidecar.audit import AuditLog

_second: tuple[int, str] = (0, "1970-01-01T00:00:00")  # the last whole second formatted (one tuple: atomic)


def iso_time(ts: float) -> str:
    """RFC 3339 UTC time with milliseconds, e.g. ``2026-11-23T11:50:01.123Z``."""
    global _second
    whole = int(ts)
    cached = _second
    if cached[0] == whole:
        prefix = cached[1]
    else:  # strftime costs more than the rest: format each second once
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, prefix)
    return f"{prefix}.{int((ts - whole) * 1000):03d}Z"


def cap_payload(value: Any, max_bytes: int) -> Any:
    """The value if its JSON fits in ``max_bytes``; else as many leading list items as fit, marked."""
    data = jsonfast.dumps(value)
    if len(data) <= max_bytes:
        return value
    if isinstance(value, list):
        kept: list[Any] = []
        size = 2
        for item in value:
            size += len(jsonfast.dumps(item)) + 1
            if size > max_bytes:
                break
            kept.append(item)
        return {"truncated": True, "bytes": len(data), "items": len(value), "head": kept}
    return {"truncated": True, "bytes": len(data)}


class LogWriter:
    """Writes batches of log lines from a thread; ``submit`` never blocks."""

    def __init__(
        self,
        fd: int | None = None,
        audit: AuditLog | None = None,
        max_batches: int = 1024,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.fd = sys.stdout.fileno() if fd is None else fd
        self.audit = audit
        self.on_drop = on_drop
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=max_batches)
        self._thread = threading.Thread(target=self._run, name="modelmonitor-log", daemon=True)
        self.written = 0
        self.errors = 0
        self._thread.start()

    def submit(self, data: bytes, lines: int) -> None:
        """Queue ``lines`` log lines joined in ``data``; drop and count them if the writer is behind."""
        try:
            self._queue.put_nowait((data, lines))
        except queue.Full:
            if self.on_drop is not None:
                self.on_drop(lines)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            data, lines = item
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
            except OSError:
                self.errors += 1
            if self.audit is not None:
                try:
                    self.audit.write(data)
                except OSError:
                    self.errors += 1
            self.written += lines

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to ``timeout`` seconds), then stop the thread."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        if self.audit is not None:
            self.audit.close()
