"""The real ``kubectl`` for the demo, and the console it prints to.

:class:`Console` prints the story's lines and a one-line progress indicator while a step waits: on a
terminal it is rewritten in place (carriage return); when stdout is not a terminal (a pipe, a test)
it becomes a plain line every 10 seconds at most. :class:`Kubectl` runs the binary against the
demo's cluster and namespace and shows its output as it came; :meth:`Kubectl.watch` re-runs a
``kubectl get`` every second and prints the rows that changed, as ``kubectl get -w`` would, until the
step's test passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

T = TypeVar("T")
# Columns whose value moves at every evaluation (or every second): a row is printed again only when
# one of its other columns changed.
VOLATILE = frozenset({"AGE", "P95", "ERRORS", "DRIFT", "QUALITY"})
PLAIN_PROGRESS_EVERY = 10.0  # seconds between two progress lines when stdout is not a terminal


class DemoFailed(Exception):
    """A step did not get where it should in time; the message says where it stopped."""


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._progress_shown = False
        self._last_plain = 0.0

    def say(self, text: str = "") -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def progress(self, text: str) -> None:
        """The waiting line: rewritten in place on a terminal, a plain line now and then elsewhere."""
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            self.stream.write("\r\x1b[K   " + text[: width - 3])
            self.stream.flush()
            self._progress_shown = True
            return
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_PROGRESS_EVERY:
            self._last_plain = now
            print(f"   ... {text}", file=self.stream, flush=True)

    def restart_progress(self) -> None:
        """The next plain progress line comes 10 s after now (a step just printed something)."""
        self._last_plain = time.monotonic()

    def _clear(self) -> None:
        if self._progress_shown:
            self.stream.write("\r\x1b[K")
            self._progress_shown = False


def find_kubectl(root: Path) -> str | None:
    """kubectl from ``.tools/bin`` (``make setup`` unpacks it there), else the PATH's."""
    local = root / ".tools" / "bin" / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


def row_key(table: str) -> dict[str, tuple[str, ...]]:
    """``{first cell: the row's non-volatile cells}`` of a ``kubectl get`` table, cut at the header's
    column starts (kubectl aligns every cell under its header)."""
    lines = [line for line in table.splitlines() if line.strip()]
    if not lines:
        return {}
    header = lines[0]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    names = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    out: dict[str, tuple[str, ...]] = {}
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        out[cells[0]] = tuple(c for c, n in zip(cells, names, strict=True) if n not in VOLATILE)
    return out


class Kubectl:
    """kubectl with the demo's kubeconfig and namespace; what it shows is indented under ``$ kubectl``."""

    def __init__(self, binary: str, kubeconfig: Path, namespace: str, console: Console, cache: Path) -> None:
        self.binary, self.kubeconfig, self.namespace = binary, kubeconfig, namespace
        self.console, self.cache = console, cache

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60) -> str:
        done = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache),
             "-n", self.namespace, *args],
            input=stdin, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "KUBECTL_COLOR": "false"},
        )  # fmt: skip
        if check and done.returncode != 0:
            raise DemoFailed(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def show(self, *args: str, stdin: str | None = None, shown: str | None = None, keep: Callable[[str], str] | None = None) -> str:  # fmt: skip
        """Run and print the command and its output; ``shown`` replaces the command line printed (a
        manifest on stdin is shown as ``-f FILE``), ``keep`` picks the part of the output printed."""
        self.console.say(f"   $ kubectl {shown or ' '.join(args)}")
        out = self.run(*args, stdin=stdin)
        for line in (keep(out) if keep else out).rstrip("\n").splitlines():
            self.console.say(f"     {line}")
        return out

    def watch(self, args: tuple[str, ...], until: Callable[[], T | None], what: str, timeout: float,
              progress: Callable[[], str] = lambda: "") -> T:  # fmt: skip
        """Re-run ``kubectl get ARGS`` every second, print the header once and each row again when
        it changed, until ``until()`` gives a value (returned); DemoFailed after ``timeout`` s."""
        self.console.say(f"   $ kubectl {' '.join(args)} --watch      # waiting for {what}")
        shown: dict[str, tuple[str, ...]] = {}
        started = time.monotonic()
        self.console.restart_progress()
        while True:
            result = until()
            table = self.run(*args, check=False)
            keys = row_key(table)
            lines = [line for line in table.rstrip("\n").splitlines() if line.strip()]
            if not shown and lines:
                self.console.say(f"     {lines[0]}")
            for line in lines[1:]:
                name = line.split(None, 1)[0]
                if shown.get(name) != keys.get(name):
                    self.console.say(f"     {line}")
                    self.console.restart_progress()
            shown = keys if keys else shown
            if result is not None and result is not False:
                return result
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise DemoFailed(f"no {what} after {timeout:.0f}s ({progress()})")
            self.console.progress(f"waiting for {what}: {elapsed:.0f}s  {progress()}")
            time.sleep(1.0)

    def json(self, *args: str) -> Any:
        import json

        return json.loads(self.run("get", "-o", "json", *args))
