"""The real sidecar's admin server: bearer token on window and feedback, open metrics and health.

Also the two modes without a token file (loopback: open; any other address: refused), what the
sidecar says at start, payload logging off by default, and that the token never reaches a log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.demo.data import make_payload, make_rows, path_for
from tests.helpers.processes import free_port, python_module, start_process, wait_until
from tests.helpers.sidecar import Model, Sidecar, request

pytestmark = pytest.mark.integration

TOKEN = "adm-7Hq2x9LbTz4e-secret"


def token_file(tmp_path: Path, value: str = TOKEN, name: str = "token") -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


def predict(side: Sidecar, request_id: str) -> None:
    body = json.dumps(make_payload("kserve-v1", make_rows(1, seed=1))).encode()
    headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
    assert request(side.port, "POST", path_for("kserve-v1"), body, headers)[0] == 200


def admin(
    side: Sidecar,
    method: str,
    path: str,
    auth: str | None = None,
    payload: Any = None,
    host: str = "127.0.0.1",
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": auth} if auth is not None else {}
    data = json.dumps(payload).encode() if payload is not None else None
    status, out, body = request(side.admin, method, path, data, headers, host=host)
    return (
        status,
        out,
        (json.loads(body) if out.get("content-type", "").startswith("application/json") else body),
    )


def events(side: Sidecar) -> list[dict[str, Any]]:
    return [json.loads(line) for line in side.handle.stderr_text().splitlines() if line.startswith("{")]


def wait_events(side: Sidecar, match: Any) -> list[dict[str, Any]]:
    """The sidecar's start-up events matching ``match``, once at least one was written."""
    return wait_until(lambda: [e for e in events(side) if match(e)] or None)  # type: ignore[no-any-return]


def start_wide(upstream: str, *args: str, env: dict[str, str] | None = None) -> Sidecar:
    """A sidecar whose admin server listens on 0.0.0.0 (all interfaces), as in a pod."""
    port, admin_port = free_port(), free_port("0.0.0.0")
    cmd = python_module(
        "modelmonitor.cli", "sidecar", "--listen", f"127.0.0.1:{port}", "--upstream", upstream,
        "--admin", f"0.0.0.0:{admin_port}", *args,
    )  # fmt: skip
    handle = start_process(cmd, ready_url=f"http://127.0.0.1:{admin_port}/healthz", env=env)
    return Sidecar(handle, port, admin_port)


def test_window_and_feedback_need_the_token(make_sidecar: Any, model: Model, tmp_path: Path) -> None:
    side = make_sidecar(model.url, "--admin-token-file", str(token_file(tmp_path)))
    predict(side, "req-1")
    right = f"Bearer {TOKEN}"
    wait_until(lambda: admin(side, "GET", "/v1/window", right)[2]["head"] >= 1)

    status, headers, body = admin(side, "GET", "/v1/window")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <token>" in body["error"]
    status, headers, body = admin(side, "GET", "/v1/window", f"Basic {TOKEN}")
    assert status == 401 and "malformed" in body["error"] and headers["www-authenticate"].startswith("Bearer")
    status, _, body = admin(side, "GET", "/v1/window", f"Bearer {TOKEN}x")
    assert status == 403 and "refused" in body["error"] and "rows" not in body
    status, _, body = admin(side, "GET", "/v1/window", f"bearer {TOKEN}")  # the scheme is case-insensitive
    assert status == 200 and body["rows"]["id"] == ["req-1"]

    label = {"id": "req-1", "label": 1}
    assert admin(side, "POST", "/v1/feedback", None, label)[0] == 401
    assert admin(side, "POST", "/v1/feedback", "Bearer nope", label)[0] == 403
    assert admin(side, "GET", "/v1/window", right)[2]["rows"]["label"] == [None]  # nothing injected
    status, _, body = admin(side, "POST", "/v1/feedback", right, label)
    assert status == 200 and body["joined"] == 1
    assert admin(side, "GET", "/v1/window", right)[2]["rows"]["label"] == [1]

    # The token in X-ModelMonitor-Token (what the API server's pod proxy passes on; it drops
    # Authorization), checked the same way.
    via = {"X-ModelMonitor-Token": TOKEN}
    status, _, data = request(side.admin, "GET", "/v1/window", None, via)
    assert status == 200 and json.loads(data)["rows"]["id"] == ["req-1"]
    status, _, data = request(side.admin, "GET", "/v1/window", None, {"X-ModelMonitor-Token": "nope"})
    assert status == 403 and b"rows" not in data

    # metrics and health need no token
    assert admin(side, "GET", "/healthz")[0] == 200
    status, _, metrics = admin(side, "GET", "/metrics")
    assert status == 200 and b"modelmonitor_sidecar_requests_total" in metrics
    assert side.metric("modelmonitor_sidecar_admin_denied_total", reason="missing") == 2
    assert side.metric("modelmonitor_sidecar_admin_denied_total", reason="malformed") == 1
    assert side.metric("modelmonitor_sidecar_admin_denied_total", reason="wrong") == 3

    # the operator's client: the token is sent when given; a refusal says so without printing it
    url = f"http://127.0.0.1:{side.admin}"
    win = sidecars.read_window({"pod-a": url}, timeout=10, max_rows=100, token=TOKEN)
    assert win.pods_read == ["pod-a"] and list(win.frame["__id"]) == ["req-1"]
    for token in ("wrong-one", None):
        win = sidecars.read_window({"pod-a": url}, timeout=10, max_rows=100, token=token)
        assert win.pods_read == [] and win.rows == 0
        message = win.pods_failed["pod-a"]
        assert (
            "refused the admin token (HTTP 403)" if token else "requires an admin token (HTTP 401)"
        ) in message
        assert TOKEN not in message and "wrong-one" not in message

    started = wait_events(side, lambda e: e.get("admin_auth") == "token" and "Bearer" in e["msg"])
    assert str(tmp_path / "token") in started[0]["msg"]
    side.handle.stop()
    for text in (side.handle.stdout_text(), side.handle.stderr_text()):
        assert TOKEN not in text


def test_token_file_from_the_environment_and_rotation(
    make_sidecar: Any, model: Model, tmp_path: Path
) -> None:
    path = token_file(tmp_path)
    side = make_sidecar(model.url, env={"MODELMONITOR_ADMIN_TOKEN_FILE": str(path)})
    assert admin(side, "GET", "/v1/window")[0] == 401
    assert admin(side, "GET", "/v1/window", f"Bearer {TOKEN}")[0] == 200
    rotated = token_file(tmp_path, "rotated-" + TOKEN, name="token.new")
    os.replace(rotated, path)  # as a Secret volume swaps its files: a new inode
    wait_until(lambda: admin(side, "GET", "/v1/window", f"Bearer rotated-{TOKEN}")[0] == 200)
    assert admin(side, "GET", "/v1/window", f"Bearer {TOKEN}")[0] == 403
    assert wait_events(side, lambda e: "new token is in force" in e["msg"])
    side.handle.stop()
    for text in (side.handle.stdout_text(), side.handle.stderr_text()):
        assert TOKEN not in text


def test_loopback_without_token_file_is_open_and_says_so(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url)  # admin on 127.0.0.1
    predict(side, "req-open")
    wait_until(lambda: admin(side, "GET", "/v1/window")[2]["head"] >= 1)
    assert admin(side, "POST", "/v1/feedback", None, {"id": "req-open", "label": 0})[2]["joined"] == 1
    mode = wait_events(side, lambda e: e.get("admin_auth") == "loopback" and "loopback" in e["msg"])
    assert mode[0]["level"] == "info" and "without a token" in mode[0]["msg"]


def test_non_loopback_without_token_file_refuses_window_and_feedback(model: Model, tmp_path: Path) -> None:
    side = start_wide(model.url)
    try:
        predict(side, "req-wide")
        status, _, body = admin(side, "GET", "/v1/window")
        assert status == 403 and "--admin-token-file" in body["error"] and "not loopback" in body["error"]
        status, _, body = admin(side, "POST", "/v1/feedback", None, {"id": "req-wide", "label": 1})
        assert status == 403 and "--admin-token-file" in body["error"]
        assert admin(side, "GET", "/v1/window", "Bearer anything")[0] == 403
        assert admin(side, "GET", "/healthz")[0] == 200 and admin(side, "GET", "/metrics")[0] == 200
        wait_until(lambda: side.metric("modelmonitor_sidecar_captured_rows_total") == 1)
        assert side.metric("modelmonitor_sidecar_feedback_labels_total", result="joined") == 0
        assert side.metric("modelmonitor_sidecar_admin_denied_total", reason="no_token_file") == 3
        said = wait_events(side, lambda e: e.get("admin_auth") == "refused" and "refused" in e["msg"])
        assert said[0]["level"] == "warning" and "0.0.0.0" in said[0]["msg"]
    finally:
        side.handle.stop()
    # the same address with a token file serves the token holder
    side = start_wide(model.url, "--admin-token-file", str(token_file(tmp_path)))
    try:
        assert admin(side, "GET", "/v1/window")[0] == 401
        assert admin(side, "GET", "/v1/window", f"Bearer {TOKEN}")[0] == 200
    finally:
        side.handle.stop()


def test_unusable_token_file_stops_the_start_naming_flag_and_path(model: Model, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    spaced = token_file(tmp_path, "has space " + TOKEN, name="spaced")
    for path, reason in ((empty, "is empty"), (tmp_path / "missing", "cannot be read"), (spaced, "spaces")):
        cmd = python_module(
            "modelmonitor.cli", "sidecar", "--upstream", model.url, "--listen", f"127.0.0.1:{free_port()}",
            "--admin", f"127.0.0.1:{free_port()}", "--admin-token-file", str(path),
        )  # fmt: skip
        handle = start_process(cmd)
        assert handle.proc.wait(timeout=30) == 2
        err = handle.stderr_text()
        assert "--admin-token-file" in err and str(path) in err and reason in err
        assert TOKEN not in err


def test_payloads_are_not_logged_by_default(make_sidecar: Any, model: Model) -> None:
    side = make_sidecar(model.url, env={"MODELMONITOR_REDACT_SALT": "pepper"})
    predict(side, "req-quiet")
    line = side.wait_lines(1)[0]
    assert line["request_id"] == "req-quiet" and line["rows"] == 1
    assert "inputs" not in line and "outputs" not in line
    wait_until(lambda: admin(side, "GET", "/v1/window")[2]["head"] >= 1)  # captured all the same
    started = wait_events(side, lambda e: e["msg"] == "sidecar started")
    assert started[0]["log_payloads"] is False
    wait_events(side, lambda e: "admin_auth" in e and e["msg"] != "sidecar started")  # then the salt line
    assert not any("MODELMONITOR_REDACT_SALT" in e["msg"] for e in events(side))


def test_missing_salt_is_warned_about(make_sidecar: Any, model: Model, monkeypatch: Any) -> None:
    monkeypatch.delenv("MODELMONITOR_REDACT_SALT", raising=False)
    side = make_sidecar(model.url, "--redact", "income")
    warned = wait_events(side, lambda e: "MODELMONITOR_REDACT_SALT" in e["msg"])
    assert warned[0]["level"] == "warning" and "cannot be joined across pods" in warned[0]["msg"]
