"""Capture, off the request path: finished exchanges -> log lines, window rows and metrics.

:meth:`Capture.on_finish` runs as each exchange ends: it observes the request metrics and puts a
small record on a bounded queue (dropped and counted when the queue is full or holds too many
bytes). The queue is drained on the event loop in short batches after the responses have been
written, so decoding, codecs, redaction and JSON encoding never sit between a client and the model.
The lines of a batch go to the :class:`~modelmonitor.sidecar.logline.LogWriter` thread.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING, Any

from modelmonitor.sidecar import codecs, jsonfast
from modelmonitor.sidecar.logline import cap_payload, iso_time

if TYPE_CHECKING:
    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.exchange import Exchange
    from modelmonitor.sidecar.explain import Explainer
    from modelmonitor.sidecar.logline import LogWriter
    from modelmonitor.sidecar.metrics import SidecarMetrics
    from modelmonitor.sidecar.redact import Redactor
    from modelmonitor.sidecar.window import Window

BATCH_ITEMS = 256  # records handled per loop turn
# Records wait at most DRAIN_AFTER_SECONDS, so that a loop turn handles several at once; at 1,000 req/s
# a turn then takes about 10 records (~0.15 ms), so a request arriving meanwhile hardly waits.
DRAIN_AFTER_SECONDS = 0.01
BATCH_SECONDS = 0.001  # and at most this long per loop turn, so a request waits at most ~1 ms behind capture
# Lines go to the writer thread at most every HANDOFF_SECONDS (or per BATCH_ITEMS lines): each hand-off
# wakes the thread, which then contends for the GIL with the proxy.
HANDOFF_SECONDS = 0.1
QUEUE_BYTES = 64 * 1024 * 1024  # captured body bytes the queue may hold


class Capture:
    """Bounded queue of finished exchanges and the code that turns them into lines and rows."""

    def __init__(
        self,
        config: SidecarConfig,
        metrics: SidecarMetrics,
        window: Window,
        redactor: Redactor,
        writer: LogWriter | None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.window = window
        self.redactor = redactor
        self.writer = writer
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self.queue_bytes = 0
        self.max_items = config.queue_size
        self._scheduled = False
        self._handoff_scheduled = False
        self._lines: list[bytes] = []  # processed lines not yet handed to the writer
        self._loop: asyncio.AbstractEventLoop | None = None
        self.explainer: Explainer | None = None  # set by the wiring when explanations are on
        metrics.queue_depth = lambda: len(self.queue)

    # request path -----------------------------------------------------------------------------------
    def on_finish(self, ex: Exchange) -> None:
        """Called by the proxy when an exchange ends; must stay cheap and must not raise."""
        model_s = ex.t_model_end - ex.t_model_start if ex.t_model_start and not ex.error else None
        source = (
            "sidecar"
            if ex.error in ("upstream_unavailable", "upstream_timeout", "upstream_reset")
            else "model"
        )
        self.metrics.observe(ex.status, time.perf_counter() - ex.t_start, model_s, source)
        req = ex.req_body
        resp = ex.resp_body
        if ex.sampled and (req is None or resp is None) and not ex.error:
            self.metrics.dropped("too_large")
        size = 0
        if req is not None and resp is not None:
            size = ex.req_bytes + ex.resp_bytes
        else:
            req = resp = None
        if len(self.queue) >= self.max_items or self.queue_bytes + size > QUEUE_BYTES:
            self.metrics.dropped("queue_full")
            return
        self.queue_bytes += size
        self.queue.append(
            (
                ex.ts,
                ex.request_id,
                ex.method,
                ex.url,
                ex.status,
                time.perf_counter() - ex.t_start,
                model_s,
                req,
                resp,
                ex.error,
                ex.req_bytes,
                ex.resp_bytes,
                size,
            )
        )
        if not self._scheduled:
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            if len(self.queue) >= BATCH_ITEMS:
                self._loop.call_soon(self.drain)
            else:
                self._loop.call_later(DRAIN_AFTER_SECONDS, self.drain)

    # off the request path ---------------------------------------------------------------------------
    def drain(self) -> None:
        """Process a batch of records; reschedules itself while records remain."""
        self._scheduled = False
        deadline = time.perf_counter() + BATCH_SECONDS
        lines = self._lines
        queue = self.queue
        for _ in range(BATCH_ITEMS):
            if not queue:
                break
            record = queue.popleft()
            self.queue_bytes -= record[-1]
            try:
                lines.append(self.process(record))
            except Exception:  # a bug in capture must never reach traffic: count and carry on
                self.metrics.dropped("error")
            if time.perf_counter() > deadline:
                break
        if len(lines) >= BATCH_ITEMS:
            self.handoff()
        elif lines and not self._handoff_scheduled and self._loop is not None:
            self._handoff_scheduled = True
            self._loop.call_later(HANDOFF_SECONDS, self.handoff)
        if queue and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self.drain)

    def handoff(self) -> None:
        """Give the processed lines to the writer thread in one batch."""
        self._handoff_scheduled = False
        lines = self._lines
        if lines:
            self._lines = []
            if self.writer is not None:
                lines.append(b"")
                self.writer.submit(b"\n".join(lines), len(lines) - 1)

    def flush(self) -> None:
        """Process everything queued (at shutdown)."""
        while self.queue:
            self.drain()
        self.handoff()

    def process(self, record: tuple[Any, ...]) -> bytes:
        """One record -> one JSON log line (bytes, no newline); adds window rows as a side effect."""
        ts, rid, method, url, status, total_s, model_s, req, resp, error, req_n, resp_n, _ = record
        cfg = self.config
        path = url.split(b"?", 1)[0].decode("latin-1")
        line: dict[str, Any] = {
            "time": iso_time(ts),
            "ts": round(ts, 6),
            "level": "error" if status >= 500 else "info",
            "msg": "request",
            "request_id": rid,
            "model": cfg.model_name,
            "version": cfg.model_version,
            "method": method.decode("latin-1"),
            "path": path,
            "status": status,
            "latency_ms": round(total_s * 1000.0, 3),
            "model_latency_ms": round(model_s * 1000.0, 3) if model_s is not None else None,
            "request_bytes": req_n,
            "response_bytes": resp_n,
        }
        if error:
            line["error"] = error
        if req is not None and req_n and 200 <= status < 300:
            self._capture(line, ts, rid, path, req, resp, url)
        return jsonfast.dumps(line)

    def _capture(
        self,
        line: dict[str, Any],
        ts: float,
        rid: str,
        path: str,
        req: list[bytes],
        resp: Any,
        url: bytes = b"",
    ) -> None:
        metrics = self.metrics
        try:
            request = jsonfast.loads(b"".join(req))
        except ValueError:
            metrics.parse_failure("request")
            line["capture"] = "request_not_json"
            return
        try:
            response = jsonfast.loads(b"".join(resp))
        except ValueError:
            metrics.parse_failure("response")
            line["capture"] = "response_not_json"
            return
        try:
            found = codecs.decode(self.config.protocol, path, request, response)
        except (codecs.CodecError, TypeError, KeyError, IndexError, AttributeError) as exc:
            metrics.parse_failure("codec")
            line["capture"] = f"codec_failed: {str(exc)[:200]}"
            return
        redactor = self.redactor
        features = [redactor.row(r) for r in found.features] if redactor.active else found.features
        preds = redactor.tree(found.predictions)
        probs = redactor.tree(found.probabilities)
        version = found.model_version or self.config.model_version
        line["protocol"] = found.protocol
        line["rows"] = len(features)
        if found.model_version and found.model_version != self.config.model_version:
            line["model_reported_version"] = found.model_version
        if self.config.log_payloads:
            cap = self.config.log_max_bytes
            line["inputs"] = cap_payload(features, cap)
            outputs: dict[str, Any] = {"predictions": cap_payload(preds, cap)}
            if probs is not None:
                outputs["probabilities"] = cap_payload(probs, cap)
            line["outputs"] = outputs
        self.window.add(ts, rid, version, features, preds, probs)
        if self.explainer is not None:  # raw rows: the explainer redacts what it keeps
            self.explainer.offer(
                ts, rid, version, url.decode("latin-1") or path, found.protocol, request, found.features
            )
