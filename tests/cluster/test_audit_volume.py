"""The sidecar's audit volume (spec.sidecar.audit) on the real API server, through real ReplicaSets,
with the stand-in kubelet running the real model and sidecar: the sidecar writes its audit segments
into the pod's emptyDir, and turning the audit trail off takes the volume out of the pod template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.workload.injected import ADMIN_VOLUME, AUDIT_MOUNT, AUDIT_VOLUME
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.cluster.conftest import K8s
from tests.cluster.test_operator_rbac import condition, demo_deployment, monitor
from tests.helpers.kubelet import Kubelet
from tests.helpers.sidecar import request

pytestmark = pytest.mark.cluster

NAME = "credit-scoring"
PROXY_PORT = 8480  # spec.sidecar.listenPort's default


def pod_spec(k8s: K8s, namespace: str) -> dict[str, Any]:
    return dict(k8s.get("-n", namespace, "deployment", NAME)["spec"]["template"]["spec"])


def injected(k8s: K8s, namespace: str) -> bool:
    obj = k8s.get("mm", "-n", namespace, NAME)
    return condition(obj, "SidecarInjected").get("status") == "True"


def the_pod_with_its_sidecar(kubelet: Kubelet) -> tuple[str, str] | None:
    """(pod, ip) when the kubelet runs exactly one pod and its sidecar process is up, else None."""
    pods = kubelet.pods()
    if len(pods) != 1:
        return None
    ((name, (ip, pids)),) = pods.items()
    return (name, ip) if ip and pids.get(SIDECAR_NAME) else None


def segments(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for p in sorted(folder.glob("audit-*.jsonl")) for line in p.read_text().splitlines()
    ]


def test_the_sidecar_writes_its_audit_trail_into_the_pods_emptydir_and_off_takes_it_out(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any
) -> None:
    deployment = demo_deployment()
    deployment["spec"]["replicas"] = 1
    k8s.apply(deployment, namespace)
    start_operator()
    audit = {"enabled": True, "sizeLimit": "64Mi"}
    spec = {
        "target": {"deployment": NAME, "port": 8080, "protocol": "kserve-v1"},
        "sidecar": {"audit": audit},
    }
    k8s.apply(monitor(NAME, **spec), namespace)
    k8s.wait_for(lambda: injected(k8s, namespace), timeout=60, what="the sidecar with its audit volume")

    template = pod_spec(k8s, namespace)
    assert [v for v in template["volumes"] if v["name"] == AUDIT_VOLUME] == [
        {"name": AUDIT_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}
    ]  # stored as written: no patch at the next evaluation
    (side,) = [c for c in template["containers"] if c["name"] == SIDECAR_NAME]
    assert {"name": AUDIT_VOLUME, "mountPath": AUDIT_MOUNT} in side["volumeMounts"]
    assert [c["name"] for c in template["containers"] if c.get("volumeMounts")] == [SIDECAR_NAME]
    env = {e["name"]: e.get("value") for e in side["env"]}
    assert env["MODELMONITOR_AUDIT_DIR"] == AUDIT_MOUNT
    assert (int(env["MODELMONITOR_AUDIT_KEEP"]) + 1) * int(
        env["MODELMONITOR_AUDIT_SEGMENT_BYTES"]
    ) <= 0.9 * 64 * 2**20

    # Requests through the running pod's sidecar land in that pod's emptyDir, one line each.
    # The template is patched before the rollout ends: wait until the one pod left runs the sidecar.
    pod, ip = k8s.wait_for(lambda: the_pod_with_its_sidecar(kubelet), timeout=30,
                           what="one pod, running the sidecar")  # fmt: skip
    folder = kubelet.emptydir(pod, AUDIT_VOLUME)
    ids = [f"audit-volume-{i}" for i in range(5)]
    for i, rid in enumerate(ids):
        body = json.dumps(make_payload("kserve-v1", make_rows(2, seed=i), NAME)).encode()
        status, _, _ = request(PROXY_PORT, "POST", path_for("kserve-v1", NAME), body,
                               {"Content-Type": "application/json", "X-Request-ID": rid}, host=ip)  # fmt: skip
        assert status == 200
    k8s.wait_for(lambda: {r.get("request_id") for r in segments(folder)} >= set(ids), timeout=15,
                 what="the requests in the pod's audit segments")  # fmt: skip

    # Off: exactly the volume, the mount and the variables go; the admin volume stays.
    k8s.kubectl("-n", namespace, "patch", "mm", NAME, "--type=merge", "-p",
                json.dumps({"spec": {"sidecar": {"audit": {"enabled": False}}}}))  # fmt: skip
    k8s.wait_for(lambda: [v["name"] for v in pod_spec(k8s, namespace)["volumes"]] == [ADMIN_VOLUME], timeout=30,
                 what="the audit volume out of the pod template")  # fmt: skip
    (side,) = [c for c in pod_spec(k8s, namespace)["containers"] if c["name"] == SIDECAR_NAME]
    assert [m["name"] for m in side["volumeMounts"]] == [ADMIN_VOLUME]
    assert not [e for e in side["env"] if e["name"].startswith("MODELMONITOR_AUDIT")]
    k8s.wait_for(lambda: pod not in kubelet.pods() and not folder.exists(), timeout=30,
                 what="the old pod, and its emptyDir with it, gone")  # fmt: skip
