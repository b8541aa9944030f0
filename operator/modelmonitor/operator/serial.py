"""One monitor at a time: its evaluation and its cleanup never overlap, and nothing runs after cleanup.

Without this, a delete could race an evaluation in flight: the cleanup restores the Service, then
the evaluation (which read the objects before) routes it through the sidecar again. Both run in
worker threads; a lock per monitor uid orders them, and a retired uid refuses later evaluations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_retired: set[str] = set()


class Retired(Exception):
    """The monitor was cleaned up: the evaluation must not run."""


def _lock(uid: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(uid, threading.Lock())


def run(uid: str, fn: Callable[..., T], *args: Any) -> T:
    """Run an evaluation of monitor ``uid``, after any other of its work; refuse once it is retired."""
    with _lock(uid):
        if uid in _retired:
            raise Retired(uid)
        return fn(*args)


def retire(uid: str, fn: Callable[..., T], *args: Any) -> T:
    """Run the cleanup of monitor ``uid`` after any evaluation in flight; later evaluations are refused."""
    with _lock(uid):
        _retired.add(uid)
        return fn(*args)
