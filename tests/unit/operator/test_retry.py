"""--retry (settings.retry_seconds): how soon a missing target is looked at again, and what status says."""

from __future__ import annotations

import datetime

from tests.unit.operator.fakes import T0, FakeKube, condition, deployment, monitor_spec, reconciler, request

SPEC = monitor_spec()


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_a_missing_target_is_looked_for_once_per_retry_not_every_tick() -> None:
    kube = FakeKube()
    rec = reconciler(kube, tick_seconds=10.0, retry_seconds=45.0)

    first = rec.reconcile(request(SPEC, now=at(0))).status_patch
    ready = condition(first, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "TargetNotFound", "Deployment ns/x not found; looking again every 45s")  # fmt: skip
    status = first
    for tick in (10, 20, 30, 40):  # the timer wakes every tick: no lookup, nothing to write
        assert rec.reconcile(request(SPEC, now=at(tick), status=status)).status_patch == {}
    assert kube.count("get_deployment") == 1

    kube.deployments["x"] = deployment()
    found = rec.reconcile(request(SPEC, now=at(50), status=status)).status_patch
    assert kube.count("get_deployment") == 2
    assert condition(found, "Ready")["reason"] == "TargetFound"


def test_a_changed_spec_looks_at_once() -> None:
    kube = FakeKube()
    rec = reconciler(kube, retry_seconds=45.0)
    status = rec.reconcile(request(SPEC, now=at(0))).status_patch
    rec.reconcile(request(SPEC, now=at(10), status=status, generation=2))
    assert kube.count("get_deployment") == 2
