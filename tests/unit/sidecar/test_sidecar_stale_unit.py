"""A pooled model connection found closed: what is sent again and what is not (fake transports).

The real-socket proof (a model counting the POSTs it receives) is in
``tests/integration/sidecar/test_sidecar_replay.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from modelmonitor.sidecar.config import SidecarConfig
from modelmonitor.sidecar.proxy import ClientConnection, ProxyServer
from modelmonitor.sidecar.upstream import UpstreamConnection, UpstreamPool


class FakeTransport:
    def __init__(self, closing_after: int | None = None) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self._asked = 0
        self._closing_after = closing_after  # is_closing() turns True after this many questions

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        self._asked += 1
        if self._closing_after is not None and self._asked > self._closing_after:
            return True
        return self.closed


class Stack:
    """A client connection, one reused (pooled) model connection, and fresh ones on demand."""

    def __init__(self, pooled: FakeTransport | None = None) -> None:
        cfg = SidecarConfig(listen=("h", 1), upstream=("h", 2), admin=("h", 3))
        self.pool = UpstreamPool("h", 2, 5.0)
        self.finished: list[Any] = []
        self.server = ProxyServer(cfg, self.pool, self.finished.append)
        self.reused = UpstreamConnection(self.pool)
        self.reused_t = pooled or FakeTransport()
        self.reused.connection_made(self.reused_t)  # type: ignore[arg-type]
        self.reused.served = 1  # it has answered before: a kept-alive connection
        self.pool._idle.append(self.reused)
        self.fresh: list[tuple[UpstreamConnection, FakeTransport]] = []
        self.pool.connect = self._connect  # type: ignore[method-assign]
        self.client = ClientConnection(self.server)
        self.client_t = FakeTransport()
        self.client.connection_made(self.client_t)  # type: ignore[arg-type]

    async def _connect(self) -> UpstreamConnection:
        conn = UpstreamConnection(self.pool)
        transport = FakeTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        self.fresh.append((conn, transport))
        return conn

    def answer(self) -> bytes:
        return b"".join(self.client_t.writes)


POST = b'POST /predict HTTP/1.1\r\nX-Request-ID: p1\r\nContent-Length: 7\r\n\r\n{"a":1}'
GET = b"GET /v1/models/m HTTP/1.1\r\nX-Request-ID: g1\r\n\r\n"
PUT = b"PUT /item HTTP/1.1\r\nX-Request-ID: u1\r\nContent-Length: 2\r\n\r\nhi"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sent_post_on_a_stale_connection_gets_502_and_is_not_sent_again() -> None:
    s = Stack()
    s.client.data_received(POST)
    assert s.reused_t.writes and s.reused_t.writes[0].endswith(b'{"a":1}')  # sent once
    s.reused.connection_lost(None)  # the model closed it without a byte of answer
    await settle()
    assert s.fresh == []  # no second connection, so no second delivery
    head, _, body = s.answer().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 ") and b"x-modelmonitor-error: upstream_reset" in head
    message = json.loads(body)["message"]
    assert "POST request that was sent is not sent twice" in message
    assert s.server.stale == {"retried": 0, "not_retried": 1}
    assert s.finished[0].status == 502 and s.finished[0].error == "upstream_reset"


async def test_idempotent_requests_are_sent_again_once() -> None:
    for raw in (GET, PUT):
        s = Stack()
        s.client.data_received(raw)
        s.reused.connection_lost(None)
        await settle()
        assert len(s.fresh) == 1
        conn, transport = s.fresh[0]
        assert b"".join(transport.writes) == b"".join(s.reused_t.writes)  # the same bytes, again
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assert s.answer().startswith(b"HTTP/1.1 200 OK") and s.server.stale["retried"] == 1
        # the fresh connection has never answered before: losing it too is a plain 502, no third try
    s = Stack()
    s.client.data_received(GET)
    s.reused.connection_lost(None)
    await settle()
    s.fresh[0][0].connection_lost(None)
    await settle()
    assert len(s.fresh) == 1 and s.answer().startswith(b"HTTP/1.1 502 ")


async def test_a_post_not_yet_written_is_sent_on_a_fresh_connection() -> None:
    # The model's FIN was read (transport closing) but connection_lost is not delivered yet.
    closing = FakeTransport(closing_after=0)
    s = Stack(pooled=closing)
    s.client.data_received(POST)
    await settle()
    assert closing.writes == [] and closing.closed  # skipped by take(), and closed
    assert len(s.fresh) == 1 and b"".join(s.fresh[0][1].writes).endswith(b'{"a":1}')
    # the transport starts closing between take() and the write: nothing was sent, a retry is safe
    late = FakeTransport(closing_after=1)
    s = Stack(pooled=late)
    s.client.data_received(POST)
    assert late.writes == [] and not s.reused.sent
    s.reused.connection_lost(None)
    await settle()
    assert len(s.fresh) == 1 and b"".join(s.fresh[0][1].writes).endswith(b'{"a":1}')
    assert s.server.stale == {"retried": 1, "not_retried": 0}


async def test_release_resets_what_was_sent() -> None:
    s = Stack()
    s.client.data_received(GET)
    assert s.reused.sent
    s.reused.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert s.pool.idle == 1 and not s.reused.sent and s.reused.served == 2
