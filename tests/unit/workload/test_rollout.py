"""A rollout the Deployment controller gave up on is a failure, not a wait."""

from __future__ import annotations

from typing import Any

from modelmonitor.workload.injection import rollout_complete, rollout_failure

MESSAGE = 'ReplicaSet "x-7c4b9f8d6" has timed out progressing.'


def stuck(observed: int = 2, generation: int = 2, **condition: Any) -> dict[str, Any]:
    progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": MESSAGE, **condition}  # fmt: skip
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": observed, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
                   "conditions": [{"type": "Available", "status": "True"}, progressing]},
    }  # fmt: skip


def test_progress_deadline_exceeded_is_a_failure_with_the_controllers_message() -> None:
    assert not rollout_complete(stuck())
    assert rollout_failure(stuck()) == MESSAGE


def test_a_progressing_rollout_or_a_stale_condition_is_no_failure() -> None:
    assert rollout_failure(stuck(status="True", reason="ReplicaSetUpdated")) is None
    assert rollout_failure(stuck(reason="NewReplicaSetAvailable")) is None
    assert (
        rollout_failure(stuck(observed=1, generation=2)) is None
    )  # the controller has not seen the new template
    assert rollout_failure({"metadata": {}, "status": {}}) is None
