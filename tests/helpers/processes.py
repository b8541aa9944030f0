"""Start real processes for tests and wait until they answer; always stop them.

``start_process(cmd, ready_url, timeout)`` returns a :class:`ProcessHandle`; its output goes to temp
files (a full pipe could block the process under test), readable with ``stdout_text()`` and
``stderr_text()``. ``stop()`` sends SIGTERM, then SIGKILL after a grace period, and returns the exit
code. Use as a context manager, or call ``stop()`` in a fixture's teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when ``GET url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; raises ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class ProcessHandle:
    """A started process, its output files, and how to stop it."""

    def __init__(self, cmd: Sequence[str], proc: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.cmd = list(cmd)
        self.proc = proc
        self.stdout_path = out
        self.stderr_path = err

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, grace: float = 5.0) -> int:
        """SIGTERM, wait ``grace`` seconds, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(grace)
        return int(self.proc.returncode)

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_process(
    cmd: Sequence[str],
    ready_url: str | None = None,
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ProcessHandle:
    """Start ``cmd`` and, when ``ready_url`` is given, wait until it answers 2xx (else stop and raise)."""
    out = Path(tempfile.mkstemp(prefix="proc-", suffix=".out")[1])
    err = Path(tempfile.mkstemp(prefix="proc-", suffix=".err")[1])
    full_env = {**os.environ, **(env or {})}
    with open(out, "wb") as fout, open(err, "wb") as ferr:
        proc = subprocess.Popen(list(cmd), stdout=fout, stderr=ferr, env=full_env, cwd=cwd)
    handle = ProcessHandle(cmd, proc, out, err)
    if ready_url is None:
        return handle
    deadline = time.monotonic() + timeout
    while not http_ok(ready_url, timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(
                f"{' '.join(cmd)} not ready at {ready_url} (exit {proc.returncode}):\n{handle.stderr_text()[-2000:]}"
            )
        time.sleep(0.05)
    return handle


def python_module(module: str, *args: str) -> list[str]:
    """The command line running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
