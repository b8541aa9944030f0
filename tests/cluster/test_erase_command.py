"""``modelmonitor erase`` on the real API server, with the stand-in kubelet running real sidecars.

The monitor, its admin Secret and the pods of its target and its challenger are found as on a cluster
(pods owned by each Deployment's ReplicaSets; a pod that is not ready is reported as not reached, and
the erasure is then not done); each sidecar erases the subject from its window. One hop differs from
a cluster: a real kube-apiserver refuses to proxy to the loopback pod addresses of this machine
("address not allowed", checked on 1.36), so the request goes to the pod's address directly, with the
token in the header the proxy would forward. The proxy hop itself is proven on its seam in
tests/unit/sidecar/test_erase_cli.py.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
from typing import Any

import pytest

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.commands.erase import erase_cluster
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.sidecar.auth import TOKEN_HEADER
from modelmonitor.sidecar.redact import Redactor
from modelmonitor.workload.admin import admin_secret
from modelmonitor.workload.injection import ADMIN_PORT_NAME, PROXY_PORT_NAME, admin_volume, sidecar_container
from tests.cluster.conftest import K8s
from tests.cluster.test_kubelet import IMAGE, NAME, available, demo_manifests
from tests.helpers.kubelet import Kubelet

pytestmark = pytest.mark.cluster

CHALLENGER = f"{NAME}-v2"
JANE = "jane.doe@example.org"


def injected(spec: ModelMonitorSpec, name: str) -> dict[str, Any]:
    """The demo Deployment named ``name`` (one replica) with the monitor's sidecar, as injection makes it."""
    deployment, _ = demo_manifests(replicas=1)
    deployment = copy.deepcopy(deployment)
    deployment["metadata"]["name"] = name
    deployment["spec"]["selector"] = {"matchLabels": {"app": name}}
    template = deployment["spec"]["template"]
    template["metadata"]["labels"]["app"] = name
    template["spec"]["containers"].append(sidecar_container(spec, deployment, image=IMAGE, monitor=NAME))
    template["spec"]["volumes"] = [admin_volume(NAME)]
    return deployment


def call(ip: str, port: int, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(ip, port, timeout=30)
    try:
        conn.request(
            method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_erase_reaches_the_target_and_the_challenger_and_is_not_done_while_a_pod_is_not_ready(
    k8s: K8s, namespace: str, release: dict[str, Any], kubelet: Kubelet
) -> None:
    body = {"target": {"deployment": NAME, "protocol": "kserve-v1"}, "sidecar": {"redact": ["email"]},
            "experiment": {"challenger": {"deployment": CHALLENGER}}}  # fmt: skip
    spec = ModelMonitorSpec.model_validate(body)
    secret = admin_secret(NAME, "uid-of-no-monitor")
    del secret["metadata"]["ownerReferences"]  # no such monitor: the garbage collector would delete it
    token = base64.b64decode(secret["data"]["token"]).decode()
    salt = base64.b64decode(secret["data"]["salt"]).decode()
    monitor = {"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor", "metadata": {"name": NAME},
               "spec": body}  # fmt: skip
    champion, challenger = injected(spec, NAME), injected(spec, CHALLENGER)
    k8s.apply([secret, monitor, champion, challenger], namespace)
    for name in (NAME, CHALLENGER):
        k8s.wait_for(lambda n=name: available(k8s, namespace, 1, n), timeout=40, what=f"{name} Available")
    sidecar = champion["spec"]["template"]["spec"]["containers"][-1]
    proxy, admin = (next(p["containerPort"] for p in sidecar["ports"] if p["name"] == n)
                    for n in (PROXY_PORT_NAME, ADMIN_PORT_NAME))  # fmt: skip
    auth = {TOKEN_HEADER: token, "Content-Type": "application/json"}
    pods = kubelet.pods()
    for pod, (ip, _) in pods.items():
        for rid, email in ((f"jane-{pod}", JANE), (f"ann-{pod}", "ann@example.org")):
            row = {**make_rows(1)[0], "email": email}
            headers = {"Content-Type": "application/json", "X-Request-ID": rid}
            assert (
                call(
                    ip, proxy, "POST", path_for("kserve-v1", NAME), make_payload("kserve-v1", [row]), headers
                )[0]
                == 200
            )
    k8s.wait_for(lambda: all(call(ip, admin, "GET", "/v1/window", None, auth)[1]["head"] >= 2 for ip, _ in pods.values()),
                 timeout=20, what="the rows in every window")  # fmt: skip

    def direct(ns: str, pod: str, port: int, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        status, answer = call(
            kubelet.pods()[pod][0], port, "POST", "/v1/erase", payload, {**auth, TOKEN_HEADER: token}
        )
        assert status == 200, answer
        return dict(answer)

    done = erase_cluster(NAME, namespace, str(k8s.kubeconfig), "email", JANE, transport=direct)
    assert done.complete, done.to_json()
    assert sorted(done.deployments.values()) == [NAME, CHALLENGER]
    assert all(counts["window"] == 1 for counts in done.removed.values()) and len(done.removed) == 2
    hashed = Redactor(salt=salt).hash(JANE)
    for ip, _ in pods.values():
        window = json.dumps(call(ip, admin, "GET", "/v1/window", None, auth)[1])
        assert hashed not in window and "jane-" not in window and "ann-" in window

    # A new challenger pod that cannot become ready (its model image cannot run here): not reached.
    k8s.kubectl(
        "-n", namespace, "set", "image", f"deployment/{CHALLENGER}", "model=docker.io/library/nginx:1"
    )

    def unready() -> Any:
        again = erase_cluster(NAME, namespace, str(k8s.kubeconfig), "email", JANE, transport=direct)
        return again if again.unreachable else None

    again = k8s.wait_for(unready, timeout=30, what="the challenger's new pod, not ready, reported")
    assert not again.complete and len(again.removed) == 2  # the ready pods were reached, and erased nothing
    ((pod, why),) = again.unreachable.items()
    assert pod.startswith(CHALLENGER) and pod not in pods and ("not ready" in why or "waiting" in why), why
    assert all(sum(counts.values()) == 0 for counts in again.removed.values())
