"""The harness's real Prometheus: it starts, scrapes, answers PromQL and stops."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import eventually

pytestmark = pytest.mark.integration


async def test_real_prometheus_scrapes_and_answers(prometheus: Any) -> None:
    prom = await prometheus()
    async with aiohttp.ClientSession() as session:

        async def up() -> list[dict[str, Any]]:
            return [r for r in await prom.query(session, 'up{job="prometheus"}') if r["value"][1] == "1"]

        result = await eventually(up, timeout=30, interval=0.5, what="Prometheus to scrape itself")
        assert result[0]["metric"]["instance"] == prom.url.removeprefix("http://")
    await prom.stop()
    assert prom.proc is not None and prom.proc.returncode is not None
