"""The sidecar says it is up (/healthz, the readiness probe) only once the model's port accepts
traffic; a listen port it cannot have ends it before anything says ready."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from modelmonitor.sidecar import app
from modelmonitor.sidecar.config import SidecarConfig
from tests.helpers.processes import free_port


def config(listen: int, admin: int) -> SidecarConfig:
    return SidecarConfig(
        listen=("127.0.0.1", listen), upstream=("127.0.0.1", free_port()), admin=("127.0.0.1", admin),
        model_name="m", model_version="v",
    )  # fmt: skip


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_model_port_accepts_before_the_admin_port_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    listen, admin = free_port(), free_port()
    seen: list[bool] = []
    real = app.start_server

    async def spied(*args: Any, **kwargs: Any) -> Any:
        seen.append(accepts(listen))  # what a request sent the moment /healthz can answer would meet
        return await real(*args, **kwargs)

    monkeypatch.setattr(app, "start_server", spied)

    async def scenario() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(app.serve(config(listen, admin), stop))
        for _ in range(500):
            if seen and accepts(admin):
                break
            await asyncio.sleep(0.01)
        up = accepts(admin)
        stop.set()
        await task
        return up

    assert asyncio.run(scenario()) and seen == [True]


def test_a_listen_port_taken_ends_the_sidecar_before_its_admin_port_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = free_port()
    opened: list[int] = []
    monkeypatch.setattr(app, "start_server", lambda *a, **k: opened.append(1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            asyncio.run(app.serve(config(taken.getsockname()[1], admin), asyncio.Event()))
    assert opened == [] and not accepts(admin)
