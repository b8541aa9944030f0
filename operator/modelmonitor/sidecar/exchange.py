"""One request/response exchange through the proxy: streaming, errors, timing.

Bodies pass through untouched; ``sidecar/framing.py`` rewrites the heads for the next hop. Request and
response bodies are kept for capture only when the request is sampled and the body is at most
``capture_max_bytes``. The exchange knows its client connection and the proxy server only through the
two protocols below, so this module does not import ``sidecar/proxy.py`` (which creates exchanges).
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Protocol

from modelmonitor.sidecar import framing
from modelmonitor.sidecar.httpwire import error_response

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.upstream import UpstreamConnection, UpstreamPool

PENDING_LIMIT = 256 * 1024  # request bytes buffered while the model connection opens
REPLAY_LIMIT = 64 * 1024  # request bytes kept to retry once on a stale keep-alive connection
# Methods a proxy may send twice (RFC 9110 9.2.2): a POST or PATCH whose bytes reached the model may
# have been acted on, so it is never replayed (the client gets a 502 and decides).
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


class Server(Protocol):
    """What an exchange uses of the proxy server (``proxy.ProxyServer``)."""

    config: SidecarConfig
    pool: UpstreamPool
    capture_enabled: bool
    sample_rate: float
    capture_max: int
    stale: dict[str, int]
    on_finish: Callable[[Exchange], None]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...
    def next_request_id(self) -> str: ...


class Client(Protocol):
    """What an exchange uses of its client connection (``proxy.ClientConnection``)."""

    @property
    def server(self) -> Server: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def pause(self, flag: int) -> None: ...
    def resume(self, flag: int) -> None: ...
    def exchange_done(self, ex: Exchange, close: bool) -> None: ...


class Exchange:
    """State of one proxied request; created by the client connection when its headers are parsed."""

    __slots__ = (
        "_pending",
        "_pending_size",
        "_replay",
        "_replay_size",
        "_retried",
        "chunked_in",
        "chunked_out",
        "client",
        "client_http11",
        "close_after",
        "deadline",
        "done",
        "eof_body",
        "error",
        "head_pending",
        "keep_alive",
        "method",
        "req_body",
        "req_bytes",
        "request_complete_flag",
        "request_head",
        "request_id",
        "resp_body",
        "resp_bytes",
        "response_started",
        "sampled",
        "status",
        "t_model_end",
        "t_model_start",
        "t_start",
        "ts",
        "upstream",
        "url",
    )

    def __init__(
        self,
        client: Client,
        method: bytes,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        client_http11: bool,
        keep_alive: bool,
    ) -> None:
        server = client.server
        self.client = client
        self.method = method
        self.url = url
        self.client_http11 = client_http11
        self.keep_alive = keep_alive and client_http11
        self.ts = time.time()
        self.t_start = time.perf_counter()
        self.t_model_start = 0.0
        self.t_model_end = 0.0
        self.upstream: UpstreamConnection | None = None
        self.status = 0
        self.error = ""
        self.response_started = False
        self.request_complete_flag = False
        self.done = False
        self.chunked_out = False
        self.eof_body = False
        self.head_pending = b""
        self.close_after = not self.keep_alive
        self.req_bytes = 0
        self.resp_bytes = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._replay: list[bytes] | None = []
        self._replay_size = 0
        self._retried = False
        self.deadline = 0.0  # perf_counter() time after which the model has timed out; 0 until started
        self.sampled = server.capture_enabled and (
            server.sample_rate >= 1.0 or random.random() < server.sample_rate
        )
        self.req_body: list[bytes] | None = [] if self.sampled else None
        self.resp_body: list[bytes] | None = [] if self.sampled else None
        self.request_head, self.request_id, self.chunked_in = framing.request_head(
            method, url, headers, server.next_request_id
        )

    # request side -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Take a model connection (opening one if none is idle) and send what we have."""
        # No timer per request: the server's sweep checks deadlines every DEADLINE_SWEEP seconds.
        self.deadline = time.perf_counter() + self.client.server.config.upstream_timeout
        conn = self.client.server.pool.take()
        if conn is not None:
            self._attach(conn)
        else:
            self.client.server.spawn(self._connect())

    async def _connect(self) -> None:
        try:
            conn = await self.client.server.pool.connect()
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            self.fail(502, "upstream_unavailable", f"cannot connect to the model: {reason}")
            return
        if self.done:
            self.client.server.pool.release(conn)
            return
        self._attach(conn)

    def _attach(self, conn: UpstreamConnection) -> None:
        self.upstream = conn
        conn.owner = self
        self.t_model_start = time.perf_counter()
        if self._pending:
            conn.write(self.request_head + b"".join(self._pending))
            self._pending = []
            self._pending_size = 0
            self.client.resume(4)  # proxy.PAUSE_PENDING
        else:
            conn.write(self.request_head)

    def request_body(self, data: bytes) -> None:
        self.req_bytes += len(data)
        body = self.req_body
        if body is not None:
            if self.req_bytes <= self.client.server.capture_max:
                body.append(data)
            else:
                self.req_body = None
        frame = framing.chunk(data) if self.chunked_in else data
        replay = self._replay
        if replay is not None:
            self._replay_size += len(frame)
            if self._replay_size <= REPLAY_LIMIT:
                replay.append(frame)
            else:
                self._replay = None
        if self.upstream is not None:
            self.upstream.write(frame)
        elif not self.done:
            self._pending.append(frame)
            self._pending_size += len(frame)
            if self._pending_size > PENDING_LIMIT:
                self.client.pause(4)

    def request_complete(self) -> None:
        self.request_complete_flag = True
        if self.chunked_in:
            self.request_body_end()

    def request_body_end(self) -> None:
        end = framing.LAST_CHUNK
        if self._replay is not None:
            self._replay.append(end)
        if self.upstream is not None:
            self.upstream.write(end)
        elif not self.done:
            self._pending.append(end)

    # response side ----------------------------------------------------------------------------------
    def response_head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        if 100 <= status < 200:
            if status != 101:  # 100 Continue and friends are passed on as they are
                self.client.write(framing.interim_head(status, reason, headers))
            return
        self.status = status
        self.response_started = True
        head = framing.response_head(
            status,
            reason,
            headers,
            method=self.method,
            request_id=self.request_id,
            client_http11=self.client_http11,
            close_after=self.close_after,
        )
        self.chunked_out = head.chunked_out
        self.eof_body = head.eof_body
        self.close_after = head.close_after
        if head.length and head.length != b"0" and not head.no_body:
            # Hold the head until the first body bytes (usually microseconds away) and send both in one
            # write; until then a model failure can still be answered with a clean 502.
            self.head_pending = head.head
        else:
            self.client.write(head.head)
        if self.method == b"HEAD":
            # llhttp would wait for the body the headers announce: finish here, do not reuse.
            conn = self.upstream
            if conn is not None:
                conn.owner = None
                conn.close()
                self.upstream = None
            self._finish()

    def response_body(self, data: bytes) -> None:
        self.resp_bytes += len(data)
        body = self.resp_body
        if body is not None:
            if self.resp_bytes <= self.client.server.capture_max:
                body.append(data)
            else:
                self.resp_body = None
        if self.head_pending:
            data = self.head_pending + data
            self.head_pending = b""
            self.client.write(data)
        elif self.chunked_out:
            self.client.write(framing.chunk(data))
        else:
            self.client.write(data)

    def response_complete(self) -> None:
        if self.head_pending:  # the model announced a body it did not send: pass on what it said
            self.client.write(self.head_pending)
            self.head_pending = b""
        if self.chunked_out:
            self.client.write(framing.LAST_CHUNK)
        self._finish()

    def upstream_lost(self, conn: UpstreamConnection, exc: BaseException | None) -> None:
        """The model connection closed before the response was complete."""
        if self.done:
            return
        self.upstream = None
        if self.head_pending:  # nothing reached the client yet: it can still get a clean error
            self.head_pending = b""
            self.response_started = False
        if self.response_started:
            if self.eof_body:
                # Read-until-close framing: the close is the end of the body.
                if self.chunked_out:
                    self.client.write(framing.LAST_CHUNK)
                self._finish()
            else:
                self.error = "upstream_reset"
                self.close_after = True
                self.client.close()  # mid-body: the only honest signal left is closing
                self._finish()
            return
        detail = f": {exc}" if exc else ""
        if conn.served and not conn.got_bytes and not self._retried:
            # A kept-alive connection the model closed as we reused it. Send the request again, once, on
            # a fresh connection only when that cannot make the model act twice.
            server = self.client.server
            safe = self.method in IDEMPOTENT or not conn.sent
            if safe and self._replay is not None:
                server.stale["retried"] += 1
                self._retried = True
                self._pending = [*self._replay]
                self._pending_size = self._replay_size
                server.spawn(self._connect())
                return
            server.stale["not_retried"] += 1
            why = (
                f"a {self.method.decode('latin-1')} request that was sent is not sent twice (the model may "
                "have acted on it): retry it if that is safe"
                if not safe
                else f"the request body was larger than {REPLAY_LIMIT} bytes to send again"
            )
            self.fail(
                502,
                "upstream_reset",
                f"the model closed a kept-alive connection without answering{detail}; {why}",
            )
            return
        self.fail(502, "upstream_reset", f"the model closed the connection without answering{detail}")

    def upstream_pause_writing(self) -> None:
        self.client.pause(2)

    def upstream_resume_writing(self) -> None:
        self.client.resume(2)

    def client_pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def client_resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def client_lost(self) -> None:
        """The client went away: drop the model connection (its answer has nowhere to go)."""
        if self.done:
            return
        conn = self.upstream
        if conn is not None:
            conn.owner = None
            conn.close()
            self.upstream = None
        self.error = self.error or "client_closed"
        if not self.response_started:
            self.status = 499  # as nginx counts it: the client closed before the answer
        self.close_after = True
        self._finish()

    def fail(self, status: int, code: str, message: str) -> None:
        """End the exchange with an error produced by the sidecar (502 model down, 504 timeout)."""
        if self.done:
            return
        self.error = code
        conn = self.upstream
        if conn is not None:
            conn.owner = None
            conn.close()
            self.upstream = None
        self.close_after = True
        if self.head_pending:
            self.head_pending = b""
            self.response_started = False
        if not self.response_started:
            self.status = status
            self.response_started = True
            self.resp_body = None
            self.client.write(error_response(status, code, message, self.request_id))
        else:
            self.client.close()
        self._finish()

    def timed_out(self) -> None:
        """Called by the server's sweep once ``deadline`` has passed."""
        self.fail(504, "upstream_timeout", "the model did not answer within the upstream timeout")

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.t_model_end = time.perf_counter()
        conn = self.upstream
        if conn is not None:
            self.upstream = None
            if self.request_complete_flag:
                self.client.server.pool.release(conn)
            else:  # the model answered before the request was read whole: the stream is out of sync
                conn.owner = None
                conn.close()
                self.close_after = True
        self._pending = []
        self._replay = None
        client = self.client
        client.server.on_finish(self)
        client.exchange_done(self, self.close_after or not self.request_complete_flag)
