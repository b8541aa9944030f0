"""The audit trail on a real API server, the operator holding only the chart's RBAC: spec changes by
two field managers (kubectl apply, kubectl patch) with their diffs, a decision not to act (observe
mode), read back with `modelmonitor audit NAME --since 1h` as a user of the built-in view role; the
ring rotates at its (small) bound and goes with the monitor; a concurrent writer's 409 is re-read
and appended, nothing lost."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.act.audit import AuditStore
from modelmonitor.api.times import iso
from modelmonitor.policy.audit import decision
from modelmonitor.workload import audit as ring
from tests.cluster.conftest import K8s
from tests.cluster.test_operator_rbac import demo_deployment, monitor
from tests.cluster.test_security import user
from tests.cluster.test_state_configmap import port

pytestmark = pytest.mark.cluster
NAME = "credit-scoring"


def audit_cmd(
    kubeconfig: Path, namespace: str, *args: str, name: str = NAME
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "audit", name, "-n", namespace, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def segments(k8s: K8s, namespace: str) -> list[dict[str, Any]]:
    items = k8s.get("configmap", "-n", namespace, "-l", "modelmonitor.io/configmap=audit")["items"]
    return sorted(items, key=lambda cm: cm["metadata"]["name"])


def records(k8s: K8s, namespace: str) -> list[dict[str, Any]]:
    return [json.loads(v) for cm in segments(k8s, namespace) for v in (cm.get("data") or {}).values()]


def test_spec_changes_decisions_rotation_and_deletion_on_the_real_server(
    k8s: K8s, namespace: str, start_operator: Any, tmp_path: Path
) -> None:
    k8s.apply(demo_deployment(), namespace)
    start_operator(env={"MODELMONITOR_AUDIT_SEGMENT_BYTES": "3Ki", "MODELMONITOR_AUDIT_SEGMENTS": "2"})
    observe = {"mode": "observe", "autoscale": {"maxReplicas": 3}, "rollback": {"when": ["SLOBreached"]}}
    k8s.apply(
        monitor(NAME, sidecar={"inject": False}, slos={"latencyP95Ms": 250}, actions=observe), namespace
    )
    k8s.wait_for(lambda: {"created", "noAction"} <= {r["kind"] for r in records(k8s, namespace)},
                 timeout=30, what="the creation and a decision not to act recorded")  # fmt: skip
    k8s.apply(
        monitor(NAME, sidecar={"inject": False}, slos={"latencyP95Ms": 200}, actions=observe), namespace
    )
    k8s.kubectl("-n", namespace, "patch", "mm", NAME, "--type=merge", "-p", '{"spec":{"interval":"6s"}}')
    k8s.wait_for(lambda: sum(r["kind"] == "specChanged" for r in records(k8s, namespace)) == 2,
                 timeout=30, what="both spec changes recorded")  # fmt: skip

    viewer = user(k8s, namespace, "auditor", "view", tmp_path)  # Kubernetes' own view role, nothing more
    done = audit_cmd(viewer, namespace, "--since", "1h")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["seq"] for r in out] == sorted(r["seq"] for r in out)  # oldest first
    # (the creation's handler and the first evaluation run side by side: either may be first)
    [created] = [r for r in out if r["kind"] == "created"]
    assert created["managers"][0]["manager"] == "kubectl-client-side-apply" and created["generation"] == 1
    assert created["spec"]["target"]["deployment"] == NAME
    applied, patched = [r for r in out if r["kind"] == "specChanged"]
    assert applied["changes"] == [{"op": "change", "path": "spec.slos.latencyP95Ms", "old": 250, "new": 200}]
    assert [(m["manager"], m["operation"], m["paths"]) for m in applied["managers"]] == [
        ("kubectl-client-side-apply", "Update", ["spec.slos.latencyP95Ms"])
    ]
    assert applied["generation"] == 2 and patched["generation"] == 3
    assert patched["changes"] == [{"op": "change", "path": "spec.interval", "old": "5s", "new": "6s"}]
    assert [m["manager"] for m in patched["managers"]] == ["kubectl-patch"]
    observed = next(r for r in out if r["kind"] == "noAction")
    assert (observed["action"], observed["result"], observed["why"]) == (
        "autoscale",
        "Observed",
        "observeMode",
    )
    assert "would have created HorizontalPodAutoscaler" in observed["message"]
    blind = next(
        r for r in out if r["kind"] == "noAction" and r["action"] == "rollback"
    )  # no Prometheus here
    assert blind["why"] == "missingData" and "SLOBreached is Unknown" in blind["message"], blind
    assert all(r["monitor"] == NAME and r["namespace"] == namespace for r in out)
    assert k8s.get("hpa", "-n", namespace)["items"] == []  # observe mode: nothing done

    # Without get on configmaps, or for a monitor that is not there: exit 2 and one clear line.
    reader = user(k8s, namespace, "reader", "modelmonitor-view", tmp_path)
    refused = audit_cmd(reader, namespace)
    assert refused.returncode == 2 and "you need get on configmaps" in refused.stderr, refused.stderr
    missing = audit_cmd(viewer, namespace, name="nope")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr

    # At its bound (3 KiB a segment, 2 segments) the ring rotates: the oldest segment goes first.
    for i in range(7, 13):  # records of about 1 KiB each (a long query changed): 6 fill 3 segments
        check = {"name": "long", "query": f"sum(rate(requests_total[{i}m]))" + " + 0" * 200, "min": 0}
        k8s.kubectl("-n", namespace, "patch", "mm", NAME, "--type=merge", "-p",
                    json.dumps({"spec": {"interval": f"{i}s", "checks": [check]}}))  # fmt: skip
    k8s.wait_for(lambda: any(c.get("new") == "12s" for r in records(k8s, namespace) for c in r.get("changes", [])),
                 timeout=30, what="the last change recorded")  # fmt: skip
    kept = segments(k8s, namespace)
    assert [cm["metadata"]["name"] for cm in kept] == [ring.slot_name(NAME, 0), ring.slot_name(NAME, 1)]
    assert (
        max(int(cm["metadata"]["annotations"][ring.SEGMENT_ANNOTATION]) for cm in kept) >= 2
    )  # slot 0 reused
    assert all(sum(len(k) + len(v) for k, v in cm["data"].items()) <= 3072 for cm in kept)
    older, newer = sorted(kept, key=lambda cm: int(cm["metadata"]["annotations"][ring.SEGMENT_ANNOTATION]))
    assert older["metadata"]["annotations"].get(ring.SEALED_ANNOTATION) == "true"  # a newer one follows
    assert ring.SEALED_ANNOTATION not in newer["metadata"]["annotations"]
    now = [json.loads(line) for line in audit_cmd(viewer, namespace).stdout.splitlines()]
    changed = [r for r in now if r["kind"] == "specChanged"]
    assert "created" not in {r["kind"] for r in now}
    assert {"op": "change", "path": "spec.interval", "old": "11s", "new": "12s"} in changed[-1]["changes"]
    assert [r["seq"] for r in now] == list(range(now[0]["seq"], now[-1]["seq"] + 1))  # no gap in what is kept

    # The ring goes with the monitor (ownerReferences: the garbage collector).
    uid = k8s.get("mm", "-n", namespace, NAME)["metadata"]["uid"]
    assert all(cm["metadata"]["ownerReferences"][0]["uid"] == uid for cm in kept)
    k8s.kubectl("-n", namespace, "delete", "mm", NAME, "--wait=false")
    k8s.wait_for(lambda: segments(k8s, namespace) == [], timeout=30, what="the audit ConfigMaps collected")


def test_a_concurrent_writer_gets_409_and_its_records_are_appended_on_a_fresh_read(
    k8s: K8s, namespace: str, operator_kubeconfig: Path
) -> None:
    k8s.apply(monitor("raced"), namespace)
    uid = k8s.get("mm", "-n", namespace, "raced")["metadata"]["uid"]
    now = datetime.datetime.now(tz=datetime.UTC)

    def say(action: str) -> list[dict[str, Any]]:
        return [decision(action, "SLOBreached", "Failed", f"{action} failed", generation=1, now=iso(now))]

    kube, other = port(operator_kubeconfig), AuditStore(port(operator_kubeconfig))

    class Racing:
        """The chart's identity, with another writer appending between this one's read and its write."""

        raced = 0

        def __getattr__(self, attr: str) -> Any:
            return getattr(kube, attr)

        def merge_patch_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> None:
            if not self.raced:
                self.raced += 1
                other.record(namespace, "raced", uid, say("retrain"), retention_seconds=3600, now=now)
            kube.merge_patch_configmap(namespace, name, body)

    AuditStore(kube).record(namespace, "raced", uid, say("rollback"), retention_seconds=3600, now=now)
    racing = Racing()
    AuditStore(racing).record(namespace, "raced", uid, say("autoscale"), retention_seconds=3600, now=now)  # type: ignore[arg-type]
    assert racing.raced == 1  # the other wrote between this one's read and its (refused, 409) patch
    [cm] = segments(k8s, namespace)
    # Same keys without the resourceVersion guard: the other's record would have been overwritten.
    assert [json.loads(cm["data"][k])["action"] for k in sorted(cm["data"])] == [
        "rollback",
        "retrain",
        "autoscale",
    ]
