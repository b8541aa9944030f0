"""The Prometheus gatherer: SLO figures, utilization against limits, and the PromQL checks.

The queries are written by policy/queries.py; this module runs them through a PrometheusPort and
puts the figures, or why there are none, into the Observations. The SLO and resource figures come
in one query (any failure of it fails them all); each user check is a query of its own, judged
alone. A failure is never a verdict: the SLO and check evaluators make it Unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelmonitor.adapters.ports import PrometheusPort
from modelmonitor.adapters.prometheus import PrometheusError
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.observations import Observations
from modelmonitor.policy import egress
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries, utilization_basis

PortFactory = Callable[[str, float], PrometheusPort]  # (URL, timeout in seconds) -> the port to query


def gather_prometheus(
    spec: ModelMonitorSpec, obs: Observations, *, url: str, field: str, allow: tuple[egress.Pattern, ...],
    port: PortFactory, selector: Selector, model: dict[str, Any],
) -> bool:  # fmt: skip
    """Fill ``obs`` with the figures; False when Prometheus failed (refused, unreachable, an error)."""
    if not url:
        obs.slo_error = "no Prometheus URL: set spec.prometheus.url or the operator's --prometheus-url"
        obs.check_errors = {c.name: obs.slo_error for c in spec.checks}
        return True
    refusal = egress.refusal(url, allow, field=field)
    if refusal is not None:
        obs.slo_error = f"not querying Prometheus: {refusal}"
        obs.check_errors = {c.name: obs.slo_error for c in spec.checks}
        return False
    prom = port(url, parse_duration(spec.prometheus.timeout))
    ok = True
    slo = slo_queries(selector, obs.lookback_seconds)
    try:
        # One round trip for all nine figures: nine, one each, were a fifth of an evaluation's CPU.
        figures = prom.query_figures({**slo, **resource_queries(selector, obs.lookback_seconds)})
        for name in slo:
            obs.slo[name] = figures[name]
        for figure, resource, used in (("cpuUtilization", "cpu", figures["cpuCores"]),
                                       ("memoryUtilization", "memory", figures["memoryBytes"])):  # fmt: skip
            basis = utilization_basis(model, resource)
            obs.slo[figure] = used / basis.quantity if used is not None and basis.quantity else None
            if basis.reason:
                obs.slo_basis[figure] = (basis.reason, basis.message)
        obs.slo["gpuUtilization"] = figures["gpuUtilization"]
    except PrometheusError as exc:
        obs.slo_error = str(exc)
        obs.slo = {}
        ok = False
    for check in spec.checks:
        if obs.slo_error:
            obs.check_errors[check.name] = obs.slo_error
            continue
        try:
            obs.checks[check.name] = prom.query(check.query)
        except PrometheusError as exc:
            obs.check_errors[check.name] = str(exc)
            ok = False
    return ok
