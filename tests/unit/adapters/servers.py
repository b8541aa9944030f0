"""Small real HTTP servers on 127.0.0.1 (port 0) for the adapters' tests: a server that fails and
echoes what it was sent (the worst case for a leak), one that answers a body of a given size, one that
redirects; and a port nothing listens on."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from typing import Any


def closed_port() -> int:
    """A port that was free a moment ago and that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Server:
    """Answers every GET and POST with ``status``; the body echoes the request line, the headers and
    the request body (as a careless proxy or receiver would), or is ``size`` bytes of JSON-ish
    filler (``chunked``: without Content-Length), or ``body``; ``location`` makes it a redirect;
    ``headers`` are sent with every answer."""

    def __init__(
        self, status: int = 500, *, size: int | None = None, chunked: bool = False, location: str = "",
        body: bytes | None = None, headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.status, self.size, self.chunked, self.location = status, size, chunked, location
        self.body, self.headers = body, dict(headers or {})
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers.items())))
                self.send_response(fake.status)
                if fake.location:
                    self.send_header("Location", fake.location)
                for key, value in fake.headers.items():
                    self.send_header(key, value)
                if fake.body is not None:
                    self.send_header("Content-Length", str(len(fake.body)))
                    self.end_headers()
                    self.wfile.write(fake.body)
                    return
                if fake.size is None:
                    body = f"{self.command} {self.path} {dict(self.headers.items())} {sent!r}".encode()
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if fake.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    left = fake.size
                    try:
                        while left > 0:
                            part = min(left, 65536)
                            self.wfile.write(f"{part:x}\r\n".encode() + b"x" * part + b"\r\n")
                            left -= part
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading: what a cap does
                    return
                self.send_header("Content-Length", str(fake.size))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b"x" * fake.size)

            do_GET = do_POST = answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Silent:
    """A port that accepts connections (the kernel completes them) and never answers a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._sock.close()


class Drip:
    """Answers ``status`` one byte at a time, ``interval`` seconds apart, for ``total`` bytes: in the header
    (``where="head"``: a long header line) or in the body (``where="body"``, Content-Length announced).
    Each byte comes well within any read timeout; only a deadline on the whole exchange ends it early."""

    def __init__(
        self, where: str = "head", total: int = 60, interval: float = 0.05, status: int = 200
    ) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self.where, self.total, self.interval, self.status = where, total, interval, status
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            if self.where == "head":
                conn.sendall(f"HTTP/1.1 {self.status} Answer\r\nX-Pad: ".encode())
                slow, rest = b"a" * self.total, b"\r\nContent-Length: 2\r\n\r\n{}"
            else:
                conn.sendall(
                    f"HTTP/1.1 {self.status} Answer\r\nContent-Length: {self.total}\r\n\r\n".encode()
                )
                slow, rest = b" " * self.total, b""
            for byte in slow:
                if self._stop.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))
            conn.sendall(rest)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
