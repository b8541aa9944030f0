"""Two operators side by side, each a shard (``--selector``) with its own peering object: each
monitor is reconciled by exactly its shard, and a monitor relabelled to the other shard moves."""

from __future__ import annotations

import copy
import re
import time
import urllib.request
from typing import Any

import pytest
import yaml

from modelmonitor.operator.settings import shard_finalizer
from tests.cluster.conftest import CHART, ClusterOperator, K8s
from tests.cluster.test_operator_rbac import condition, demo_deployment

pytestmark = pytest.mark.cluster

FINALIZER = {shard: shard_finalizer({"shard": shard}) for shard in ("a", "b")}


def model(name: str) -> dict[str, Any]:
    deployment = copy.deepcopy(demo_deployment())
    deployment["metadata"]["name"] = name
    deployment["metadata"]["labels"]["app"] = name
    deployment["spec"]["selector"] = {"matchLabels": {"app": name}}
    deployment["spec"]["template"]["metadata"]["labels"]["app"] = name
    return deployment


def monitor(name: str, target: str, shard: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": name, "labels": {"shard": shard}},
        "spec": {"target": {"deployment": target, "port": 8080}, "interval": "5s"},
    }


def peering_objects(k8s: K8s, name: str) -> list[dict[str, Any]]:
    """The peering object the chart creates for a release of this shard (its CRDs are installed)."""
    out = k8s.helm(
        "template", "shard", str(CHART), "--show-only", "templates/peering.yaml", "--set", "replicaCount=2",
        "--set", "peering.installCRDs=false", "--set", f"peering.name={name}",
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        doc["metadata"].pop("annotations", None)  # the Helm hook: applied here directly
    return docs


def series_of(op: ClusterOperator, namespace: str) -> set[str]:
    """The monitors of ``namespace`` this operator has per-monitor series for in its /metrics."""
    with urllib.request.urlopen(op.metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    return set(re.findall(rf'monitor="([^"]+)",namespace="{namespace}"', text)) | set(
        re.findall(rf'namespace="{namespace}",monitor="([^"]+)"', text)
    )


def injected(k8s: K8s, namespace: str, name: str) -> bool:
    containers = k8s.get("deployment", "-n", namespace, name)["spec"]["template"]["spec"]["containers"]
    return any(c["name"] == "modelmonitor-sidecar" for c in containers)


def test_two_shards_each_reconcile_only_their_monitors_and_a_relabelled_one_moves(
    k8s: K8s, namespace: str, start_operator: Any
) -> None:
    for shard in ("a", "b"):
        k8s.apply(peering_objects(k8s, f"modelmonitor-shard-{shard}"))
    shards: dict[str, ClusterOperator] = {
        s: start_operator(f"--selector=shard={s}", f"--peering=modelmonitor-shard-{s}") for s in ("a", "b")
    }
    k8s.apply([model("model-a"), model("model-b")], namespace)
    k8s.apply([monitor("mm-a", "model-a", "a"), monitor("mm-b", "model-b", "b")], namespace)

    def reconciled(name: str, shard: str) -> dict[str, Any] | None:
        mm = k8s.get("mm", "-n", namespace, name)
        done = mm["metadata"].get("finalizers") == [FINALIZER[shard]] and condition(mm, "SidecarInjected")
        return mm if done and (mm.get("status") or {}).get("lastEvaluation") else None

    for name, shard in (("mm-a", "a"), ("mm-b", "b")):
        k8s.wait_for(lambda n=name, s=shard: reconciled(n, s), timeout=60, what=f"{name} by shard {shard}")
    assert injected(k8s, namespace, "model-a") and injected(k8s, namespace, "model-b")
    k8s.wait_for(
        lambda: series_of(shards["a"], namespace) == {"mm-a"} and series_of(shards["b"], namespace) == {"mm-b"},
        timeout=20, what="each shard's series of its own monitor only",
    )  # fmt: skip

    # Relabelled to b: shard a takes its finalizer off and stops; shard b takes the monitor over.
    moved_at = k8s.get("mm", "-n", namespace, "mm-a")["status"]["lastEvaluation"]
    k8s.kubectl("-n", namespace, "label", "mm", "mm-a", "shard=b", "--overwrite")
    k8s.wait_for(
        lambda: (mm := reconciled("mm-a", "b")) and mm["status"]["lastEvaluation"] != moved_at,
        timeout=30, what="mm-a moved to shard b",
    )  # fmt: skip
    k8s.wait_for(lambda: "mm-a" in series_of(shards["b"], namespace), timeout=20, what="shard b's mm-a")
    quiet_from = shards["a"].evaluations()
    time.sleep(6)  # more than one interval of 5 s, in which shard b evaluates mm-a again
    assert shards["a"].evaluations() == quiet_from
    for op in shards.values():  # a peering of its own: neither shard ever waits for the other
        assert "Pausing operations in favour of" not in op.output()
