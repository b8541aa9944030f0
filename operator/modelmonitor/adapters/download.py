"""Downloading a reference profile from a URL: streamed, capped in bytes and in time, no redirects.

The messages never hold the URL (the caller adds its scheme://host[:port]).
"""

from __future__ import annotations

import requests

from modelmonitor.adapters import deadline, httplog

httplog.install()  # urllib3's DEBUG lines would show the reference URL's path and query

FETCH_DEADLINE = 120.0  # seconds for a whole reference download, however slowly it trickles
CHUNK = 64 * 1024
SESSION = deadline.session()  # no redirects; a deadline() cuts its connections


class FetchError(Exception):
    """A reference URL could not be downloaded; the message never holds the URL (only the caller
    adds its scheme://host[:port])."""


def fetch(url: str, *, timeout: float, max_bytes: int, seconds: float = FETCH_DEADLINE) -> str:
    """The text at ``url``, streamed: aborted past ``max_bytes`` (announced or not) or ``seconds`` in
    all; ``timeout`` seconds to connect and for each read. Redirects are not followed: the egress
    allowlist judged this URL, not wherever it points."""
    try:
        with (
            deadline.deadline(seconds),
            SESSION.get(url, timeout=timeout, stream=True, allow_redirects=False) as response,
        ):
            if response.is_redirect:  # (the session raises TooManyRedirects first)
                raise FetchError("answered with a redirect (not followed)")
            if response.status_code != 200:
                raise FetchError(f"answered HTTP {response.status_code}")
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise FetchError(
                    f"the reference is {int(announced)} bytes, over the limit of {max_bytes} (reference_max_bytes)"
                )
            chunks, size = [], 0
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(
                        f"the reference is over the limit of {max_bytes} bytes (reference_max_bytes): download stopped"
                    )
                chunks.append(chunk)
            encoding = response.encoding or "utf-8"
    except requests.RequestException as exc:
        raise FetchError(failure(exc, timeout, seconds)) from None
    try:
        return b"".join(chunks).decode(encoding if encoding.lower() != "iso-8859-1" else "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise FetchError(f"the reference is not text in {encoding}") from None


def failure(exc: requests.RequestException, timeout: float, seconds: float = FETCH_DEADLINE) -> str:
    """A fixed reason per kind of failure: the exception's own text carries the URL's path and query."""
    if isinstance(exc, deadline.DeadlineExceeded):
        return f"the download took over {seconds:g}s: stopped"
    if isinstance(exc, requests.TooManyRedirects):
        return "answered with a redirect (not followed)"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no data for {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused, reset or the host not found"
    return f"download failed ({type(exc).__name__})"
