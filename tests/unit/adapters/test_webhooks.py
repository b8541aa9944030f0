"""Webhook posts: a failure says scheme://host[:port] and why, never the URL's path, query or userinfo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmonitor.adapters import webhooks
from modelmonitor.adapters.webhooks import Sender, WebhookError
from tests.unit.adapters.servers import Drip, Server, Silent, closed_port

SECRET = "SECRETxyz"


def secret_url(base: str) -> str:
    host = base.removeprefix("http://")
    return f"http://bob:{SECRET}pw@{host}/T000/B000/{SECRET}?token={SECRET}"


@pytest.fixture
def failing() -> Iterator[Server]:
    server = Server(500)
    yield server
    server.close()


def post(url: str) -> str:
    naps: list[float] = []
    with pytest.raises(WebhookError) as caught:
        Sender(sleep=naps.append).post(url, {"text": "alert"})
    return str(caught.value)


def test_a_5xx_is_retried_and_the_error_shows_no_secret_even_when_the_server_echoes_the_url(
    failing: Server,
) -> None:
    message = post(secret_url(failing.url))
    assert len(failing.requests) == 3  # retried
    assert failing.requests[0][1] == f"/T000/B000/{SECRET}?token={SECRET}"  # the secret did reach it
    assert "Authorization" in failing.requests[0][2]  # userinfo became basic auth
    assert message.startswith(f"http://127.0.0.1:{failing.port}: HTTP 500: POST ")
    assert SECRET not in message
    assert "T000" not in message


def test_a_4xx_is_not_retried(failing: Server) -> None:
    failing.status = 404
    message = post(secret_url(failing.url))
    assert len(failing.requests) == 1
    assert "HTTP 404" in message and SECRET not in message


def test_a_closed_port_says_the_connection_failed_without_the_url() -> None:
    url = secret_url(f"http://127.0.0.1:{closed_port()}")
    message = post(url)
    assert message.endswith(": connection refused, reset or the host not found")
    assert SECRET not in message and "T000" not in message and "Max retries" not in message


def test_a_redirect_is_not_followed() -> None:
    target = Server(200)
    redirect = Server(307, location=f"{target.url}/elsewhere")
    try:
        message = post(secret_url(redirect.url))
        assert "redirect (not followed)" in message and SECRET not in message
        assert target.requests == []
    finally:
        redirect.close()
        target.close()


def test_a_2xx_is_accepted() -> None:
    ok = Server(200)
    try:
        Sender(sleep=lambda _: None).post(f"{ok.url}/hook", {"text": "x"})
        assert [(m, p) for m, p, _ in ok.requests] == [("POST", "/hook")]
    finally:
        ok.close()


def test_a_receiver_that_never_answers_times_out_on_every_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT", (1.0, 0.2))
    monkeypatch.setattr(webhooks, "READ_TIMEOUT", 0.2)
    silent = Silent()
    try:
        assert post(secret_url(silent.url)) == f"{silent.url}: no answer within 0.2s"
    finally:
        silent.close()


@pytest.mark.parametrize("where", ["head", "body"])
def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(webhooks, "ANSWER_DEADLINE", 0.5)
    drip = Drip(where, total=200, status=500) if where == "body" else Drip(where, total=200)
    try:
        message = post(secret_url(drip.url))
        assert message == f"{drip.url}: no complete answer within 0.5s"
    finally:
        drip.close()


def naps_of(server: Server) -> list[float]:
    """The waits between the attempts of a post that fails at last."""
    naps: list[float] = []
    with pytest.raises(WebhookError):
        Sender(sleep=naps.append).post(f"{server.url}/hook", {"text": "alert"})
    return naps


@pytest.mark.parametrize(
    ("status", "header", "naps"),
    [
        (429, "4", [4.0, 4.0]),  # longer than the backoff: the receiver's wait
        (503, "4", [4.0, 4.0]),
        (429, "3600", [webhooks.RETRY_AFTER_MAX] * 2),  # capped: it holds a worker thread
        (429, "0", [webhooks.BACKOFF, 2 * webhooks.BACKOFF]),  # never shorter than the backoff
        (429, "soon", [webhooks.BACKOFF, 2 * webhooks.BACKOFF]),  # unreadable: the backoff
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", [webhooks.BACKOFF, 2 * webhooks.BACKOFF]),  # past
        (500, "4", [webhooks.BACKOFF, 2 * webhooks.BACKOFF]),  # only 429 and 503 ask to wait
    ],
)
def test_retry_after_on_429_and_503_is_honoured_up_to_a_cap(
    status: int, header: str, naps: list[float]
) -> None:
    server = Server(status, headers={"Retry-After": header})
    try:
        assert naps_of(server) == naps
        assert len(server.requests) == webhooks.ATTEMPTS
    finally:
        server.close()


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    assert webhooks.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 6) == 6.0
    assert webhooks.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 60) == 0.0
    assert webhooks.retry_after(" 12 ", now=0) == 12.0
    assert webhooks.retry_after("", now=0) is None
