"""Injection on the emulated API: sidecar in, Service routed after the rollout, all undone on delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.test_first_reconcile import example
from tests.conftest import eventually
from tests.emulator import MODELMONITORS

pytestmark = pytest.mark.component

DEPLOYMENTS = "apps/v1/deployments"
SERVICES = "v1/services"
SECRETS = "v1/secrets"
NETWORK_POLICIES = "networking.k8s.io/v1/networkpolicies"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


async def complete_rollout(api: Any, name: str) -> None:
    """Stand in for the Deployment controller, which the emulator does not have."""
    dep = await api.get(DEPLOYMENTS, "default", name)
    replicas = dep["spec"].get("replicas", 1)
    status = {
        "observedGeneration": dep["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "readyReplicas": replicas,
    }
    await api.patch(DEPLOYMENTS, "default", name, {"status": status})


async def test_inject_route_then_delete_leaves_everything_as_it_was(
    cluster: Any, start_operator: Any
) -> None:
    api = cluster.api
    deployment = example("demo-model.yaml", "Deployment")
    service = example("demo-model.yaml", "Service")
    original_dep = await api.create(DEPLOYMENTS, "default", deployment)
    original_svc = await api.create(SERVICES, "default", service)
    mon = await api.create(MODELMONITORS, "default", example("minimal.yaml", "ModelMonitor"))
    operator = await start_operator(env={"MODELMONITOR_OPERATOR_NAMESPACE": "modelmonitor-system",
                                         "MODELMONITOR_OPERATOR_POD_LABELS": "app.kubernetes.io/name=modelmonitor"})  # fmt: skip

    async def injected() -> dict[str, Any] | None:
        dep = await api.get(DEPLOYMENTS, "default", "credit-scoring")
        names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
        return dep if "modelmonitor-sidecar" in names else None

    dep = await eventually(injected, timeout=60, what="the sidecar in the pod template")
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert containers[0] == original_dep["spec"]["template"]["spec"]["containers"][0], (
        "user container changed"
    )
    assert "modelmonitor.io/injected" in dep["metadata"]["annotations"]
    # The admin Secret and the NetworkPolicy came first, owned by the monitor (the garbage collector,
    # which the emulator does not have, deletes them with it); the sidecar mounts the Secret.
    secret = await api.get(SECRETS, "default", "credit-scoring-modelmonitor-admin")
    policy = await api.get(NETWORK_POLICIES, "default", "credit-scoring-modelmonitor-admin")
    for owned in (secret, policy):
        (owner,) = owned["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "ModelMonitor",
            "credit-scoring",
            mon["metadata"]["uid"],
        )
    assert sorted(secret["data"]) == ["salt", "token"]
    volumes = dep["spec"]["template"]["spec"]["volumes"]
    assert [v["secret"]["secretName"] for v in volumes if v["name"] == "modelmonitor-admin"] == [
        "credit-scoring-modelmonitor-admin"
    ]
    assert policy["spec"]["podSelector"] == dep["spec"]["selector"]
    # The Service is not routed before every replica runs the sidecar: requests would fail.
    mon = await api.get(MODELMONITORS, "default", "credit-scoring")
    assert condition(mon, "SidecarInjected").get("reason") in (None, "RolloutInProgress")
    assert (await api.get(SERVICES, "default", "credit-scoring"))["spec"] == original_svc["spec"]

    await complete_rollout(api, "credit-scoring")

    async def routed() -> dict[str, Any] | None:
        svc = await api.get(SERVICES, "default", "credit-scoring")
        return svc if svc["spec"]["ports"][0].get("targetPort") == 8480 else None

    await eventually(routed, timeout=30, what="the Service routed through the sidecar")

    async def reported() -> dict[str, Any] | None:
        mon = await api.get(MODELMONITORS, "default", "credit-scoring")
        return mon if condition(mon, "SidecarInjected").get("status") == "True" else None

    mon = await eventually(reported, timeout=30, what="SidecarInjected=True")
    assert "Services routed through it: credit-scoring" in condition(mon, "SidecarInjected")["message"]

    await api.delete(MODELMONITORS, "default", "credit-scoring")

    async def gone() -> bool:
        return ("default", "credit-scoring") not in {
            (ns, name)
            for (res, ns, name), obj in cluster.objects.items()
            if res.plural == "modelmonitors" and not obj.deleted
        }

    await eventually(gone, timeout=30, what="the monitor to be deleted (finalizer released)")
    dep_after = await api.get(DEPLOYMENTS, "default", "credit-scoring")
    svc_after = await api.get(SERVICES, "default", "credit-scoring")
    assert dep_after["spec"]["template"] == original_dep["spec"]["template"]
    assert (dep_after["metadata"].get("annotations") or {}) == (
        original_dep["metadata"].get("annotations") or {}
    )
    assert svc_after["spec"] == original_svc["spec"]
    assert (svc_after["metadata"].get("annotations") or {}) == (
        original_svc["metadata"].get("annotations") or {}
    )
    assert "Traceback" not in operator.output()


async def test_inject_false_removes_the_sidecar_and_a_user_edit_is_repaired(
    cluster: Any, start_operator: Any
) -> None:
    api = cluster.api
    original = await api.create(DEPLOYMENTS, "default", example("demo-model.yaml", "Deployment"))
    monitor = example("minimal.yaml", "ModelMonitor")
    monitor["spec"]["interval"] = "5s"
    await api.create(MODELMONITORS, "default", monitor)
    await start_operator()

    async def sidecar_count() -> int:
        dep = await api.get(DEPLOYMENTS, "default", "credit-scoring")
        return sum(c["name"] == "modelmonitor-sidecar" for c in dep["spec"]["template"]["spec"]["containers"])

    await eventually(sidecar_count, timeout=60, what="injection")
    await api.patch(MODELMONITORS, "default", "credit-scoring", {"spec": {"sidecar": {"inject": False}}})

    async def removed() -> bool:
        return await sidecar_count() == 0

    await eventually(removed, timeout=30, what="the sidecar removed after inject: false")
    dep = await api.get(DEPLOYMENTS, "default", "credit-scoring")
    assert dep["spec"]["template"] == original["spec"]["template"]

    async def reported() -> bool:
        mon = await api.get(MODELMONITORS, "default", "credit-scoring")
        return condition(mon, "SidecarInjected").get("reason") == "NotInjected"

    await eventually(reported, timeout=30, what="SidecarInjected=False NotInjected")
