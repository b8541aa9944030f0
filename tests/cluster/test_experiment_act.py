"""An A/B experiment carried out on the real API server, as the chart's ServiceAccount: the challenger
scaled for its share, promoted into the champion (the kube-controller-manager then rolls out a
ReplicaSet with the challenger's image, the sidecar kept), an HTTPRoute's weights patched on a
stand-in Gateway API CRD, an approval used up; and the chart's admission policy keeps spec.experiment
to users who may patch Deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from modelmonitor.act.experiment import Experimenter
from modelmonitor.adapters.kubernetes import KubernetesClient
from modelmonitor.workload.experiment import APPROVAL_ANNOTATION, PROMOTED_FROM, experiment_container
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from tests.cluster.conftest import ROOT, K8s
from tests.cluster.test_security import create, monitor, user

pytestmark = pytest.mark.cluster

HTTPROUTE_CRD = ROOT / "tests" / "cluster" / "fixtures" / "httproute-crd.yaml"
SIDECAR_IMAGE = "ghcr.io/modelmonitor/modelmonitor:0.1.0"


def port(kubeconfig: Path) -> KubernetesClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)  # type: ignore[no-untyped-call]
    return KubernetesClient(kubernetes.client.ApiClient(config))


def model_deployment(name: str, image: str, replicas: int, *, sidecar: bool) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{
        "name": "model", "image": image, "args": ["serve", "--port=8080"],
        "env": [{"name": "MODEL_TOKEN", "value": f"s3cr3t-{name}"}],
        "ports": [{"name": "http", "containerPort": 8080}],
    }]  # fmt: skip
    if name.endswith("-v2"):
        containers[0].pop("args")
        containers[0]["env"].append({"name": "TREES", "value": "400"})
        containers[0]["resources"] = {"requests": {"cpu": "100m"}}
    if sidecar:
        containers.append({"name": SIDECAR_NAME, "image": SIDECAR_IMAGE, "args": ["sidecar"],
                           "ports": [{"name": "mm-proxy", "containerPort": 8089}]})  # fmt: skip
    labels = {"app": "credit-scoring", "track": "v2" if name.endswith("-v2") else "stable"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"modelmonitor.io/enabled": "true"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}},
    }  # fmt: skip


def replicasets_of(k8s: K8s, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    uid = deployment["metadata"]["uid"]
    return [
        rs for rs in k8s.get("replicasets", "-n", namespace)["items"]
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    ]  # fmt: skip


def test_the_challenger_is_scaled_then_promoted_and_the_controller_rolls_out_its_image(
    k8s: K8s, namespace: str, operator_kubeconfig: Path
) -> None:
    k8s.apply([model_deployment("credit-scoring", "credit:1", 3, sidecar=True),
               model_deployment("credit-scoring-v2", "credit:2", 0, sidecar=True)], namespace)  # fmt: skip
    champion = k8s.get("deployment", "-n", namespace, "credit-scoring")
    k8s.wait_for(lambda: replicasets_of(k8s, namespace, champion), what="the champion's first ReplicaSet")
    actor = Experimenter(port(operator_kubeconfig))

    challenger = k8s.get("deployment", "-n", namespace, "credit-scoring-v2")
    traffic = actor.split(
        namespace=namespace, champion=champion, challenger=challenger, share=0.25, route=None
    )
    assert not traffic.failed, traffic.message
    assert k8s.get("deployment", "-n", namespace, "credit-scoring-v2")["spec"]["replicas"] == 1

    champion = k8s.get("deployment", "-n", namespace, "credit-scoring")
    challenger = k8s.get("deployment", "-n", namespace, "credit-scoring-v2")
    container = experiment_container(challenger, None, "model")["name"]
    result, message = actor.promote(
        namespace=namespace, champion=champion, challenger=challenger, champion_container="model",
        challenger_container=container, monitor="credit-scoring", route=None,
    )  # fmt: skip

    assert result == "Done", message
    assert message.startswith("promoted credit:2 from credit-scoring-v2 into Deployment credit-scoring")
    assert "s3cr3t" not in message
    after = k8s.get("deployment", "-n", namespace, "credit-scoring")
    model, sidecar = after["spec"]["template"]["spec"]["containers"]
    theirs = challenger["spec"]["template"]["spec"]["containers"][0]
    assert (model["name"], model["image"], model["env"]) == ("model", "credit:2", theirs["env"])
    assert "args" not in model and model["resources"] == {"requests": {"cpu": "100m"}}
    assert sidecar == champion["spec"]["template"]["spec"]["containers"][1]  # as stored, defaults and all
    assert after["spec"]["selector"] == champion["spec"]["selector"]
    assert after["spec"]["template"]["metadata"] == champion["spec"]["template"]["metadata"]
    assert after["metadata"]["annotations"][PROMOTED_FROM] == f"credit-scoring-v2@{template_hash(challenger)}"
    assert k8s.get("deployment", "-n", namespace, "credit-scoring-v2")["spec"]["replicas"] == 0

    # The Deployment controller makes a new ReplicaSet from the new template: the challenger's model
    # beside the champion's sidecar.
    def promoted_replicaset() -> dict[str, Any] | None:
        for rs in replicasets_of(k8s, namespace, after):
            spec = rs["spec"]["template"]["spec"]
            if [c["image"] for c in spec["containers"]] == ["credit:2", SIDECAR_IMAGE]:
                return rs
        return None

    rs = k8s.wait_for(promoted_replicaset, timeout=60, what="a ReplicaSet with the challenger's image")
    assert rs["spec"]["template"]["spec"]["containers"][1]["name"] == SIDECAR_NAME
    assert rs["spec"]["template"]["metadata"]["labels"]["app"] == "credit-scoring"  # still selected

    # Once more, as after a restart: done, and nothing is written.
    again = actor.promote(
        namespace=namespace, champion=after, challenger=k8s.get("deployment", "-n", namespace, "credit-scoring-v2"),
        champion_container="model", challenger_container=container, monitor="credit-scoring", route=None,
    )  # fmt: skip
    assert again[0] == "Done" and again[1].startswith("already promoted"), again
    assert k8s.get("deployment", "-n", namespace, "credit-scoring")["metadata"]["generation"] == (
        after["metadata"]["generation"])  # fmt: skip


def route(champion_weight: int | None = None) -> dict[str, Any]:
    champion = {"name": "credit-scoring", "port": 80}
    if champion_weight is not None:
        champion["weight"] = champion_weight
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "credit"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/v2/models"}}],
             "backendRefs": [champion, {"name": "credit-scoring-v2", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
             "backendRefs": [{"name": "docs", "port": 80}]},
        ]},
    }  # fmt: skip


def weights(k8s: K8s, namespace: str) -> list[list[int]]:
    stored = k8s.get("httproute", "-n", namespace, "credit")
    return [[ref["weight"] for ref in rule["backendRefs"]] for rule in stored["spec"]["rules"]]


def test_httproute_weights_are_set_read_back_and_zeroed_with_the_charts_rbac(
    k8s: K8s, namespace: str, operator_kubeconfig: Path
) -> None:
    k8s.kubectl("apply", "-f", str(HTTPROUTE_CRD))
    k8s.wait_established("httproutes.gateway.networking.k8s.io")
    k8s.apply([model_deployment("credit-scoring", "credit:1", 2, sidecar=True),
               model_deployment("credit-scoring-v2", "credit:2", 0, sidecar=True)], namespace)  # fmt: skip
    k8s.wait_for(lambda: k8s.kubectl("-n", namespace, "apply", "-f", "-", check=False,
                                     stdin=json.dumps(route())).returncode == 0,
                 what="the HTTPRoute CRD served")  # fmt: skip
    assert weights(k8s, namespace) == [[1, 1], [1]]  # the CRD's default weight
    champion = k8s.get("deployment", "-n", namespace, "credit-scoring")
    challenger = k8s.get("deployment", "-n", namespace, "credit-scoring-v2")
    actor = Experimenter(port(operator_kubeconfig))
    backends = ("credit", "credit-scoring", "credit-scoring-v2")

    traffic = actor.split(
        namespace=namespace, champion=champion, challenger=challenger, share=0.1, route=backends
    )

    assert not traffic.failed, traffic.message
    assert (traffic.mode, traffic.actual) == ("httpRoute", pytest.approx(0.1))
    assert weights(k8s, namespace) == [[900, 100], [1]]  # the docs rule left alone
    assert k8s.get("deployment", "-n", namespace, "credit-scoring-v2")["spec"]["replicas"] == 1  # woken
    assert k8s.get("deployment", "-n", namespace, "credit-scoring")["spec"]["replicas"] == 2

    result, message = actor.stop(namespace=namespace, challenger=challenger, route=backends)
    assert result == "Done", message
    assert weights(k8s, namespace) == [[1000, 0], [1]]
    assert k8s.get("deployment", "-n", namespace, "credit-scoring-v2")["spec"]["replicas"] == 0

    broken = route(5)
    broken["spec"]["rules"][0]["backendRefs"].pop()  # the challenger's backend is gone from the rule
    k8s.kubectl("-n", namespace, "replace", "-f", "-", stdin=json.dumps(broken))
    failed = actor.split(
        namespace=namespace, champion=champion, challenger=challenger, share=0.1, route=backends
    )
    assert failed.failed
    assert "HTTPRoute credit rule 0 sends traffic to Service credit-scoring but not to credit-scoring-v2" in (
        failed.message)  # fmt: skip
    assert weights(k8s, namespace) == [[5], [1]]


def test_spec_experiment_is_admitted_only_from_who_may_patch_deployments_and_an_approval_is_used_once(
    k8s: K8s, namespace: str, release: dict[str, Any], operator_kubeconfig: Path, tmp_path: Path
) -> None:
    alice = user(k8s, namespace, "alice", "modelmonitor-edit", tmp_path)
    bob = user(k8s, namespace, "bob", "modelmonitor-edit", tmp_path)
    k8s.kubectl("-n", namespace, "create", "role", "deployer", "--verb=patch", "--resource=deployments.apps")
    k8s.kubectl("-n", namespace, "create", "rolebinding", "bob-deployer", "--role=deployer",
                f"--serviceaccount={namespace}:bob")  # fmt: skip
    ab = monitor("ab", "credit-scoring", experiment={"challenger": {"deployment": "credit-scoring-v2"}})

    # The policy may take a moment to be served after the chart's install: a create it let through
    # is undone and tried again.
    def refused() -> str | None:
        done = create(k8s, ab, namespace, alice)
        if done.returncode == 0:
            k8s.kubectl("-n", namespace, "delete", "mm", "ab", "--wait=false")
            return None
        return str(done.stderr)

    message = k8s.wait_for(
        refused, timeout=30, interval=1, what="the admission policy refusing an experiment"
    )
    assert "ValidatingAdmissionPolicy" in message, message
    assert (
        "spec.experiment makes the operator scale the challenger and rewrite the target Deployment" in message
    )
    assert (f"system:serviceaccount:{namespace}:alice may not patch deployments (apps) in namespace {namespace}; "
            "remove spec.experiment or ask for that right") in message  # fmt: skip

    done = create(k8s, ab, namespace, bob)  # bob may patch Deployments himself
    assert done.returncode == 0, done.stderr
    # Alice may still edit the rest of the monitor, not the experiment.
    other = k8s.kubectl("-n", namespace, "patch", "mm", "ab", "--type=merge", "-p", '{"spec":{"interval":"30s"}}',
                        kubeconfig=alice, check=False)  # fmt: skip
    assert other.returncode == 0, other.stderr
    changed = k8s.kubectl("-n", namespace, "patch", "mm", "ab", "--type=merge", "-p",
                          '{"spec":{"experiment":{"challenger":{"deployment":"credit-scoring-v3"}}}}',
                          kubeconfig=alice, check=False)  # fmt: skip
    assert changed.returncode != 0 and "may not patch deployments" in changed.stderr, changed.stderr
    # Nor may she approve a promotion: it rewrites the target Deployment.
    approve = k8s.kubectl("-n", namespace, "annotate", "mm", "ab", f"{APPROVAL_ANNOTATION}=approved",
                          kubeconfig=alice, check=False)  # fmt: skip
    assert approve.returncode != 0, approve.stdout
    assert "modelmonitor.io/promote approves rewriting the target Deployment" in approve.stderr, (
        approve.stderr
    )
    labelled = k8s.kubectl(
        "-n", namespace, "annotate", "mm", "ab", "owner=alice", kubeconfig=alice, check=False
    )
    assert labelled.returncode == 0, labelled.stderr  # other annotations are hers to set

    # An approval, used once: the operator (the chart's ServiceAccount) removes it, and only it.
    k8s.kubectl("-n", namespace, "annotate", "mm", "ab", f"{APPROVAL_ANNOTATION}=approved", "team=risk")
    Experimenter(port(operator_kubeconfig)).clear_approval(namespace, "ab")
    annotations = k8s.get("mm", "-n", namespace, "ab")["metadata"].get("annotations") or {}
    assert APPROVAL_ANNOTATION not in annotations and annotations.get("team") == "risk"
    assert annotations.get("owner") == "alice"
