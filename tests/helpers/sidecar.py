"""Real demo-model and sidecar processes for tests, and small HTTP helpers around them."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.helpers.processes import ProcessHandle, free_port, python_module, start_process, wait_until


class Model:
    def __init__(self, handle: ProcessHandle, port: int) -> None:
        self.handle = handle
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


class Sidecar:
    """A running sidecar process, with helpers to read its log lines and admin API."""

    def __init__(self, handle: ProcessHandle, port: int, admin: int) -> None:
        self.handle = handle
        self.port = port
        self.admin = admin

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.handle.stdout_text().splitlines() if line.strip()]

    def wait_lines(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` request lines were written; returns all of them."""
        return wait_until(lambda: (lambda got: got if len(got) >= n else None)(self.lines()), timeout)  # type: ignore[no-any-return]

    def admin_get(self, path: str) -> Any:
        status, _, body = request(self.admin, "GET", path)
        assert status == 200, body
        return json.loads(body) if path != "/metrics" else body.decode()

    def admin_post(self, path: str, payload: Any) -> tuple[int, Any]:
        status, _, body = request(self.admin, "POST", path, json.dumps(payload).encode())
        return status, json.loads(body)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        total = 0.0
        for line in self.admin_get("/metrics").splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    host: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; returns (status, lower-cased headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def start_model(*args: str, port: int | None = None) -> Model:
    """The demo model on ``port`` (a free one by default), started and ready."""
    port = port or free_port()
    handle = start_process(
        python_module("modelmonitor.cli", "demo-model", "--port", str(port), *args),
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    return Model(handle, port)


def start_sidecar(upstream: str, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> Sidecar:
    port, admin = free_port(), free_port()
    cmd = python_module(
        "modelmonitor.cli",
        "sidecar",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream",
        upstream,
        "--admin",
        f"127.0.0.1:{admin}",
        *args,
    )
    handle = start_process(cmd, ready_url=f"http://127.0.0.1:{admin}/healthz" if wait else None, env=env)
    return Sidecar(handle, port, admin)
