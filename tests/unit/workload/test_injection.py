"""Sidecar injection and Service routing as JSON patches, applied with RFC 6902 semantics.

RFC 6902 is what a real API server applies for application/json-patch+json (unlike strategic merge,
it has no list-merging by name that could keep a removed sidecar), so applying the planned patches
with `jsonpatch` here is applying them as a cluster would, `test` ops included.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.workload.admin import admin_name
from modelmonitor.workload.gitops import managed_by
from modelmonitor.workload.injection import (
    ADMIN_MOUNT,
    ADMIN_TOKEN_FILE,
    ADMIN_VOLUME,
    INJECTED_ANNOTATION,
    SIDECAR_NAME,
    InjectionError,
    plan_injection,
    plan_removal,
    rollout_complete,
    sidecar_container,
    template_hash,
)
from modelmonitor.workload.routing import plan_route, plan_unroute, selects

IMAGE = "ghcr.io/modelmonitor/modelmonitor:0.1.0"


def deployment(**extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "credit-scoring", "namespace": "risk", "resourceVersion": "41", "generation": 3},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "credit"}},
            "template": {
                "metadata": {"labels": {"app": "credit", "app.kubernetes.io/version": "1.2"}},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": "credit:1.2",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        },
                        {"name": "log-shipper", "image": "fluent-bit:3"},
                    ]
                },
            },
        },
    }
    d.update(extra)
    return d


def spec(**sidecar: Any) -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "credit-scoring"}, "sidecar": sidecar})


def apply(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = jsonpatch.apply_patch(obj, ops, in_place=False)
    if ops:
        out["metadata"]["resourceVersion"] = str(int(out["metadata"]["resourceVersion"]) + 1)
    return out


def test_injection_adds_the_sidecar_and_a_record_and_nothing_else() -> None:
    before = deployment()
    after = apply(before, plan_injection(before, spec(), monitor="mm", image=IMAGE))
    names = [c["name"] for c in after["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", "log-shipper", SIDECAR_NAME]
    assert (
        after["spec"]["template"]["spec"]["containers"][:2]
        == before["spec"]["template"]["spec"]["containers"]
    )
    record = json.loads(after["metadata"]["annotations"][INJECTED_ANNOTATION])
    assert record["monitor"] == "mm" and record["container"] == SIDECAR_NAME
    side = after["spec"]["template"]["spec"]["containers"][2]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in side["env"]}
    assert env["MODELMONITOR_UPSTREAM"] == "http://127.0.0.1:8080"
    assert env["MODELMONITOR_LISTEN"] == "0.0.0.0:8480"
    assert env["MODELMONITOR_MODEL_NAME"] == "credit-scoring"
    assert env["MODELMONITOR_MODEL_VERSION"] == {
        "fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/version']"}
    }
    sc = side["securityContext"]
    assert sc["runAsNonRoot"] and not sc["allowPrivilegeEscalation"] and sc["readOnlyRootFilesystem"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert side["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def test_injection_is_idempotent() -> None:
    once = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    assert plan_injection(once, spec(), monitor="mm", image=IMAGE) == []


def test_inject_then_remove_leaves_the_deployment_as_it_was() -> None:
    before = deployment()
    injected = apply(before, plan_injection(before, spec(redact=["ssn"]), monitor="mm", image=IMAGE))
    removed = apply(injected, plan_removal(injected, monitor="mm"))
    removed["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
    assert removed == before


def test_remove_keeps_annotations_the_user_had() -> None:
    before = deployment()
    before["metadata"]["annotations"] = {"team": "risk"}
    injected = apply(before, plan_injection(before, spec(), monitor="mm", image=IMAGE))
    removed = apply(injected, plan_removal(injected, monitor="mm"))
    assert removed["metadata"]["annotations"] == {"team": "risk"}
    assert removed["spec"] == before["spec"]


def test_removal_is_by_name_even_when_the_user_reordered_containers() -> None:
    injected = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    containers = injected["spec"]["template"]["spec"]["containers"]
    containers.insert(0, containers.pop())  # sidecar first now
    removed = apply(injected, plan_removal(injected, monitor="mm"))
    assert [c["name"] for c in removed["spec"]["template"]["spec"]["containers"]] == ["model", "log-shipper"]


def test_a_changed_or_missing_sidecar_is_put_back_and_user_containers_untouched() -> None:
    injected = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    tampered = copy.deepcopy(injected)
    tampered["spec"]["template"]["spec"]["containers"][2]["image"] = "evil:latest"
    tampered["spec"]["template"]["spec"]["containers"][0]["image"] = "credit:1.3"  # the user's own change
    fixed = apply(tampered, plan_injection(tampered, spec(), monitor="mm", image=IMAGE))
    assert fixed["spec"]["template"]["spec"]["containers"][2]["image"] == IMAGE
    assert fixed["spec"]["template"]["spec"]["containers"][0]["image"] == "credit:1.3"

    gone = copy.deepcopy(injected)
    gone["spec"]["template"]["spec"]["containers"].pop()
    back = apply(gone, plan_injection(gone, spec(), monitor="mm", image=IMAGE))
    assert [c["name"] for c in back["spec"]["template"]["spec"]["containers"]][-1] == SIDECAR_NAME


def test_a_concurrent_edit_makes_the_patch_fail_instead_of_clobbering() -> None:
    before = deployment()
    ops = plan_injection(before, spec(), monitor="mm", image=IMAGE)
    moved_on = copy.deepcopy(before)
    moved_on["metadata"]["resourceVersion"] = "42"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved_on, ops)


def test_one_monitor_per_deployment_and_clear_errors() -> None:
    injected = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    with pytest.raises(InjectionError) as err:
        plan_injection(injected, spec(), monitor="other", image=IMAGE)
    assert err.value.reason == "InjectedByOtherMonitor"
    assert plan_removal(injected, monitor="other") == []

    wrong = ModelMonitorSpec.model_validate({"target": {"deployment": "credit-scoring", "container": "nope"}})
    with pytest.raises(
        InjectionError, match=r"'nope' is not in the pod template \(containers: model, log-shipper\)"
    ):
        sidecar_container(wrong, deployment(), image=IMAGE, monitor="mm")

    with pytest.raises(InjectionError) as clash:
        sidecar_container(spec(listenPort=8080), deployment(), image=IMAGE, monitor="mm")
    assert clash.value.reason == "PortConflict"


def test_template_hash_ignores_the_sidecar_but_not_the_model() -> None:
    before = deployment()
    injected = apply(before, plan_injection(before, spec(), monitor="mm", image=IMAGE))
    assert template_hash(injected) == template_hash(before)
    newer = copy.deepcopy(before)
    newer["spec"]["template"]["spec"]["containers"][0]["image"] = "credit:1.3"
    assert template_hash(newer) != template_hash(before)


def test_rollout_complete_follows_the_controller_status() -> None:
    d = deployment()
    d["status"] = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert not rollout_complete(d)  # the controller has not seen generation 3 yet
    d["status"]["observedGeneration"] = 3
    assert rollout_complete(d)
    d["status"]["replicas"] = 3  # an old pod still terminating
    assert not rollout_complete(d)


def service(target: Any = "http") -> dict[str, Any]:
    return {
        "metadata": {"name": "credit-scoring", "resourceVersion": "7"},
        "spec": {
            "selector": {"app": "credit"},
            "ports": [{"name": "http", "port": 80, "targetPort": target}, {"name": "metrics", "port": 9000}],
        },
    }


@pytest.mark.parametrize("target", ["http", 8080])
def test_route_and_unroute_the_service(target: Any) -> None:
    before = service(target)
    assert selects(before, {"app": "credit", "app.kubernetes.io/version": "1.2"})
    routed = apply(
        before, plan_route(before, model_port=8080, model_port_names={"http"}, proxy_port=8480, monitor="mm")
    )
    assert routed["spec"]["ports"][0]["targetPort"] == 8480
    assert routed["spec"]["ports"][1] == before["spec"]["ports"][1]
    assert plan_route(routed, model_port=8080, model_port_names={"http"}, proxy_port=8480, monitor="mm") == []
    restored = apply(routed, plan_unroute(routed, monitor="mm"))
    restored["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
    assert restored == before


def test_services_that_do_not_select_the_pods_are_left_alone() -> None:
    assert not selects(service(), {"app": "other"})
    assert not selects({"spec": {"selector": {}}}, {"app": "credit"})


def test_gitops_managed_deployments_are_recognised() -> None:
    assert managed_by(deployment()) is None
    argo = deployment()
    argo["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": "app:apps/Deployment:risk/credit"}
    assert managed_by(argo) == "Argo CD"
    flux = deployment()
    flux["metadata"]["managedFields"] = [{"manager": "kustomize-controller", "operation": "Apply"}]
    assert managed_by(flux) == "Flux"
    helm_only = deployment()
    helm_only["metadata"]["labels"] = {"app.kubernetes.io/instance": "credit"}
    assert managed_by(helm_only) is None


def server_defaults(container: dict[str, Any]) -> dict[str, Any]:
    """What a real API server (1.36) fills into a stored container, as seen on the cluster tier."""
    out = copy.deepcopy(container)
    out.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log",
               terminationMessagePolicy="File")  # fmt: skip
    probe = out.get("readinessProbe")
    if probe:
        probe.update(timeoutSeconds=1, successThreshold=1, failureThreshold=3)
        probe["httpGet"]["scheme"] = "HTTP"
    for env in out.get("env") or []:
        if "fieldRef" in (env.get("valueFrom") or {}):
            env["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
    return out


def test_a_sidecar_the_server_filled_defaults_into_is_left_alone() -> None:
    """Converged: the stored sidecar has more keys than the one planned, not different values."""
    once = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    stored = copy.deepcopy(once)
    containers = stored["spec"]["template"]["spec"]["containers"]
    containers[:] = [server_defaults(c) for c in containers]
    assert plan_injection(stored, spec(), monitor="mm", image=IMAGE) == []
    # A value the server did not fill in still counts: changed back.
    containers[2]["readinessProbe"]["httpGet"]["port"] = 9999
    ops = plan_injection(stored, spec(), monitor="mm", image=IMAGE)
    assert [op["op"] for op in ops] == ["test", "test", "replace"]


# ----------------------------------------------------------------------------- the admin token volume


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def test_the_sidecar_reads_its_token_and_salt_from_the_monitors_admin_secret() -> None:
    after = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    assert pod_spec(after)["volumes"] == [{
        "name": ADMIN_VOLUME,
        "secret": {"secretName": "mm-modelmonitor-admin", "items": [{"key": "token", "path": "token"}],
                   "defaultMode": 0o444},
    }]  # fmt: skip
    side = pod_spec(after)["containers"][2]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in side["env"]}
    assert env["MODELMONITOR_ADMIN_TOKEN_FILE"] == "/var/run/modelmonitor/admin/token" == ADMIN_TOKEN_FILE
    assert env["MODELMONITOR_REDACT_SALT"] == {
        "secretKeyRef": {"name": "mm-modelmonitor-admin", "key": "salt"}
    }
    assert side["volumeMounts"] == [{"name": ADMIN_VOLUME, "mountPath": ADMIN_MOUNT, "readOnly": True}]
    # Only the sidecar mounts it: the model's containers never see the token.
    assert all("volumeMounts" not in c for c in pod_spec(after)["containers"][:2])
    record = json.loads(after["metadata"]["annotations"][INJECTED_ANNOTATION])
    assert record["volume"] == ADMIN_VOLUME


def test_the_volume_goes_beside_the_users_own_and_removal_takes_exactly_it() -> None:
    before = deployment()
    pod_spec(before)["volumes"] = [{"name": "cache", "emptyDir": {}}]
    injected = apply(before, plan_injection(before, spec(), monitor="mm", image=IMAGE))
    assert [v["name"] for v in pod_spec(injected)["volumes"]] == ["cache", ADMIN_VOLUME]
    assert plan_injection(injected, spec(), monitor="mm", image=IMAGE) == []  # inject(inject(x)) == inject(x)
    moved = copy.deepcopy(injected)
    pod_spec(moved)["volumes"].reverse()  # the user reordered them: removal is by name
    removed = apply(moved, plan_removal(moved, monitor="mm"))
    assert pod_spec(removed)["volumes"] == [{"name": "cache", "emptyDir": {}}]
    assert [c["name"] for c in pod_spec(removed)["containers"]] == ["model", "log-shipper"]


def test_a_volume_of_that_name_the_monitor_did_not_add_is_refused() -> None:
    before = deployment()
    pod_spec(before)["volumes"] = [{"name": ADMIN_VOLUME, "secret": {"secretName": "db-password"}}]
    with pytest.raises(InjectionError) as err:
        plan_injection(before, spec(), monitor="mm", image=IMAGE)
    assert err.value.reason == "VolumeConflict"
    assert f"a volume named {ADMIN_VOLUME!r} that the monitor did not add" in err.value.message
    # Nor does a record written before the volume existed make a user's volume ours.
    injected = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    old = copy.deepcopy(injected)
    record = json.loads(old["metadata"]["annotations"][INJECTED_ANNOTATION])
    del record["volume"]
    old["metadata"]["annotations"][INJECTED_ANNOTATION] = json.dumps(record)
    with pytest.raises(InjectionError, match="that the monitor did not add"):
        plan_injection(old, spec(), monitor="mm", image=IMAGE)
    # ... and removal by such a record leaves the volume it does not list.
    assert [op for op in plan_removal(old, monitor="mm") if "volumes" in op["path"]] == []


def test_a_changed_admin_volume_is_put_back_and_server_defaults_are_no_difference() -> None:
    injected = apply(deployment(), plan_injection(deployment(), spec(), monitor="mm", image=IMAGE))
    tampered = copy.deepcopy(injected)
    pod_spec(tampered)["volumes"][0]["secret"]["secretName"] = "db-password"
    fixed = apply(tampered, plan_injection(tampered, spec(), monitor="mm", image=IMAGE))
    assert pod_spec(fixed)["volumes"] == pod_spec(injected)["volumes"]
    stored = copy.deepcopy(injected)
    pod_spec(stored)["volumes"][0]["secret"]["optional"] = False  # a key only the stored side has
    assert plan_injection(stored, spec(), monitor="mm", image=IMAGE) == []
    # A record written before the volume existed (an upgrade): the volume is added, the record updated.
    old = copy.deepcopy(injected)
    del pod_spec(old)["volumes"]
    old["metadata"]["annotations"][INJECTED_ANNOTATION] = json.dumps(
        {"monitor": "mm", "container": SIDECAR_NAME, "digest": "0"}
    )
    upgraded = apply(old, plan_injection(old, spec(), monitor="mm", image=IMAGE))
    assert pod_spec(upgraded)["volumes"] == pod_spec(injected)["volumes"]
    assert json.loads(upgraded["metadata"]["annotations"][INJECTED_ANNOTATION])["volume"] == ADMIN_VOLUME


def test_template_hash_ignores_the_admin_volume_too() -> None:
    before = deployment()
    pod_spec(before)["volumes"] = [{"name": "cache", "emptyDir": {}}]
    injected = apply(before, plan_injection(before, spec(), monitor="mm", image=IMAGE))
    assert template_hash(injected) == template_hash(before)
    bare = deployment()
    assert template_hash(
        apply(bare, plan_injection(bare, spec(), monitor="mm", image=IMAGE))
    ) == template_hash(bare)
    other = copy.deepcopy(before)
    pod_spec(other)["volumes"][0]["emptyDir"] = {"medium": "Memory"}
    assert template_hash(other) != template_hash(before)


def test_the_admin_secret_name_is_derived_and_fits() -> None:
    assert admin_name("mm") == "mm-modelmonitor-admin"
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    assert len(admin_name(long_a)) <= 253 and len(admin_name(long_b)) <= 253
    assert admin_name(long_a) != admin_name(long_b)  # same prefix, told apart by the hash
    assert admin_name(long_a) == admin_name(long_a)  # deterministic
    assert admin_name(long_a).endswith("-modelmonitor-admin")
    assert admin_name("b" * 234) == "b" * 234 + "-modelmonitor-admin"  # 253 exactly: kept


def test_a_long_monitor_name_still_labels_and_owns_its_secret() -> None:
    from modelmonitor.workload.admin import admin_secret, conflict, labels, owned, token

    name = "m" * 200
    secret = admin_secret(name, "uid-1")
    assert len(secret["metadata"]["name"]) <= 253
    assert all(len(v) <= 63 for v in labels(name).values())
    assert owned(secret, name, "uid-1") and conflict(secret, name, "uid-1") is None
    assert not owned(secret, "m" * 199, "uid-1")  # another name, even with the same uid
    assert token(secret) and token({"data": {"token": "not base64!"}}) is None
