"""The Prometheus port: one value per query, or a reason — never an arbitrary one of several series."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmonitor.adapters import prometheus
from modelmonitor.adapters.prometheus import PrometheusError, PrometheusPort
from tests.unit.adapters.servers import Drip, Server, Silent, closed_port
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


# ----------------------------------------------------------------------- credentials, caps, redirects

SECRET = "SECRETpw"


def with_userinfo(base: str, path: str = "/prom") -> str:
    return base.replace("http://", f"http://admin:{SECRET}@") + path + f"?tenant={SECRET}"


def query_error(url: str, promql: str = "up", timeout: float = 2) -> str:
    with pytest.raises(PrometheusError) as caught:
        PrometheusPort(url, timeout=timeout).query(promql)
    return str(caught.value)


def test_a_refused_query_shows_neither_the_credentials_nor_the_path_even_when_echoed() -> None:
    server = Server(500)
    try:
        message = query_error(with_userinfo(server.url), promql=f"secret_metric{{k='{SECRET}'}}")
        assert server.requests[0][2]["Authorization"].startswith("Basic ")  # userinfo: basic auth
        assert message.startswith(f"Prometheus at http://127.0.0.1:{server.port} refused the query: ")
        assert SECRET not in message
        assert "/prom" not in message
    finally:
        server.close()


def test_an_unreachable_prometheus_shows_scheme_host_and_port_only() -> None:
    port = closed_port()
    message = query_error(with_userinfo(f"http://127.0.0.1:{port}"))
    assert message == f"cannot reach Prometheus at http://127.0.0.1:{port}: ConnectionError"


@pytest.mark.parametrize("chunked", [False, True], ids=["announced", "chunked"])
def test_an_answer_over_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch, chunked: bool) -> None:
    monkeypatch.setattr(prometheus, "MAX_ANSWER_BYTES", 100_000)
    server = Server(200, size=1_000_000, chunked=chunked)
    try:
        message = query_error(server.url)
        assert message.startswith(f"Prometheus at {server.url} answered too much: the answer ")
        assert "over 100000" in message
    finally:
        server.close()


def test_an_answer_under_the_cap_is_read(monkeypatch: pytest.MonkeyPatch, prom: FakePrometheus) -> None:
    monkeypatch.setattr(prometheus, "MAX_ANSWER_BYTES", 1000)
    prom.answers = {"one": [series(0.5)]}
    assert PrometheusPort(prom.url, timeout=2).query("one") == 0.5


def test_a_redirect_is_refused_not_followed() -> None:
    target = Server(200)
    redirect = Server(302, location=f"{target.url}/api/v1/query")
    try:
        message = query_error(with_userinfo(redirect.url))
        assert "answered with a redirect, which is not followed" in message and SECRET not in message
        assert target.requests == []
    finally:
        redirect.close()
        target.close()


def test_an_answer_that_is_not_json_or_has_no_result() -> None:
    for body, said in (
        (b"<html>hello</html>", "is not JSON"),
        (b'{"status": "success"}', "without data.result"),
    ):
        server = Server(200, body=body)
        try:
            assert said in query_error(server.url)
        finally:
            server.close()


def test_a_prometheus_that_never_answers_times_out_with_the_timeout_in_the_message() -> None:
    silent = Silent()
    try:
        with pytest.raises(PrometheusError) as caught:
            PrometheusPort(with_userinfo(silent.url), timeout=0.2).query("up")
        assert str(caught.value) == f"query timed out after 0.2s at {silent.url}"
    finally:
        silent.close()


@pytest.mark.parametrize("where", ["head", "body"])
def test_a_prometheus_that_trickles_its_answer_is_cut_at_twice_its_timeout(where: str) -> None:
    drip = Drip(where, total=200)
    try:
        message = query_error(with_userinfo(drip.url), timeout=0.3)
        assert message == f"Prometheus at {drip.url} gave no complete answer within 0.6s"
    finally:
        drip.close()


# ------------------------------------------------------------------------ several figures, one query


def test_figures_come_in_one_query_each_judged_as_it_would_be_alone(prom: FakePrometheus) -> None:
    prom.answers = {"one": [series(0.25)], "nan": [series(float("nan"))], "inf": [series(float("inf"))]}
    port = PrometheusPort(prom.url, timeout=2)
    figures = port.query_figures({"one": "one", "none": "none", "nan": "nan", "inf": "inf"})
    assert figures == {"one": 0.25, "none": None, "nan": None, "inf": None}
    assert len(prom.queries) == 1 and prom.asked == ["one", "none", "nan", "inf"]
    assert port.query_figures({}) == {} and len(prom.queries) == 1  # nothing to ask: no round trip


def test_a_figure_of_several_series_fails_them_all_as_it_fails_alone(prom: FakePrometheus) -> None:
    prom.answers = {"one": [series(1.0)], "ctr": [series(0.1, pod="a"), series(0.9, pod="b")]}
    with pytest.raises(PrometheusError) as caught:
        PrometheusPort(prom.url, timeout=2).query_figures({"one": "one", "ctr": "ctr"})
    assert (
        str(caught.value) == "the query returned 2 series; it must aggregate to one, e.g. with sum() or max()"
    )


def test_figures_fail_with_the_messages_of_one_query_and_no_credentials() -> None:
    refusing, not_json, closed = Server(500), Server(200, body=b"<html>hello</html>"), closed_port()
    try:
        cases = [(with_userinfo(f"http://127.0.0.1:{closed}"), True), (with_userinfo(refusing.url), False),
                 (not_json.url, True)]  # fmt: skip
        for url, same in cases:
            port = PrometheusPort(url, timeout=2)
            with pytest.raises(PrometheusError) as alone:
                port.query("up")
            with pytest.raises(PrometheusError) as together:
                port.query_figures({"up": "up"})
            said = str(together.value)
            assert SECRET not in said
            if same:
                assert said == str(alone.value)
            else:  # its answer echoes the query, which differs
                assert said.startswith(f"Prometheus at {port.shown} refused the query: ")
    finally:
        refusing.close()
        not_json.close()
