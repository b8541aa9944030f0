"""The stand-in pod discovery of the cluster tests and the demo: a Prometheus that hangs up is no error.

Prometheus drops an HTTP SD request at its timeout or when it stops; the demo's output must then stay
free of tracebacks (its test refuses any), and the next refresh is served as usual.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from typing import Any

import pytest

from tests.helpers.kubelet import PodDiscovery

JOB = {"job_name": "pods", "kubernetes_sd_configs": [{"role": "pod", "api_server": "https://127.0.0.1:1"}]}
POD = {
    "metadata": {"name": "model-0", "namespace": "default", "labels": {"app": "model"}},
    "spec": {"containers": [{"name": "model", "ports": [{"containerPort": 8080}]}]},
    "status": {"podIP": "127.0.0.9", "phase": "Running"},
}


def test_a_client_that_hangs_up_is_counted_not_printed_and_the_next_refresh_is_served(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hung_up = threading.Event()
    first = [True]

    def pods(self: PodDiscovery) -> list[dict[str, Any]]:
        if first[0]:
            first[0] = False
            assert hung_up.wait(10)
            return [POD] * 20_000  # megabytes: no socket buffer takes it all after the reset
        return [POD]

    monkeypatch.setattr(PodDiscovery, "pods", pods)
    with PodDiscovery(JOB) as discovery:
        port = int(discovery.url.split(":")[2].split("/")[0])
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /targets HTTP/1.1\r\nHost: x\r\n\r\n")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, as a Prometheus at its timeout
        hung_up.set()
        deadline = time.monotonic() + 10
        while discovery.hangups == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert discovery.hangups == 1
        with urllib.request.urlopen(discovery.url, timeout=10) as resp:
            groups = resp.read()
        assert b"127.0.0.9:8080" in groups
        assert discovery.errors == []
    assert "Traceback" not in capsys.readouterr().err
