"""The stand-in kubelet on the real control plane: real controllers, real processes, a real Prometheus.

The Deployment and ReplicaSet controllers act on what the kubelet reports (Ready pods make a
Deployment Available, a rollout waits for new pods, a rollback brings back the old ReplicaSet's
pod-template-hash); the processes behind the pods answer on the pods' own addresses; Prometheus finds
the sidecars by Kubernetes pod discovery against this API server, as the chart's PodMonitor does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import http.client
import json
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.workload.admin import admin_secret
from modelmonitor.workload.injection import (
    ADMIN_PORT_NAME,
    PROXY_PORT_NAME,
    SIDECAR_NAME,
    admin_volume,
    sidecar_container,
)
from tests.cluster.conftest import K8s
from tests.conftest import PrometheusProcess, prometheus_binary
from tests.helpers.kubelet import Kubelet, PodDiscovery, kubernetes_sd_supported, pod_scrape_config

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
NAME = "credit-scoring"
IMAGE = "ghcr.io/modelmonitor/modelmonitor:0.1.0"


def demo_manifests(replicas: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """examples/demo-model.yaml: the Deployment (with ``replicas``) and its Service."""
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    deployment["spec"]["replicas"] = replicas
    return deployment, service


def model_args(deployment: dict[str, Any]) -> list[str]:
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])


def available(k8s: K8s, namespace: str, replicas: int, name: str = NAME) -> dict[str, Any] | None:
    """The Deployment once its rollout is complete: every replica updated and available, no old pods."""
    dep: dict[str, Any] = k8s.get("-n", namespace, "deployment", name)
    status = dep.get("status") or {}
    progressing: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c["type"] == "Progressing"), {}
    )
    done = (
        status.get("observedGeneration", 0) >= dep["metadata"]["generation"]
        and status.get("replicas") == status.get("updatedReplicas") == replicas
        and status.get("readyReplicas") == status.get("availableReplicas") == replicas
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )
    return dep if done else None


def pods(k8s: K8s, namespace: str) -> list[dict[str, Any]]:
    return list(k8s.get("-n", namespace, "pods")["items"])


def call(ip: str, port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(ip, port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def window(ip: str, port: int, token: str | None) -> int:
    """The status of GET /v1/window on a sidecar's admin port, with ``token`` as Bearer (or none)."""
    conn = http.client.HTTPConnection(ip, port, timeout=10)
    try:
        conn.request(
            "GET", "/v1/window?since=0", headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def predict(ip: str, port: int, rows: int = 3) -> list[Any]:
    status, body = call(
        ip, port, "POST", path_for("kserve-v1", NAME), make_payload("kserve-v1", make_rows(rows))
    )
    assert status == 200, body
    assert len(body["predictions"]) == rows, body
    return list(body["predictions"])


def test_demo_deployment_becomes_available_each_pod_on_its_own_address(
    k8s: K8s, namespace: str, kubelet: Kubelet
) -> None:
    deployment, service = demo_manifests(replicas=2)
    k8s.apply([deployment, service], namespace)
    dep = k8s.wait_for(lambda: available(k8s, namespace, 2), timeout=40, what="the demo Deployment Available")
    conditions = {c["type"]: c for c in dep["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"

    running = pods(k8s, namespace)
    assert len(running) == 2
    local = kubelet.pods()
    addresses = set()
    for pod in running:
        name, status = pod["metadata"]["name"], pod["status"]
        ip, pids = local[name]
        assert status["phase"] == "Running"
        assert status["podIP"] == ip and status["podIPs"] == [{"ip": ip}]
        assert ip.startswith("127.") and ip != "127.0.0.1"
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True",
            "PodReadyToStartContainers": "True",
        }  # fmt: skip
        (container,) = status["containerStatuses"]
        assert container["name"] == "model" and container["ready"] and container["started"]
        assert container["restartCount"] == 0 and container["image"] == IMAGE
        assert (
            container["imageID"] and container["containerID"] and "startedAt" in container["state"]["running"]
        )
        # The process is the manifest's, with the pod's 0.0.0.0 mapped to the pod's address.
        pid = pids["model"]
        assert pid is not None and alive(pid)
        assert cmdline(pid)[3:] == [a.replace("0.0.0.0", ip) for a in model_args(deployment)]
        assert call(ip, 8080, "GET", "/healthz") == (
            200, {"status": "ok", "name": NAME, "version": "1.0.0", "ready": True}
        )  # fmt: skip
        predictions = predict(ip, 8080)
        assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-5 for p in predictions)
        addresses.add(ip)
    assert len(addresses) == 2, "each pod has an address of its own"


def test_template_change_rolls_out_and_rollout_undo_brings_back_the_old_pods(
    k8s: K8s, namespace: str, kubelet: Kubelet
) -> None:
    deployment, _ = demo_manifests(replicas=2)
    k8s.apply(deployment, namespace)
    k8s.wait_for(lambda: available(k8s, namespace, 2), timeout=40, what="revision 1 Available")
    first = {p["metadata"]["name"]: p for p in pods(k8s, namespace)}
    (old_hash,) = {p["metadata"]["labels"]["pod-template-hash"] for p in first.values()}
    old_pids = [pid for _, pids in kubelet.pods().values() if (pid := pids["model"]) is not None]
    assert len(old_pids) == 2 and all(alive(pid) for pid in old_pids)

    # Revision 2: a new model version, as a label and as an argument.
    changed = copy.deepcopy(deployment)
    template = changed["spec"]["template"]
    template["metadata"]["labels"]["app.kubernetes.io/version"] = "1.1.0"
    args = template["spec"]["containers"][0]["args"]
    args[args.index("--version") + 1] = "1.1.0"
    k8s.apply(changed, namespace)

    def rolled_out(version: str, hash_is_old: bool) -> list[dict[str, Any]] | None:
        if not available(k8s, namespace, 2):
            return None
        current = pods(k8s, namespace)
        hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in current}
        if len(current) != 2 or len(hashes) != 1 or (hashes == {old_hash}) != hash_is_old:
            return None
        local = kubelet.pods()
        if set(local) != {p["metadata"]["name"] for p in current}:
            return None  # the replaced pods' processes are still being stopped
        for ip, pids in local.values():
            pid = pids["model"]
            if pid is None or call(ip, 8080, "GET", "/healthz")[1]["version"] != version:
                return None
        return current

    second = k8s.wait_for(
        lambda: rolled_out("1.1.0", hash_is_old=False), timeout=40, what="revision 2 rolled out"
    )
    assert not {p["metadata"]["name"] for p in second} & set(first)
    assert not [pid for pid in old_pids if alive(pid)], "the replaced pods' processes are stopped"
    new_pids = [pid for _, pids in kubelet.pods().values() if (pid := pids["model"]) is not None]
    assert len(new_pids) == 2 and all("1.1.0" in cmdline(pid) for pid in new_pids)

    k8s.kubectl("-n", namespace, "rollout", "undo", f"deployment/{NAME}")
    third = k8s.wait_for(
        lambda: rolled_out("1.0.0", hash_is_old=True), timeout=40, what="rollback to revision 1"
    )
    assert {p["metadata"]["labels"]["app.kubernetes.io/version"] for p in third} == {"1.0.0"}
    assert not [pid for pid in new_pids if alive(pid)], "revision 2's processes are stopped"
    for ip, pids in kubelet.pods().values():
        assert pids["model"] is not None and alive(pids["model"])
        predict(ip, 8080)
    dep = k8s.get("-n", namespace, "deployment", NAME)
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_a_container_that_cannot_run_here_keeps_the_pod_unready(
    k8s: K8s, namespace: str, kubelet: Kubelet
) -> None:
    deployment, _ = demo_manifests(replicas=1)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    containers.append({"name": "cache", "image": "redis:7.4", "ports": [{"containerPort": 6379}]})
    containers.append({"name": "broken", "image": IMAGE, "args": ["demo-model", "--port", "not-a-port"]})
    k8s.apply(deployment, namespace)

    def statuses() -> dict[str, dict[str, Any]] | None:
        (pod,) = pods(k8s, namespace)
        found = {c["name"]: c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        return (
            found if found.get("broken", {}).get("restartCount", 0) >= 1 and found["model"]["ready"] else None
        )

    found = k8s.wait_for(statuses, timeout=30, what="the model ready and the broken container restarted")
    assert found["cache"]["state"]["waiting"]["reason"] == "ImageNotRunnableHere"
    assert not found["cache"]["ready"] and not found["cache"]["started"]
    assert found["broken"]["lastState"]["terminated"]["exitCode"] == 2  # argparse refuses the port
    assert not found["broken"]["ready"]
    (pod,) = pods(k8s, namespace)
    assert "invalid int value: 'not-a-port'" in kubelet.logs(pod["metadata"]["name"], "broken")
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert pod["status"]["phase"] == "Running"
    assert conditions["Ready"]["status"] == "False" and conditions["ContainersReady"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    dep = k8s.get("-n", namespace, "deployment", NAME)
    available_condition = next(c for c in dep["status"]["conditions"] if c["type"] == "Available")
    assert available_condition["status"] == "False"
    assert available_condition["reason"] == "MinimumReplicasUnavailable"
    assert not dep["status"].get("availableReplicas") and dep["status"]["unavailableReplicas"] == 1

    (ip, pids) = kubelet.pods()[pod["metadata"]["name"]]
    assert pids["cache"] is None and pids["model"] is not None
    assert call(ip, 8080, "GET", "/healthz")[0] == 200, "the runnable container still runs"
    kubelet.stop()
    assert not alive(pids["model"]) and kubelet.pods() == {}


def test_a_pod_bound_to_the_node_gets_its_env_and_a_graceful_deletion(
    k8s: K8s, namespace: str, kubelet: Kubelet
) -> None:
    # Bound to the kubelet's node at creation: deleting it sets a deletionTimestamp and leaves it to
    # the kubelet, which stops the processes and then deletes the pod for good.
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bound", "labels": {"app.kubernetes.io/version": "2.0.0"},
                     "annotations": {"team": "risk"}},
        "spec": {
            "nodeName": kubelet.node_name,
            "terminationGracePeriodSeconds": 10,
            "containers": [{
                "name": "model", "image": IMAGE,
                "command": ["modelmonitor", "demo-model"],
                "args": ["--host", "$(LISTEN_HOST)", "--port", "9000", "--version", "$(VERSION)"],
                "ports": [{"name": "web", "containerPort": 9000}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "web"}},
                "env": [
                    {"name": "LISTEN_HOST", "value": "localhost"},
                    {"name": "UPSTREAM", "value": "http://127.0.0.1:9000"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "VERSION", "valueFrom": {"fieldRef": {
                        "fieldPath": "metadata.labels['app.kubernetes.io/version']"}}},
                    {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
                ],
            }],
        },
    }  # fmt: skip
    k8s.apply(pod, namespace)

    def ready() -> dict[str, Any] | None:
        got: dict[str, Any] = k8s.get("-n", namespace, "pod", "bound")
        conditions = {c["type"]: c["status"] for c in got["status"].get("conditions") or []}
        return got if conditions.get("Ready") == "True" else None

    got = k8s.wait_for(ready, timeout=30, what="the bound pod Ready")
    ip, pids = kubelet.pods()["bound"]
    pid = pids["model"]
    assert pid is not None and got["status"]["podIP"] == ip
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    assert {k: environ[k] for k in ("LISTEN_HOST", "UPSTREAM", "POD", "NS", "IP", "VERSION", "TEAM")} == {
        "LISTEN_HOST": ip, "UPSTREAM": f"http://{ip}:9000", "POD": "bound", "NS": namespace, "IP": ip,
        "VERSION": "2.0.0", "TEAM": "risk",
    }  # fmt: skip
    assert environ["PATH"] == os.environ["PATH"], "the test process's environment is passed on"
    assert cmdline(pid)[3:] == ["demo-model", "--host", ip, "--port", "9000", "--version", "2.0.0"]
    assert call(ip, 9000, "GET", "/healthz")[1]["version"] == "2.0.0"

    k8s.kubectl("-n", namespace, "delete", "pod", "bound", "--wait=false")
    k8s.wait_for(lambda: not alive(pid), timeout=15, what="the process stopped")
    k8s.wait_for(
        lambda: not k8s.kubectl("-n", namespace, "get", "pod", "bound", "--ignore-not-found", "-o", "name").stdout,
        timeout=15, what="the pod deleted by the kubelet",
    )  # fmt: skip
    # Only a pod still there with a deletionTimestamp, after its processes stopped, is deleted so.
    assert "bound: deleted with gracePeriodSeconds=0" in kubelet.journal()
    assert kubelet.pods() == {}


async def test_sidecar_proxies_to_the_model_and_prometheus_discovers_it(
    k8s: K8s, namespace: str, kubelet: Kubelet, prometheus: Callable[..., Awaitable[PrometheusProcess]]
) -> None:
    deployment, _ = demo_manifests(replicas=2)
    spec = ModelMonitorSpec.model_validate({"target": {"deployment": NAME, "protocol": "kserve-v1"}})
    sidecar = sidecar_container(spec, deployment, image=IMAGE, monitor=NAME)
    deployment["spec"]["template"]["spec"]["containers"].append(sidecar)
    deployment["spec"]["template"]["spec"]["volumes"] = [admin_volume(NAME)]
    secret = admin_secret(NAME, "uid-of-no-monitor")
    del secret["metadata"]["ownerReferences"]  # no such monitor: the garbage collector would delete it
    token = base64.b64decode(secret["data"]["token"]).decode()
    k8s.apply([secret, deployment], namespace)
    k8s.wait_for(
        lambda: available(k8s, namespace, 2), timeout=40, what="the Deployment with sidecars Available"
    )

    proxy = next(p["containerPort"] for p in sidecar["ports"] if p["name"] == PROXY_PORT_NAME)
    admin = next(p["containerPort"] for p in sidecar["ports"] if p["name"] == ADMIN_PORT_NAME)
    sent: dict[str, int] = {}
    for name, (ip, pids) in kubelet.pods().items():
        assert pids[SIDECAR_NAME] is not None
        for _ in range(3):
            predict(ip, proxy)  # through the sidecar's proxy port to the model container
        sent[name] = 3
        # The token came through the Secret volume: the window wants it, /metrics does not.
        assert window(ip, admin, None) == 401 and window(ip, admin, "wrong") == 403
        assert window(ip, admin, token) == 200
    assert len(sent) == 2

    job = pod_scrape_config(k8s.server, str(k8s.ca), k8s.token, namespace)
    assert job["kubernetes_sd_configs"][0]["namespaces"] == {"names": [namespace]}
    with contextlib.ExitStack() as stack:
        if not kubernetes_sd_supported(prometheus_binary()):
            # Debian's build has no Kubernetes discovery: the same discovery, served as HTTP SD.
            job = stack.enter_context(PodDiscovery(job)).scrape_config()
        server = await prometheus(scrape_configs=[job])
        async with aiohttp.ClientSession() as session:

            async def scraped() -> list[dict[str, Any]] | None:
                series = await server.query(session, 'modelmonitor_sidecar_requests_total{code="200"}')
                got = {s["metric"].get("pod"): float(s["value"][1]) for s in series}
                return series if got == {name: float(n) for name, n in sent.items()} else None

            try:
                series = await _eventually(scraped, timeout=30)
            except TimeoutError:
                async with session.get(f"{server.url}/api/v1/targets") as resp:
                    targets = await resp.text()
                log = (server.workdir / "log").read_text()[-3000:]
                pytest.fail(f"Prometheus did not scrape both sidecars in 30 s:\n{targets}\n{log}")
            async with session.get(f"{server.url}/api/v1/targets", params={"state": "any"}) as resp:
                targets = (await resp.json())["data"]

    for s in series:
        labels = s["metric"]
        assert labels["namespace"] == namespace and labels["container"] == SIDECAR_NAME
        assert labels["model"] == NAME and labels["version"] == "1.0.0"  # the fieldRef of the version label
        assert labels["job"] == "modelmonitor-sidecars" and labels["endpoint"] == ADMIN_PORT_NAME
    local = kubelet.pods()
    ours = [t for t in targets["activeTargets"] if t["labels"].get("job") == "modelmonitor-sidecars"]
    assert sorted((t["labels"]["pod"], t["labels"]["instance"], t["health"]) for t in ours) == sorted(
        (name, f"{ip}:{admin}", "up") for name, (ip, _) in local.items()
    )
    # Discovery found every container port; the keep rule left only the sidecars' admin ports.
    dropped = [t["discoveredLabels"] for t in targets["droppedTargets"]
               if t["discoveredLabels"].get("job") == "modelmonitor-sidecars"]  # fmt: skip
    assert sorted((d["__meta_kubernetes_pod_name"], d["__meta_kubernetes_pod_container_port_name"]) for d in dropped) == sorted(
        (name, port) for name in local for port in ("http", PROXY_PORT_NAME)
    )  # fmt: skip


async def _eventually(probe: Callable[[], Awaitable[Any]], *, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise TimeoutError


def test_secret_volumes_are_written_with_their_modes_and_their_paths_mapped(
    k8s: K8s, namespace: str, kubelet: Kubelet
) -> None:
    """A Secret volume (its items, or all its keys) lands in a folder of the pod's, with the modes
    the manifest asks for; the container's mountPath in args and env values points there."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in
                       {"token": "t0ken\n", "salt": "s4lt", "other": "x"}.items()}}  # fmt: skip
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mounted"},
        "spec": {
            "containers": [{
                "name": "model", "image": IMAGE, "command": ["modelmonitor", "demo-model"],
                "args": ["--host", "$(LISTEN_HOST)", "--port", "9000", "--version", "/etc/creds/token"],
                "ports": [{"name": "web", "containerPort": 9000}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "web"}},
                "env": [{"name": "LISTEN_HOST", "value": "localhost"},
                        {"name": "TOKEN_FILE", "value": "/etc/creds/token"},
                        {"name": "ALL", "value": "/etc/all"},
                        {"name": "ONE", "value": "/etc/one-salt"},
                        {"name": "NOT_BELOW", "value": "/etc/credsX/token"}],
                "volumeMounts": [{"name": "picked", "mountPath": "/etc/creds", "readOnly": True},
                                 {"name": "everything", "mountPath": "/etc/all"},
                                 {"name": "everything", "mountPath": "/etc/one-salt", "subPath": "salt"}],
            }],
            "volumes": [
                {"name": "picked", "secret": {"secretName": "creds", "defaultMode": 0o440,
                                              "items": [{"key": "token", "path": "token"},
                                                        {"key": "salt", "path": "sub/salt", "mode": 0o400}]}},
                {"name": "everything", "secret": {"secretName": "creds"}},
            ],
        },
    }  # fmt: skip
    k8s.apply([secret, pod], namespace)

    def ready() -> dict[str, Any] | None:
        got: dict[str, Any] = k8s.get("-n", namespace, "pod", "mounted")
        conditions = {c["type"]: c["status"] for c in got["status"].get("conditions") or []}
        return got if conditions.get("Ready") == "True" else None

    k8s.wait_for(ready, timeout=30, what="the pod with Secret volumes Ready")
    _, pids = kubelet.pods()["mounted"]
    pid = pids["model"]
    assert pid is not None
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    picked, everything = (kubelet.workdir / "mounted" / "volumes" / v for v in ("picked", "everything"))
    assert environ["TOKEN_FILE"] == str(picked / "token")
    assert environ["ALL"] == str(everything) and environ["ONE"] == str(everything / "salt")
    assert environ["NOT_BELOW"] == "/etc/credsX/token", "a longer name is not below the mount"
    assert cmdline(pid)[-1] == str(picked / "token")
    assert (picked / "token").read_text() == "t0ken\n" and (picked / "sub" / "salt").read_text() == "s4lt"
    assert not (picked / "other").exists(), "only the items asked for"
    assert stat.S_IMODE((picked / "token").stat().st_mode) == 0o440
    assert stat.S_IMODE((picked / "sub" / "salt").stat().st_mode) == 0o400
    assert sorted(p.name for p in everything.iterdir()) == ["other", "salt", "token"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in everything.iterdir()} == {0o644}  # the API's default

    # A Secret that is not there: the pod cannot start, and says why.
    missing = copy.deepcopy(pod)
    missing["metadata"]["name"] = "unmounted"
    missing["spec"]["volumes"][0]["secret"]["secretName"] = "no-such-secret"
    k8s.apply(missing, namespace)

    def waiting() -> dict[str, Any] | None:
        got: dict[str, Any] = k8s.get("-n", namespace, "pod", "unmounted")
        states = [s.get("state", {}).get("waiting") for s in got["status"].get("containerStatuses") or []]
        return (
            states[0]
            if states and states[0] and states[0]["reason"] == "CreateContainerConfigError"
            else None
        )

    state = k8s.wait_for(waiting, timeout=30, what="the pod without its Secret waiting")
    assert "secret 'no-such-secret' not found" in state["message"]
    assert kubelet.pods()["unmounted"][1]["model"] is None
