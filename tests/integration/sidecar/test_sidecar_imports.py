"""The sidecar process loads only what it needs: no data-science, contract or Kubernetes libraries.

Every sidecar is one more process in every model pod, so its memory counts once per replica; the
libraries below would cost it tens of MiB. The test runs a real sidecar (the command module, the
proxy, capture with a codec, window and admin server) in a fresh interpreter, sends a prediction
through it, reads it back from the window and the metrics, then lists what ``sys.modules`` holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "pydantic",
    "jsonschema",
    "yaml",
    "kubernetes",
    "kopf",
    "requests",
    "aiohttp",
    "prometheus_client",
)

SCRIPT = r"""
import asyncio, json, sys
from modelmonitor.cli import build_parser
build_parser("sidecar")  # what `modelmonitor sidecar` loads before the proxy
from modelmonitor.sidecar.app import serve
from modelmonitor.sidecar.config import SidecarConfig

listen, admin = int(sys.argv[1]), int(sys.argv[2])
BODY = b'{"predictions": [1]}'


class Model(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if data.endswith(b"}"):  # the whole small request arrived
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(BODY), BODY)
            )


async def call(port, method, path, body=b""):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (method, path, len(body), body)
    )
    data = await reader.read()
    writer.close()
    return data.partition(b"\r\n\r\n")[2]


async def main():
    loop = asyncio.get_running_loop()
    model = await loop.create_server(Model, "127.0.0.1", 0)
    upstream = model.sockets[0].getsockname()[1]
    config = SidecarConfig(("127.0.0.1", listen), ("127.0.0.1", upstream), ("127.0.0.1", admin))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    for _ in range(200):
        try:
            await call(admin, b"GET", b"/healthz")
            break
        except OSError:
            await asyncio.sleep(0.02)
    answer = await call(listen, b"POST", b"/v1/models/m:predict", b'{"instances": [[1.0, 2.0]]}')
    assert answer == BODY, answer
    for _ in range(200):
        window = json.loads(await call(admin, b"GET", b"/v1/window?since=0"))
        if window["head"]:
            break
        await asyncio.sleep(0.02)
    metrics = await call(admin, b"GET", b"/metrics")
    stop.set()
    await task
    found = sorted({name.split(".")[0] for name in sys.modules})
    print("RESULT " + json.dumps({"rows": window["head"], "metrics": len(metrics), "modules": found}))


try:
    import uvloop  # as the sidecar runs
except ImportError:
    asyncio.run(main())
else:
    uvloop.run(main())
"""


def test_a_running_sidecar_imports_no_heavy_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(free_port()), str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["rows"] == 1 and result["metrics"] > 0  # the capture path and the admin API ran
    assert "modelmonitor" in result["modules"] and "httptools" in result["modules"]
    assert [name for name in HEAVY if name in result["modules"]] == []
