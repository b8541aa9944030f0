"""A user check whose query returns several series says so in its status, instead of judging one."""

from __future__ import annotations

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


def test_a_check_returning_several_series_is_unknown_with_the_reason(prom: FakePrometheus) -> None:
    query = "rate(clicks_total[5m]) / rate(impressions_total[5m])"
    prom.answers = {query: [series(0.01, pod="a"), series(0.5, pod="b")]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = monitor_spec(
        sidecar={"inject": False},
        prometheus={"url": prom.url, "timeout": "2s"},
        checks=[{"name": "ctr", "query": query, "min": 0.02}],
    )

    patch = reconciler(kube).reconcile(request(spec)).status_patch

    reason = "the query returned 2 series; it must aggregate to one, e.g. with sum() or max()"
    # unknown: no value and no verdict, left out rather than null (the status schema has no nulls)
    assert patch["checks"] == [{"name": "ctr", "failures": 0, "reason": reason}]
    check = condition(patch, "CheckFailed")
    assert check["status"] == "Unknown"  # not a failure: 0.01 of one pod is not the check's value
    assert check["message"] == f"ctr: {reason}"
    assert query in prom.queries
