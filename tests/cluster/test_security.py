"""A ModelMonitor is no way around RBAC, on the real API server: a user bound only to the chart's
`modelmonitor-edit` ClusterRole cannot read a Secret, cannot get a retraining Job past the chart's
admission policy, and cannot make the operator (running as the chart's ServiceAccount) run an image
or touch a Deployment that has not opted in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ROOT, K8s
from tests.unit.operator.fakes import FakePrometheus, series

pytestmark = pytest.mark.cluster

JOB_TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "train", "image": "trainer:1"}]}}}}  # fmt: skip


def demo_deployment() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()))
    return next(d for d in docs if d["kind"] == "Deployment")


def monitor(name: str, target: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": name},
        "spec": {"target": {"deployment": target, "port": 8080}, "interval": "5s", **spec},
    }


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def user(k8s: K8s, namespace: str, name: str, role: str, tmp_path: Path) -> Path:
    """A ServiceAccount bound (RoleBinding, this namespace only) to one ClusterRole; its kubeconfig."""
    k8s.kubectl("-n", namespace, "create", "serviceaccount", name)
    k8s.kubectl("-n", namespace, "create", "rolebinding", f"{name}-{role}", f"--clusterrole={role}",
                f"--serviceaccount={namespace}:{name}")  # fmt: skip
    token = k8s.kubectl("-n", namespace, "create", "token", name, "--duration", "1h").stdout.strip()
    return k8s.kubeconfig_for_token(token, tmp_path / f"{name}.kubeconfig")


def create(k8s: K8s, obj: dict[str, Any], namespace: str, kubeconfig: Path | None = None) -> Any:
    return k8s.kubectl("-n", namespace, "create", "-f", "-", kubeconfig=kubeconfig, check=False,
                       stdin=json.dumps(obj))  # fmt: skip


def test_a_monitor_editor_cannot_read_secrets_run_jobs_or_images_or_touch_what_did_not_opt_in(
    k8s: K8s, namespace: str, release: dict[str, Any], start_operator: Any, tmp_path: Path
) -> None:
    assert {"ClusterRole/modelmonitor-view", "ClusterRole/modelmonitor-edit"} <= set(release)
    alice = user(k8s, namespace, "alice", "modelmonitor-edit", tmp_path)
    k8s.kubectl(
        "-n", namespace, "create", "secret", "generic", "db-password", "--from-literal=password=s3cr3t"
    )

    # The binding holds, and no more: no Secret for alice.
    denied = k8s.kubectl("-n", namespace, "get", "secret", "db-password", "-o", "json", kubeconfig=alice,
                         check=False)  # fmt: skip
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    assert "s3cr3t" not in denied.stdout + denied.stderr
    can = k8s.kubectl("auth", "can-i", "create", "jobs.batch", "-n", namespace, kubeconfig=alice, check=False)
    assert can.stdout.strip() == "no"

    # A retraining Job is refused at admission: alice may not create Jobs herself. The policy may
    # take a moment to be served after the chart's install, so a create it let through is undone.
    retrain = monitor("retrainer", "credit-scoring", actions={"retrain": {
        "when": ["DataDrift"], "serviceAccountName": "default", "jobTemplate": JOB_TEMPLATE}})  # fmt: skip

    def refused() -> str | None:
        done = create(k8s, retrain, namespace, alice)
        if done.returncode == 0:
            k8s.kubectl("-n", namespace, "delete", "mm", "retrainer", "--wait=false")
            return None
        return done.stderr

    message = k8s.wait_for(refused, timeout=30, interval=1, what="the admission policy refusing a retrain")
    assert "ValidatingAdmissionPolicy" in message, message
    assert "spec.actions.retrain makes the operator create Jobs" in message, message
    assert (
        f"system:serviceaccount:{namespace}:alice may not create jobs (batch) in namespace {namespace}"
        in (message)
    )
    # Whoever may create Jobs (here the cluster admin) may ask for one.
    assert create(k8s, retrain, namespace).returncode == 0
    k8s.kubectl("-n", namespace, "delete", "mm", "retrainer")

    # Two targets: the demo Deployment, opted in by its own label, and a copy that is not; the
    # namespace carries no label.
    opted = demo_deployment()
    bare = copy.deepcopy(opted)
    bare["metadata"]["name"] = "unlabelled"
    bare["metadata"]["labels"] = {"app": "unlabelled"}
    bare["spec"]["selector"] = {"matchLabels": {"app": "unlabelled"}}
    bare["spec"]["template"]["metadata"]["labels"]["app"] = "unlabelled"
    k8s.apply([opted, bare], namespace)
    labels = k8s.get("namespace", namespace)["metadata"].get("labels") or {}
    assert "modelmonitor.io/enabled" not in labels
    before = {n: k8s.get("deployment", "-n", namespace, n) for n in ("credit-scoring", "unlabelled")}

    start_operator()
    evil = monitor("evil-image", "credit-scoring", sidecar={"image": "evil/image"})
    elsewhere = monitor("not-opted-in", "unlabelled")
    for obj in (evil, elsewhere):
        done = create(k8s, obj, namespace, alice)
        assert done.returncode == 0, done.stderr

    def ready(name: str, reason: str) -> Any:
        mm = k8s.get("mm", "-n", namespace, name)
        return mm if condition(mm, "Ready").get("reason") == reason else None

    mm = k8s.wait_for(lambda: ready("evil-image", "ImageNotAllowed"), timeout=30, what="ImageNotAllowed")
    cond = condition(mm, "Ready")
    assert cond["status"] == "False" and mm["status"]["phase"] == "Error"
    assert "spec.sidecar.image 'evil/image' is not allowed" in cond["message"]
    assert "sidecar.allowedImages" in cond["message"]

    mm = k8s.wait_for(lambda: ready("not-opted-in", "NotOptedIn"), timeout=30, what="NotOptedIn")
    cond = condition(mm, "Ready")
    assert cond["status"] == "False" and mm["status"]["phase"] == "Error"
    assert f"kubectl label namespace {namespace} modelmonitor.io/enabled=true" in cond["message"]
    assert "nothing was changed" in cond["message"]

    # Neither Deployment was touched: same pod template, same generation, no annotation of ours.
    for name, was in before.items():
        now = k8s.get("deployment", "-n", namespace, name)
        assert now["spec"]["template"] == was["spec"]["template"], name
        assert now["metadata"]["generation"] == was["metadata"]["generation"], name
        assert "modelmonitor.io/injected" not in (now["metadata"].get("annotations") or {}), name
    reasons = {e.get("reason") for e in k8s.get("events", "-n", namespace)["items"]}
    assert {"ImageNotAllowed", "NotOptedIn"} <= reasons

    # A webhook URL "from" a Secret that did not opt in (no modelmonitor.io/webhook label): alice's
    # alert, on a check that always fails, is not sent, and the Secret's value shows nowhere.
    prom = FakePrometheus()
    prom.default = [series(1.0)]
    try:
        leak = monitor("leak", "credit-scoring", prometheus={"url": prom.url, "timeout": "2s"},
                       checks=[{"name": "always", "query": "vector(1)", "max": 0}],
                       actions={"alerts": [{"when": ["CheckFailed"], "webhook": {
                           "urlFrom": {"secretKeyRef": {"name": "db-password", "key": "password"}}}}]})  # fmt: skip
        done = create(k8s, leak, namespace, alice)
        assert done.returncode == 0, done.stderr

        def not_sent() -> list[dict[str, Any]]:
            items = k8s.get("events", "-n", namespace)["items"]
            return [
                e
                for e in items
                if e.get("reason") == "AlertNotSent" and e["involvedObject"]["name"] == "leak"
            ]

        (event, *_) = k8s.wait_for(not_sent, timeout=40, what="the alert refused for its Secret")
    finally:
        prom.close()
    assert "spec.actions.alerts[0].webhook.urlFrom" in event["message"], event["message"]
    assert "does not carry the label modelmonitor.io/webhook" in event["message"], event["message"]
    shown = json.dumps([k8s.get("events", "-n", namespace), k8s.get("mm", "-n", namespace)])
    assert "s3cr3t" not in shown
