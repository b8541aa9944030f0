"""The operator's sidecar client against sockets that misbehave: caps, deadline, token header.

Each test runs a small HTTP server on a free loopback port that answers ``/v1/window`` the way the
test needs (too large, dripping, compressed, silent) and records the headers it received.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelmonitor.adapters import sidecars

pytestmark = pytest.mark.integration

PAGE = {"cursor": 1, "more": False, "rows": {"id": ["r1"], "ts": [1.0], "features": {"x": [3]}}}
Answer = Callable[[BaseHTTPRequestHandler], None]


class Server:
    def __init__(self, answer: Answer) -> None:
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                answer(self)

            def log_message(self, *args: Any) -> None: ...

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    started: list[Server] = []

    def make(answer: Answer) -> Server:
        started.append(Server(answer))
        return started[-1]

    yield make
    for s in started:
        s.close()


def send(h: BaseHTTPRequestHandler, body: bytes, *, length: bool = True, encoding: str = "") -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    if encoding:
        h.send_header("Content-Encoding", encoding)
    if length:
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    else:
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(body), 500):
            part = body[i : i + 500]
            h.wfile.write(b"%x\r\n%b\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")


def read(url: str, token: str | None = None, timeout: float = 5.0) -> sidecars.Window:
    return sidecars.read_window({"pod-a": url}, timeout=timeout, max_rows=100, token=token)


def test_token_is_sent_as_bearer_only_when_given(serve: Callable[[Answer], Server]) -> None:
    server = serve(lambda h: send(h, json.dumps(PAGE).encode()))
    win = read(server.url, token="tok-123")
    assert win.pods_read == ["pod-a"] and list(win.frame["x"]) == [3]
    assert server.headers[-1]["authorization"] == "Bearer tok-123"
    assert server.headers[-1]["accept-encoding"] == "identity"
    read(server.url)
    assert "authorization" not in server.headers[-1]


def test_refused_token_is_reported_without_the_token(serve: Callable[[Answer], Server]) -> None:
    def refuse(h: BaseHTTPRequestHandler) -> None:
        body = b'{"error": "the bearer token was refused"}'
        h.send_response(403)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    server = serve(refuse)
    win = read(server.url, token="tok-never-printed")
    message = win.pods_failed["pod-a"]
    assert "refused the admin token (HTTP 403)" in message and "tok-never-printed" not in message


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_page_larger_than_the_cap_is_refused(
    serve: Callable[[Answer], Server], monkeypatch: pytest.MonkeyPatch, length: bool
) -> None:
    monkeypatch.setattr(sidecars, "MAX_PAGE_BYTES", 4000)
    big = json.dumps({**PAGE, "pad": "x" * 10_000}).encode()
    server = serve(lambda h: send(h, big, length=length))
    win = read(server.url)
    assert win.pods_read == [] and "exceeds 4000 bytes" in win.pods_failed["pod-a"]
    small = serve(lambda h: send(h, json.dumps(PAGE).encode(), length=length))
    assert read(small.url).pods_read == ["pod-a"]


def test_a_page_only_the_standard_json_reader_takes_is_read_and_bad_json_is_a_failed_pod(
    serve: Callable[[Answer], Server],
) -> None:
    # NaN literals (a sidecar without orjson writes them) and integers past 64 bits
    odd = b'{"cursor": 1, "more": false, "rows": {"id": ["r1"], "ts": [1.0], "features": {"x": [NaN], "n": [123456789012345678901234567890]}}}'
    win = read(serve(lambda h: send(h, odd)).url)
    assert win.pods_read == ["pod-a"] and win.frame["x"].isna().all()
    assert list(win.frame["n"]) == [123456789012345678901234567890]
    broken = read(serve(lambda h: send(h, b'{"cursor": 1, "rows": ')).url)
    assert broken.pods_read == [] and "JSONDecodeError" in broken.pods_failed["pod-a"]


def test_compressed_page_is_refused(serve: Callable[[Answer], Server]) -> None:
    server = serve(lambda h: send(h, gzip.compress(json.dumps(PAGE).encode()), encoding="gzip"))
    assert "'gzip'-encoded" in read(server.url).pods_failed["pod-a"]


def test_dripping_or_silent_sidecar_meets_the_timeout(serve: Callable[[Answer], Server]) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(200):  # one byte every 50 ms: each receive is in time, the whole is not
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            return  # the client gave up, as it should

    assert "took longer than 0.5 s" in read(serve(drip).url, timeout=0.5).pods_failed["pod-a"]

    def silent(h: BaseHTTPRequestHandler) -> None:
        time.sleep(3)

    message = read(serve(silent).url, timeout=0.3).pods_failed["pod-a"]
    assert "Timeout" in message
