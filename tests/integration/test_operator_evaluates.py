"""The operator evaluating for real: a real Prometheus scraping a real sidecar in front of a real model.

The Kubernetes API is emulated (no kubelet, no controllers), so the test plays their part: it marks
the rollout complete once the operator has injected the sidecar, and creates the Pod whose IP and
admin port lead to the sidecar process it started on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.drift import build_profile
from tests.component.test_first_reconcile import example
from tests.component.test_injection import complete_rollout, condition
from tests.conftest import eventually
from tests.emulator import MODELMONITORS
from tests.helpers.sidecar import Model, Sidecar, request, start_model, start_sidecar

pytestmark = pytest.mark.integration

NS = "default"
NAME = "credit-scoring"


@dataclass
class Stack:
    model: Model
    sidecar: Sidecar
    prometheus: Any
    api: Any

    async def send(self, rows: list[dict[str, Any]], batch: int = 20) -> None:
        """POST the rows through the sidecar, ``batch`` per request (KServe v1), off the event loop."""
        path = path_for("kserve-v1", NAME)

        def post_all() -> None:
            for start in range(0, len(rows), batch):
                body = json.dumps(make_payload("kserve-v1", rows[start : start + batch], NAME)).encode()
                status, _, _ = request(
                    self.sidecar.port, "POST", path, body, {"Content-Type": "application/json"}
                )
                assert status == 200

        await asyncio.get_running_loop().run_in_executor(None, post_all)

    def traffic(self, *, shift: float, seed: int, batch: int = 5, pause: float = 0.02) -> threading.Event:
        """Steady traffic in a thread until the returned event is set (bounded: at most 5 minutes)."""
        stop = threading.Event()
        path = path_for("kserve-v1", NAME)

        def run() -> None:
            deadline = time.monotonic() + 300
            n = 0
            while not stop.is_set() and time.monotonic() < deadline:
                rows = make_rows(batch, seed=seed * 100_000 + n, shift=shift)
                body = json.dumps(make_payload("kserve-v1", rows, NAME)).encode()
                request(self.sidecar.port, "POST", path, body, {"Content-Type": "application/json"})
                n += 1
                stop.wait(pause)

        threading.Thread(target=run, daemon=True).start()
        return stop


async def start_stack(prometheus: Any, api: Any, *model_args: str) -> Stack:
    model = start_model("--name", NAME, *model_args)
    sidecar = start_sidecar(
        model.url, "--model-name", NAME, "--model-version", "1.0.0", "--protocol", "kserve-v1"
    )
    prom = await prometheus(targets=[f"127.0.0.1:{sidecar.admin}"], labels={"namespace": NS})
    return Stack(model, sidecar, prom, api)


@pytest.fixture
async def stacks() -> AsyncIterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.sidecar.handle.stop()
        stack.model.handle.stop()


async def deploy(stack: Stack, spec: dict[str, Any]) -> None:
    """The demo Deployment, a reference profile in a ConfigMap, and the monitor."""
    api = stack.api
    dep = example("demo-model.yaml", "Deployment")
    dep["spec"]["replicas"] = 1
    await api.create("apps/v1/deployments", NS, dep)
    profile = build_profile(__import__("pandas").DataFrame(make_rows(3000, seed=1)))
    await api.create(
        "v1/configmaps",
        NS,
        {"metadata": {"name": "credit-reference"}, "data": {"profile.json": profile.to_json()}},
    )
    monitor = example("minimal.yaml", "ModelMonitor")
    monitor["spec"] = {
        "target": {"deployment": NAME, "port": stack.model.port, "protocol": "kserve-v1"},
        "interval": "5s",
        "window": {"maxRows": 400, "maxAge": "1h"},
        "sidecar": {"listenPort": stack.sidecar.port, "adminPort": stack.sidecar.admin},
        "prometheus": {"url": stack.prometheus.url, "timeout": "2s"},
        # The demo's shift moves two of ten features (income, debt_ratio): dataset drift at 20 %.
        "drift": {
            "reference": {"configMapRef": {"name": "credit-reference"}},
            "minRows": 200,
            "driftShare": 0.2,
        },
        **spec,
    }
    await api.create(MODELMONITORS, NS, monitor)


async def play_kubelet(stack: Stack) -> None:
    """Once the operator injected the sidecar: the rollout completes and the Pod runs on 127.0.0.1."""
    api = stack.api

    async def injected() -> bool:
        got = await api.get("apps/v1/deployments", NS, NAME)
        return any(c["name"] == "modelmonitor-sidecar" for c in got["spec"]["template"]["spec"]["containers"])

    await eventually(injected, timeout=60, what="injection")
    await complete_rollout(api, NAME)
    # The Deployment controller's part: a ReplicaSet it controls, which controls the Pod (the
    # operator reads the pods of the Deployment's own ReplicaSets only).
    dep = await api.get("apps/v1/deployments", NS, NAME)
    labels = {"app": NAME, "pod-template-hash": "5d4f8b7c9"}
    rs = await api.create("apps/v1/replicasets", NS, {
        "metadata": {"name": f"{NAME}-5d4f8b7c9", "labels": labels, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME, "uid": dep["metadata"]["uid"],
             "controller": True}]},
        "spec": {"template": dep["spec"]["template"]},
    })  # fmt: skip
    await api.create(
        "v1/pods",
        NS,
        {
            "metadata": {"name": f"{NAME}-5d4f8b7c9-x2x7q", "labels": labels, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                 "uid": rs["metadata"]["uid"], "controller": True}]},
            "spec": {"containers": [{"name": "model"}, {"name": "modelmonitor-sidecar"}]},
            "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )  # fmt: skip


async def wait_for(api: Any, what: str, test: Any, timeout: float = 90) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def probe() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, NS, NAME)
        last["status"] = obj.get("status")
        return obj if test(obj) else None

    try:
        result: dict[str, Any] = await eventually(probe, timeout=timeout, interval=0.5, what=what)
    except BaseException:
        print("last status:", json.dumps(last.get("status"), indent=1))
        raise
    return result


def is_(kind: str, status: str, reason: str | None = None) -> Any:
    def test(obj: dict[str, Any]) -> bool:
        c = condition(obj, kind)
        return c.get("status") == status and (reason is None or c.get("reason") == reason)

    return test


def events(cluster: Any) -> list[tuple[str, str]]:
    out = []
    for (res, _ns, _name), obj in cluster.objects.items():
        if res.plural == "events" and not obj.deleted and obj.get("involvedObject", {}).get("name") == NAME:
            out.append((obj["reason"], obj["message"]))
    return out


async def test_healthy_then_drifting_then_prometheus_lost_and_back(
    cluster: Any, start_operator: Any, prometheus: Any, stacks: list[Stack]
) -> None:
    stack = await start_stack(prometheus, cluster.api)
    stacks.append(stack)
    await deploy(stack, {"slos": {"latencyP95Ms": 250, "errorRate": 0.05, "minRequests": 10}})
    operator = await start_operator()
    await play_kubelet(stack)

    normal = stack.traffic(shift=0.0, seed=2)
    obj = await wait_for(
        cluster.api, "phase Healthy", lambda o: o.get("status", {}).get("phase") == "Healthy"
    )
    status = obj["status"]
    assert condition(obj, "DataDrift")["status"] == "False"
    assert condition(obj, "SLOBreached")["reason"] == "WithinObjectives"
    assert status["slo"]["requests"] >= 10 and 0 < status["slo"]["latencyP95Ms"] < 250
    assert status["drift"]["rows"] >= 200 and status["drift"]["datasetDrift"] is False
    assert condition(obj, "SidecarInjected")["status"] == "True"

    # Shifted traffic: lower incomes, higher debt. The window keeps the newest 400 rows.
    normal.set()
    shifted = stack.traffic(shift=1.5, seed=3)
    obj = await wait_for(
        cluster.api, "DataDrift True, phase Drifting", is_("DataDrift", "True", "DriftDetected")
    )
    assert obj["status"]["phase"] == "Drifting"
    top = {f["name"] for f in obj["status"]["drift"]["features"] if f["drifted"]}
    assert {"income", "debt_ratio"} <= top
    assert obj["status"]["drift"]["share"] > 0

    # Prometheus goes away: the latency figures are Unknown, never a breach; drift, still known,
    # keeps the phase. It recovers by itself once Prometheus is back.
    await stack.prometheus.stop()
    obj = await wait_for(
        cluster.api, "SLOBreached Unknown", is_("SLOBreached", "Unknown", "PrometheusUnavailable")
    )
    assert "cannot reach Prometheus" in condition(obj, "SLOBreached")["message"]
    assert obj["status"]["phase"] == "Drifting"
    await stack.prometheus.restart()
    await wait_for(
        cluster.api, "SLO figures back", is_("SLOBreached", "False", "WithinObjectives"), timeout=120
    )
    shifted.set()

    reasons = [r for r, _ in events(cluster)]
    assert reasons.count("DriftDetected") == 1
    assert reasons.count("PrometheusUnavailable") == 1
    assert "Traceback" not in operator.output()

    # An operator restart resumes from the status in the cluster: no Event is raised twice.
    before = events(cluster)
    await operator.stop()
    again = await start_operator()
    await asyncio.sleep(8)  # more than an interval and several ticks
    assert events(cluster) == before
    assert "Traceback" not in again.output()


async def test_slow_model_breaches_the_latency_objective(
    cluster: Any, start_operator: Any, prometheus: Any, stacks: list[Stack]
) -> None:
    stack = await start_stack(prometheus, cluster.api, "--delay-ms", "150")
    stacks.append(stack)
    await deploy(stack, {"slos": {"latencyP95Ms": 100, "minRequests": 10}})
    await start_operator()
    await play_kubelet(stack)
    load = stack.traffic(shift=0.0, seed=5, batch=4)
    obj = await wait_for(cluster.api, "SLOBreached True", is_("SLOBreached", "True", "ObjectiveBreached"))
    load.set()
    assert obj["status"]["phase"] == "Breached"
    assert obj["status"]["slo"]["latencyP95Ms"] > 100
    assert "latencyP95Ms" in condition(obj, "SLOBreached")["message"]


async def test_low_traffic_is_insufficient_data_not_a_verdict(
    cluster: Any, start_operator: Any, prometheus: Any, stacks: list[Stack]
) -> None:
    stack = await start_stack(prometheus, cluster.api, "--delay-ms", "400")
    stacks.append(stack)
    await deploy(stack, {"slos": {"latencyP95Ms": 100, "minRequests": 500}})
    await start_operator()
    await play_kubelet(stack)
    await stack.send(make_rows(40, seed=6), batch=10)
    slo_waits = is_("SLOBreached", "Unknown", "InsufficientData")
    drift_waits = is_("DataDrift", "Unknown", "InsufficientData")
    obj = await wait_for(cluster.api, "both InsufficientData", lambda o: slo_waits(o) and drift_waits(o))
    assert obj["status"]["phase"] == "Pending"  # waiting for data, not failing
    assert "fewer than spec.drift.minRows=200" in condition(obj, "DataDrift")["message"]


async def test_reference_captured_from_traffic_is_stored_owned_and_used(
    cluster: Any, start_operator: Any, prometheus: Any, stacks: list[Stack]
) -> None:
    """The default reference: the first rows after injection, stored in a ConfigMap the monitor owns."""
    stack = await start_stack(prometheus, cluster.api)
    stacks.append(stack)
    await deploy(
        stack, {"drift": {"reference": {"capture": {"rows": 300}}, "minRows": 150, "driftShare": 0.2}}
    )
    await start_operator()
    await play_kubelet(stack)

    load = stack.traffic(shift=0.0, seed=7, batch=2, pause=0.05)
    try:
        obj = await wait_for(
            cluster.api, "CapturingReference", is_("DataDrift", "Unknown", "CapturingReference")
        )
        assert "/300 rows captured for the reference" in condition(obj, "DataDrift")["message"]
        obj = await wait_for(
            cluster.api, "drift evaluated against the captured reference", is_("DataDrift", "False")
        )
    finally:
        load.set()
    cm = await cluster.api.get("v1/configmaps", NS, f"{NAME}-reference")
    owner = cm["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("ModelMonitor", NAME, obj["metadata"]["uid"])
    profile = json.loads(cm["data"]["profile.json"])
    assert profile["rows"] == 300
    assert obj["status"]["drift"]["referenceRows"] == 300
