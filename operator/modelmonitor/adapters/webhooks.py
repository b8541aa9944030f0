"""Sending alerts to webhooks: retried with backoff, deduplicated, never blocking for long.

A webhook URL is a secret (Slack keeps its token in the path, others in the query or userinfo), so
nothing here puts it in a message: a WebhookError shows ``scheme://host[:port]`` and a fixed reason
per failure kind, never the HTTP client's own text (requests writes the path and query into it).
Redirects are not followed: the egress allowlist judged this URL, not wherever it points.

The retries are a loop here rather than a ``urllib3.Retry`` on the session's adapter: urllib3 retries
inside one ``session.post``, so one ``deadline()`` would span every attempt and its backoff instead of
each attempt; it sleeps with ``time.sleep`` (tests could not pass a sleep that does not wait) and
honours a Retry-After of any length (a receiver could hold a worker thread for as long as it says); and
requests turns a read timeout that used up urllib3's retries into a ConnectionError, so the failure
would read "connection refused" instead of "no answer within".
"""

from __future__ import annotations

import datetime
import email.utils
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import requests

from modelmonitor.adapters import deadline, httplog
from modelmonitor.policy.egress import scrub, shown

httplog.install()  # urllib3's DEBUG lines would show the URL's path and query

ATTEMPTS = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
RETRY_AFTER_MAX = 10.0  # seconds: the longest wait a 429/503's Retry-After gets (it holds a worker thread)
CONNECT_TIMEOUT = 3.0  # seconds to open the connection (TLS included)
READ_TIMEOUT = 5.0  # seconds without a byte of the answer
TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
ANSWER_DEADLINE = 10.0  # seconds for one attempt in all, however slowly the receiver trickles
MAX_ANSWER_BYTES = 4096  # of a refusal's body, read for the message (at most 200 characters are shown)
DEDUP_SECONDS = 600.0


class WebhookError(Exception):
    """The webhook did not accept the alert after every attempt; the message says why."""


def failure(exc: requests.RequestException) -> str:
    """What went wrong, from the exception's class only (its text carries the URL's path and query)."""
    if isinstance(exc, deadline.DeadlineExceeded):
        return f"no complete answer within {ANSWER_DEADLINE:g}s"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {READ_TIMEOUT:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the HTTP proxy refused or failed the connection"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused, reset or the host not found"
    if isinstance(exc, requests.TooManyRedirects):
        return "answered with a redirect (not followed)"
    return f"request failed ({type(exc).__name__})"


class Sender:
    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._session = deadline.session()
        self._sent: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._lock = threading.Lock()
        self._sleep = sleep

    def duplicate(self, key: tuple[Any, ...], now: float) -> bool:
        """True when the same alert went to the same URL within DEDUP_SECONDS; remembers it otherwise."""
        with self._lock:
            for old, when in list(self._sent.items()):
                if now - when > DEDUP_SECONDS:
                    del self._sent[old]
            if key in self._sent:
                return True
            self._sent[key] = now
            while len(self._sent) > 10_000:
                self._sent.popitem(last=False)
            return False

    def post(self, url: str, body: Any) -> None:
        """POST JSON; retried on connection errors and 5xx/429, up to ATTEMPTS times with backoff.

        Each attempt waits at most CONNECT_TIMEOUT to connect, READ_TIMEOUT for each read and
        ANSWER_DEADLINE in all. After a 429 or 503, the wait before the next attempt is the
        receiver's Retry-After when longer than the backoff, up to RETRY_AFTER_MAX seconds.
        """
        delay, last = BACKOFF, ""
        for attempt in range(ATTEMPTS):
            asked: float | None = None  # the receiver's Retry-After, in seconds
            try:
                with (
                    deadline.deadline(ANSWER_DEADLINE),
                    self._session.post(
                        url, json=body, timeout=TIMEOUT, allow_redirects=False, stream=True
                    ) as response,
                ):
                    if response.status_code < 300:
                        return
                    if response.is_redirect:
                        last = f"HTTP {response.status_code}: answered with a redirect (not followed)"
                        break
                    last = f"HTTP {response.status_code}{_answer(response, url)}"
                    if response.status_code < 500 and response.status_code != 429:
                        break  # the receiver refuses this alert: retrying will not help
                    if response.status_code in (429, 503):
                        asked = retry_after(response.headers.get("Retry-After", ""), time.time())
            except requests.RequestException as exc:
                last = failure(exc)
            if attempt < ATTEMPTS - 1:
                self._sleep(delay if asked is None else max(delay, min(asked, RETRY_AFTER_MAX)))
                delay *= 2
        raise WebhookError(f"{shown(url)}: {last}")


def retry_after(value: str, now: float) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP-date; ``now`` in unix
    seconds), or None when it is absent or unreadable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT; parsedate answers naive for "-0000"
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


def _answer(response: requests.Response, url: str) -> str:
    """The start of a refusal's body, for the message; anything of the URL in it is scrubbed."""
    try:
        raw = response.raw.read(MAX_ANSWER_BYTES, decode_content=True) or b""
    except Exception:  # the body is a courtesy: a broken one must not hide the status
        return ""
    # Scrubbed before it is cut: a cut could leave the start of a secret that scrub no longer knows.
    text = scrub(" ".join(raw.decode("utf-8", "replace").split()), url)[:200]
    return f": {text}" if text else ""


SENDER = Sender()
