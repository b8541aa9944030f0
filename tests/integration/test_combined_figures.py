"""The real Prometheus answers the combined query of an evaluation's figures with the very values the
separate queries give, on real sidecar series: one sidecar whose model fails three requests in ten,
one that served no error at all (its errorRate is 0 through ``or vector(0)``, not absent). A figure
of several series, or a scalar one, fails them all."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import aiohttp
import pytest

from modelmonitor.adapters.prometheus import PrometheusError, PrometheusPort
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.policy.combined import combine, split
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries
from tests.conftest import eventually
from tests.helpers.sidecar import request, start_model, start_sidecar

pytestmark = pytest.mark.integration


def traffic(faulty: int, clean: int, stop: threading.Event) -> None:
    """Predictions through ``faulty``'s sidecar, health checks (always 200) through ``clean``'s."""
    body = json.dumps(make_payload("kserve-v1", make_rows(2, seed=1), "m")).encode()
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        request(faulty, "POST", path_for("kserve-v1", "m"), body, {"Content-Type": "application/json"})
        request(clean, "GET", "/healthz")
        stop.wait(0.05)


async def test_the_combined_query_gives_the_figures_of_the_separate_queries(prometheus: Any) -> None:
    model = start_model("--name", "m", "--error-rate", "0.3", "--seed", "3")
    sidecars = [start_sidecar(model.url, "--model-name", name, "--protocol", "kserve-v1")
                for name in ("faulty", "clean")]  # fmt: skip
    stop = threading.Event()
    try:
        prom = await prometheus(
            targets=[f"127.0.0.1:{s.admin}" for s in sidecars], labels={"namespace": "ns"}
        )
        threading.Thread(target=traffic, args=(sidecars[0].port, sidecars[1].port, stop), daemon=True).start()
        async with aiohttp.ClientSession() as session:

            async def at(promql: str, when: float) -> Any:
                async with session.get(
                    f"{prom.url}/api/v1/query", params={"query": promql, "time": when}
                ) as r:
                    body = await r.json()
                    assert body["status"] == "success", body
                    return body["data"]["result"]

            async def settled() -> float | None:
                when = time.time() - 2  # every scrape up to then is stored: the answers cannot move
                grown = ['sum(increase(modelmonitor_sidecar_errors_total{model="faulty"}[1m])) > 0',
                         'sum(increase(modelmonitor_sidecar_requests_total{model="clean"}[1m])) > 0']  # fmt: skip
                return when if all([await at(q, when) for q in grown]) else None

            when = await eventually(settled, timeout=40, interval=0.5, what="errors and requests scraped")
            stop.set()
            for sel in (Selector("ns", "faulty", "model"), Selector("ns", "clean", "model")):
                queries = {**slo_queries(sel, 60), **resource_queries(sel, 60)}
                alone = {name: await at(q, when) for name, q in queries.items()}
                # the same series, labels and values (as Prometheus wrote them) as the queries alone
                assert split(await at(combine(queries), when), queries) == alone
                assert alone["requests"] and alone["latencyP95Ms"] and alone["cpuCores"] == []
                rate = float(alone["errorRate"][0]["value"][1])
                assert rate > 0 if sel.deployment == "faulty" else rate == 0, rate
                live = await asyncio.to_thread(PrometheusPort(prom.url, timeout=5).query_figures, queries)
                assert {k: v is None for k, v in live.items()} == {k: not r for k, r in alone.items()}
        by_model = {"perModel": "sum by (model) (rate(modelmonitor_sidecar_requests_total[1m]))"}
        with pytest.raises(PrometheusError, match=r"^the query returned 2 series; it must aggregate"):
            await asyncio.to_thread(PrometheusPort(prom.url, timeout=5).query_figures, by_model)
        with pytest.raises(PrometheusError, match=r"refused the query: .*expected type instant vector"):
            await asyncio.to_thread(PrometheusPort(prom.url, timeout=5).query_figures, {"scalar": "1"})
    finally:
        stop.set()
        for handle in (*[s.handle for s in sidecars], model.handle):
            handle.stop()
