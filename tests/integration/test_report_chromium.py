"""The HTML report in a real browser: headless Chromium loads it with no console message (no script
error, no blocked load, no Content-Security-Policy violation), its SVG charts are in the DOM, and
a screenshot of it is a real picture. Chromium comes from `make setup` (Debian's ``chromium``).

Console messages are read from Chromium's own log (``--enable-logging=stderr``: one
``:CONSOLE:`` line per message); a control page proves that a message does show up there."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from modelmonitor.cli import main
from tests.unit.report.fixtures import write_dir

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONSOLE = re.compile(r":CONSOLE(?::|\()\d*\)?\] (.*)")


def chromium(page: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        # `make setup` installs it; CI runs `make setup`, so there a missing browser is a failure.
        message = "no chromium on PATH: `make setup` installs Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={workdir / 'profile'}", "--enable-logging=stderr", "--v=0", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def console(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [m.group(1) for m in map(CONSOLE.search, done.stderr.splitlines()) if m]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def page(tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    assert main(["report", "--from", str(write_dir(tmp_path / "in")), "-o", str(out)]) == 0
    return out


def test_the_console_check_sees_a_message(tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><meta charset="utf-8"><script>console.error("seen-" + 6 * 7)</script>')
    assert any("seen-42" in m for m in console(chromium(control, tmp_path, "--dump-dom")))


def test_the_report_loads_without_a_console_message_and_draws_its_charts(page: Path, tmp_path: Path) -> None:
    done = chromium(page, tmp_path, "--dump-dom")
    assert console(done) == []
    dom = done.stdout
    for ident in ("header", "drift", "performance", "segments", "experiment", "actions"):
        assert f'<section id="{ident}">' in dom
    assert dom.count('<svg class="chart bars"') >= 2
    assert dom.count('<svg class="chart lines"') >= 5
    assert '<svg class="chart reliability"' in dom
    assert "<script" not in dom  # the feature named <script>…</script> stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_the_screenshot_is_a_picture_of_the_report(page: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.html"
    blank.write_text('<!DOCTYPE html><meta charset="utf-8"><title>blank</title>')
    shots = {}
    for name, source in (("report", page), ("blank", blank)):
        shot = tmp_path / f"{name}.png"
        chromium(source, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars")
        assert png_size(shot) == (1280, 4000)
        shots[name] = shot.stat().st_size
    # Charts, tables and text compress far worse than a white page of the same size.
    assert shots["report"] > 10 * shots["blank"], shots
