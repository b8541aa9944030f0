"""The README's quick start, as written, on a fresh real cluster: `helm install`, `kubectl apply`,
`kubectl get mm`. The stand-in kubelet runs every Pod, the operator's own included: it starts
from the chart's Deployment with its ServiceAccount's token, as on a cluster."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.demo.data import make_payload, make_rows, path_for
from tests.cluster.conftest import RELEASE_NAMESPACE, ROOT, control_plane
from tests.conftest import PrometheusProcess
from tests.helpers.kubelet import Kubelet
from tests.helpers.sidecar import request

pytestmark = pytest.mark.cluster

COLUMNS = ["NAME", "TARGET", "PHASE", "DRIFT", "QUALITY", "P95", "ERRORS", "LAST-ACTION", "AGE"]


def quick_start() -> tuple[list[str], list[str]]:
    """The commands of the README's quick start, and the table header its comment shows."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start on a real cluster", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands, header, current = [], [], ""
    for line in block.splitlines():
        if line.startswith("# NAME"):
            header = line[2:].split()
        code = line.split("#", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not code:
            continue
        current += code.rstrip("\\").strip() + " "
        if not code.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands, header


async def test_the_readme_quick_start_works_as_written(
    tmp_path: Path, pod_prometheus: Callable[..., Awaitable[PrometheusProcess]]
) -> None:
    commands, header = quick_start()
    assert header == COLUMNS
    assert [c.split()[:2] for c in commands][:3] == [
        ["helm", "install"],
        ["kubectl", "apply"],
        ["kubectl", "apply"],
    ]
    with control_plane() as k8s:
        bin_dir = ROOT / ".tools" / "bin"
        env = {**os.environ, **k8s.env, "KUBECONFIG": str(k8s.kubeconfig),
               "PATH": f"{bin_dir}:{os.environ['PATH']}"}  # fmt: skip
        with Kubelet(k8s.kubeconfig, "default", tmp_path / "node-default") as models, \
             Kubelet(k8s.kubeconfig, RELEASE_NAMESPACE, tmp_path / "node-system") as system:  # fmt: skip
            # No cluster DNS here: the one change to the commands is the Prometheus address.
            prom = await pod_prometheus("default", k8s, host="127.0.0.2")
            outputs = {}
            for command in commands:
                command = re.sub(
                    r"operator\.prometheusUrl=\S+", f"operator.prometheusUrl={prom.url}", command
                )
                done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                                      timeout=180)  # fmt: skip
                outputs[command] = done.stdout
                assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
                if command.startswith("helm install"):
                    # The operator's own Pod runs, from the chart, with the chart's ServiceAccount.
                    k8s.kubectl("-n", RELEASE_NAMESPACE, "rollout", "status", "deployment/modelmonitor",
                                "--timeout=120s", timeout=150)  # fmt: skip
            table = next(out for cmd, out in outputs.items() if cmd == "kubectl get mm")
            assert table.split("\n")[0].split() == COLUMNS
            assert table.split("\n")[1].split()[:2] == ["credit-scoring", "credit-scoring"]

            # The operator injects the sidecar; the rollout completes; traffic is captured and judged.
            def injected() -> dict[str, Any] | None:
                mm = k8s.get("mm", "credit-scoring")
                cond = {c["type"]: c for c in mm.get("status", {}).get("conditions", [])}
                return mm if cond.get("SidecarInjected", {}).get("status") == "True" else None

            k8s.wait_for(injected, timeout=120, what="SidecarInjected True")
            stop = threading.Event()
            threading.Thread(target=_traffic, args=(models, stop), daemon=True).start()
            try:
                k8s.wait_for(
                    lambda: (k8s.get("mm", "credit-scoring")["status"].get("slo") or {}).get("latencyP95Ms"),
                    timeout=150, what="p95 latency in status",
                )  # fmt: skip

                # `kubectl get mm` prints what status holds: a row and a status read back to back agree
                # (retried, as an evaluation may land between the two reads).
                def consistent() -> tuple[dict[str, str], float] | None:
                    header, line = k8s.kubectl("get", "mm").stdout.splitlines()[:2]
                    row = columns(header, line)
                    p95 = (k8s.get("mm", "credit-scoring")["status"].get("slo") or {}).get("latencyP95Ms")
                    return (row, p95) if p95 and row["P95"] and float(row["P95"]) == p95 else None

                row, p95 = k8s.wait_for(consistent, timeout=60, what="the table showing the status's p95")
            finally:
                stop.set()
            assert row["NAME"] == "credit-scoring" and row["PHASE"] in ("Pending", "Healthy"), row
            assert p95 > 0
            describe = k8s.kubectl("describe", "mm", "credit-scoring").stdout
            assert "SidecarInjected" in describe and "Events:" in describe
            operator_pods = system.pods()
            assert len(operator_pods) == 1, operator_pods
            log = system.logs(next(iter(operator_pods)), "operator")
            assert "forbidden" not in log.lower(), log[-3000:]


def columns(header: str, line: str) -> dict[str, str]:
    """A `kubectl get` row by column, cut at the header's offsets (an empty cell prints as blanks)."""
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    return {header[a:b].strip(): line[a:b].strip() for a, b in zip(starts, ends, strict=True)}


def _traffic(kubelet: Kubelet, stop: threading.Event) -> None:
    path = path_for("kserve-v1", "credit-scoring")
    deadline = time.monotonic() + 240
    n = 0
    while not stop.is_set() and time.monotonic() < deadline:
        ips = sorted(ip for ip, _ in kubelet.pods().values() if ip)
        if ips:
            body = json.dumps(make_payload("kserve-v1", make_rows(5, seed=n), "credit-scoring")).encode()
            with contextlib.suppress(OSError):
                request(
                    8480, "POST", path, body, {"Content-Type": "application/json"}, host=ips[n % len(ips)]
                )
            n += 1
        stop.wait(0.02)
