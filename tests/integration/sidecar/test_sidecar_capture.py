"""Capture through the real sidecar: window cursor, feedback join, redaction, audit, env config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.demo.data import FEATURES, make_payload, make_rows, path_for
from tests.helpers.processes import wait_until
from tests.helpers.sidecar import Model, Sidecar, request

pytestmark = pytest.mark.integration


def send(side: Sidecar, protocol: str, rows: list[dict[str, Any]], request_id: str | None = None) -> str:
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    status, out, _ = request(
        side.port, "POST", path_for(protocol), json.dumps(make_payload(protocol, rows)).encode(), headers
    )
    assert status == 200
    return out["x-request-id"]


def window(side: Sidecar, since: int, limit: int = 10_000) -> dict[str, Any]:
    return side.admin_get(f"/v1/window?since={since}&limit={limit}")  # type: ignore[no-any-return]


def wait_head(side: Sidecar, head: int) -> None:
    wait_until(lambda: window(side, 0, 1)["head"] >= head)


def test_window_cursor_semantics(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url, "--model-name", "credit", "--model-version", "v7")
    ids = [send(side, "kserve-v1", make_rows(1, seed=i)) for i in range(5)]
    wait_head(side, 5)
    first = window(side, 0)
    assert first["cursor"] == 5 and first["rows"]["id"] == ids and first["rows"]["seq"] == [1, 2, 3, 4, 5]
    assert first["model"] == {"name": "credit", "version": "v7"}
    assert set(first["schema"]) == set(FEATURES)
    assert first["schema"]["income"] == "number" and first["schema"]["applicant_group"] == "string"
    assert len(first["rows"]["features"]["income"]) == 5
    assert all(p in (0, 1) for p in first["rows"]["prediction"])
    assert all(len(p) == 2 for p in first["rows"]["probabilities"])
    assert first["rows"]["label"] == [None] * 5
    empty = window(side, first["cursor"])
    assert empty["cursor"] == 5 and empty["rows"]["id"] == [] and not empty["more"]
    # a batch of 3 rows (KServe v2) gets ids <request-id>#i
    rid = send(side, "kserve-v2", make_rows(3, seed=9))
    wait_head(side, 8)
    new = window(side, 5)
    assert new["rows"]["id"] == [f"{rid}#0", f"{rid}#1", f"{rid}#2"] and new["cursor"] == 8
    assert new["rows"]["version"] == ["v7"] * 3
    # paging with limit returns every row exactly once
    seen: list[int] = []
    cursor = 0
    while True:
        page = window(side, cursor, limit=3)
        seen += page["rows"]["seq"]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == list(range(1, 9))
    # a cursor from a previous life of the sidecar (beyond head) restarts from the beginning
    assert window(side, 10_000)["reset"] is True


def test_feedback_join_before_and_after_prediction(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url, "--label-ttl", "1s")
    rid = send(side, "json", make_rows(1, seed=3))
    wait_head(side, 1)
    cursor = window(side, 0)["cursor"]
    status, counts = side.admin_post("/v1/feedback", {"id": rid, "label": 1})
    assert status == 200 and counts["joined"] == 1
    # the label reaches a puller that has already taken the row, as a label event
    later = window(side, cursor)
    assert later["labels"]["id"] == [rid] and later["labels"]["label"] == [1]
    assert window(side, 0)["rows"]["label"] == [1]
    # a label arriving before its prediction waits and joins when the prediction comes
    status, counts = side.admin_post(
        "/v1/feedback", [{"id": "early-1", "label": 0}, {"id": "never", "label": 1}]
    )
    assert counts == {"joined": 0, "pending": 2, "invalid": 0, "received": 2}
    send(side, "mlflow", make_rows(1, seed=4), request_id="early-1")
    wait_until(lambda: "early-1" in window(side, 0)["rows"]["id"])
    rows = window(side, 0)["rows"]
    assert rows["label"][rows["id"].index("early-1")] == 0
    # the one that never gets its prediction is lost after the TTL
    wait_until(
        lambda: side.metric("modelmonitor_sidecar_feedback_labels_total", result="lost") == 1, timeout=15
    )
    assert side.metric("modelmonitor_sidecar_feedback_labels_total", result="joined") == 2
    # malformed feedback is refused with a message
    status, body = side.admin_post("/v1/feedback", {"label": 1})
    assert status == 400 and body["invalid"] == 1


def test_redacted_values_absent_from_logs_and_windows(
    make_sidecar: Any, model: Model, tmp_path: Path
) -> None:
    side = make_sidecar(
        model.url,
        "--redact",
        "income,applicant_group",
        "--detect",
        "email,card",
        "--audit-dir",
        str(tmp_path),
        "--log-payloads",
        "true",
        env={"MODELMONITOR_REDACT_SALT": "pepper"},
    )
    rows = make_rows(2, seed=5)
    rows[0]["note"] = "mail jane.doe@example.com card 4111 1111 1111 1111 ok"
    rows[1]["note"] = "plain"
    secrets = [str(r["income"]) for r in rows] + ["jane.doe@example.com", "4111 1111 1111 1111"]
    for protocol in ("kserve-v1", "mlflow"):
        send(side, protocol, rows)
    side.admin_post("/v1/feedback", {"id": "x", "label": 1})
    lines = side.wait_lines(2)
    wait_head(side, 4)
    win = json.dumps(window(side, 0))
    logs = side.handle.stdout_text()
    audit = "".join(p.read_text() for p in tmp_path.glob("audit-*.jsonl"))
    for text in (win, logs, audit):
        for secret in secrets:
            assert secret not in text
    assert "applicant_group" in win and '"A"' not in win and '"B"' not in win
    assert lines[0]["inputs"][0]["income"].startswith("sha256:")
    assert "sha256:" in lines[0]["inputs"][0]["note"] and " ok" in lines[0]["inputs"][0]["note"]
    # the same value hashes the same way (joins and counts still work)
    assert lines[0]["inputs"][0]["income"] == lines[1]["inputs"][0]["income"]
    assert audit.count("\n") == 2


def test_drop_mode_removes_the_field(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url, "--redact", "income", "--redact-mode", "drop", "--log-payloads", "true")
    send(side, "kserve-v2", make_rows(2, seed=6))
    wait_head(side, 2)
    assert "income" not in window(side, 0)["schema"]
    assert "income" not in side.wait_lines(1)[0]["inputs"][0]


def test_audit_rotates_and_survives_restart(make_sidecar: Any, model: Model, tmp_path: Path) -> None:
    args = ("--audit-dir", str(tmp_path), "--audit-segment-bytes", "2KiB", "--audit-keep", "50")
    side = make_sidecar(model.url, *args)
    for i in range(12):
        send(side, "json", make_rows(1, seed=i))
    side.wait_lines(12)
    assert side.handle.stop() == 0  # SIGTERM: a clean exit
    segments = sorted(tmp_path.glob("audit-*.jsonl"))
    assert len(segments) >= 2
    assert all(p.stat().st_size <= 2048 for p in segments)
    lines = [json.loads(x) for p in segments for x in p.read_text().splitlines()]
    assert len(lines) == 12 and len({x["request_id"] for x in lines}) == 12
    again = make_sidecar(model.url, *args)
    send(again, "json", make_rows(1))
    again.wait_lines(1)
    wait_until(lambda: len(list(tmp_path.glob("audit-*.jsonl"))) > len(segments))
    assert all(p.exists() for p in segments)


def test_configured_by_environment(make_sidecar: Any, model: Model) -> None:
    env = {
        "MODELMONITOR_MODEL_NAME": "from-env",
        "MODELMONITOR_MODEL_VERSION": "v-env",
        "MODELMONITOR_PROTOCOL": "kserve-v1",
        "MODELMONITOR_WINDOW_ROWS": "3",
        "MODELMONITOR_SAMPLE_RATE": "1.0",
    }
    side = make_sidecar(model.url, env=env)
    for i in range(6):
        send(side, "kserve-v1", make_rows(1, seed=i))
    wait_head(side, 6)
    win = window(side, 0)
    assert win["model"] == {"name": "from-env", "version": "v-env"} and win["rows"]["seq"] == [4, 5, 6]
    assert side.metric("modelmonitor_sidecar_window_rows", model="from-env", version="v-env") == 3
    assert side.metric("modelmonitor_sidecar_requests_total", code="200", model="from-env") == 6


def test_sampling_zero_captures_nothing_but_logs_every_request(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url, "--sample-rate", "0", "--log-payloads", "true")
    for i in range(4):
        send(side, "json", make_rows(1, seed=i))
    lines = side.wait_lines(4)
    assert all("inputs" not in line for line in lines)
    assert window(side, 0)["head"] == 0
