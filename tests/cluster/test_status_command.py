"""`modelmonitor status NAME` against the real API server, with a user's own kubeconfig: it reads the
monitor through the status subresource the operator writes and explains the phase; the exit code
follows it, and a user without `get` on modelmonitors gets a clear refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import K8s
from tests.cluster.test_security import user

pytestmark = pytest.mark.cluster


def status_cmd(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "status", "credit", "-n", namespace,
         "--kubeconfig", str(kubeconfig), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_status_explains_a_degraded_monitor_and_exits_non_zero(
    k8s: K8s, namespace: str, release: dict[str, Any], tmp_path: Path
) -> None:
    k8s.apply({"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor", "metadata": {"name": "credit"},
               "spec": {"target": {"deployment": "credit"},
                        "performance": {"task": "binary-classification",
                                        "metrics": [{"name": "accuracy", "min": 0.8}]}}}, namespace)  # fmt: skip
    now = "2026-12-01T12:00:00Z"
    status = {"status": {
        "phase": "Degraded", "lastEvaluation": now, "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "TargetFound", "message": "ok", "lastTransitionTime": now},
            {"type": "PerformanceDegraded", "status": "True", "reason": "MetricOutOfBounds",
             "message": "accuracy 0.61 < 0.8 on 300 labelled rows", "lastTransitionTime": now},
        ],
        "performance": {"task": "binary-classification", "rows": 300, "labelledRows": 300,
                        "metrics": {"accuracy": 0.61}},
    }}  # fmt: skip
    k8s.kubectl("-n", namespace, "patch", "mm", "credit", "--subresource=status", "--type=merge",
                "-p", json.dumps(status))  # fmt: skip

    viewer = user(k8s, namespace, "viewer", "modelmonitor-view", tmp_path)  # get on monitors, no more
    done = status_cmd(viewer, namespace)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Degraded" in done.stdout and "PerformanceDegraded" in done.stdout
    assert "accuracy 0.61 < 0.8" in done.stdout
    assert "runbooks" in done.stdout.lower() or "PerformanceDegraded.md" in done.stdout
    as_json = json.loads(status_cmd(viewer, namespace, "--format", "json").stdout)
    assert as_json["phase"] == "Degraded" and as_json["healthy"] is False

    k8s.kubectl("-n", namespace, "patch", "mm", "credit", "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"phase": "Healthy", "conditions": [
                    {"type": "Ready", "status": "True", "reason": "TargetFound", "message": "ok",
                     "lastTransitionTime": now},
                    {"type": "PerformanceDegraded", "status": "False", "reason": "WithinBounds",
                     "message": "accuracy 0.9", "lastTransitionTime": now}]}}))  # fmt: skip
    healthy = status_cmd(viewer, namespace)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    # Someone who may not read monitors in that namespace: exit 2, one clear line, no traceback.
    k8s.kubectl("-n", namespace, "create", "serviceaccount", "stranger")
    token = k8s.kubectl("-n", namespace, "create", "token", "stranger", "--duration", "1h").stdout.strip()
    stranger = k8s.kubeconfig_for_token(token, tmp_path / "stranger.kubeconfig")
    refused = status_cmd(stranger, namespace)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "forbidden" in refused.stderr.lower() or "may not" in refused.stderr.lower(), refused.stderr
    missing = status_cmd(k8s.kubeconfig, namespace + "-nope")
    assert missing.returncode == 2 and "not found" in missing.stderr.lower(), missing.stderr
