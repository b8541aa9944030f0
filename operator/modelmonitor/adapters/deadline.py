"""A deadline for a whole HTTP exchange, not only for each read.

The HTTP client's timeouts bound the connect and each single read, so a server that answers one
byte every few seconds holds the calling thread for as long as it likes. The operator talks to URLs
a monitor names (webhooks, Prometheus, reference profiles), so such a server could hold every worker
thread. Within ``deadline(seconds)``, a request made through a session from ``session()`` has its
socket shut down when the time is up: the blocked read returns at once and the request fails with
DeadlineExceeded (a requests.Timeout) instead.

One watchdog thread serves every deadline of the process (a heap of due times), so a deadline costs a
heap push, not a thread: the operator opens one around each Prometheus query and webhook post, a
thousand monitors' worth a minute.

Requests through an HTTP proxy (HTTPS_PROXY) go through the proxy's pool and get only the
per-read timeouts.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection


class DeadlineExceeded(requests.Timeout):
    """The whole exchange took longer than its deadline."""


class _Watch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.fired = False
        self.done = False  # the block ended: the watchdog drops it unfired

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _cut(sock)
            else:
                self._socks.append(sock)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._socks.clear()

    def fire(self) -> None:
        with self._lock:
            if self.done:  # the block ended first: its connections may already serve another request
                return
            self.fired = True
            for sock in self._socks:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()


def _attach(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(sock)


class _Watched:
    """Tells the thread's deadline about the connection's socket, new or reused from the pool."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Adapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose connections a ``deadline()`` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session(pool: int = 10) -> requests.Session:
    """A session whose http and https requests a ``deadline()`` bounds; no retries, no redirects."""
    s = requests.Session()
    s.max_redirects = 0
    for prefix in ("http://", "https://"):
        s.mount(prefix, Adapter(pool_maxsize=pool, max_retries=0))
    return s


class _Watchdog:
    """One daemon thread firing the watches whose time is up, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()  # ties: no comparison of watches
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float) -> _Watch:
        watch = _Watch()
        due = time.monotonic() + seconds
        with self._cond:
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (due, next(self._order), watch))
            if self._due[0][2] is watch:  # now the earliest: the watchdog waits for it instead
                self._cond.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)
                if not self._due:
                    self._cond.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, watch = heapq.heappop(self._due)
            watch.fire()  # outside the lock: shutting sockets down must not hold up new deadlines


_watchdog = _Watchdog()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within the block, this thread's requests through ``session()`` end after ``seconds`` in all:
    raises DeadlineExceeded when the time ran out (whatever the request raised then)."""
    watch = _watchdog.watch(seconds)
    _current.watch = watch
    try:
        yield
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError):
        if watch.fired:
            # Not chained: the cut request's own error text holds the URL's path and query.
            raise DeadlineExceeded(f"no complete answer within {seconds:g}s") from None
        raise
    finally:
        watch.finish()
        _current.watch = None
    if watch.fired:  # cut while reading a body of no announced length: what was read may be short
        raise DeadlineExceeded(f"no complete answer within {seconds:g}s")
