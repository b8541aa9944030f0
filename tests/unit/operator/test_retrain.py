"""A running retraining Job is found by the monitor's label, not only by the name in status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.operator.fakes import (
    FakeKube,
    FakePrometheus,
    deployment,
    monitor_spec,
    reconciler,
    request,
    series,
)

JOB_TEMPLATE = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "t"}]}}}
}


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    fake.answers = {"ctr": [series(0.01)]}  # below min: CheckFailed is True
    yield fake
    fake.close()


def spec(prom: FakePrometheus) -> dict[str, Any]:
    return monitor_spec(
        sidecar={"inject": False},
        prometheus={"url": prom.url, "timeout": "2s"},
        checks=[{"name": "ctr", "query": "ctr", "min": 0.02}],
        actions={"retrain": {"when": ["CheckFailed"], "jobTemplate": JOB_TEMPLATE, "cooldown": "1h"}},
    )


def job(name: str, monitor: str = "x", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"modelmonitor.io/monitor": monitor},
                     "annotations": {"modelmonitor.io/reason": "CheckFailed"},
                     "creationTimestamp": "2026-11-23T11:50:00Z"},
        "status": status,
    }  # fmt: skip


def test_an_active_job_whose_name_status_lost_counts_as_running(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    kube.jobs = [job("x-retrain-abcde", active=1)]  # started; the status write that named it was lost

    patch = reconciler(kube).reconcile(request(spec(prom))).status_patch

    assert kube.count("create_job") == 0
    assert patch["retrain"] == {"job": "x-retrain-abcde", "reason": "CheckFailed",
                                "startedAt": "2026-11-23T11:50:00Z", "outcome": "Running"}  # fmt: skip
    assert patch["actionState"]["lastRetrain"] == "2026-11-23T11:50:00Z"


def test_finished_or_foreign_jobs_do_not_hold_a_retrain_back(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    done = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    kube.jobs = [job("x-retrain-old", **done), job("other-retrain-abcde", monitor="other", active=1)]

    patch = reconciler(kube).reconcile(request(spec(prom))).status_patch

    (created,) = kube.created_jobs
    assert patch["retrain"]["job"] == created["metadata"]["name"] and patch["retrain"]["outcome"] == "Running"
