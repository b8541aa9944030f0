"""The operator's start line shows the default Prometheus as scheme://host[:port] and the allowlist."""

from __future__ import annotations

import logging

import kopf
import pytest

from modelmonitor.operator import handlers
from tests.unit.operator.fakes import FakeKube, reconciler, settings


def start_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, **fields: object) -> str:
    monkeypatch.setattr(handlers, "SETTINGS", settings(**fields))
    monkeypatch.setattr(handlers, "_reconciler", reconciler(FakeKube()))  # no credentials needed
    caplog.set_level(logging.DEBUG)
    handlers.configure(settings=kopf.OperatorSettings(), logger=logging.getLogger("modelmonitor.test"))
    return next(r.getMessage() for r in caplog.records if "operator configured" in r.getMessage())


def test_the_prometheus_url_is_shown_without_credentials_path_or_query(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    line = start_line(
        monkeypatch, caplog,
        prometheus_url="https://admin:SECRETpw@prometheus.monitoring.svc:9090/tenant/SECRET?token=SECRET",
        egress_allow=("*.svc", "hooks.slack.com"),
    )  # fmt: skip
    assert "prometheus=https://prometheus.monitoring.svc:9090 egress=*.svc,hooks.slack.com " in line
    assert "SECRET" not in line


def test_without_an_allowlist_the_start_line_says_any_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    line = start_line(monkeypatch, caplog)
    assert "prometheus=(per monitor) egress=any host (set operator.egressAllow) " in line
