"""The operator process keeps its loaded stack out of garbage collections (``commands._tune_gc``),
unless MODELMONITOR_GC_TUNE=0. Run in a child process: freezing this one would change every test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OPERATOR = Path(__file__).resolve().parents[3] / "operator"
PROBE = (
    "import gc, json; from modelmonitor.operator.commands import _tune_gc; _tune_gc(); "
    "print(json.dumps([gc.get_freeze_count(), gc.get_threshold()]))"
)


def probe(**env: str) -> tuple[int, list[int]]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": str(OPERATOR), **env},
    )  # fmt: skip
    frozen, thresholds = json.loads(run.stdout)
    return frozen, thresholds


def test_the_loaded_stack_is_frozen_and_the_young_generation_collected_less_often() -> None:
    frozen, thresholds = probe()
    assert frozen > 1000  # the interpreter's and the modules' objects, at least
    assert thresholds == [10_000, 10, 10]


def test_gc_tune_0_keeps_pythons_defaults() -> None:
    frozen, thresholds = probe(MODELMONITOR_GC_TUNE="0")
    assert frozen == 0
    assert thresholds == [700, 10, 10]
