"""CPU and memory objectives without container limits: judged against the request, or said plainly."""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.observations import Observations
from modelmonitor.evaluate.slo import judge_slos
from modelmonitor.policy.queries import Basis, utilization_basis
from modelmonitor.policy.verdict import phase_of


def container(**resources: Any) -> dict[str, Any]:
    return {"name": "model", "resources": resources}


def test_the_limit_first_then_the_request_then_nothing() -> None:
    assert utilization_basis(container(limits={"cpu": "1"}, requests={"cpu": "500m"}), "cpu") == Basis(1.0)
    request = utilization_basis(container(requests={"cpu": "500m"}), "cpu")
    assert (request.quantity, request.reason) == (0.5, "NoLimit")
    assert request.message == "NoLimit: container model has no cpu limit; judged against its request 500m"
    none = utilization_basis({"name": "model"}, "memory")
    assert (none.quantity, none.reason) == (None, "NoLimitOrRequest")
    assert "neither resources.limits.memory nor resources.requests.memory" in none.message


def spec(**slos: Any) -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "m"}, "slos": slos})


def test_a_share_of_the_request_is_judged_and_says_nolimit() -> None:
    basis = {
        "cpuUtilization": (
            "NoLimit",
            "NoLimit: container model has no cpu limit; judged against its request 500m",
        )
    }
    over = Observations(300, slo={"requests": 500.0, "cpuUtilization": 1.2}, slo_basis=basis)
    v = judge_slos(spec(cpuUtilization=0.9), over)
    assert (v.status, v.reason) == ("True", "ObjectiveBreached")
    assert v.message == (
        "cpuUtilization 1.2 > 0.9 (NoLimit: container model has no cpu limit; judged against its request 500m)"
        " (over the last 300s)"
    )
    fine = judge_slos(spec(cpuUtilization=0.9), Observations(300, slo={"requests": 500.0, "cpuUtilization": 0.4},
                                                             slo_basis=basis))  # fmt: skip
    assert fine.status == "False" and "NoLimit" in fine.message


def test_without_limit_or_request_the_objective_says_it_cannot_be_judged() -> None:
    why = "memory use cannot be judged: container model sets neither ..."
    obs = Observations(300, slo={"requests": 500.0, "memoryUtilization": None, "latencyP95Ms": 10.0},
                       slo_basis={"memoryUtilization": ("NoLimitOrRequest", why)})  # fmt: skip
    v = judge_slos(spec(memoryUtilization=0.9, latencyP95Ms=250), obs)
    assert (v.status, v.reason, v.message) == ("Unknown", "NoLimitOrRequest", f"memoryUtilization: {why}")
    assert phase_of([v]) == "Unknown"
