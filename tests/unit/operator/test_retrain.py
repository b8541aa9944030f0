"""A running retraining Job is found by the monitor's label, not only by the name in status."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.operator.fakes import (
    T0,
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
        actions={
            "retrain": {
                "when": ["CheckFailed"],
                "jobTemplate": JOB_TEMPLATE,
                "cooldown": "1h",
                "serviceAccountName": "trainer",
            }
        },
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
    kube.namespace_labels["ns"] = {"modelmonitor.io/retrain": "true"}
    kube.deployments["x"] = deployment()
    kube.jobs = [job("x-retrain-abcde", active=1)]  # started; the status write that named it was lost

    patch = reconciler(kube).reconcile(request(spec(prom))).status_patch

    assert kube.count("create_job") == 0
    assert patch["retrain"] == {"job": "x-retrain-abcde", "reason": "CheckFailed",
                                "startedAt": "2026-11-23T11:50:00Z", "outcome": "Running"}  # fmt: skip
    assert patch["actionState"]["lastRetrain"] == "2026-11-23T11:50:00Z"


def test_finished_or_foreign_jobs_do_not_hold_a_retrain_back(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.namespace_labels["ns"] = {"modelmonitor.io/retrain": "true"}
    kube.deployments["x"] = deployment()
    done = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    kube.jobs = [job("x-retrain-old", **done), job("other-retrain-abcde", monitor="other", active=1)]

    patch = reconciler(kube).reconcile(request(spec(prom))).status_patch

    (created,) = kube.created_jobs
    assert patch["retrain"]["job"] == created["metadata"]["name"] and patch["retrain"]["outcome"] == "Running"


def test_a_namespace_without_the_retrain_label_gets_no_job_and_says_why(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()  # opted in to monitoring, not to retraining

    outcome = reconciler(kube).reconcile(request(spec(prom)))

    assert kube.count("create_job") == 0 and "retrain" not in outcome.status_patch
    (entry,) = [a for a in outcome.status_patch["actions"] if a["action"] == "retrain"]
    assert entry["result"] == "Skipped" and entry["reason"] == "CheckFailed"
    assert "retraining Jobs are not permitted in namespace ns" in entry["message"]
    assert "kubectl label namespace ns modelmonitor.io/retrain=true" in entry["message"]
    assert outcome.status_patch["lastAction"] == "retrain Skipped"
    (note,) = [n for n in outcome.notes if n.reason == "RetrainNotPermitted"]
    assert note.warning and note.message == entry["message"]
    assert not [n for n in outcome.notes if n.reason == "RetrainSkipped"]

    # The next evaluation refuses again, but neither the trail nor the Events repeat it.
    status = {**outcome.status_patch}
    later = reconciler(kube).reconcile(
        request(spec(prom), now=T0 + datetime.timedelta(minutes=2), status=status)
    )
    assert kube.count("create_job") == 0
    assert later.status_patch["actions"] == outcome.status_patch["actions"]
    assert not [n for n in later.notes if n.reason == "RetrainNotPermitted"]

    kube.namespace_labels["ns"] = {"modelmonitor.io/retrain": "true"}  # the namespace admin allows it
    allowed = reconciler(kube).reconcile(
        request(spec(prom), now=T0 + datetime.timedelta(minutes=4), status=status)
    )
    (created,) = kube.created_jobs
    assert allowed.status_patch["retrain"]["job"] == created["metadata"]["name"]
    assert [n.reason for n in allowed.notes if n.reason.startswith("Retrain")] == ["RetrainDone"]


def test_the_job_runs_as_the_service_account_the_spec_names(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.namespace_labels["ns"] = {"modelmonitor.io/retrain": "true"}
    kube.deployments["x"] = deployment()
    s = spec(prom)
    pod = s["actions"]["retrain"]["jobTemplate"]["spec"]["template"]["spec"]
    s["actions"]["retrain"]["jobTemplate"]["spec"]["template"]["spec"] = {
        **pod,
        "serviceAccountName": "operator-admin",
        "serviceAccount": "operator-admin",
    }

    reconciler(kube).reconcile(request(s))

    (created,) = kube.created_jobs
    pod_spec = created["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == "trainer" and "serviceAccount" not in pod_spec
    assert pod_spec["containers"][0]["image"] == "t"


def test_observe_mode_says_a_job_would_be_refused(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    s = spec(prom)
    s["actions"]["mode"] = "observe"

    patch = reconciler(kube).reconcile(request(s)).status_patch

    (entry,) = [a for a in patch["actions"] if a["action"] == "retrain"]
    assert entry["result"] == "Observed"
    assert (
        "would start a retraining Job" in entry["message"]
        and "modelmonitor.io/retrain=true" in entry["message"]
    )
    assert kube.count("create_job") == 0
