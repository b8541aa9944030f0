"""Proxy wire behaviour without sockets: fake transports around the real protocols and parser.

Covers the write coalescing (a request's head and body reach the model in one write, byte for byte)
and header forwarding edge cases: duplicate headers, odd casing, chunked requests, Connection
handling, HTTP/1.0 and pipelining.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from modelmonitor.sidecar import codecs
from modelmonitor.sidecar.config import SidecarConfig
from modelmonitor.sidecar.logline import iso_time
from modelmonitor.sidecar.proxy import ClientConnection, ProxyServer
from modelmonitor.sidecar.upstream import UpstreamConnection, UpstreamPool


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def make() -> tuple[ClientConnection, FakeTransport, UpstreamConnection, FakeTransport, list[Any]]:
    cfg = SidecarConfig(listen=("h", 1), upstream=("h", 2), admin=("h", 3))
    pool = UpstreamPool("h", 2, 5.0)
    finished: list[Any] = []
    server = ProxyServer(cfg, pool, finished.append)
    up = UpstreamConnection(pool)
    up_t = FakeTransport()
    up.connection_made(up_t)  # type: ignore[arg-type]
    pool._idle.append(up)  # idle, ready to be taken
    client = ClientConnection(server)
    client_t = FakeTransport()
    client.connection_made(client_t)  # type: ignore[arg-type]
    return client, client_t, up, up_t, finished


def rid(ex: Any) -> bytes:
    return str(ex.request_id).encode()


def test_request_head_and_body_reach_the_model_in_one_write() -> None:
    client, _, _, up_t, _ = make()
    body = b'{"instances": [[1, 2, 3]]}'
    head = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    client.data_received(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    ex = client.queue[0]
    assert up_t.writes == [
        head + b"Content-Length: %d\r\nx-request-id: %b\r\n\r\n" % (len(body), rid(ex)) + body
    ]


def test_body_split_across_reads_is_forwarded_byte_for_byte() -> None:
    client, _, _, up_t, _ = make()
    client.data_received(b"POST /p HTTP/1.1\r\nContent-Length: 6\r\nX-Request-ID: abc\r\n\r\nabc")
    client.data_received(b"def")
    assert (
        b"".join(up_t.writes) == b"POST /p HTTP/1.1\r\nContent-Length: 6\r\nX-Request-ID: abc\r\n\r\nabcdef"
    )
    assert len(up_t.writes) == 2  # one per read, not one per llhttp callback


def test_duplicate_headers_odd_casing_and_connection_tokens() -> None:
    client, client_t, up, up_t, finished = make()
    client.data_received(
        b"POST /p HTTP/1.1\r\nhOsT: x\r\nAccept: a\r\nACCEPT: b\r\nx-request-ID: r-1\r\n"
        b"Connection: keep-alive, X-Hop\r\nX-Hop: gone\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert up_t.writes == [
        b"POST /p HTTP/1.1\r\nhOsT: x\r\nAccept: a\r\nACCEPT: b\r\nx-request-ID: r-1\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    ]
    up.data_received(
        b"HTTP/1.1 201 Made\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nConnection: X-Resp\r\nX-Resp: 1\r\n"
        b"Content-Length: 2\r\n\r\nok"
    )
    assert client_t.writes == [
        b"HTTP/1.1 201 Made\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n"
        b"x-request-id: r-1\r\n\r\nok"
    ]
    assert finished[0].status == 201 and not client_t.closed


def test_chunked_request_is_rechunked_in_one_write() -> None:
    client, _, up, up_t, finished = make()
    client.data_received(
        b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Request-ID: c\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer-X: t\r\n\r\n"
    )
    assert up_t.writes == [
        b"POST /p HTTP/1.1\r\nX-Request-ID: c\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    ]
    up.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert finished and finished[0].req_bytes == 5


def test_connection_close_and_http10() -> None:
    client, client_t, up, up_t, _ = make()
    client.data_received(b"GET /a HTTP/1.1\r\nConnection: close\r\nX-Request-ID: q\r\n\r\n")
    assert up_t.writes == [b"GET /a HTTP/1.1\r\nX-Request-ID: q\r\n\r\n"]
    up.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert client_t.writes == [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nx-request-id: q\r\nconnection: close\r\n\r\nx"
    ]
    assert client_t.closed

    client, client_t, up, up_t, _ = make()
    client.data_received(b"GET /b HTTP/1.0\r\nX-Request-ID: z\r\n\r\n")
    assert up_t.writes == [b"GET /b HTTP/1.1\r\nX-Request-ID: z\r\n\r\n"]  # the model is spoken to in 1.1
    up.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
    # a 1.0 client cannot take chunked framing: read-until-close, then close
    assert b"".join(client_t.writes) == (b"HTTP/1.1 200 OK\r\nx-request-id: z\r\nconnection: close\r\n\r\nhi")
    assert client_t.closed


def test_pipelined_requests_in_one_read_are_served_in_order() -> None:
    client, client_t, up, up_t, finished = make()
    client.data_received(
        b"POST /1 HTTP/1.1\r\nX-Request-ID: one\r\nContent-Length: 1\r\n\r\na"
        b"POST /2 HTTP/1.1\r\nX-Request-ID: two\r\nContent-Length: 1\r\n\r\nb"
    )
    assert up_t.writes == [b"POST /1 HTTP/1.1\r\nX-Request-ID: one\r\nContent-Length: 1\r\n\r\na"]
    assert client_t.paused  # the second request waits for its turn
    up.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA")
    assert up_t.writes[1:] == [b"POST /2 HTTP/1.1\r\nX-Request-ID: two\r\nContent-Length: 1\r\n\r\nb"]
    up.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB")
    assert b"".join(client_t.writes) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nx-request-id: one\r\n\r\nA"
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nx-request-id: two\r\n\r\nB"
    )
    assert [ex.request_id for ex in finished] == ["one", "two"] and not client_t.paused


def test_generated_request_id_goes_to_model_and_client() -> None:
    client, client_t, up, up_t, _ = make()
    client.data_received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    ex = client.queue[0]
    assert len(ex.request_id) == 22
    assert up_t.writes == [b"GET / HTTP/1.1\r\nHost: h\r\nx-request-id: %b\r\n\r\n" % rid(ex)]
    up.data_received(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert client_t.writes == [b"HTTP/1.1 204 No Content\r\nx-request-id: %b\r\n\r\n" % rid(ex)]


def test_malformed_request_is_answered_then_closed() -> None:
    client, client_t, _, up_t, _ = make()
    client.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert client_t.closed and not up_t.writes
    assert client_t.writes[0].startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_iso_time_matches_strftime_across_seconds() -> None:
    def slow(ts: float) -> str:
        whole = int(ts)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1000):03d}Z"

    base = calendar.timegm((2026, 11, 23, 23, 59, 58, 0, 0, 0))
    for i in range(4000):  # crosses seconds, a minute, an hour and a day, back and forth
        ts = base + i * 0.00097
        assert iso_time(ts) == slow(ts)
        assert iso_time(ts - 3600.5) == slow(ts - 3600.5)
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"


def test_response_prediction_keys_keep_their_priority() -> None:
    preds, probs = codecs._predictions({"label": [1], "predictions": [0.2], "probas": [[0.3, 0.7]]})
    assert preds == [0.2] and probs == [[0.3, 0.7]]
    odd = {"predictions": None, "score": [1]}  # the first key present wins, even when null
    preds, probs = codecs._predictions(odd)
    assert preds == [odd] and probs is None
    preds, probs = codecs._predictions({"probability": [[0.1, 0.9]], "probabilities": [[0.6, 0.4]]})
    assert preds == [0] and probs == [[0.6, 0.4]]
