"""A rollout stuck at its progress deadline shows as SidecarInjected=False RolloutFailed, not a wait."""

from __future__ import annotations

from tests.unit.operator.fakes import (
    FakeKube,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
)


def test_a_stuck_rollout_reports_rollout_failed_with_the_deployments_message() -> None:
    kube = FakeKube()
    spec = monitor_spec()
    dep = injected(deployment(), spec)
    message = 'ReplicaSet "x-7c4b9f8d6" has timed out progressing.'
    dep["status"].update({"updatedReplicas": 0, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": message}]})  # fmt: skip
    kube.deployments["x"] = dep

    patch = reconciler(kube).reconcile(request(spec)).status_patch

    sidecar = condition(patch, "SidecarInjected")
    assert (sidecar["status"], sidecar["reason"]) == ("False", "RolloutFailed")
    assert message in sidecar["message"]
    assert patch["phase"] == "Error"
