"""HTTP/1.1 framing of one proxied exchange, as pure functions: heads rewritten for the next hop, chunks.

No I/O and no state: the exchange (``sidecar/exchange.py``) calls these and writes the bytes. Only what
HTTP/1.1 says is per-hop is rewritten: the ``Connection`` family of headers (and the headers
``Connection`` names, RFC 9110 7.6.1) and the transfer framing. ``X-Request-ID`` is added when the
sender gave none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from modelmonitor.sidecar.httpwire import HOP_BY_HOP

if TYPE_CHECKING:
    from collections.abc import Callable

LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def without_headers(out: list[bytes], names: set[bytes]) -> list[bytes]:
    """``out`` (a start line, then name, ": ", value, CRLF groups) without the headers in ``names``."""
    kept = out[:1] if out[0].startswith(b"HTTP/") else out[:4]
    start = len(kept)
    for i in range(start, len(out), 4):
        if out[i].lower() not in names:
            kept += out[i : i + 4]
    return kept


def is_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    """True when the headers frame the body as chunked."""
    return any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in headers)


class RequestHead(NamedTuple):
    head: bytes  # request line and headers as sent to the model, blank line included
    request_id: str
    chunked: bool  # the body comes (and goes on) chunked


def request_head(
    method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], new_request_id: Callable[[], str]
) -> RequestHead:
    """The head of a client's request as the model gets it; ``new_request_id`` runs only if none was sent."""
    out = [method, b" ", url, b" HTTP/1.1\r\n"]
    chunked = False
    rid = b""
    nominated: set[bytes] = set()
    for name, value in headers:  # one pass; a header named in Connection is removed afterwards
        lname = name.lower()
        if lname in HOP_BY_HOP:
            if lname == b"connection":
                # Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
                nominated.update(t.strip().lower() for t in value.split(b","))
            elif lname == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            continue
        if lname == b"x-request-id":
            rid = value
        out += (name, b": ", value, b"\r\n")
    if nominated - {b"keep-alive", b"close"}:
        out = without_headers(out, nominated)
    if rid:
        request_id = rid.decode("latin-1")[:200]
    else:
        request_id = new_request_id()
        out += (b"x-request-id: ", request_id.encode(), b"\r\n")
    if chunked:
        out.append(b"transfer-encoding: chunked\r\n")
    out.append(b"\r\n")
    return RequestHead(b"".join(out), request_id, chunked)


def interim_head(status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A 1xx response (100 Continue and friends), passed on as it came."""
    out = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
    out += [b"%b: %b\r\n" % h for h in headers]
    return b"".join(out) + b"\r\n"


class ResponseHead(NamedTuple):
    head: bytes  # status line and headers as the client gets them, blank line included
    length: bytes  # the Content-Length the model sent; b"" when it sent none
    no_body: bool  # a HEAD answer, 204 or 304
    chunked_out: bool  # the body goes to the client re-chunked
    eof_body: bool  # the model ends the body by closing its connection
    close_after: bool  # the client connection closes after this response


def response_head(
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    method: bytes,
    request_id: str,
    client_http11: bool,
    close_after: bool,
) -> ResponseHead:
    """The head of the model's final response as the client gets it, and how its body is framed."""
    out = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
    length = b""
    rid = False
    chunked_out = eof_body = False
    nominated: set[bytes] = set()
    for name, value in headers:
        lname = name.lower()
        if lname in HOP_BY_HOP:
            if lname == b"connection":
                nominated.update(t.strip().lower() for t in value.split(b","))
            continue
        if lname == b"content-length":
            length = value.strip()
        elif lname == b"x-request-id":
            rid = True
        out += (name, b": ", value, b"\r\n")
    if nominated - {b"keep-alive", b"close"}:
        out = without_headers(out, nominated)
    no_body = method == b"HEAD" or status in (204, 304)
    if not length and not no_body:
        eof_body = not is_chunked(headers)
        if client_http11:
            out.append(b"transfer-encoding: chunked\r\n")
            chunked_out = True
        else:
            close_after = True
    if not rid:
        out += (b"x-request-id: ", request_id.encode("latin-1"), b"\r\n")
    if close_after:
        out.append(b"connection: close\r\n")
    out.append(b"\r\n")
    return ResponseHead(b"".join(out), length, no_body, chunked_out, eof_body, close_after)
