"""Deleting a monitor while controllers keep writing its Deployment (a rollout, a namespace's
teardown): the removal's ``test`` ops fail with 422 on a stale read and the object may vanish (404).
The cleanup plans again on a fresh read instead of failing the delete handler."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from modelmonitor.act.sidecar import FRESH_READS
from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.workload.injection import SIDECAR_NAME
from tests.unit.operator.fakes import FakeKube, deployment, injected, monitor_spec, reconciler


class BusyKube(FakeKube):
    """Like the API server: a failed ``test`` op answers 422 and a missing object 404. A controller
    writes the Deployment's status right after each of the first ``busy`` reads (a new
    resourceVersion), and ``vanish_after`` reads in, the Deployment is deleted."""

    def __init__(self, busy: int = 0, vanish_after: int | None = None) -> None:
        super().__init__()
        self.busy, self.vanish_after, self.reads, self.patches = busy, vanish_after, 0, 0

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = super().get_deployment(namespace, name)
        self.reads += 1
        if found is not None and self.reads <= self.busy:
            stored = self.deployments[name]["metadata"]
            stored["resourceVersion"] = str(int(stored["resourceVersion"]) + 1)
        if self.vanish_after is not None and self.reads >= self.vanish_after:
            self.deployments.pop(name, None)
        return found

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self.patches += 1
        if name not in self.deployments:
            raise KubernetesError(404, "Not Found", f'deployments.apps "{name}" not found')
        try:
            super().json_patch_deployment(namespace, name, ops)
        except jsonpatch.JsonPatchTestFailed:
            raise KubernetesError(422, "Unprocessable Entity", "the server rejected our request") from None


def containers(kube: FakeKube, name: str = "x") -> list[str]:
    return [c["name"] for c in kube.deployments[name]["spec"]["template"]["spec"]["containers"]]


def test_a_deployment_written_meanwhile_is_read_again_and_the_sidecar_still_comes_out() -> None:
    spec = monitor_spec()
    kube = BusyKube(busy=2)
    kube.deployments["x"] = injected(deployment(), spec)
    assert SIDECAR_NAME in containers(kube)
    reconciler(kube).cleanup("ns", "x", spec)
    assert containers(kube) == ["model"]
    assert kube.patches == 3  # two refused on a stale resourceVersion, the third on a fresh read


def test_a_deployment_deleted_meanwhile_ends_the_cleanup_without_an_error() -> None:
    spec = monitor_spec()
    kube = BusyKube(vanish_after=1)  # gone between the read and the patch, as in a namespace's teardown
    kube.deployments["x"] = injected(deployment(), spec)
    reconciler(kube).cleanup("ns", "x", spec)
    assert "x" not in kube.deployments and kube.patches == 1


def test_a_deployment_that_keeps_changing_fails_the_cleanup_after_a_few_fresh_reads() -> None:
    spec = monitor_spec()
    kube = BusyKube(busy=10**6)
    kube.deployments["x"] = injected(deployment(), spec)
    with pytest.raises(KubernetesError) as raised:
        reconciler(kube).cleanup("ns", "x", spec)
    assert raised.value.status == 422 and kube.patches == FRESH_READS
    assert SIDECAR_NAME in containers(kube)  # nothing applied blind
