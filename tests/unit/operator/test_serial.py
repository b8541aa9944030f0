"""A monitor's evaluation and cleanup never overlap; nothing evaluates after the cleanup."""

from __future__ import annotations

import threading
import time

import pytest

from modelmonitor.operator import serial


def test_cleanup_waits_for_the_evaluation_in_flight_and_later_evaluations_are_refused() -> None:
    order: list[str] = []
    inside = threading.Event()

    def evaluate() -> str:
        inside.set()
        time.sleep(0.2)
        order.append("evaluation done")
        return "evaluated"

    worker = threading.Thread(target=serial.run, args=("uid-1", evaluate))
    worker.start()
    assert inside.wait(5)
    serial.retire("uid-1", lambda: order.append("cleanup"))
    worker.join(5)
    assert order == ["evaluation done", "cleanup"]
    with pytest.raises(serial.Retired):
        serial.run("uid-1", lambda: order.append("evaluation after cleanup"))
    assert order == ["evaluation done", "cleanup"]


def test_other_monitors_are_not_held_up() -> None:
    release = threading.Event()
    blocker = threading.Thread(target=serial.run, args=("uid-a", lambda: release.wait(5)))
    blocker.start()
    try:
        assert serial.run("uid-b", lambda: 42) == 42
    finally:
        release.set()
        blocker.join(5)
