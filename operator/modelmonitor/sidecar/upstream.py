"""Keep-alive HTTP/1.1 connections from the sidecar to the model, and the pool that reuses them.

An :class:`UpstreamConnection` parses the model's responses with llhttp (``httptools``) and hands
each event to the exchange that currently owns the connection; it never re-encodes a body. The
:class:`UpstreamPool` keeps idle connections (LIFO, so a hot connection stays hot) and drops the ones
the model has closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol

import httptools

if TYPE_CHECKING:
    from collections.abc import Callable


class Cork:
    """Coalesces the writes made while one chunk of input is handled into one send per connection.

    While ``active`` (set around each ``data_received``), connections buffer what they write and
    register here; ``flush`` sends each buffer with a single ``write``. A request's head and body, or a
    response's head and body, then cost one system call instead of two.
    """

    __slots__ = ("active", "dirty")

    def __init__(self) -> None:
        self.active = False
        self.dirty: list[Any] = []

    def flush(self) -> None:
        self.active = False
        dirty = self.dirty
        if dirty:
            self.dirty = []
            for conn in dirty:
                conn.flush()


class CorkedWriter:
    """Writes that wait in ``_out`` while the cork is active, then go out as one ``transport.write``.

    Shared by both sides of the proxy (the client connection and the model connection)."""

    __slots__ = ()
    cork: Cork
    transport: asyncio.Transport | None
    closed: bool
    _out: list[bytes]

    def write(self, data: bytes) -> None:
        if self.cork.active:
            if not self._out:
                self.cork.dirty.append(self)
            self._out.append(data)
        elif self.transport is not None and not self.closed:
            self.transport.write(data)

    def flush(self) -> None:
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if self.transport is not None and not self.closed:
                self.transport.write(data)


class ResponseSink(Protocol):
    """What an upstream connection reports to (implemented by the proxy's exchange)."""

    def response_head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None: ...
    def response_body(self, data: bytes) -> None: ...
    def response_complete(self) -> None: ...
    def upstream_lost(self, conn: UpstreamConnection, exc: BaseException | None) -> None: ...
    def upstream_pause_writing(self) -> None: ...
    def upstream_resume_writing(self) -> None: ...


class UpstreamConnection(CorkedWriter, asyncio.Protocol):
    """One connection to the model; owned by at most one exchange at a time."""

    __slots__ = (
        "_headers",
        "_out",
        "_reason",
        "closed",
        "cork",
        "got_bytes",
        "owner",
        "parser",
        "pool",
        "sent",
        "served",
        "status",
        "transport",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.cork = pool.cork
        self._out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.owner: ResponseSink | None = None
        self.closed = False
        self.got_bytes = False  # any byte of the current response seen (for the stale-connection retry)
        self.sent = False  # any byte of the current request handed to the transport (idem)
        self.served = 0  # responses completed on this connection
        self.status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""

    # writes (as CorkedWriter's, plus what the stale-connection retry needs to know) ----------------
    def write(self, data: bytes) -> None:
        if self.cork.active:
            if not self._out:
                self.cork.dirty.append(self)
            self._out.append(data)
        else:
            self._send(data)

    def flush(self) -> None:
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self._send(data)

    def _send(self, data: bytes) -> None:
        transport = self.transport
        # A transport already closing (the model's FIN was read) would drop the bytes: they were not sent.
        if transport is not None and not self.closed and not transport.is_closing():
            transport.write(data)
            self.sent = True

    # asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:  # the model spoke out of turn on an idle connection: do not trust it again
            self.close()
            return
        self.got_bytes = True
        cork = self.cork
        cork.active = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            if self.owner is not None:
                self.owner.upstream_lost(self, exc)
        finally:
            cork.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.pool.forget(self)
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.upstream_lost(self, exc)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_pause_writing()

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.upstream_resume_writing()

    # llhttp callbacks -------------------------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        headers, reason = self._headers, self._reason
        self._headers = []  # ready for the next message (no on_message_begin callback: one call less)
        self._reason = b""
        if self.owner is not None:
            self.owner.response_head(self.status, reason, headers)

    def on_body(self, body: bytes) -> None:
        if self.owner is not None:
            self.owner.response_body(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            return  # interim response (100 Continue): the final one follows on the same connection
        self.served += 1
        if self.owner is not None:
            self.owner.response_complete()

    # helpers ----------------------------------------------------------------------------------------
    def keep_alive(self) -> bool:
        """True when the model allows another request on this connection."""
        return not self.closed and self.parser.should_keep_alive()

    def close(self) -> None:
        self.flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()


class UpstreamPool:
    """Idle keep-alive connections to one model address.

    ``max_idle`` bounds how many idle connections are kept (memory and file descriptors); a
    connection beyond it is closed when released.
    """

    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float,
        max_idle: int = 256,
        factory: Callable[[UpstreamPool], UpstreamConnection] = UpstreamConnection,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._factory = factory
        self.cork = Cork()
        self._idle: list[UpstreamConnection] = []
        self.opened = 0  # connections ever opened (for tests and metrics)

    def take(self) -> UpstreamConnection | None:
        """An idle live connection, or None when a new one must be opened."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if not conn.closed and transport is not None and not transport.is_closing():
                return conn
            conn.close()  # the model closed it (its FIN was read, connection_lost not yet delivered)
        return None

    async def connect(self) -> UpstreamConnection:
        """Open a new connection; raises ``OSError`` or ``TimeoutError`` when the model is unreachable."""
        loop = asyncio.get_running_loop()
        _transport, conn = await asyncio.wait_for(
            loop.create_connection(lambda: self._factory(self), self.host, self.port),
            timeout=self.connect_timeout,
        )
        self.opened += 1
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Give a connection back after a complete response; closes it when not reusable."""
        conn.owner = None
        conn.got_bytes = False
        conn.sent = False
        if conn.closed or not conn.keep_alive() or len(self._idle) >= self.max_idle:
            conn.close()
            return
        self._idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """Drop a closed connection from the idle list (called from ``connection_lost``)."""
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    @property
    def idle(self) -> int:
        return len(self._idle)
