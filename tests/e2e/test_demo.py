"""The README's demo command runs end to end and shows what exists, measured for real."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_and_shows_the_operator_at_work() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "demo", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "minimal.yaml                     valid" in out
    assert "spec.slos.latencyP95Ms: must be >= 0, got -5" in out
    assert "condition Ready=False TargetNotFound: Deployment default/credit-scoring not found" in out
    assert "condition Ready=True TargetFound: Deployment default/credit-scoring found" in out
    assert "NAME             TARGET           PHASE" in out
