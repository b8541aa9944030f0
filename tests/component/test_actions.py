"""Acting on breaches, on the emulated API with a real Prometheus and a real alert receiver.

The breach is a real PromQL check that always fails (``vector(1)`` with ``max: 0``); the Deployment
has ReplicaSets of several revisions, created by the test in the place of the Deployment controller.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import pytest

from modelmonitor.workload.injection import template_hash
from tests.component.test_first_reconcile import example
from tests.component.test_injection import condition
from tests.conftest import eventually, free_port
from tests.emulator import MODELMONITORS

pytestmark = pytest.mark.component

DEPLOYMENTS = "apps/v1/deployments"
NAME = "credit-scoring"


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it, by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[Any]] = {}
        self.url = ""

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.bodies.setdefault(request.path, []).append(await request.json())
        return aiohttp.web.json_response({"status": "success"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = aiohttp.web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


def with_image(template: dict[str, Any], image: str) -> dict[str, Any]:
    out = copy.deepcopy(template)
    out["spec"]["containers"][0]["image"] = image
    return out


async def deploy_with_history(api: Any) -> dict[str, Any]:
    """Deployment at revision 2 (image :2), ReplicaSets for revisions 1 (:1) and 2."""
    dep = example("demo-model.yaml", "Deployment")
    base = dep["spec"]["template"]
    dep["spec"]["template"] = with_image(base, "credit:2")
    dep["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    created = await api.create(DEPLOYMENTS, "default", dep)
    for revision, image, pth in (("1", "credit:1", "6d9f8"), ("2", "credit:2", "7c4b9")):
        template = with_image(base, image)
        template["metadata"]["labels"]["pod-template-hash"] = pth
        await api.create("apps/v1/replicasets", "default", {
            "metadata": {
                "name": f"{NAME}-{pth}",
                "labels": {"app": NAME, "pod-template-hash": pth},
                "annotations": {"deployment.kubernetes.io/revision": revision},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME,
                                     "uid": created["metadata"]["uid"], "controller": True}],
            },
            "spec": {"template": template},
        })  # fmt: skip
    return dict(created)


def monitor(prom_url: str, actions: dict[str, Any]) -> dict[str, Any]:
    m = example("minimal.yaml", "ModelMonitor")
    m["spec"].update({
        "interval": "5s",
        "prometheus": {"url": prom_url, "timeout": "2s"},
        "checks": [{"name": "canary", "query": "vector(1)", "max": 0}],
        "actions": actions,
    })  # fmt: skip
    return m


def image(dep: dict[str, Any]) -> str:
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def actions_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("actions") or [])


def event_reasons(cluster: Any) -> list[str]:
    return [
        obj["reason"] for (res, _ns, _n), obj in cluster.objects.items()
        if res.plural == "events" and not obj.deleted and obj.get("involvedObject", {}).get("name") == NAME
    ]  # fmt: skip


async def test_rollback_to_known_good_then_refusals_and_alerts(
    cluster: Any, start_operator: Any, prometheus: Any, receiver: Receiver
) -> None:
    api = cluster.api
    prom = await prometheus()
    await deploy_with_history(api)
    rs1 = await api.get("apps/v1/replicasets", "default", f"{NAME}-6d9f8")
    await api.create("v1/secrets", "default", {
        "metadata": {"name": "alerting", "labels": {"modelmonitor.io/webhook": "true"}},  # opted in
        "data": {"url": base64.b64encode(f"{receiver.url}/api/v2/alerts".encode()).decode()},
    })  # fmt: skip
    await api.create(MODELMONITORS, "default", monitor(prom.url, {
        "rollback": {"when": ["CheckFailed"], "consecutive": 2, "cooldown": "1h", "maxPerDay": 3},
        "alerts": [
            {"webhook": {"urlFrom": {"secretKeyRef": {"name": "alerting", "key": "url"}}}, "when": ["CheckFailed"]},
            {"webhook": {"url": f"{receiver.url}/slack"}, "when": ["CheckFailed"], "format": "slack"},
        ],
    }))  # fmt: skip
    # Revision 1 was healthy for a whole window earlier: the status the operator left then.
    known = {"revision": "1", "podTemplateHash": template_hash(rs1), "since": "2026-11-23T08:00:00Z"}
    await api.patch(MODELMONITORS, "default", NAME, {"status": {"lastKnownGoodRevision": known}})
    operator = await start_operator()

    async def rolled_back() -> dict[str, Any] | None:
        dep = await api.get(DEPLOYMENTS, "default", NAME)
        return dep if image(dep) == "credit:1" else None

    dep = await eventually(rolled_back, timeout=90, what="the rollback to revision 1")
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert names == ["model", "modelmonitor-sidecar"], "the sidecar is kept through the rollback"
    assert "revision 1" in dep["metadata"]["annotations"]["kubernetes.io/change-cause"]

    async def recorded() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", NAME)
        return (
            obj if any(a["action"] == "rollback" and a["result"] == "Done" for a in actions_of(obj)) else None
        )

    obj = await eventually(recorded, timeout=30, what="the rollback in status.actions")
    assert obj["status"]["lastAction"] == "rollback Done"
    assert obj["status"]["phase"] == "RolledBack"

    # Still failing on revision 1: that is the known-good one, so there is nothing to roll back to.
    async def refused_same() -> bool:
        obj = await api.get(MODELMONITORS, "default", NAME)
        return any("last known-good one" in a["message"] for a in actions_of(obj))

    await eventually(refused_same, timeout=60, what="a refusal: the failing revision is the known-good one")

    # The user ships revision 3, which fails too: within the cooldown, no second rollback.
    await api.patch(
        DEPLOYMENTS, "default", NAME, {"spec": {"template": with_image(dep["spec"]["template"], "credit:3")}}
    )

    async def refused_cooldown() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", NAME)
        return obj if any("in cooldown" in a["message"] for a in actions_of(obj)) else None

    obj = await eventually(refused_cooldown, timeout=60, what="a refusal: rollback in cooldown")
    assert image(await api.get(DEPLOYMENTS, "default", NAME)) == "credit:3"
    rollbacks = [a for a in actions_of(obj) if a["action"] == "rollback" and a["result"] == "Done"]
    assert len(rollbacks) == 1
    reasons = event_reasons(cluster)
    assert reasons.count("RollbackDone") == 1 and reasons.count("RollbackSkipped") >= 2

    alerts = [a for body in receiver.bodies.get("/api/v2/alerts", []) for a in body]
    names_seen = {a["labels"]["alertname"] for a in alerts}
    assert {
        "ModelMonitorCheckFailed",
        "ModelMonitorRollbackDone",
        "ModelMonitorRollbackSkipped",
    } <= names_seen
    fired = next(a for a in alerts if a["labels"]["alertname"] == "ModelMonitorCheckFailed")
    assert fired["labels"]["namespace"] == "default" and fired["labels"]["monitor"] == NAME
    assert fired["annotations"]["runbook_url"].endswith("/docs/runbooks/CheckFailed.md")
    assert "canary" in fired["annotations"]["description"]
    slack = receiver.bodies.get("/slack", [])
    assert any(
        b["text"].startswith("[FIRING] ModelMonitor default/credit-scoring: CheckFailed") for b in slack
    )
    assert "Traceback" not in operator.output()


async def test_retrain_job_once_and_autoscaler_created_then_removed(
    cluster: Any, start_operator: Any, prometheus: Any
) -> None:
    api = cluster.api
    prom = await prometheus()
    # Retraining Jobs start only in a namespace that opted in to them.
    cluster.namespace_labels["default"] = {"modelmonitor.io/retrain": "true"}
    await deploy_with_history(api)
    job_template = {"spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "train", "image": "trainer:1"}]}}}}  # fmt: skip
    await api.create(MODELMONITORS, "default", monitor(prom.url, {
        "retrain": {"when": ["CheckFailed"], "jobTemplate": job_template, "cooldown": "1h",
                    "serviceAccountName": "trainer"},
        "autoscale": {"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilization": 60},
    }))  # fmt: skip
    await start_operator()

    def jobs() -> list[Any]:
        return [o for (res, _ns, _n), o in cluster.objects.items() if res.plural == "jobs" and not o.deleted]

    await eventually(jobs, timeout=60, what="a retraining Job")

    def hpas() -> list[Any]:
        return [
            o
            for (res, _ns, _n), o in cluster.objects.items()
            if res.plural == "horizontalpodautoscalers" and not o.deleted
        ]

    # The same evaluation creates the Job, then the HPA: wait for the second too.
    await eventually(hpas, timeout=30, what="the HPA")
    hpa = await api.get("autoscaling/v2/horizontalpodautoscalers", "default", f"{NAME}-autoscale")
    assert hpa["spec"]["scaleTargetRef"]["name"] == NAME and hpa["spec"]["maxReplicas"] == 5

    async def several_more_evaluations() -> bool:
        obj = await api.get(MODELMONITORS, "default", NAME)
        return sum(1 for a in actions_of(obj)) >= 1 and condition(obj, "CheckFailed").get("status") == "True"

    await eventually(several_more_evaluations, timeout=30, what="CheckFailed True")
    await asyncio.sleep(12)  # two more intervals: the Job is still running, so no second one
    (job,) = jobs()
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELMONITOR_REASON"] == "CheckFailed"
    assert env["MODELMONITOR_MONITOR"] == f"default/{NAME}"
    assert env["MODELMONITOR_MODEL_VERSION"] == "1.0.0"
    assert env["MODELMONITOR_WINDOW_START"] and env["MODELMONITOR_WINDOW_END"]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelMonitor"
    obj = await api.get(MODELMONITORS, "default", NAME)
    assert obj["status"]["retrain"]["job"] == job["metadata"]["name"]
    assert obj["status"]["retrain"]["outcome"] == "Running"

    await api.patch(MODELMONITORS, "default", NAME, {"spec": {"actions": {"autoscale": None}}})

    async def hpa_gone() -> bool:
        return not any(
            res.plural == "horizontalpodautoscalers" and not o.deleted
            for (res, _ns, _n), o in cluster.objects.items()
        )

    await eventually(hpa_gone, timeout=30, what="the HPA removed")


async def test_observe_mode_decides_and_reports_but_changes_nothing(
    cluster: Any, start_operator: Any, prometheus: Any
) -> None:
    api = cluster.api
    prom = await prometheus()
    original = await deploy_with_history(api)
    rs1 = await api.get("apps/v1/replicasets", "default", f"{NAME}-6d9f8")
    job_template = {
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "t"}]}}
        }
    }
    await api.create(MODELMONITORS, "default", monitor(prom.url, {
        "mode": "observe",
        "rollback": {"when": ["CheckFailed"], "consecutive": 1, "cooldown": "1h"},
        "retrain": {"when": ["CheckFailed"], "jobTemplate": job_template, "serviceAccountName": "trainer"},
        "autoscale": {"maxReplicas": 3},
    }))  # fmt: skip
    known = {"revision": "1", "podTemplateHash": template_hash(rs1)}
    await api.patch(MODELMONITORS, "default", NAME, {"status": {"lastKnownGoodRevision": known}})
    await start_operator()

    async def observed() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", NAME)
        kinds = {(a["action"], a["result"]) for a in actions_of(obj)}
        want = {("rollback", "Observed"), ("retrain", "Observed"), ("autoscale", "Observed")}
        return obj if want <= kinds else None

    obj = await eventually(observed, timeout=60, what="observed rollback, retrain and autoscale")
    messages = " ".join(a["message"] for a in actions_of(obj))
    assert "would roll back to revision 1" in messages and "would start a retraining Job" in messages
    dep = await api.get(DEPLOYMENTS, "default", NAME)
    assert image(dep) == "credit:2"  # not rolled back
    user_containers = [
        c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] != "modelmonitor-sidecar"
    ]
    assert user_containers == original["spec"]["template"]["spec"]["containers"]
    kinds = {res.plural for (res, _ns, _n), o in cluster.objects.items() if not o.deleted}
    assert "jobs" not in kinds and "horizontalpodautoscalers" not in kinds
