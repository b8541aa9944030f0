"""Alertmanager hears a firing alert on every evaluation, with an endsAt ahead; Slack hears it once."""

from __future__ import annotations

import base64
import datetime
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from modelmonitor.operator import metrics
from modelmonitor.operator.reconciler import Outcome
from tests.unit.adapters.servers import Server, closed_port
from tests.unit.operator.fakes import (
    T0,
    FakeKube,
    FakePrometheus,
    Receiver,
    deployment,
    monitor_spec,
    reconciler,
    request,
    series,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    yield fake
    fake.close()


def evaluate(
    spec: dict[str, Any], kube: FakeKube, status: dict[str, Any], now: datetime.datetime
) -> dict[str, Any]:
    outcome = reconciler(kube).reconcile(request(spec, now=now, status=status))
    assert outcome.evaluated
    return {**status, **outcome.status_patch}


def test_a_condition_that_stays_true_is_resent_to_alertmanager_only(
    prom: FakePrometheus, receiver: Receiver
) -> None:
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = monitor_spec(
        interval="60s",
        sidecar={"inject": False},
        prometheus={"url": prom.url, "timeout": "2s"},
        checks=[{"name": "ctr", "query": "ctr", "min": 0.02}],
        actions={"alerts": [
            {"webhook": {"url": f"{receiver.url}/api/v2/alerts"}, "when": ["CheckFailed"]},
            {"webhook": {"url": f"{receiver.url}/slack"}, "when": ["CheckFailed"], "format": "slack"},
        ]},
    )  # fmt: skip

    status = evaluate(spec, kube, {}, T0)
    for minute in (1, 2):
        status = evaluate(spec, kube, status, T0 + datetime.timedelta(minutes=minute))

    sent = [a for body in receiver.bodies["/api/v2/alerts"] for a in body]
    assert [a["labels"]["alertname"] for a in sent] == ["ModelMonitorCheckFailed"] * 3
    assert {a["startsAt"] for a in sent} == {"2026-11-23T12:00:00Z"}  # one alert, kept firing
    assert [a["endsAt"] for a in sent] == [
        "2026-11-23T12:03:00Z",
        "2026-11-23T12:04:00Z",
        "2026-11-23T12:05:00Z",
    ]
    assert len(receiver.bodies["/slack"]) == 1

    prom.answers = {"ctr": [series(0.5)]}  # the check passes again: resolved, at once
    evaluate(spec, kube, status, T0 + datetime.timedelta(minutes=3))
    resolved = receiver.bodies["/api/v2/alerts"][-1][0]
    assert resolved["endsAt"] == "2026-11-23T12:03:00Z"
    assert receiver.bodies["/slack"][-1]["text"].startswith("[RESOLVED]")


# ------------------------------------------------------------- no secret in any output, Secrets opt in

SECRET = "SECRETxyz"
WEBHOOK_LABEL = {"modelmonitor.io/webhook": "true"}


def secret_url(base: str) -> str:
    """A webhook URL that is a secret everywhere it can be: userinfo, path and query."""
    return base.replace("http://", f"http://bob:{SECRET}@") + f"/T000/B000/{SECRET}?token={SECRET}"


def add_secret(kube: FakeKube, name: str, value: str, labels: dict[str, str] | None = None) -> None:
    kube.webhook_secrets[name] = {
        "metadata": {"name": name, "namespace": "ns", "labels": dict(labels or {})},
        "data": {"url": base64.b64encode(value.encode()).decode()},
    }


def failing_check_spec(prom_url: str, *secrets: str, **fields: Any) -> dict[str, Any]:
    alerts = [{"webhook": {"urlFrom": {"secretKeyRef": {"name": s, "key": "url"}}}, "when": ["CheckFailed"],
               "format": "slack"} for s in secrets]  # fmt: skip
    return monitor_spec(
        interval="60s", sidecar={"inject": False}, prometheus={"url": prom_url, "timeout": "2s"},
        checks=[{"name": "ctr", "query": "ctr", "min": 0.02}], actions={"alerts": alerts}, **fields,
    )  # fmt: skip


def everything_said(outcome: Outcome, caplog: pytest.LogCaptureFixture) -> str:
    """The status patch, the Events (transitions and notes), every log record and the operator's
    /metrics text after recording this status: all the outputs a reader without Secrets can see."""
    metrics.record("ns", "x", outcome.status_patch, outcome.drift)
    return "\n".join([
        json.dumps(outcome.status_patch),
        *(f"{t.reason} {t.message}" for t in outcome.transitions),
        *(f"{n.reason} {n.message}" for n in outcome.notes),
        *(r.getMessage() for r in caplog.records),
        metrics.exposition().decode(),
    ])  # fmt: skip


@pytest.fixture
def failing() -> Iterator[Server]:
    server = Server(500)  # and it echoes the request line, the headers and the body
    yield server
    server.close()


def test_a_failing_webhook_shows_no_part_of_its_secret_url_anywhere(
    prom: FakePrometheus, failing: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    closed = f"http://127.0.0.1:{closed_port()}"
    add_secret(kube, "answers-500", secret_url(failing.url), WEBHOOK_LABEL)
    add_secret(kube, "closed-port", secret_url(closed), WEBHOOK_LABEL)

    outcome = reconciler(kube).reconcile(request(failing_check_spec(prom.url, "answers-500", "closed-port")))

    assert outcome.evaluated
    assert len(failing.requests) == 3  # the alert went out (and was retried) to the secret URL
    assert failing.requests[0][1] == f"/T000/B000/{SECRET}?token={SECRET}"
    failed = [n.message for n in outcome.notes if n.reason == "AlertFailed"]
    assert len(failed) == 2
    # The receiver's answer (which echoes the request) is kept, scrubbed of the URL's parts.
    assert failed[0].startswith(
        f"ModelMonitorCheckFailed: http://127.0.0.1:{failing.port}: HTTP 500: POST ***?*** {{"
    )
    assert failed[1] == f"ModelMonitorCheckFailed: {closed}: connection refused, reset or the host not found"
    said = everything_said(outcome, caplog)
    assert SECRET not in said
    assert "T000" not in said
    alerts = [a for a in outcome.status_patch["actions"] if a["action"] == "alert"]
    assert [(a["reason"], a["result"]) for a in alerts] == [("CheckFailed", "Failed")] * 2


def test_a_failing_prometheus_with_credentials_in_its_url_shows_none_of_them(
    failing: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    for url in (failing.url, f"http://127.0.0.1:{closed_port()}"):
        with_credentials = url.replace("http://", f"http://admin:{SECRET}@") + f"/prom/{SECRET}"
        outcome = reconciler(kube).reconcile(request(failing_check_spec(with_credentials)))
        checks = outcome.status_patch["checks"]
        assert (
            checks[0]["reason"].startswith(f"Prometheus at {url} refused the query")
            or checks[0]["reason"] == f"cannot reach Prometheus at {url}: ConnectionError"
        )
        said = everything_said(outcome, caplog)
        assert SECRET not in said
        assert "/prom" not in said


def test_a_secret_without_the_webhook_label_is_not_read_and_the_status_says_how_to_label_it(
    prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    add_secret(kube, "db-password", f"{SECRET}-the-database-password")

    outcome = reconciler(kube).reconcile(request(failing_check_spec(prom.url, "db-password")))

    assert ("read_secret_metadata", "db-password") in kube.calls
    assert kube.count("read_secret_data") == 0  # its data was never read
    expected = (
        "spec.actions.alerts[0].webhook.urlFrom.secretKeyRef: Secret ns/db-password does not carry the label "
        'modelmonitor.io/webhook: "true", so the operator does not read it '
        "(kubectl -n ns label secret db-password modelmonitor.io/webhook=true); the alert is not sent"
    )
    assert [(n.reason, n.message) for n in outcome.notes if n.reason.startswith("Alert")] == [
        ("AlertNotSent", expected)
    ]
    alerts = [a for a in outcome.status_patch["actions"] if a["action"] == "alert"]
    assert [(a["reason"], a["result"], a["message"]) for a in alerts] == [
        ("CheckFailed", "Skipped", expected)
    ]
    assert SECRET not in everything_said(outcome, caplog)

    # The same refusal at the next evaluation is not written into status.actions again.
    status = {**request(failing_check_spec(prom.url, "db-password")).status, **outcome.status_patch}
    again = reconciler(kube).reconcile(
        request(
            failing_check_spec(prom.url, "db-password"), now=T0 + datetime.timedelta(minutes=1), status=status
        )
    )
    assert [a for a in again.status_patch["actions"] if a["action"] == "alert"] == alerts


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"https://hooks.example.com/{SECRET}\n", "whitespace or a line break (a trailing newline counts)"),
        (f"{SECRET}-not-a-url", "it is not an absolute http:// or https:// URL"),
        (f"ftp://hooks.example.com/{SECRET}", "it is not an absolute http:// or https:// URL"),
        ("https://hooks.example.com/" + SECRET * 300, "characters long, over 2048"),
    ],
)
def test_a_secret_value_that_is_no_usable_url_is_refused_without_echoing_it(
    prom: FakePrometheus, value: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    add_secret(kube, "hook", value, WEBHOOK_LABEL)

    outcome = reconciler(kube).reconcile(request(failing_check_spec(prom.url, "hook")))

    notes = [n for n in outcome.notes if n.reason == "AlertNotSent"]
    assert len(notes) == 1
    assert notes[0].message.startswith(
        "spec.actions.alerts[0].webhook.urlFrom.secretKeyRef: the key 'url' of Secret ns/hook holds no usable "
        "webhook URL: "
    )
    assert why in notes[0].message
    assert SECRET not in everything_said(outcome, caplog)


def test_a_missing_secret_or_key_is_said_without_any_value(prom: FakePrometheus) -> None:
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    add_secret(kube, "hook", "https://hooks.example.com/x", WEBHOOK_LABEL)
    spec = failing_check_spec(prom.url, "missing", "hook")
    spec["actions"]["alerts"][1]["webhook"]["urlFrom"]["secretKeyRef"]["key"] = "other"

    outcome = reconciler(kube).reconcile(request(spec))

    assert [n.message for n in outcome.notes if n.reason == "AlertNotSent"] == [
        "spec.actions.alerts[0].webhook.urlFrom.secretKeyRef: Secret ns/missing not found; the alert is not sent",
        "spec.actions.alerts[1].webhook.urlFrom.secretKeyRef: Secret ns/hook has no key 'other'; the alert is not sent",
    ]


# ------------------------------------------------------------------------------------ egress allowlist


def test_a_webhook_outside_the_egress_allowlist_is_not_posted(
    prom: FakePrometheus, receiver: Receiver
) -> None:
    prom.answers = {"ctr": [series(0.01)]}
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    add_secret(kube, "hook", f"{receiver.url}/from-secret", WEBHOOK_LABEL)
    spec = failing_check_spec(prom.url, "hook")
    spec["actions"]["alerts"].append(
        {
            "webhook": {"url": f"{receiver.url.replace('127.0.0.1', 'localhost')}/plain"},
            "when": ["CheckFailed"],
        }
    )

    # Prometheus (127.0.0.1) is allowed; the webhooks' hosts are not.
    outcome = reconciler(kube, egress_allow=(f"127.0.0.1:{prom.url.rsplit(':', 1)[1]}", "*.svc")).reconcile(
        request(spec)
    )

    assert receiver.bodies == {}
    port = receiver.url.rsplit(":", 1)[1]
    assert [n.message for n in outcome.notes if n.reason == "AlertNotSent"] == [
        f"spec.actions.alerts[0].webhook.urlFrom.secretKeyRef: {receiver.url} is not in the operator's egress "
        f"allowlist (127.0.0.1:{prom.url.rsplit(':', 1)[1]}, *.svc); add its host to the chart value "
        "operator.egressAllow; the alert is not sent",
        f"spec.actions.alerts[1].webhook.url: http://localhost:{port} is not in the operator's egress "
        f"allowlist (127.0.0.1:{prom.url.rsplit(':', 1)[1]}, *.svc); add its host to the chart value "
        "operator.egressAllow; the alert is not sent",
    ]


def test_a_prometheus_outside_the_egress_allowlist_is_not_queried(prom: FakePrometheus) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = failing_check_spec(prom.url.replace("http://", "http://admin:pw@"))

    outcome = reconciler(kube, egress_allow=("*.svc",)).reconcile(request(spec))

    assert prom.queries == []
    assert outcome.status_patch["checks"][0]["reason"] == (
        f"not querying Prometheus: spec.prometheus.url: {prom.url} is not in the operator's egress allowlist "
        "(*.svc); add its host to the chart value operator.egressAllow"
    )
    assert "prometheus" in outcome.failures

    default = reconciler(kube, egress_allow=("*.svc",), prometheus_url=prom.url).reconcile(
        request(monitor_spec(sidecar={"inject": False}, checks=[{"name": "c", "query": "c", "min": 1}]))
    )
    assert "the operator's --prometheus-url: " in default.status_patch["checks"][0]["reason"]
    assert prom.queries == []
