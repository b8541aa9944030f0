"""The egress allowlist and the reference cap as settings: read from the environment, checked at start."""

from __future__ import annotations

import pytest

from modelmonitor.operator.settings import OperatorSettings


def test_defaults_allow_any_host_and_cap_references_at_64_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELMONITOR_EGRESS_ALLOW", raising=False)
    monkeypatch.delenv("MODELMONITOR_REFERENCE_MAX_BYTES", raising=False)
    settings = OperatorSettings.from_env()
    assert settings.egress_allow == ()
    assert settings.reference_max_bytes == 64 * 1024 * 1024


def test_the_allowlist_and_the_cap_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMONITOR_EGRESS_ALLOW", "*.svc, *.svc.cluster.local,hooks.slack.com,10.0.0.0/8,")
    monkeypatch.setenv("MODELMONITOR_REFERENCE_MAX_BYTES", "16Mi")
    settings = OperatorSettings.from_env()
    assert settings.egress_allow == ("*.svc", "*.svc.cluster.local", "hooks.slack.com", "10.0.0.0/8")
    assert settings.reference_max_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("MODELMONITOR_REFERENCE_MAX_BYTES", "1000")
    assert OperatorSettings.from_env().reference_max_bytes == 1000


def test_a_bad_pattern_stops_the_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMONITOR_EGRESS_ALLOW", "*.svc,http://hooks.slack.com")
    with pytest.raises(
        ValueError, match=r"^MODELMONITOR_EGRESS_ALLOW: egress allowlist pattern 'http://hooks"
    ):
        OperatorSettings.from_env()


@pytest.mark.parametrize("bad", ["0", "-1", "64MB", "lots", "1.5Mi"])
def test_a_bad_cap_stops_the_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("MODELMONITOR_REFERENCE_MAX_BYTES", bad)
    with pytest.raises(
        ValueError, match=r"^MODELMONITOR_REFERENCE_MAX_BYTES: .* is not a positive number of bytes"
    ):
        OperatorSettings.from_env()
