"""A reference profile from spec.drift.reference.url: allowlisted, capped, streamed, and never shown
beyond scheme://host[:port]. Driven with real local HTTP servers."""

from __future__ import annotations

import pandas as pd
import pytest

from modelmonitor.adapters.download import FetchError, fetch
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift import build_profile
from modelmonitor.gather import reference
from modelmonitor.gather.reference import Reference, load_reference
from modelmonitor.policy.egress import parse_patterns
from tests.unit.adapters.servers import Drip, Server, Silent, closed_port
from tests.unit.operator.fakes import FakeKube, monitor_spec

SECRET = "SECRETxyz"
PROFILE = (
    build_profile(pd.DataFrame({"a": [1.0, 2.0, 3.0] * 50, "b": ["x", "y", "z"] * 50})).to_json().encode()
)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "CACHE", reference.ProfileCache(size=4))


def load(url: str, **kwargs: object) -> Reference:
    spec = ModelMonitorSpec.model_validate(monitor_spec(drift={"reference": {"url": url}}))
    return load_reference(FakeKube(), spec, namespace="ns", monitor="x", timeout=2.0, **kwargs)  # type: ignore[arg-type]


def secret_url(base: str) -> str:
    return base.replace("http://", f"http://u:{SECRET}@") + f"/profiles/{SECRET}.json?sig={SECRET}"


def unavailable(ref: Reference) -> str:
    assert ref.profile is None and ref.reason is not None
    assert ref.reason[0] == "ReferenceUnavailable"
    assert SECRET not in ref.reason[1]
    return ref.reason[1]


def test_a_profile_under_the_cap_is_read() -> None:
    server = Server(200, body=PROFILE)
    try:
        ref = load(secret_url(server.url), max_bytes=len(PROFILE))
        assert ref.profile is not None and sorted(ref.profile.features) == ["a", "b"]
    finally:
        server.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["announced", "chunked"])
def test_a_reference_over_the_cap_is_refused_and_its_download_stopped(chunked: bool) -> None:
    server = Server(200, size=50_000_000, chunked=chunked)
    try:
        message = unavailable(load(secret_url(server.url), max_bytes=1_000_000))
        said = (
            "is 50000000 bytes, over the limit of 1000000" if not chunked else "is over the limit of 1000000"
        )
        assert message.startswith(f"spec.drift.reference.url {server.url}: the reference {said}")
        assert "reference_max_bytes" in message
    finally:
        server.close()


def test_a_profile_just_over_the_cap_is_refused_by_one_byte() -> None:
    server = Server(200, body=PROFILE)
    try:
        assert "over the limit" in unavailable(load(server.url, max_bytes=len(PROFILE) - 1))
    finally:
        server.close()


def test_a_failing_or_unreachable_server_and_a_redirect_show_no_part_of_the_url() -> None:
    failing, target = Server(500), Server(200, body=PROFILE)
    redirect = Server(302, location=f"{target.url}/p.json")
    closed = f"http://127.0.0.1:{closed_port()}"
    try:
        assert (
            unavailable(load(secret_url(failing.url)))
            == f"spec.drift.reference.url {failing.url}: answered HTTP 500"
        )
        assert unavailable(load(secret_url(closed))) == (
            f"spec.drift.reference.url {closed}: connection refused, reset or the host not found"
        )
        assert unavailable(load(secret_url(redirect.url))) == (
            f"spec.drift.reference.url {redirect.url}: answered with a redirect (not followed)"
        )
        assert target.requests == []
    finally:
        for server in (failing, target, redirect):
            server.close()


def test_a_document_that_is_no_profile_is_said_without_the_url() -> None:
    server = Server(200, body=b'{"format": "something else"}')
    try:
        assert "is not a profile" in unavailable(load(secret_url(server.url)))
    finally:
        server.close()


def test_a_reference_url_outside_the_egress_allowlist_is_not_fetched() -> None:
    server = Server(200, body=PROFILE)
    try:
        message = unavailable(load(secret_url(server.url), egress_allow=parse_patterns("*.svc")))
        assert message == (
            f"not fetching the reference: spec.drift.reference.url: {server.url} is not in the operator's "
            "egress allowlist (*.svc); add its host to the chart value operator.egressAllow"
        )
        assert server.requests == []
        allowed = load(server.url, egress_allow=parse_patterns(f"127.0.0.0/8:{server.port}"))
        assert allowed.profile is not None
    finally:
        server.close()


def test_a_server_that_never_answers_times_out() -> None:
    silent = Silent()
    try:
        spec = ModelMonitorSpec.model_validate(
            monitor_spec(drift={"reference": {"url": secret_url(silent.url)}})
        )
        ref = load_reference(FakeKube(), spec, namespace="ns", monitor="x", timeout=0.2)
        assert unavailable(ref) == f"spec.drift.reference.url {silent.url}: no data for 0.2s"
    finally:
        silent.close()


@pytest.mark.parametrize("where", ["head", "body"])
def test_a_server_that_trickles_is_cut_at_the_deadline(where: str) -> None:
    drip = Drip(where, total=200)
    try:
        with pytest.raises(FetchError) as caught:
            fetch(secret_url(drip.url), timeout=2.0, max_bytes=1_000_000, seconds=0.5)
        assert str(caught.value) == "the download took over 0.5s: stopped"
    finally:
        drip.close()
