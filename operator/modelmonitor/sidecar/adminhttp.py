"""A small HTTP/1.1 server for the admin API, on asyncio protocols and llhttp (``httptools``).

The admin API has four routes, small bodies and one client at a time (the operator, Prometheus, a
readiness probe); a web framework would cost the sidecar ~12 MiB of memory for it (aiohttp with its
client, cookies and TLS modules). This server parses requests with the same parser as the proxy,
hands each complete request to a synchronous handler and writes its answer; keep-alive and
pipelining are served in order, ``Expect: 100-continue`` is answered, and a body larger than the
limit is answered 413 and the connection closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl

import httptools

MAX_HEAD_BYTES = 64 * 1024


@dataclass(slots=True)
class Request:
    """One admin request; header names are lower-case (a repeated header keeps its last value)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool, head_only: bool = False) -> bytes:
        reason = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else ""
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


Handler = Callable[[Request], Response]


def text_response(status: int) -> Response:
    """A plain-text answer naming the status, e.g. ``404: Not Found``."""
    return Response(status, f"{status}: {HTTPStatus(status).phrase}".encode(), "text/plain; charset=utf-8")


class _TooLarge(ValueError):
    """Raised inside a parser callback; llhttp reports it as a callback error whose context it is."""


class AdminConnection(asyncio.Protocol):
    """One admin client connection; ``handler`` answers each complete request, ``too_large`` a body
    above ``max_body`` bytes."""

    def __init__(self, handler: Handler, max_body: int, too_large: Callable[[], Response]) -> None:
        self.handler = handler
        self.max_body = max_body
        self.too_large = too_large
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._head = 0
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(text_response(501))
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _TooLarge):
                self._refuse(self.too_large())
            else:
                self._refuse(text_response(431 if self._head > MAX_HEAD_BYTES else 400))

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size, self._head = b"", {}, [], 0, 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._grow(len(name) + len(value) + 4)

    def _grow(self, n: int) -> None:
        self._head += n
        if self._head > MAX_HEAD_BYTES:
            raise ValueError("head too large")

    def on_headers_complete(self) -> None:
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise _TooLarge
        if self._headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            raise _TooLarge
        self._body.append(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self._url)
        path = url.path.decode("latin-1") if url.path else "/"
        query = dict(parse_qsl(url.query.decode("latin-1"))) if url.query else {}
        method = self.parser.get_method().decode("latin-1")
        request = Request(method, path, query, self._headers, b"".join(self._body))
        try:
            response = self.handler(request)
        except Exception:  # a bug in a handler answers 500 and keeps the sidecar serving
            response = text_response(500)
        keep_alive = self.parser.should_keep_alive()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response.encode(keep_alive, head_only=method == "HEAD"))
            if not keep_alive:
                self.transport.close()

    def _refuse(self, response: Response) -> None:
        self._refused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response.encode(keep_alive=False))
            self.transport.close()


async def start_server(
    handler: Handler, host: str, port: int, max_body: int, too_large: Callable[[], Response]
) -> asyncio.AbstractServer:
    """Serve ``handler`` on ``host:port`` until the returned server is closed."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: AdminConnection(handler, max_body, too_large), host, port, reuse_address=True
    )
