"""A model that drops kept-alive connections: the real sidecar never delivers a POST twice.

The model here is a plain socket server that counts every request it receives whole. It answers the
first request of each connection (keep-alive) and closes the connection, without answering, when a
second request arrives on it: what a model does whose idle timeout fires as the proxy reuses the
connection, in the case a proxy cannot tell apart from the harmless one (the model read the request,
and may have acted on it).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.processes import wait_until
from tests.helpers.sidecar import Sidecar, request

pytestmark = pytest.mark.integration


class DroppingModel:
    """Answers the first request per connection, reads the second one whole, then closes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: Counter[str] = Counter()  # "METHOD body" -> times received
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[str, bytes] | None:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = conn.recv(65536)
            if not data:
                return None
            rest += data
        key = f"{lines[0].split(' ')[0]} {rest[:length].decode()}"
        with self._lock:
            self.received[key] += 1
        return key, rest[length:]

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            first = self._read_request(conn, b"")
            if first is None:
                return
            body = json.dumps({"prediction": 1}).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                % (len(body), body)
            )
            self._read_request(conn, first[1])  # received (and maybe acted on), never answered
            conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def dropping_model() -> Iterator[DroppingModel]:
    m = DroppingModel()
    yield m
    m.close()


def test_post_is_not_delivered_twice_get_is_retried(dropping_model: DroppingModel, make_sidecar: Any) -> None:
    side: Sidecar = make_sidecar(dropping_model.url)
    assert request(side.port, "POST", "/predict", b'{"n": 1}')[0] == 200  # opens connection A, kept alive
    wait_until(lambda: side.admin_get("/healthz")["upstream_idle"] == 1)
    # reuses A; the model reads the POST and closes A without answering
    status, headers, body = request(side.port, "POST", "/predict", b'{"n": 2}')
    assert status == 502 and headers["x-modelmonitor-error"] == "upstream_reset"
    assert "not sent twice" in json.loads(body)["message"]
    assert dropping_model.received['POST {"n": 2}'] == 1  # delivered once, not replayed
    assert dropping_model.connections == 1

    assert request(side.port, "GET", "/v1/models/m", None)[0] == 200  # fresh connection B
    wait_until(lambda: side.admin_get("/healthz")["upstream_idle"] == 1)
    # reuses B; the model closes it; a GET may be sent again, on connection C, and is answered there
    assert request(side.port, "GET", "/v1/models/other", None)[0] == 200
    assert dropping_model.received["GET "] == 3 and dropping_model.connections == 3

    assert side.metric("modelmonitor_sidecar_upstream_stale_total", outcome="not_retried") == 1
    assert side.metric("modelmonitor_sidecar_upstream_stale_total", outcome="retried") == 1
    assert side.metric("modelmonitor_sidecar_errors_total", code="502", source="sidecar") == 1
    lines = side.wait_lines(4)
    assert [line["status"] for line in lines] == [200, 502, 200, 200]
    assert lines[1]["error"] == "upstream_reset"
