"""The admin API's HTTP server: routes, methods, body limit, 100-continue, keep-alive in order."""

from __future__ import annotations

import asyncio

from modelmonitor.sidecar.adminhttp import Request, Response, start_server


def handler(request: Request) -> Response:
    if request.path != "/echo":
        return Response(404, b"no")
    if request.method not in ("POST", "GET", "HEAD"):
        return Response(405, b"", headers={"Allow": "GET,HEAD,POST"})
    return Response(200, f"{request.method} {request.query} {len(request.body)}".encode(), "text/plain")


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await reader.read()
    writer.close()
    return answer


async def test_requests_are_answered_in_order_and_oversized_bodies_refused() -> None:
    server = await start_server(handler, "127.0.0.1", 0, 16, lambda: Response(413, b'{"error":"big"}'))
    port = server.sockets[0].getsockname()[1]
    try:
        pipelined = (
            b"GET /echo?since=3&limit=9 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
            b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = await exchange(port, pipelined)
        parts = answer.split(b"HTTP/1.1 ")[1:]
        assert [p.split(b" ", 1)[0] for p in parts] == [b"200", b"100", b"200", b"200", b"404"]
        assert parts[0].endswith(b"GET {'since': '3', 'limit': '9'} 0") and parts[2].endswith(b"POST {} 5")
        assert parts[3].endswith(b"\r\n\r\n")  # HEAD: the head alone (Content-Length of the GET answer)
        assert b"Connection: close" in parts[4]
        big = await exchange(
            port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + b"x" * 17
        )
        assert big.startswith(b"HTTP/1.1 413 ") and big.endswith(b'{"error":"big"}')
        chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + b"y" * 17
        assert (await exchange(port, chunked + b"\r\n0\r\n\r\n")).startswith(b"HTTP/1.1 413 ")
        assert (await exchange(port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    finally:
        server.close()
