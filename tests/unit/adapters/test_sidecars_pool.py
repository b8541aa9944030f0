"""The sidecar client's shared connection pool against a real loopback server (port 0) that counts
the connections it accepts: successive reads of one sidecar go over one kept-alive connection, and a
read that fails half-way (a page over the cap, a body dripping past the deadline, an error status)
closes its connection, so the next read gets a clean one and its own answer."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelmonitor.adapters import sidecars

Answer = Callable[[BaseHTTPRequestHandler, int], None]  # (handler, index of the request on its server)


def page(ids: list[str], *, more: bool = False, cursor: int = 1) -> bytes:
    rows = {"id": ids, "ts": [1.0] * len(ids), "features": {"x": list(range(len(ids)))}}
    return json.dumps({"cursor": cursor, "more": more, "rows": rows}).encode()


def send(
    h: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class Counting:
    """Answers each GET with ``answer(handler, n)``; counts accepted connections and records paths."""

    def __init__(self, answer: Answer) -> None:
        self.connections = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                with outer._lock:
                    outer.connections += 1
                super().setup()

            def do_GET(self) -> None:
                with outer._lock:
                    outer.paths.append(self.path)
                    n = len(outer.paths) - 1
                answer(self, n)

            def log_message(self, *args: Any) -> None: ...

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Counting]]:
    started: list[Counting] = []

    def make(answer: Answer) -> Counting:
        started.append(Counting(answer))
        return started[-1]

    yield make
    for server in started:
        server.close()


def read(url: str, timeout: float = 5.0) -> sidecars.Window:
    return sidecars.read_window({"pod-a": url}, timeout=timeout, max_rows=100)


def test_successive_reads_and_pages_of_one_sidecar_reuse_one_connection(
    serve: Callable[[Answer], Counting], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(lambda h, n: send(h, page([f"r{n}"])))
    first, second = read(server.url), read(server.url)
    assert list(first.frame["__id"]) == ["r0"] and list(second.frame["__id"]) == ["r1"]
    assert server.connections == 1
    assert server.paths == ["/v1/window?since=0&limit=10000"] * 2

    monkeypatch.setattr(sidecars, "PAGE", 1)  # two pages, then a third read: still the one connection
    paged = serve(lambda h, n: send(h, page([f"p{n}"], more=n == 0, cursor=n + 1)))
    assert list(read(paged.url).frame["__id"]) == ["p0", "p1"]
    assert list(read(paged.url).frame["__id"]) == ["p2"]
    assert paged.paths == [
        "/v1/window?since=0&limit=1",
        "/v1/window?since=1&limit=1",
        "/v1/window?since=0&limit=1",
    ]
    assert paged.connections == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_page_over_the_cap_fails_and_the_next_read_gets_a_clean_connection(
    serve: Callable[[Answer], Counting], monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    monkeypatch.setattr(sidecars, "MAX_PAGE_BYTES", 4000)
    big = page([f"r{i}" for i in range(2000)])

    def answer(h: BaseHTTPRequestHandler, n: int) -> None:
        if n > 0:
            return send(h, page(["small"]))
        h.send_response(200)
        if not chunked:  # declared over the cap: refused before a byte of the body is read
            h.send_header("Content-Length", str(len(big)))
            h.end_headers()
            with contextlib.suppress(OSError):
                h.wfile.write(big)
            return
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for i in range(0, len(big), 1000):
                h.wfile.write(b"%x\r\n%b\r\n" % (len(big[i : i + 1000]), big[i : i + 1000]))
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the client stopped reading at the cap

    server = serve(answer)
    failed = read(server.url)
    assert failed.pods_read == [] and "exceeds 4000 bytes" in failed.pods_failed["pod-a"]
    after = read(server.url)
    assert after.pods_read == ["pod-a"] and list(after.frame["__id"]) == ["small"]
    assert server.connections == 2  # the failed read's connection was closed, not handed on
    assert read(server.url).pods_read == ["pod-a"] and server.connections == 2


def test_a_body_dripping_past_the_deadline_fails_and_does_not_poison_the_next_read(
    serve: Callable[[Answer], Counting],
) -> None:
    def answer(h: BaseHTTPRequestHandler, n: int) -> None:
        if n > 0:
            return send(h, page(["after"]))
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(400):  # one byte every 20 ms: each receive in time, the whole not
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.02)
        except OSError:
            return  # the client gave up and closed the connection

    server = serve(answer)
    failed = read(server.url, timeout=0.3)
    assert "took longer than 0.3 s" in failed.pods_failed["pod-a"]
    after = read(server.url, timeout=5.0)  # a reused dripping connection would answer spaces here
    assert after.pods_read == ["pod-a"] and list(after.frame["__id"]) == ["after"]
    assert server.connections == 2


def test_an_error_status_names_the_url_and_status_and_a_redirect_is_not_followed(
    serve: Callable[[Answer], Counting],
) -> None:
    def answer(h: BaseHTTPRequestHandler, n: int) -> None:
        if n == 0:
            return send(h, b"oops", status=500)
        if n == 1:
            return send(h, b"", status=302, headers={"Location": "/elsewhere"})
        send(h, page(["ok"]))

    server = serve(answer)
    failed = read(server.url).pods_failed["pod-a"]
    assert failed == f"{server.url}: GET /v1/window answered HTTP 500 Internal Server Error"
    moved = read(server.url).pods_failed["pod-a"]
    assert moved == f"{server.url}: GET /v1/window answered HTTP 302 Found"
    assert read(server.url).pods_read == ["pod-a"]
    assert all(p.startswith("/v1/window?") for p in server.paths)  # /elsewhere never asked for


def test_a_kept_alive_connection_the_sidecar_closed_is_replaced_within_the_read(
    serve: Callable[[Answer], Counting],
) -> None:
    def answer(h: BaseHTTPRequestHandler, n: int) -> None:
        if n == 1:  # the second request, on the kept connection: closed unanswered (a restart)
            h.close_connection = True
            return
        send(h, page([f"r{n}"]))

    server = serve(answer)
    assert read(server.url).pods_read == ["pod-a"]
    again = read(server.url)
    assert again.pods_failed == {} and list(again.frame["__id"]) == ["r2"]
    assert server.connections == 2 and len(server.paths) == 3


def test_reads_from_many_threads_share_the_pool(serve: Callable[[Answer], Counting]) -> None:
    server = serve(lambda h, n: send(h, page([f"r{n}"])))
    results: list[sidecars.Window] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            win = read(server.url)
            with lock:
                results.append(win)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and all(w.pods_read == ["pod-a"] for w in results)
    assert sorted(str(w.frame["__id"][0]) for w in results) == sorted(f"r{n}" for n in range(40))
    assert server.connections <= 8  # at most one connection a thread, each kept for its next read
