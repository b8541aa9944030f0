"""``modelmonitor status NAME`` through the CLI entry point, the real Kubernetes client reading from a
small HTTP server on 127.0.0.1 that answers as the API server would (the monitor, 404, 403)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelmonitor.cli import main
from tests.unit.adapters.servers import Server, closed_port

PATH = "/apis/modelmonitor.io/v1alpha1/namespaces/ml/modelmonitors/credit"


def breached() -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor",
        "metadata": {"name": "credit", "namespace": "ml"},
        "spec": {"target": {"deployment": "credit"}, "slos": {"latencyP95Ms": 250}},
        "status": {
            "phase": "Breached", "lastEvaluation": "2026-11-23T12:00:00Z",
            "target": {"podTemplateHash": "bbbb", "since": "2026-11-23T11:55:00Z"},
            "slo": {"requests": 1800.0, "latencyP95Ms": 412.0},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "TargetFound", "message": "found",
                 "lastTransitionTime": "2026-11-23T11:00:00Z"},
                {"type": "SLOBreached", "status": "True", "reason": "ObjectiveBreached",
                 "message": "latencyP95Ms 412ms > 250ms (over the last 300s)",
                 "lastTransitionTime": "2026-11-23T11:58:00Z"},
            ],
        },
    }  # fmt: skip


def kubeconfig(tmp_path: Path, server: str, namespace: str | None = "ml") -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": context}],
            }
        )
    )  # fmt: skip
    return path


@pytest.fixture
def api() -> Iterator[Server]:
    server = Server(200, body=json.dumps(breached()).encode(), headers={"Content-Type": "application/json"})
    yield server
    server.close()


def test_a_breached_monitor_is_explained_and_exits_1(
    api: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "credit", "--kubeconfig", str(kubeconfig(tmp_path, api.url))])
    out = capsys.readouterr().out
    assert code == 1
    assert [(m, p) for m, p, _ in api.requests] == [
        ("GET", PATH)
    ]  # the context's namespace, the user's token
    assert {k.lower(): v for k, v in api.requests[0][2].items()}["authorization"] == "Bearer t"
    assert out.startswith("ml/credit: Breached\n  Breached because SLOBreached is True (ObjectiveBreached)")
    assert "latency p95 412 ms > 250 ms (spec.slos.latencyP95Ms) over the last 5 min" in out
    assert (
        "SLOBreached: https://github.com/modelmonitor/modelmonitor/blob/main/docs/runbooks/SLOBreached.md"
        in out
    )
    assert all(len(line) <= 100 for line in out.splitlines())


def test_json_carries_the_same_explanation_and_a_healthy_monitor_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy = breached()
    healthy["status"]["phase"] = "Healthy"
    healthy["status"]["conditions"][1].update(status="False", reason="WithinObjectives", message="fine")
    server = Server(200, body=json.dumps(healthy).encode())
    try:
        config = kubeconfig(tmp_path, server.url, namespace=None)
        code = main(["status", "credit", "-n", "ml", "--kubeconfig", str(config), "--format", "json",
                     "--runbook-base-url", "https://runbooks.example/"])  # fmt: skip
    finally:
        server.close()
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["phase"], report["healthy"]) == ("Healthy", True)
    slo = next(c for c in report["conditions"] if c["type"] == "SLOBreached")
    assert slo["runbook"] == "https://runbooks.example/SLOBreached.md"
    assert "latency p95 412 ms <= 250 ms" not in json.dumps(report)  # 412 > 250 is never said to be within
    assert slo["details"][0] == "latency p95 412 ms > 250 ms (spec.slos.latencyP95Ms) over the last 5 min"


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (404, {"kind": "Status", "message": 'modelmonitors "credit" not found'},
         "ModelMonitor ml/credit not found (kubectl get mm -n ml lists the monitors there)"),
        (403, {"kind": "Status", "message": 'User "dev" cannot get resource "modelmonitors" in "ml"'},
         'ModelMonitor ml/credit: Forbidden (User "dev" cannot get resource "modelmonitors" in "ml"); '
         "you need get on modelmonitors.modelmonitor.io in ml"),
    ],
)  # fmt: skip
def test_not_found_and_forbidden_exit_2_with_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: int, body: dict[str, Any], said: str
) -> None:
    server = Server(status, body=json.dumps(body).encode())
    try:
        code = main(["status", "credit", "--kubeconfig", str(kubeconfig(tmp_path, server.url))])
    finally:
        server.close()
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == f"modelmonitor status: {said}\n"


def test_no_cluster_and_no_credentials_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    code = main(["status", "credit", "--kubeconfig", str(kubeconfig(tmp_path, nowhere))])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(
        f"modelmonitor status: cannot reach the API server at {nowhere} to read ModelMonitor ml/credit"
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    code = main(["status", "credit"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("modelmonitor status: no Kubernetes credentials")
    assert str(tmp_path / "missing") in err
    code = main(["status", "credit", "--kubeconfig", str(tmp_path / "missing")])
    assert (
        code == 2
        and f"--kubeconfig {tmp_path / 'missing'}: not a usable kubeconfig" in capsys.readouterr().err
    )
