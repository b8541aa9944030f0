"""From figures to conditions and phase: missing data never breaches, low traffic says so."""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.checks import judge_checks
from modelmonitor.evaluate.drift import judge_drift
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.observations import Observations
from modelmonitor.evaluate.slo import judge_slos
from modelmonitor.policy.queries import Selector, parse_quantity, slo_queries
from modelmonitor.policy.verdict import phase_of


def spec(**fields: Any) -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "m"}, **fields})


def obs(**fields: Any) -> Observations:
    return Observations(lookback_seconds=300, **fields)


def test_slo_breach_names_the_figure_and_the_bound() -> None:
    s = spec(slos={"latencyP95Ms": 250, "errorRate": 0.01})
    v = judge_slos(s, obs(slo={"requests": 5000, "latencyP95Ms": 410.0, "errorRate": 0.002}))
    assert (v.status, v.reason) == ("True", "ObjectiveBreached")
    assert v.message == "latencyP95Ms 410ms > 250ms (over the last 300s)"


def test_slos_within_objectives() -> None:
    s = spec(slos={"latencyP95Ms": 250, "minThroughput": 1})
    v = judge_slos(s, obs(slo={"requests": 5000, "latencyP95Ms": 40.0, "throughputRps": 16.6}))
    assert (v.status, v.reason) == ("False", "WithinObjectives")


def test_unreachable_prometheus_is_unknown_never_a_breach() -> None:
    s = spec(slos={"latencyP95Ms": 250})
    v = judge_slos(s, obs(slo_error="cannot reach Prometheus at http://p:9090: ConnectionError"))
    assert (v.status, v.reason) == ("Unknown", "PrometheusUnavailable")
    assert phase_of([v]) == "Unknown"


def test_low_traffic_is_insufficient_data_and_pending() -> None:
    s = spec(slos={"latencyP95Ms": 250, "minRequests": 100})
    v = judge_slos(s, obs(slo={"requests": 12.0, "latencyP95Ms": 9000.0}))
    assert (v.status, v.reason) == ("Unknown", "InsufficientData")
    assert "12 requests in the last 300s, fewer than spec.slos.minRequests=100" in v.message
    assert phase_of([v]) == "Pending"


def test_a_missing_series_is_unknown_unless_another_objective_breaches() -> None:
    s = spec(slos={"latencyP95Ms": 250, "cpuUtilization": 0.9})
    missing = judge_slos(s, obs(slo={"requests": 500, "latencyP95Ms": 40.0, "cpuUtilization": None}))
    assert (missing.status, missing.reason) == ("Unknown", "NoData")
    breach = judge_slos(s, obs(slo={"requests": 500, "latencyP95Ms": 400.0, "cpuUtilization": None}))
    assert breach.status == "True"


def test_no_objectives_is_reported_not_judged() -> None:
    v = judge_slos(spec(), obs(slo={"requests": 1.0}))
    assert (v.status, v.reason) == ("False", "NoObjectives")


def test_checks_fail_only_after_failure_limit_consecutive_evaluations() -> None:
    s = spec(checks=[{"name": "ctr", "query": "q", "min": 0.02, "failureLimit": 3}])
    failures: dict[str, int] = {}
    outcomes = []
    for value in (0.01, 0.01, 0.03, 0.01, 0.01, 0.01):
        verdict, states = judge_checks(s, obs(checks={"ctr": value}), failures)
        assert verdict is not None
        failures = {st["name"]: st["failures"] for st in states}
        outcomes.append(verdict.status)
    assert outcomes == ["False", "False", "False", "False", "False", "True"]
    verdict, states = judge_checks(s, obs(checks={"ctr": None}), failures)
    assert verdict is not None and verdict.status == "Unknown"
    assert states[0]["failures"] == 3  # no data neither resets nor adds a failure


def test_drift_verdicts() -> None:
    s = spec(drift={"driftShare": 0.5})
    report = {
        "dataset_drift": True,
        "drift_share": 0.6,
        "features": [
            {"name": "income", "method": "wasserstein", "statistic": 0.4, "drifted": True, "reason": None},
            {"name": "age", "method": "ks", "statistic": 0.3, "drifted": True, "reason": None},
            {"name": "debt", "method": "ks", "statistic": 0.01, "drifted": False, "reason": None},
            {"name": "zip", "method": None, "statistic": None, "drifted": False, "reason": "schema mismatch"},
        ],
    }
    v = judge_drift(s, obs(drift=report))
    assert (v.status, v.reason) == ("True", "DriftDetected")
    assert v.message.startswith("2 of 3 features drift (share 0.60 >= 0.5): income (wasserstein 0.4)")
    waiting = judge_drift(s, obs(drift_reason=("CapturingReference", "120/5000 rows captured")))
    assert (waiting.status, waiting.reason) == ("Unknown", "CapturingReference")


def test_phase_is_the_worst_true_condition() -> None:
    ok = Verdict("SLOBreached", "False", "WithinObjectives", "")
    drift = Verdict("DataDrift", "True", "DriftDetected", "")
    breach = Verdict("SLOBreached", "True", "ObjectiveBreached", "")
    assert phase_of([ok]) == "Healthy"
    assert phase_of([ok, drift]) == "Drifting"
    assert phase_of([breach, drift]) == "Breached"
    assert phase_of([Verdict("DataDrift", "Unknown", "SidecarUnreachable", ""), ok]) == "Unknown"


def test_queries_select_the_monitor_and_quantities_parse() -> None:
    q = slo_queries(Selector("risk", "credit-scoring", "model"), 300)
    assert 'namespace="risk",model="credit-scoring"' in q["latencyP95Ms"]
    assert q["latencyP95Ms"].startswith("1000 * histogram_quantile(0.95, sum by (le) (rate(")
    assert "[300s]" in q["errorRate"]
    assert parse_quantity("500m") == 0.5
    assert parse_quantity("256Mi") == 256 * 2**20
    assert parse_quantity("1G") == 1e9
    assert parse_quantity(2) == 2.0
