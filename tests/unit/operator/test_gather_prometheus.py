"""The SLO and resource figures of an evaluation come in one round trip; each check in its own."""

from __future__ import annotations

from typing import Any

from modelmonitor.adapters.prometheus import PrometheusPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.observations import Observations
from modelmonitor.gather.prometheus import gather_prometheus
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries
from tests.unit.operator.fakes import FakePrometheus, monitor_spec, series

SEL = Selector("ns", "x", "model", ("abc12",))
MODEL = {"name": "model", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}
SEVERAL = "the query returned 2 series; it must aggregate to one, e.g. with sum() or max()"
SLO, RESOURCE = slo_queries(SEL, 300), resource_queries(SEL, 300)


def gather(prom: FakePrometheus, checks: dict[str, str]) -> tuple[Observations, bool]:
    spec = ModelMonitorSpec.model_validate(
        monitor_spec(checks=[{"name": name, "query": q, "min": 0} for name, q in checks.items()])
    )
    obs = Observations(lookback_seconds=300)
    ok = gather_prometheus(spec, obs, url=prom.url, field="spec.prometheus.url", allow=(),
                           port=PrometheusPort, selector=SEL, model=MODEL)  # fmt: skip
    return obs, ok


def test_nine_figures_in_one_query_and_one_bad_check_hides_no_other(prom: FakePrometheus) -> None:
    two: Any = [series(0.1, pod="a"), series(0.2, pod="b")]
    prom.answers = {SLO["requests"]: [series(5000)], SLO["errorRate"]: [series(0.02)],
                    SLO["latencyP95Ms"]: [series(float("nan"))], RESOURCE["cpuCores"]: [series(1.0)],
                    RESOURCE["memoryBytes"]: [series(2**29)], "bad": two, "good": [series(0.5)]}  # fmt: skip
    obs, ok = gather(prom, {"bad": "bad", "good": "good"})
    assert obs.slo == {
        "requests": 5000.0, "throughputRps": None, "latencyP50Ms": None, "latencyP95Ms": None,
        "latencyP99Ms": None, "errorRate": 0.02, "cpuUtilization": 0.5, "memoryUtilization": 0.5,
        "gpuUtilization": None,
    }  # fmt: skip
    assert prom.asked == [*SLO.values(), *RESOURCE.values(), "bad", "good"]
    assert len(prom.queries) == 3  # the figures' query, then one per check
    assert (obs.slo_error, obs.checks, obs.check_errors) == (None, {"good": 0.5}, {"bad": SEVERAL})
    assert not ok


def test_a_figure_of_several_series_fails_the_whole_slo_block(prom: FakePrometheus) -> None:
    prom.answers = {
        SLO["requests"]: [series(5000)],
        RESOURCE["cpuCores"]: [series(0.1, pod="a"), series(0.2)],
    }
    obs, ok = gather(prom, {"good": "good"})
    assert (obs.slo, obs.slo_error, obs.check_errors, ok) == ({}, SEVERAL, {"good": SEVERAL}, False)
    assert len(prom.queries) == 1  # the checks were not asked: Prometheus failed the evaluation
