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
    assert "containers now: ['model', 'modelmonitor-sidecar']" in out
    assert "Service credit-scoring now targets port" in out and "targets port http " not in out
    assert "condition SLOBreached=False WithinObjectives" in out
    assert "condition DataDrift=False NoDatasetDrift" in out
    assert "condition DataDrift=True DriftDetected" in out
    assert "action: retrain Observed: DataDrift is True; would start a retraining Job (observe mode)" in out
    assert "inputs[0].ssn='sha256:" in out and "123-45-" not in out
    assert "containers: ['model']; Service targetPort back to 'http'" in out
