"""Sending alerts to webhooks: retried with backoff, deduplicated, never blocking for long."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import requests

ATTEMPTS = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
TIMEOUT = 5.0
DEDUP_SECONDS = 600.0


class WebhookError(Exception):
    """The webhook did not accept the alert after every attempt; the message says why."""


class Sender:
    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._session = requests.Session()
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
        """POST JSON; retried on connection errors and 5xx/429, up to ATTEMPTS times with backoff."""
        delay, last = BACKOFF, ""
        for attempt in range(ATTEMPTS):
            try:
                response = self._session.post(url, json=body, timeout=TIMEOUT)
                if response.status_code < 300:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses this alert: retrying will not help
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {str(exc)[:200]}"
            if attempt < ATTEMPTS - 1:
                self._sleep(delay)
                delay *= 2
        raise WebhookError(f"{url.split('?')[0]}: {last}")


SENDER = Sender()
