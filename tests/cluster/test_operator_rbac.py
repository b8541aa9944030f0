"""The operator on a real API server, as the chart's ServiceAccount: its RBAC suffices, a refused call
reaches status with a reason and backs off, and of two peering replicas exactly one works."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ROOT, ClusterOperator, K8s

pytestmark = pytest.mark.cluster


def demo_deployment() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "demo-model.yaml").read_text()))
    return next(d for d in docs if d["kind"] == "Deployment")


def monitor(name: str = "credit-scoring", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": name},
        "spec": {"target": {"deployment": "credit-scoring", "port": 8080}, "interval": "5s", **spec},
    }


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def events(k8s: K8s, namespace: str, reason: str) -> list[dict[str, Any]]:
    items = k8s.get("events", "-n", namespace)["items"]
    return [e for e in items if e.get("reason") == reason]


def test_as_the_charts_service_account_the_operator_injects_and_writes_status(
    k8s: K8s, namespace: str, start_operator: Any
) -> None:
    k8s.apply(demo_deployment(), namespace)
    start_operator()
    # An experiment whose challenger does not exist says so in status, and leaves the phase alone.
    extra = {"performance": {"task": "binary-classification", "segments": [{"feature": "applicant_group"}]},
             "experiment": {"challenger": {"deployment": "credit-scoring-v2"}}}  # fmt: skip
    k8s.apply(monitor(**extra), namespace)
    mm = k8s.wait_for(
        lambda: (m := k8s.get("mm", "-n", namespace, "credit-scoring"))
        and condition(m, "SidecarInjected").get("reason") == "RolloutInProgress"
        and condition(m, "PerformanceDegraded")
        and m,
        timeout=60, what="the sidecar injected",
    )  # fmt: skip
    assert "modelmonitor.io/finalizer" in mm["metadata"]["finalizers"]
    experiment = condition(mm, "Experiment")
    assert (experiment["status"], experiment["reason"]) == ("Unknown", "ChallengerNotFound")
    assert f"{namespace}/credit-scoring-v2" in experiment["message"]
    for kind in ("PerformanceDegraded", "FairnessViolated"):  # evaluated: no captured traffic yet
        c = condition(mm, kind)
        assert (c["status"], c["reason"]) == ("Unknown", "RolloutInProgress")
    assert condition(mm, "Ready")["status"] == "True"
    deployment = k8s.get("deployment", "-n", namespace, "credit-scoring")
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", "modelmonitor-sidecar"]
    # The printer columns read what the status subresource holds.
    table = k8s.kubectl("get", "mm", "-n", namespace).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "TARGET", "PHASE"] and "credit-scoring" in table[1]


def test_a_refused_call_reaches_status_with_its_reason_and_backs_off(
    k8s: K8s, namespace: str, start_operator: Any, tmp_path: Path
) -> None:
    role = k8s.get("clusterrole", "modelmonitor")
    without_patch = json.loads(json.dumps(role))
    for rule in without_patch["rules"]:
        if rule.get("apiGroups") == ["apps"] and "deployments" in rule.get("resources", []):
            rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
    without_patch["metadata"] = {"name": "modelmonitor", "labels": role["metadata"].get("labels", {})}
    k8s.apply(demo_deployment(), namespace)
    k8s.apply(without_patch)
    try:
        start_operator(forbidden_expected=True)
        k8s.apply(monitor(), namespace)
        mm = k8s.wait_for(
            lambda: (m := k8s.get("mm", "-n", namespace, "credit-scoring"))
            and condition(m, "Ready").get("reason") == "Forbidden" and m,
            timeout=60, what="Ready=False Forbidden",
        )  # fmt: skip
        ready = condition(mm, "Ready")
        assert ready["status"] == "False" and mm["status"]["phase"] == "Unknown"
        assert 'cannot patch resource "deployments"' in ready["message"], ready["message"]
        assert mm["status"]["retry"]["reason"] == "Forbidden"
        time.sleep(12)  # twelve ticks of 1 s: backoff 1, 2, 4, 8 s allows about four attempts
        mm = k8s.get("mm", "-n", namespace, "credit-scoring")
        assert 2 <= mm["status"]["retry"]["failures"] <= 6, mm["status"]["retry"]
        warnings = events(k8s, namespace, "Forbidden")
        assert len(warnings) == 1 and warnings[0].get("count", 1) == 1, warnings
    finally:
        k8s.apply(
            {**role, "metadata": {"name": "modelmonitor", "labels": role["metadata"].get("labels", {})}}
        )
    # Rights back: the next attempt succeeds and the failure is cleared.
    mm = k8s.wait_for(
        lambda: (m := k8s.get("mm", "-n", namespace, "credit-scoring"))
        and "retry" not in m["status"] and condition(m, "Ready").get("status") == "True" and m,
        timeout=60, what="recovery once patch is granted again",
    )  # fmt: skip
    assert condition(mm, "SidecarInjected")["reason"] == "RolloutInProgress"


def test_of_two_peering_replicas_exactly_one_evaluates(k8s: K8s, namespace: str, start_operator: Any) -> None:
    k8s.apply(demo_deployment(), namespace)
    first: ClusterOperator = start_operator()
    second: ClusterOperator = start_operator()
    # They meet through the chart's ClusterKopfPeering; the lower priority stands by.
    k8s.wait_for(
        lambda: any("Pausing operations in favour of" in op.output() for op in (first, second)),
        timeout=60, what="one replica to stand by",
    )  # fmt: skip
    # Counted from here: before they met, the first one alone may have evaluated (other tests'
    # monitors on their way out, too), as a lone operator should.
    before = {op.name: op.evaluations() for op in (first, second)}
    k8s.apply(monitor(), namespace)
    k8s.wait_for(
        lambda: k8s.get("mm", "-n", namespace, "credit-scoring").get("status", {}).get("lastEvaluation"),
        timeout=60, what="a first evaluation",
    )  # fmt: skip
    time.sleep(12)  # more than two intervals of 5 s
    counts = {op.name: op.evaluations() - before[op.name] for op in (first, second)}
    working = [name for name, n in counts.items() if n > 0]
    assert len(working) == 1, counts
    standby = second if working == [first.name] else first
    assert "Pausing operations in favour of" in standby.output()
    # The working replica leaves (a rolling update): the other takes over.
    active = first if standby is second else second
    active.stop()
    before = standby.evaluations()
    k8s.wait_for(lambda: standby.evaluations() > before, timeout=60, what="the standby to take over")
