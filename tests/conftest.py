"""Fixtures shared by every test: the emulated Kubernetes API, the real operator, a real Prometheus.

- ``cluster``: kmock's emulator (see tests/emulator.py) serving on 127.0.0.1, with ``cluster.api`` to
  create, patch, read and delete objects over HTTP the way kubectl would (so watches see them).
- ``operator``: the real ``modelmonitor run`` process, pointed at ``cluster`` through a kubeconfig.
- ``prometheus``: a factory that starts the real Prometheus binary (Debian package) on a free port
  with a generated config and a temp data dir, and stops it after the test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest
import yaml

from tests.emulator import ClusterEmulator, kubeconfig_for

ROOT = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def eventually(
    probe: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``probe`` (sync or async) until it returns a truthy value; fail naming ``what`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            result = probe()
            if isinstance(result, Awaitable):
                result = await result
        except (KeyError, LookupError, TypeError) as exc:
            result, last = None, exc
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")
        await asyncio.sleep(interval)


class Api:
    """A thin HTTP client for the emulated API server, speaking the real Kubernetes REST paths."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base.rstrip("/")
        self.session = session

    @staticmethod
    def path(resource: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        group_version, plural = resource.rsplit("/", 1)
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise AssertionError(f"{method} {path} -> {resp.status}: {body}")
            return body

    async def create(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> Any:
        return await self._call("POST", self.path(resource, namespace), json=obj)

    async def get(self, resource: str, namespace: str | None, name: str) -> Any:
        return await self._call("GET", self.path(resource, namespace, name))

    async def patch(self, resource: str, namespace: str | None, name: str, patch: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"}
        return await self._call("PATCH", self.path(resource, namespace, name), json=patch, headers=headers)

    async def delete(self, resource: str, namespace: str | None, name: str) -> Any:
        return await self._call("DELETE", self.path(resource, namespace, name))


@pytest.fixture
async def cluster() -> AsyncIterator[ClusterEmulator]:
    async with (
        ClusterEmulator() as emulator,
        kmock.Server(emulator) as server,
        aiohttp.ClientSession() as session,
    ):
        emulator.api = Api(str(server.url), session)
        yield emulator


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Callable[[str], Path]:
    def write(server: str) -> Path:
        path = tmp_path / "kubeconfig"
        config = kubeconfig_for(server)
        path.write_text(yaml.safe_dump(config))
        return path

    return write


class OperatorProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def start_operator(
    cluster: ClusterEmulator, kubeconfig: Callable[[str], Path], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[OperatorProcess]]]:
    """Start the real operator (``modelmonitor run``) against the emulated API; stopped after the test."""
    started: list[OperatorProcess] = []

    async def start(*extra: str, env: dict[str, str] | None = None) -> OperatorProcess:
        config = kubeconfig(cluster.api.base)
        log = tmp_path / f"operator-{len(started)}.log"
        health, metrics_port = free_port(), free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "modelmonitor.cli", "run", "--standalone", "--tick", "1s",
            "--log-format", "plain", "--liveness", f"http://127.0.0.1:{health}/healthz",
            "--metrics", f"127.0.0.1:{metrics_port}", *extra,
            env={**os.environ, "KUBECONFIG": str(config), "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=log.open("wb"), stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        handle = OperatorProcess(proc, log)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        await handle.stop()
        print(f"--- operator log {handle.log}:\n{handle.output()[-5000:]}")


# ------------------------------------------------------------------------------------------- Prometheus


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if path is None:
        pytest.fail("the prometheus binary is missing: `make test` installs it (apt-get install prometheus)")
    return path


class PrometheusProcess:
    """A real Prometheus on 127.0.0.1; ``stop()`` and ``restart()`` (same port, same config) for outages."""

    def __init__(self, args: list[str], url: str, workdir: Path) -> None:
        self.args = args
        self.url = url
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=(self.workdir / "log").open("ab"), stderr=asyncio.subprocess.STDOUT
        )
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(f"{self.url}/-/ready") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(ready, timeout=30, what="Prometheus to be ready")

    async def query(self, session: aiohttp.ClientSession, promql: str) -> list[dict[str, Any]]:
        async with session.get(f"{self.url}/api/v1/query", params={"query": promql}) as resp:
            body = await resp.json()
            assert body["status"] == "success", body
            return list(body["data"]["result"])

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[PrometheusProcess]]]:
    """Factory: ``await prometheus(targets=[...], labels={...})`` starts a real Prometheus scraping them."""
    binary = prometheus_binary()
    started: list[PrometheusProcess] = []

    async def start(
        targets: list[str] | None = None,
        labels: dict[str, str] | None = None,
        scrape_interval: str = "1s",
        scrape_configs: list[dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
    ) -> PrometheusProcess:
        port = free_port(host)
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        config = workdir / "prometheus.yml"
        scrape: list[dict[str, Any]] = [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"{host}:{port}"]}]}
        ]
        if targets:
            scrape.append(
                {"job_name": "modelmonitor", "static_configs": [{"targets": targets, "labels": labels or {}}]}
            )
        scrape.extend(scrape_configs or [])
        config.write_text(
            yaml.safe_dump(
                {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                 "scrape_configs": scrape}
            )
        )  # fmt: skip
        args = [
            binary, f"--config.file={config}", f"--web.listen-address={host}:{port}",
            f"--storage.tsdb.path={workdir / 'data'}",
        ]  # fmt: skip
        handle = PrometheusProcess(args, f"http://{host}:{port}", workdir)
        started.append(handle)
        await handle.start()
        return handle

    yield start
    for handle in started:
        await handle.stop()


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    yield ROOT
