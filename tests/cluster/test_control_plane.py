"""The test control plane stops whole: no etcd, kube-apiserver or kube-controller-manager outlives
the ``control_plane()`` that started it (each would hold hundreds of MB for the rest of the run)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import control_plane

pytestmark = pytest.mark.cluster


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_every_process_of_the_control_plane_is_stopped_on_exit() -> None:
    with control_plane() as k8s:
        pids = [int(p) for p in (k8s.state / "pids").read_text().split() if p.isdigit()]
        assert len(pids) == 3 and all(running(p) for p in pids)  # etcd, kube-apiserver, controller-manager
        names = {os.path.basename(os.readlink(f"/proc/{p}/exe")) for p in pids}
        assert names == {"etcd", "kube-apiserver", "kube-controller-manager"}
    deadline = time.monotonic() + 15
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in pids if running(p)] == []


def test_a_port_taken_before_the_start_is_replaced_by_a_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker may bind a port between choosing it and the server binding it: the start is
    tried again on new ports instead of failing the test that needed the cluster."""
    import socket

    import tests.cluster.conftest as conftest

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken, real = busy.getsockname()[1], conftest.free_port
    chosen: list[int] = []

    def first_taken() -> int:
        chosen.append(taken if not chosen else real())
        return chosen[-1]

    monkeypatch.setattr(conftest, "free_port", first_taken)
    try:
        with control_plane(controller_manager=False) as k8s:
            assert (
                k8s.server != f"https://127.0.0.1:{taken}" and chosen.count(taken) == 1 and len(chosen) == 6
            )
    finally:
        busy.close()
