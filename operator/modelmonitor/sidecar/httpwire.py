"""HTTP/1.1 wire details shared by the proxy: per-hop headers and the sidecar's own error answers."""

from __future__ import annotations

from modelmonitor.sidecar import jsonfast

HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    )
)
_REASONS = {400: "Bad Request", 431: "Request Header Fields Too Large", 501: "Not Implemented"}
_REASONS.update({502: "Bad Gateway", 504: "Gateway Timeout"})


def error_response(status: int, code: str, message: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON body, produced by the sidecar itself."""
    body = jsonfast.dumps({"error": code, "message": message, "request_id": request_id, "source": "sidecar"})
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-modelmonitor-error: {code}\r\n"
    )
    if request_id:
        head += f"x-request-id: {request_id}\r\n"
    return (head + "connection: close\r\n\r\n").encode("latin-1") + body
