"""`modelmonitor run` that cannot start says why in one line and exits non-zero, at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    return subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "run", *args],
        env={**base, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )  # fmt: skip
    return path


def test_without_credentials_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run("--metrics", "", env={"HOME": str(tmp_path)})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("modelmonitor run: no Kubernetes credentials: not running in a pod")
    assert "~/.kube/config" in lines[0]


def test_a_missing_kubeconfig_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    done = run("--metrics", "", env={"HOME": str(tmp_path), "KUBECONFIG": str(missing)})
    assert done.returncode == 2
    assert str(missing) in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_metrics_port_taken_names_the_address_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        done = run("--metrics", address, "--liveness", "", env={"KUBECONFIG": str(kubeconfig(tmp_path))})
    assert done.returncode == 2
    assert f"cannot serve /metrics on {address}" in done.stderr
    assert "Address already in use" in done.stderr and "--metrics" in done.stderr


def test_liveness_port_taken_names_the_address_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(
            "--metrics", "", "--liveness", f"http://127.0.0.1:{port}/healthz",
            env={"KUBECONFIG": str(kubeconfig(tmp_path))},
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} (--liveness)" in done.stderr


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    cases = {
        "MODELMONITOR_WORKERS": ("many", "is not an integer"),
        "MODELMONITOR_TICK": ("soon", "soon"),
        "MODELMONITOR_EGRESS_ALLOW": ("http://x/y", "MODELMONITOR_EGRESS_ALLOW"),
        "MODELMONITOR_OPERATOR_POD_LABELS": ("app", "not key=value"),
    }
    for name, (value, said) in cases.items():
        env = {"HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig(tmp_path)), name: value}
        done = run("--metrics", "", env=env)
        assert done.returncode == 2, (name, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (name, done.stderr)
        assert lines[0].startswith(f"modelmonitor run: invalid setting: {name}"), lines[0]
        assert said in lines[0], lines[0]
