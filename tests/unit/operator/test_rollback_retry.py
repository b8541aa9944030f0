"""A rollback whose patch the server refuses because the Deployment moved since its read (the
Deployment controller writes it all through a rollout): planned again on a fresh read within the same
evaluation while the pod template is still the one the decision judged, never over another writer's
change of it, and applied once at most."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

import jsonpatch

from modelmonitor.act.rollback import FRESH_READS, roll_back, unrecorded
from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.policy.actions import Decision
from modelmonitor.workload.injection import template_hash
from tests.unit.operator.fakes import FakeKube, deployment

Write = Callable[[dict[str, Any]], None] | None  # another writer's change of the Deployment; None deletes it
STAMP = "2026-11-23T12:00:00Z"


class RacedKube(FakeKube):
    """Like the API server: a write gives a new resourceVersion, a failed ``test`` op answers 422 and a
    missing Deployment 404. Another writer makes one of ``writes`` between each read and the next
    patch, until they run out."""

    def __init__(self, *writes: Write) -> None:
        super().__init__()
        self.writes, self.applied = list(writes), 0

    def _bump(self, name: str) -> None:
        meta = self.deployments[name]["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        if self.writes:
            write = self.writes.pop(0)
            if write is None:
                del self.deployments[name]
            else:
                write(self.deployments[name])
                self._bump(name)
        if name not in self.deployments:
            self._call("json_patch_deployment", ops)
            raise KubernetesError(404, "Not Found", f'deployments.apps "{name}" not found')
        try:
            super().json_patch_deployment(namespace, name, ops)
        except jsonpatch.JsonPatchTestFailed:
            raise KubernetesError(422, "Unprocessable Entity", "the server rejected our request") from None
        self.applied += 1
        self._bump(name)


def status_write(dep: dict[str, Any]) -> None:
    dep["status"]["observedGeneration"] = dep["status"].get("observedGeneration", 0) + 1


def template_write(dep: dict[str, Any]) -> None:
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "m:3"


def raced(*writes: Write, kind: type[RacedKube] = RacedKube) -> tuple[RacedKube, dict[str, Any], Decision]:
    """Revision 1 (image m:1) known-good, revision 2 (m:2) running and judged failing."""
    kube = kind(*writes)
    good = deployment()
    kube.deployments["x"] = current = copy.deepcopy(good)
    current["spec"]["template"]["spec"]["containers"][0]["image"] = "m:2"
    for revision, source in enumerate((good, current), start=1):
        kube.replicasets.append({
            "metadata": {"name": f"x-{revision}", "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"kind": "Deployment", "name": "x", "uid": "dep-x"}]},
            "spec": {"template": copy.deepcopy(source["spec"]["template"])},
        })  # fmt: skip
    decision = Decision("rollback", "SLOBreached", "Planned", "SLOBreached held for 2 consecutive evaluations",
                        target={"podTemplateHash": template_hash(good)})  # fmt: skip
    return kube, copy.deepcopy(current), decision


def run(kube: RacedKube, read: dict[str, Any], decision: Decision, **fields: str) -> tuple[str, str]:
    return roll_back(kube, "ns", read, decision, stamp=STAMP, **fields)  # type: ignore[arg-type]


def image(kube: FakeKube) -> str:
    return str(kube.deployments["x"]["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_deployment_written_twice_meanwhile_is_rolled_back_on_the_third_patch_once() -> None:
    kube, read, decision = raced(status_write, status_write)
    result, message = run(kube, read, decision, monitor_uid="mon-uid")
    assert (result, image(kube)) == ("Done", "m:1"), message
    assert kube.count("json_patch_deployment") == 3 and kube.applied == 1
    assert kube.count("get_deployment") == 2 and kube.count("list_replicasets") == 3  # re-planned each time
    assert kube.deployments["x"]["status"]["observedGeneration"] == 3  # the controller's writes kept
    now = datetime.datetime(2026, 11, 23, 12, 1, tzinfo=datetime.UTC)
    found = unrecorded(kube.deployments["x"], [], now, "mon-uid")  # the stamp, found after a lost status
    assert found is not None and found[0] == STAMP


def test_a_template_changed_meanwhile_is_not_rolled_back_over() -> None:
    kube, read, decision = raced(template_write)
    result, message = run(kube, read, decision)
    assert result == "Skipped" and image(kube) == "m:3" and kube.applied == 0
    assert "pod template changed since the decision" in message
    assert "the next evaluation judges the new template" in message


def test_a_deployment_that_never_stops_changing_fails_after_five_reads_nothing_applied_blind() -> None:
    kube, read, decision = raced(*[status_write] * 100)
    result, message = run(kube, read, decision)
    assert result == "Failed" and "422 Unprocessable Entity" in message and f"{FRESH_READS} reads" in message
    assert kube.count("json_patch_deployment") == FRESH_READS and kube.applied == 0 and image(kube) == "m:2"


def test_a_deployment_deleted_meanwhile_fails_the_rollback_without_an_error() -> None:
    kube, read, decision = raced(None)
    result, message = run(kube, read, decision)
    assert result == "Failed" and "deleted since the decision" in message, message
    assert kube.count("json_patch_deployment") == 1 and kube.count("get_deployment") == 1


class InvalidKube(RacedKube):
    """Refuses every patch as invalid (a 422 with no write meanwhile)."""

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self._call("json_patch_deployment", ops)
        raise KubernetesError(422, "Unprocessable Entity", f'Deployment.apps "{name}" is invalid')


def test_a_patch_refused_while_the_deployment_did_not_move_is_not_sent_again() -> None:
    kube, read, decision = raced(kind=InvalidKube)
    result, message = run(kube, read, decision)
    assert result == "Failed" and "422 Unprocessable Entity" in message and "reads" not in message
    assert kube.count("json_patch_deployment") == 1 and kube.count("get_deployment") == 1
