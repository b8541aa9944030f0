"""Alertmanager hears a firing alert on every evaluation, with an endsAt ahead; Slack hears it once."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.operator.fakes import (
    T0,
    FakeKube,
    FakePrometheus,
    Receiver,
    deployment,
    monitor_spec,
    reconciler,
    request,
    series,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    yield fake
    fake.close()


def evaluate(
    spec: dict[str, Any], kube: FakeKube, status: dict[str, Any], now: datetime.datetime
) -> dict[str, Any]:
    outcome = reconciler(kube).reconcile(request(spec, now=now, status=status))
    assert outcome.evaluated
    return {**status, **outcome.status_patch}


def test_a_condition_that_stays_true_is_resent_to_alertmanager_only(
    prom: FakePrometheus, receiver: Receiver
) -> None:
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = monitor_spec(
        interval="60s",
        sidecar={"inject": False},
        prometheus={"url": prom.url, "timeout": "2s"},
        checks=[{"name": "ctr", "query": "ctr", "min": 0.02}],
        actions={"alerts": [
            {"webhook": {"url": f"{receiver.url}/api/v2/alerts"}, "when": ["CheckFailed"]},
            {"webhook": {"url": f"{receiver.url}/slack"}, "when": ["CheckFailed"], "format": "slack"},
        ]},
    )  # fmt: skip

    status = evaluate(spec, kube, {}, T0)
    for minute in (1, 2):
        status = evaluate(spec, kube, status, T0 + datetime.timedelta(minutes=minute))

    sent = [a for body in receiver.bodies["/api/v2/alerts"] for a in body]
    assert [a["labels"]["alertname"] for a in sent] == ["ModelMonitorCheckFailed"] * 3
    assert {a["startsAt"] for a in sent} == {"2026-11-23T12:00:00Z"}  # one alert, kept firing
    assert [a["endsAt"] for a in sent] == [
        "2026-11-23T12:03:00Z",
        "2026-11-23T12:04:00Z",
        "2026-11-23T12:05:00Z",
    ]
    assert len(receiver.bodies["/slack"]) == 1

    prom.answers = {"ctr": [series(0.5)]}  # the check passes again: resolved, at once
    evaluate(spec, kube, status, T0 + datetime.timedelta(minutes=3))
    resolved = receiver.bodies["/api/v2/alerts"][-1][0]
    assert resolved["endsAt"] == "2026-11-23T12:03:00Z"
    assert receiver.bodies["/slack"][-1]["text"].startswith("[RESOLVED]")
