"""The reverse proxy: asyncio protocols and llhttp (``httptools``), bytes forwarded as received.

A :class:`ClientConnection` parses requests from a client (keep-alive, pipelining served in order)
and creates one :class:`~modelmonitor.sidecar.exchange.Exchange` per request. The exchange streams the
request to a pooled model connection and the response back, without decoding or re-encoding bodies;
only hop-by-hop headers and the message framing are rewritten. Capture (JSON decoding, codecs,
redaction, logging, windows) happens later, off the request path, from the finished exchange.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from typing import TYPE_CHECKING, Any

import httptools

from modelmonitor.sidecar.exchange import Exchange
from modelmonitor.sidecar.httpwire import error_response
from modelmonitor.sidecar.upstream import CorkedWriter

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.upstream import UpstreamPool

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; beyond: 431
PAUSE_PIPELINE = 1
PAUSE_UPSTREAM = 2
PAUSE_PENDING = 4


class ProxyServer:
    """State shared by all client connections of one sidecar process."""

    def __init__(self, config: SidecarConfig, pool: UpstreamPool, on_finish: Any) -> None:
        self.config = config
        self.pool = pool
        self.on_finish = on_finish  # callable(Exchange) -> None, run when an exchange ends
        self.connections: set[ClientConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.cork = pool.cork
        self.loop: asyncio.AbstractEventLoop | None = None
        self._rid_prefix = os.urandom(6).hex()
        self._rid_counter = 0
        self.sample_rate = config.sample_rate
        self.capture_max = config.capture_max_bytes
        self.capture_enabled = config.sample_rate > 0.0
        # Requests that met a stale kept-alive model connection: sent again, or answered 502 (metrics).
        self.stale = {"retried": 0, "not_retried": 0}

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background task, keeping a reference until it ends (the loop keeps only weak ones)."""
        task = self.get_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, looked up once (``get_running_loop`` costs a ``getpid`` system call)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        return self.loop

    def next_request_id(self) -> str:
        """A request id unique across pods: 48 random bits per process plus a counter."""
        self._rid_counter += 1
        return f"{self._rid_prefix}{self._rid_counter:010x}"

    def sweep(self, now: float) -> None:
        """Close client connections idle (or stuck sending a request) longer than the idle timeout."""
        limit = now - self.config.idle_timeout
        for conn in list(self.connections):
            if conn.last_active < limit and not conn.queue_busy_with_response():
                conn.close()

    def check_deadlines(self, now: float) -> None:
        """Fail with 504 the exchanges whose model has not answered by their deadline (perf_counter s)."""
        for conn in list(self.connections):
            if conn.queue:
                ex = conn.queue[0]
                if ex.deadline and not ex.done and now > ex.deadline:
                    ex.timed_out()

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()


class ClientConnection(CorkedWriter, asyncio.Protocol):
    """One client connection; parses requests and serves their exchanges one after the other."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.cork = server.cork
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None
        self.last_active = time.monotonic()
        self.closed = False
        self.write_paused = False
        self._pause_flags = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._out: list[bytes] = []

    # asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        if len(server.connections) >= server.config.max_connections:
            transport.close()  # refuse beyond the bound rather than run out of memory or descriptors
            self.closed = True
            return
        server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        # Cork: a request's head and the body bytes of this chunk reach the model in one write.
        cork = self.server.cork
        cork.active = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(501, "upgrade_not_supported", "the sidecar does not proxy protocol upgrades")
        except httptools.HttpParserError as exc:
            if self._head_size > MAX_HEAD_BYTES:
                self._reject(
                    431, "headers_too_large", f"request line and headers exceed {MAX_HEAD_BYTES} bytes"
                )
            else:
                self._reject(400, "bad_request", f"malformed HTTP request: {exc}")
        finally:
            cork.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for ex in list(self.queue):
            ex.client_lost()
        self.queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.queue:
            self.queue[0].client_pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.queue:
            self.queue[0].client_resume_writing()

    # llhttp callbacks -------------------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > MAX_HEAD_BYTES:
            raise ValueError("head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            raise ValueError("head too large")

    def on_headers_complete(self) -> None:
        parser = self.parser
        ex = Exchange(
            self,
            parser.get_method(),
            self._url,
            self._headers,
            parser.get_http_version() == "1.1",
            parser.should_keep_alive(),
        )
        self._url = b""  # ready for the next message (no on_message_begin callback: one call less)
        self._headers = []
        self._head_size = 0
        self.current = ex
        self.queue.append(ex)
        if len(self.queue) == 1:
            ex.start()
        else:
            self.pause(PAUSE_PIPELINE)  # a pipelined request waits; read no more until its turn

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.request_body(body)

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current.request_complete()
            self.current = None

    # called by exchanges ----------------------------------------------------------------------------
    def exchange_done(self, ex: Exchange, close: bool) -> None:
        """The exchange at the head of the queue has sent its whole response."""
        if self.queue and self.queue[0] is ex:
            self.queue.popleft()
        self.last_active = time.monotonic()
        if close or self.closed:
            self.close()
            return
        if self.queue:
            self.queue[0].start()
        if len(self.queue) <= 1:
            self.resume(PAUSE_PIPELINE)

    def pause(self, flag: int) -> None:
        if not self._pause_flags and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._pause_flags |= flag

    def resume(self, flag: int) -> None:
        if not self._pause_flags & flag:
            return
        self._pause_flags &= ~flag
        if not self._pause_flags and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def queue_busy_with_response(self) -> bool:
        """True while an exchange waits on the model (a slow model is not an idle client)."""
        return bool(self.queue) and self.queue[0].upstream is not None

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.flush()
            self.closed = True
            self.transport.close()

    def _reject(self, status: int, code: str, message: str) -> None:
        """Answer a request the proxy cannot forward, then close (the stream is out of sync)."""
        if not self.queue or not self.queue[0].response_started:
            self.write(error_response(status, code, message, ""))
        self.close()
