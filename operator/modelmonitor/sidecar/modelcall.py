"""One HTTP/1.1 request from the sidecar straight to the model, off the proxy (for explanations).

It opens a connection of its own to the model's address (``--upstream``), sends one request with
``Connection: close`` and reads one response with llhttp (``httptools``, which the proxy already
loads). Nothing here touches the proxy's pool, its exchanges or capture: these calls are not
traffic and appear in no window, request counter or audit request line.
"""

from __future__ import annotations

import asyncio
import contextlib

import httptools

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ModelCallError(Exception):
    """The model could not be reached or its answer could not be read; ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Response:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.limit:
            raise ValueError("response too large")
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


async def post(
    host: str,
    port: int,
    path: str,
    body: bytes,
    timeout: float,
    limit: int = MAX_RESPONSE_BYTES,
) -> tuple[int, bytes]:
    """POST ``body`` (JSON) to ``path`` on the model; returns (status, response body)."""
    try:
        return await asyncio.wait_for(_post(host, port, path, body, limit), timeout)
    except TimeoutError:
        raise ModelCallError("model_timeout", f"the model did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise ModelCallError("model_unavailable", f"cannot reach the model: {exc.strerror or exc}") from None


async def _post(host: str, port: int, path: str, body: bytes, limit: int) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
            "User-Agent: modelmonitor-sidecar-explain\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        response = _Response(limit)
        parser = httptools.HttpResponseParser(response)
        while not response.complete:
            data = await reader.read(65536)
            if not data:
                break
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                raise ModelCallError(
                    "model_answer", "the model's answer is not valid HTTP (or too large)"
                ) from None
        if not response.complete:
            raise ModelCallError(
                "model_answer", "the model closed the connection before the end of its answer"
            )
        return parser.get_status_code(), b"".join(response.parts)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
