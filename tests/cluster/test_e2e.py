"""End to end on the real API server, through real ReplicaSets: the operator (as the chart's
ServiceAccount), the stand-in kubelet running the real model and sidecar processes of each Pod, and a
real Prometheus discovering the pods through this API server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import yaml

from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.drift import build_profile
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from tests.cluster.conftest import ROOT, K8s
from tests.conftest import PrometheusProcess
from tests.helpers.kubelet import Kubelet
from tests.helpers.sidecar import request

pytestmark = pytest.mark.cluster

NAME = "credit-scoring"
PROXY_PORT = 8480  # spec.sidecar.listenPort's default


def demo() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()))
    return next(d for d in docs if d["kind"] == "Deployment"), next(d for d in docs if d["kind"] == "Service")


def monitor(prometheus_url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": NAME},
        "spec": {
            "target": {"deployment": NAME, "port": 8080, "protocol": "kserve-v1"},
            "interval": "5s",
            "window": {"maxRows": 400, "maxAge": "1h"},
            "prometheus": {"url": prometheus_url, "timeout": "2s"},
            # The demo's shift moves two of ten features (income, debt_ratio): dataset drift at 20 %.
            "drift": {
                "reference": {"configMapRef": {"name": "credit-reference"}},
                "minRows": 200,
                "driftShare": 0.2,
            },
            **spec,
        },
    }


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


class Traffic:
    """KServe v1 requests to every ready pod's sidecar, in a thread, until stopped (5 minutes at most).
    Pods come and go with rollouts: the addresses are read from the kubelet before each request."""

    def __init__(self, kubelet: Kubelet, *, shift: float, seed: int) -> None:
        self.kubelet, self.shift, self.seed = kubelet, shift, seed
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        path = path_for("kserve-v1", NAME)
        deadline = time.monotonic() + 300
        n = 0
        while not self.stopped.is_set() and time.monotonic() < deadline:
            ips = sorted(ip for ip, _ in self.kubelet.pods().values() if ip)
            if not ips:
                self.stopped.wait(0.1)
                continue
            rows = make_rows(5, seed=self.seed * 100_000 + n, shift=self.shift)
            body = json.dumps(make_payload("kserve-v1", rows, NAME)).encode()
            try:
                request(PROXY_PORT, "POST", path, body, {"Content-Type": "application/json"},
                        host=ips[n % len(ips)])  # fmt: skip
                self.sent += 1
            except OSError:
                pass  # a pod going away mid-rollout
            n += 1
            self.stopped.wait(0.02)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


@pytest.fixture
def traffic() -> Iterator[Callable[..., Traffic]]:
    started: list[Traffic] = []

    def start(kubelet: Kubelet, *, shift: float = 0.0, seed: int = 2) -> Traffic:
        started.append(Traffic(kubelet, shift=shift, seed=seed))
        return started[-1]

    yield start
    for t in started:
        t.stop()


async def model_stack(
    k8s: K8s, namespace: str, pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]], replicas: int = 2
) -> tuple[PrometheusProcess, dict[str, Any], dict[str, Any]]:
    """The demo Deployment and Service, a reference profile, and a Prometheus that discovers the pods."""
    deployment, service = demo()
    deployment["spec"]["replicas"] = replicas
    profile = build_profile(pd.DataFrame(make_rows(3000, seed=1)))
    k8s.apply([deployment, service], namespace)
    k8s.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "credit-reference"},
               "data": {"profile.json": profile.to_json()}}, namespace)  # fmt: skip
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    prom = await pod_prometheus(namespace)
    return prom, k8s.get("-n", namespace, "deployment", NAME), k8s.get("-n", namespace, "service", NAME)


def watch(k8s: K8s, namespace: str, what: str, test: Callable[[dict[str, Any]], bool],
          timeout: float = 120) -> dict[str, Any]:  # fmt: skip
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        obj = k8s.get("mm", "-n", namespace, NAME)
        last["status"] = obj.get("status")
        return obj if test(obj) else None

    try:
        result: dict[str, Any] = k8s.wait_for(probe, timeout=timeout, interval=0.5, what=what)
    except BaseException:
        print("last status:", json.dumps(last.get("status"), indent=1))
        raise
    return result


def evaluations_seen(k8s: K8s, namespace: str, count: int, timeout: float = 90) -> None:
    """Wait until ``count`` more evaluations have been written (lastEvaluation moves each time)."""
    seen: set[str] = set()

    def moved() -> bool:
        stamp = k8s.get("mm", "-n", namespace, NAME)["status"].get("lastEvaluation")
        if stamp:
            seen.add(stamp)
        return len(seen) > count

    k8s.wait_for(moved, timeout=timeout, interval=0.5, what=f"{count} more evaluations")


def is_(kind: str, status: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def test(obj: dict[str, Any]) -> bool:
        c = condition(obj, kind)
        return c.get("status") == status and (reason is None or c.get("reason") == reason)

    return test


def available_replicasets(k8s: K8s, namespace: str) -> set[str]:
    """The pod-template hashes of the ReplicaSets that have available replicas."""
    return {
        rs["metadata"]["labels"]["pod-template-hash"]
        for rs in k8s.get("rs", "-n", namespace)["items"]
        if rs["status"].get("availableReplicas")
    }


def ship_model(k8s: K8s, namespace: str, *args: str, version: str = "1.1.0") -> None:
    """A new revision of the model: ``args`` added to its command line, its version label bumped."""
    ops = [{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": a} for a in args]
    ops.append(
        {
            "op": "replace",
            "path": "/spec/template/metadata/labels/app.kubernetes.io~1version",
            "value": version,
        }
    )
    k8s.kubectl("-n", namespace, "patch", "deployment", NAME, "--type=json", "-p", json.dumps(ops))


def spec_without_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k in ("labels", "annotations")}
    meta["annotations"] = {
        k: v for k, v in (meta.get("annotations") or {}).items()
        if k not in ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")
    }  # fmt: skip
    return {"metadata": meta, "spec": obj["spec"]}


async def test_inject_route_converge_drift_and_delete_on_a_real_cluster(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]], traffic: Callable[..., Traffic],
) -> None:  # fmt: skip
    prom, before_deployment, before_service = await model_stack(k8s, namespace, pod_prometheus)
    start_operator(prometheus_url=prom.url)
    k8s.apply(monitor(prom.url, slos={"latencyP95Ms": 250, "errorRate": 0.05, "minRequests": 10}), namespace)

    # Injected and rolled out by the real Deployment and ReplicaSet controllers.
    obj = watch(k8s, namespace, "SidecarInjected True", is_("SidecarInjected", "True", "Injected"))
    pods = k8s.get("pods", "-n", namespace, "-l", f"app={NAME}")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 2 and all(
        [c["name"] for c in p["spec"]["containers"]] == ["model", SIDECAR_NAME] for p in running
    )
    # The Service now sends its traffic through the sidecar's proxy port.
    service = k8s.get("-n", namespace, "service", NAME)
    assert service["spec"]["ports"][0]["targetPort"] in (PROXY_PORT, "mm-proxy"), service["spec"]
    assert "Services routed through it: credit-scoring" in condition(obj, "SidecarInjected")["message"]

    normal = traffic(kubelet, shift=0.0, seed=2)
    obj = watch(k8s, namespace, "phase Healthy", lambda o: o.get("status", {}).get("phase") == "Healthy")
    assert condition(obj, "DataDrift")["status"] == "False"
    assert obj["status"]["slo"]["requests"] >= 10 and 0 < obj["status"]["slo"]["latencyP95Ms"] < 250

    # Converged: despite the server's defaulting of the injected container, the operator does not
    # patch again; over five evaluations neither the generation nor the ReplicaSets move.
    generation = k8s.get("-n", namespace, "deployment", NAME)["metadata"]["generation"]
    replicasets = {rs["metadata"]["name"] for rs in k8s.get("rs", "-n", namespace)["items"]}
    evaluations_seen(k8s, namespace, 5)
    assert k8s.get("-n", namespace, "deployment", NAME)["metadata"]["generation"] == generation
    assert {rs["metadata"]["name"] for rs in k8s.get("rs", "-n", namespace)["items"]} == replicasets

    # The user re-applies their own Service manifest (kubectl apply resets targetPort, our annotation
    # stays): capture would stop silently; the next evaluation sees it and routes it again.
    k8s.apply(demo()[1], namespace)
    assert k8s.get("-n", namespace, "service", NAME)["spec"]["ports"][0]["targetPort"] == "http"
    k8s.wait_for(
        lambda: k8s.get("-n", namespace, "service", NAME)["spec"]["ports"][0]["targetPort"]
        in (PROXY_PORT, "mm-proxy"),
        timeout=60, what="the route restored",
    )  # fmt: skip

    # Kopf posts Events from a queue after the handler returns: wait for it, then count.
    def restored() -> list[dict[str, Any]]:
        return [e for e in k8s.get("events", "-n", namespace)["items"] if e.get("reason") == "RouteRestored"]

    k8s.wait_for(restored, timeout=30, what="the RouteRestored Event")
    evaluations_seen(k8s, namespace, 1)
    assert sum(e.get("count", 1) for e in restored()) == 1, restored()

    normal.stop()
    shifted = traffic(kubelet, shift=1.5, seed=3)
    obj = watch(k8s, namespace, "DataDrift True", is_("DataDrift", "True", "DriftDetected"))
    shifted.stop()
    assert obj["status"]["phase"] == "Drifting"
    drifted = {f["name"] for f in obj["status"]["drift"]["features"] if f["drifted"]}
    assert {"income", "debt_ratio"} <= drifted
    # Shifted values are still numbers: data intact, and the server kept the (empty) list in status.
    assert is_("DataIntegrity", "False", "Intact")(obj), obj["status"]["conditions"]
    assert obj["status"]["drift"]["brokenFeatures"] == []

    # Delete: the finalizer runs the cleanup, which takes away exactly what was added.
    k8s.kubectl("-n", namespace, "delete", "mm", NAME, "--timeout=60s", timeout=90)
    after_service = k8s.get("-n", namespace, "service", NAME)
    assert after_service["spec"] == before_service["spec"]
    assert "modelmonitor.io/routed" not in (after_service["metadata"].get("annotations") or {})
    after = k8s.get("-n", namespace, "deployment", NAME)
    assert spec_without_server_fields(after)["spec"]["template"] == before_deployment["spec"]["template"]
    assert "modelmonitor.io/injected" not in (after["metadata"].get("annotations") or {})


async def test_slow_revision_breaches_and_rolls_back_to_known_good_once_across_a_kill(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]], traffic: Callable[..., Traffic],
) -> None:  # fmt: skip
    prom, _, _ = await model_stack(k8s, namespace, pod_prometheus, replicas=1)
    operator = start_operator(prometheus_url=prom.url)
    k8s.apply(monitor(
        prom.url, window={"maxRows": 400, "maxAge": "15s"}, slos={"latencyP95Ms": 100, "minRequests": 10},
        actions={"rollback": {"when": ["SLOBreached"], "consecutive": 2, "cooldown": "10m"}},
    ), namespace)  # fmt: skip
    load = traffic(kubelet, shift=0.0, seed=5)
    obj = watch(
        k8s, namespace, "a known-good revision", lambda o: bool(o["status"].get("lastKnownGoodRevision"))
    )
    good = obj["status"]["lastKnownGoodRevision"]
    good_rs = available_replicasets(k8s, namespace)
    assert len(good_rs) == 1

    # The user ships a slower model.
    ship_model(k8s, namespace, "--delay-ms", "150")
    obj = watch(k8s, namespace, "SLOBreached True on the new revision", is_("SLOBreached", "True"))
    assert obj["status"]["target"]["podTemplateHash"] != good["podTemplateHash"]
    # Killed mid-streak (one breach of the two that trigger), the operator restarts from status.
    operator.kill()
    start_operator(prometheus_url=prom.url)
    obj = watch(
        k8s, namespace, "the rollback done",
        lambda o: any(a["action"] == "rollback" and a["result"] == "Done" for a in o["status"].get("actions", [])),
    )  # fmt: skip
    # The real controllers roll the Deployment back to the known-good ReplicaSet.
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    deployment = k8s.get("-n", namespace, "deployment", NAME)
    assert template_hash(deployment) == good["podTemplateHash"]
    running_rs = available_replicasets(k8s, namespace)
    assert running_rs == good_rs
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", SIDECAR_NAME], "the sidecar is kept through the rollback"
    # No duplicate action: a few more evaluations, still one rollback, one Event.
    evaluations_seen(k8s, namespace, 3)
    load.stop()
    obj = k8s.get("mm", "-n", namespace, NAME)
    done = [a for a in obj["status"]["actions"] if a["action"] == "rollback" and a["result"] == "Done"]
    assert len(done) == 1, obj["status"]["actions"]
    rollback_events = [
        e for e in k8s.get("events", "-n", namespace)["items"]
        if e["involvedObject"].get("kind") == "ModelMonitor" and "rolled back" in e.get("message", "").lower()
    ]  # fmt: skip
    assert sum(e.get("count", 1) for e in rollback_events) == 1, rollback_events


def test_a_sidecar_that_cannot_start_is_reported_as_a_failed_rollout(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
) -> None:  # fmt: skip
    """A sidecar image that cannot be pulled: the real Deployment controller gives up at the progress
    deadline, and the monitor says so instead of waiting forever; the old pods keep serving."""
    deployment, service = demo()
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["progressDeadlineSeconds"] = 8
    k8s.apply([deployment, service], namespace)
    k8s.kubectl("-n", namespace, "rollout", "status", f"deployment/{NAME}", "--timeout=90s", timeout=120)
    image = "registry.invalid/no/such-sidecar:1"
    start_operator(env={"MODELMONITOR_SIDECAR_IMAGES": image})  # the cluster admin allows that image
    k8s.apply(monitor("http://127.0.0.1:9", sidecar={"image": image}), namespace)
    failed = is_("SidecarInjected", "False", "RolloutFailed")
    # The condition shows at once; the phase follows at the next evaluation.
    obj = watch(
        k8s, namespace, "RolloutFailed, phase Error", lambda o: failed(o) and o["status"]["phase"] == "Error"
    )
    message = condition(obj, "SidecarInjected")["message"]
    assert "has timed out progressing" in message, message  # the Deployment controller's own words
    progressing = next(
        c
        for c in k8s.get("-n", namespace, "deployment", NAME)["status"]["conditions"]
        if c["type"] == "Progressing"
    )
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    ready = [p for p in k8s.get("pods", "-n", namespace)["items"]
             if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]  # fmt: skip
    assert [c["name"] for c in ready[0]["spec"]["containers"]] == ["model"], "the old pod keeps serving"
