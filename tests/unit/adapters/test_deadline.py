"""The HTTP deadline's watchdog: one thread for every deadline, the earliest cut first, and a block
that ended never cut afterwards (its connection is back in the pool, serving someone else)."""

from __future__ import annotations

import socket
import threading

import pytest

from modelmonitor.adapters import deadline
from tests.unit.adapters.servers import Drip


def _watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "http-deadlines"]


def _cut(sock: socket.socket, within: float = 5.0) -> bool:
    """True when the peer's socket was shut down (reads give EOF) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_many_deadlines_share_one_thread() -> None:
    for _ in range(300):
        with deadline.deadline(30):
            pass
    assert len(_watchdogs()) == 1


def test_a_shorter_deadline_set_after_a_longer_one_is_cut_first_and_the_longer_not_at_all() -> None:
    long_a, long_b = socket.socketpair()
    short_a, short_b = socket.socketpair()
    with long_a, long_b, short_a, short_b:
        slow = deadline._watchdog.watch(60)
        slow.attach(long_a)
        quick = deadline._watchdog.watch(0.1)
        quick.attach(short_a)
        assert _cut(short_b)
        assert quick.fired and not slow.fired
        assert not _cut(long_b, within=0.2)
        slow.finish()


def test_a_block_that_ended_is_never_cut_afterwards() -> None:
    a, b = socket.socketpair()
    with a, b:
        watch = deadline._watchdog.watch(0.05)
        watch.attach(a)
        watch.finish()
        assert not _cut(b, within=0.5)  # ten times its time: the watchdog has dropped it
        assert not watch.fired


def test_a_trickling_server_is_still_cut_through_a_session() -> None:
    drip = Drip("body", total=200)
    try:
        with (
            pytest.raises(deadline.DeadlineExceeded, match=r"no complete answer within 0\.3s"),
            deadline.deadline(0.3),
        ):
            deadline.session().get(drip.url, timeout=5)
    finally:
        drip.close()
