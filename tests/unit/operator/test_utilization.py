"""The model container's request stands in for a missing limit; with neither, the SLO says why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelmonitor.gather import MIN_LOOKBACK
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries
from tests.unit.operator.fakes import (
    FakeKube,
    FakePrometheus,
    condition,
    deployment,
    monitor_spec,
    reconciler,
    request,
    series,
)


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    sel = Selector("ns", "x", "model")
    fake.answers = {
        slo_queries(sel, MIN_LOOKBACK)["requests"]: [series(5000)],
        resource_queries(sel, MIN_LOOKBACK)["cpuCores"]: [series(0.6)],
        resource_queries(sel, MIN_LOOKBACK)["memoryBytes"]: [series(2**27)],
    }
    yield fake
    fake.close()


def evaluate(prom: FakePrometheus, resources: dict[str, Any], **slos: float) -> dict[str, Any]:
    kube = FakeKube()
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] = resources
    kube.deployments["x"] = dep
    spec = monitor_spec(sidecar={"inject": False}, prometheus={"url": prom.url, "timeout": "2s"}, slos=slos)
    return reconciler(kube).reconcile(request(spec)).status_patch


def test_cpu_without_a_limit_is_judged_against_the_request(prom: FakePrometheus) -> None:
    patch = evaluate(prom, {"requests": {"cpu": "500m"}}, cpuUtilization=0.9)
    slo = condition(patch, "SLOBreached")
    assert (slo["status"], slo["reason"]) == ("True", "ObjectiveBreached")
    assert "cpuUtilization 1.2 > 0.9 (NoLimit: container model has no cpu limit" in slo["message"]
    assert patch["slo"]["cpuUtilization"] == 1.2


def test_memory_without_limit_or_request_says_which_and_why(prom: FakePrometheus) -> None:
    patch = evaluate(prom, {"limits": {"cpu": "1"}}, cpuUtilization=0.9, memoryUtilization=0.9)
    slo = condition(patch, "SLOBreached")
    assert (slo["status"], slo["reason"]) == ("Unknown", "NoLimitOrRequest")
    assert slo["message"] == (
        "memoryUtilization: memory use cannot be judged: container model sets neither "
        "resources.limits.memory nor resources.requests.memory; set a limit (or a request)"
    )
    assert patch["slo"]["cpuUtilization"] == 0.6
