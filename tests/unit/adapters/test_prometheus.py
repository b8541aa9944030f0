"""The Prometheus port: one value per query, or a reason — never an arbitrary one of several series."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmonitor.adapters.prometheus import PrometheusError, PrometheusPort
from tests.unit.operator.fakes import FakePrometheus, series


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.close()


def test_one_series_a_scalar_and_no_series(prom: FakePrometheus) -> None:
    prom.answers = {"one": [series(0.25)], "scalar": [1764000000.0, "3"], "nan": [series(float("nan"))]}
    port = PrometheusPort(prom.url, timeout=2)
    assert port.query("one") == 0.25
    assert port.query("scalar") == 3.0
    assert port.query("none") is None
    assert port.query("nan") is None


def test_several_series_are_refused_with_the_count_and_the_fix(prom: FakePrometheus) -> None:
    prom.answers = {"ctr": [series(0.1, pod="a"), series(0.9, pod="b"), series(0.5, pod="c")]}
    with pytest.raises(PrometheusError) as caught:
        PrometheusPort(prom.url, timeout=2).query("ctr")
    assert (
        str(caught.value) == "the query returned 3 series; it must aggregate to one, e.g. with sum() or max()"
    )


def test_a_range_vector_is_refused(prom: FakePrometheus) -> None:
    prom.answers = {"range": [{"metric": {}, "values": [[1764000000.0, "1"]]}]}
    with pytest.raises(PrometheusError, match="range vector"):
        PrometheusPort(prom.url, timeout=2).query("range")
