"""The real operator against the emulated API: the first reconcile writes an honest status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import eventually
from tests.emulator import MODELMONITORS

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[2]


def example(name: str, kind: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((ROOT / "examples" / name).read_text()):
        if doc and doc["kind"] == kind:
            return dict(doc)
    raise LookupError(kind)


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return dict(cond)
    return None


async def test_missing_target_then_found(cluster: Any, start_operator: Any) -> None:
    api = cluster.api
    monitor = example("minimal.yaml", "ModelMonitor")
    created = await api.create(MODELMONITORS, "default", monitor)
    assert created["metadata"]["generation"] == 1
    operator = await start_operator("--retry", "2s")  # a missing target is looked for every 2 s

    async def waiting_for_target() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", "credit-scoring")
        cond = ready_condition(obj)
        return obj if cond and cond["reason"] == "TargetNotFound" else None

    obj = await eventually(waiting_for_target, timeout=60, what="Ready=False TargetNotFound")
    status = obj["status"]
    assert status["observedGeneration"] == 1
    assert status["phase"] == "Pending"
    cond = ready_condition(obj)
    assert cond is not None
    assert cond["status"] == "False"
    assert cond["message"] == "Deployment default/credit-scoring not found; looking again every 2s"
    first_transition = cond["lastTransitionTime"]

    deployment = example("demo-model.yaml", "Deployment")
    deployment["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    await api.create("apps/v1/deployments", "default", deployment)

    async def found() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", "credit-scoring")
        cond = ready_condition(obj)
        return obj if cond and cond["reason"] == "TargetFound" else None

    obj = await eventually(found, timeout=30, what="Ready=True TargetFound")
    cond = ready_condition(obj)
    assert cond is not None and cond["status"] == "True"
    assert cond["lastTransitionTime"] >= first_transition
    assert obj["status"]["phase"] == "Pending"
    target = obj["status"]["target"]
    assert {k: target[k] for k in ("deployment", "revision", "modelVersion", "readyReplicas")} == {
        "deployment": "credit-scoring",
        "revision": "3",
        "modelVersion": "1.0.0",
        "readyReplicas": 0,
    }
    assert len(target["podTemplateHash"]) == 16 and target["since"]
    # Our own finalizer and annotation prefix, never Kopf's defaults.
    meta = obj["metadata"]
    assert not any(key.startswith("kopf.zalando.org") for key in meta.get("annotations") or {})
    assert all(not f.startswith("kopf.zalando.org") for f in meta.get("finalizers") or [])

    # One Event per transition: TargetNotFound (Warning), then TargetFound (Normal).
    events = [
        obj for (res, _ns, _name), obj in cluster.objects.items()
        if res.plural == "events" and not obj.deleted
    ]  # fmt: skip
    reasons = [e["reason"] for e in events if e.get("involvedObject", {}).get("name") == "credit-scoring"]
    assert reasons.count("TargetNotFound") == 1, reasons
    assert reasons.count("TargetFound") == 1, reasons
    assert "Traceback" not in operator.output()


async def test_invalid_spec_is_reported_in_status_naming_the_field(cluster: Any, start_operator: Any) -> None:
    api = cluster.api
    monitor = example("minimal.yaml", "ModelMonitor")
    monitor["metadata"]["name"] = "broken"
    monitor["spec"]["slos"] = {"latencyP95Ms": -5}
    await api.create(MODELMONITORS, "default", monitor)
    await start_operator()

    async def errored() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", "broken")
        return obj if (obj.get("status") or {}).get("phase") == "Error" else None

    obj = await eventually(errored, timeout=60, what="phase Error")
    cond = ready_condition(obj)
    assert cond is not None
    assert cond["reason"] == "InvalidSpec"
    assert "spec.slos.latencyP95Ms: must be >= 0, got -5" in cond["message"]

    # Fixing the spec bumps the generation; the next status says so and leaves Error.
    await api.patch(MODELMONITORS, "default", "broken", {"spec": {"slos": {"latencyP95Ms": 250}}})

    async def recovered() -> dict[str, Any] | None:
        obj = await api.get(MODELMONITORS, "default", "broken")
        status = obj.get("status") or {}
        return obj if status.get("phase") == "Pending" and status.get("observedGeneration") == 2 else None

    obj = await eventually(recovered, timeout=30, what="phase Pending at generation 2")
    assert ready_condition(obj)["reason"] == "TargetNotFound"  # type: ignore[index]
