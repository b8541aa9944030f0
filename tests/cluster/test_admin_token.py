"""The sidecar's admin token and NetworkPolicy on the real API server, with real controllers, the
stand-in kubelet running the real sidecar, and the operator as the chart's ServiceAccount.

What cannot be shown here: that the NetworkPolicy is *enforced*. The API server validates and stores
it; enforcement belongs to a network plugin, and this control plane has none (pods are processes on
loopback addresses). The admin port's guard proven here is the bearer token.
"""

from __future__ import annotations

import base64
import copy
import http.client
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from modelmonitor.workload.injection import ADMIN_VOLUME, SIDECAR_NAME
from tests.cluster.conftest import RELEASE_NAMESPACE, K8s
from tests.cluster.test_e2e import (
    NAME,
    Traffic,
    condition,
    evaluations_seen,
    is_,
    model_stack,
    monitor,
    traffic,  # noqa: F401  (the fixture)
    watch,
)
from tests.conftest import PrometheusProcess
from tests.helpers.kubelet import Kubelet

pytestmark = pytest.mark.cluster

ADMIN = f"{NAME}-modelmonitor-admin"
ADMIN_PORT = 8481  # spec.sidecar.adminPort's default


def window(ip: str, token: str | None) -> int:
    conn = http.client.HTTPConnection(ip, ADMIN_PORT, timeout=10)
    try:
        conn.request(
            "GET", "/v1/window?since=0", headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def exists(k8s: K8s, namespace: str, kind: str, name: str) -> bool:
    done = k8s.kubectl("-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "name", check=False)
    return bool(done.stdout.strip())


async def test_the_sidecar_gets_its_token_the_operator_reads_with_it_and_delete_takes_it_all(
    k8s: K8s, namespace: str, kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
    traffic: Callable[..., Traffic],  # noqa: F811  (the fixture of test_e2e, imported above)
) -> None:  # fmt: skip
    prom, before, _ = await model_stack(k8s, namespace, pod_prometheus)
    start_operator(prometheus_url=prom.url)
    k8s.apply(monitor(prom.url), namespace)
    watch(k8s, namespace, "SidecarInjected True", is_("SidecarInjected", "True", "Injected"))
    mon = k8s.get("mm", "-n", namespace, NAME)
    uid = mon["metadata"]["uid"]

    # The admin Secret: the operator's, owned by the monitor, mounted into the sidecar alone.
    secret = k8s.get("-n", namespace, "secret", ADMIN)
    assert secret["metadata"]["labels"] == {
        "modelmonitor.io/monitor": NAME,
        "modelmonitor.io/secret": "admin",
    }
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ModelMonitor",
        NAME,
        uid,
        True,
    )
    token = base64.b64decode(secret["data"]["token"]).decode()
    dep = k8s.get("-n", namespace, "deployment", NAME)
    pod_spec = dep["spec"]["template"]["spec"]
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == ADMIN_VOLUME]
    assert volume["secret"]["secretName"] == ADMIN
    mounted = [c["name"] for c in pod_spec["containers"] if c.get("volumeMounts")]
    assert mounted == [SIDECAR_NAME]

    # The NetworkPolicy: accepted (validated) and stored by the API server, owned by the monitor.
    policy = k8s.get("-n", namespace, "networkpolicy", ADMIN)
    (owner,) = policy["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("ModelMonitor", uid)
    assert policy["spec"]["podSelector"] == dep["spec"]["selector"]
    admin_rule = next(r for r in policy["spec"]["ingress"] if r.get("from"))
    assert admin_rule["ports"] == [{"protocol": "TCP", "port": ADMIN_PORT}]
    operator_peer = admin_rule["from"][0]
    assert operator_peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": RELEASE_NAMESPACE}
    }
    operator_pods = k8s.get("-n", RELEASE_NAMESPACE, "deployment", "modelmonitor")["spec"]["template"]
    labels = operator_pods["metadata"]["labels"]
    assert operator_peer["podSelector"]["matchLabels"].items() <= labels.items()
    open_rule = next(r for r in policy["spec"]["ingress"] if not r.get("from"))
    assert {"protocol": "TCP", "port": 1, "endPort": ADMIN_PORT - 1} in open_rule["ports"]
    assert {"protocol": "TCP", "port": ADMIN_PORT + 1, "endPort": 65535} in open_rule["ports"]
    # The same server refuses a broken one: the acceptance above is validation, not indifference.
    broken = copy.deepcopy({k: policy[k] for k in ("apiVersion", "kind", "spec")})
    broken["metadata"] = {"name": "broken"}
    broken["spec"]["ingress"][0]["ports"][0]["endPort"] = 0
    refused = k8s.kubectl("-n", namespace, "create", "--dry-run=server", "-f", "-",
                          stdin=yaml.safe_dump(broken), check=False)  # fmt: skip
    assert refused.returncode != 0 and "endPort" in refused.stderr, refused.stderr

    # The running sidecars (real processes, their token from the Secret volume) guard their window.
    ips = sorted(ip for ip, _ in kubelet.pods().values() if ip)
    assert len(ips) == 2
    for ip in ips:
        assert window(ip, None) == 401
        assert window(ip, "not-the-token") == 403
        assert window(ip, token) == 200

    # The operator reads them with the token: drift is evaluated on captured rows.
    load = traffic(kubelet, shift=0.0, seed=2)
    obj = watch(
        k8s,
        namespace,
        "drift evaluated",
        lambda o: bool((o.get("status") or {}).get("drift", {}).get("rows")),
    )
    assert condition(obj, "DataDrift")["status"] == "False", condition(obj, "DataDrift")
    # Converged: neither the Secret nor the NetworkPolicy is written again, evaluation after evaluation.
    versions = {kind: k8s.get("-n", namespace, kind, ADMIN)["metadata"]["resourceVersion"]
                for kind in ("secret", "networkpolicy")}  # fmt: skip
    evaluations_seen(k8s, namespace, 3)
    load.stop()
    assert {
        kind: k8s.get("-n", namespace, kind, ADMIN)["metadata"]["resourceVersion"] for kind in versions
    } == versions
    assert token not in str(k8s.get("events", "-n", namespace)) and token not in str(
        k8s.get("mm", "-n", namespace, NAME)
    )

    # Delete: the sidecar and its volume leave the Deployment; the garbage collector takes the rest.
    k8s.kubectl("-n", namespace, "delete", "mm", NAME, "--timeout=60s", timeout=90)
    after = k8s.get("-n", namespace, "deployment", NAME)["spec"]["template"]["spec"]
    assert "volumes" not in after and [c["name"] for c in after["containers"]] == ["model"]
    assert after == before["spec"]["template"]["spec"]

    def collected() -> bool:
        return not exists(k8s, namespace, "secret", ADMIN) and not exists(
            k8s, namespace, "networkpolicy", ADMIN
        )

    k8s.wait_for(
        collected, timeout=60, what="the garbage collector to delete the Secret and the NetworkPolicy"
    )
