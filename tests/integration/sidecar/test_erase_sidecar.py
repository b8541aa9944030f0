"""Retention and erasure through a real sidecar process: an audit segment left past the retention by an
earlier process is gone at start; POST /v1/erase (guarded like /v1/window) removes a subject found by
a hashed field and one found by a raw field, and afterwards neither value is anywhere on disk under
the audit dir (segments, temporary files, the explanations' background), in a window read, in a
report built from that window, or in a log line written after."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.commands.report import read_dir, save_dir
from modelmonitor.demo.data import make_payload, make_rows, path_for
from modelmonitor.report import Bundle, render
from modelmonitor.sidecar.redact import Redactor
from tests.helpers.processes import wait_until
from tests.helpers.sidecar import Model, Sidecar, request

pytestmark = pytest.mark.integration

TOKEN = "adm-erase-3Vq8nWk2"
SALT = "salt-of-the-monitor-5f1c"
JANE = "jane.doe@example.org"  # found by the redacted (hashed) field
JOHN = "CUST-20417"  # found by a raw field
OTHERS = (("ann@example.org", "CUST-30001"), ("bob@example.org", "CUST-30002"))


def predict(side: Sidecar, rid: str, email: str, customer: str) -> None:
    row = {**make_rows(1, seed=len(rid))[0], "email": email, "customer": customer}
    body = json.dumps(make_payload("kserve-v1", [row])).encode()
    headers = {"Content-Type": "application/json", "X-Request-ID": rid}
    assert request(side.port, "POST", path_for("kserve-v1"), body, headers)[0] == 200


def post(side: Sidecar, path: str, payload: Any, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, _, body = request(side.admin, "POST", path, data, headers)
    return status, json.loads(body)


def erase(side: Sidecar, payload: Any, token: str | None = TOKEN) -> tuple[int, Any]:
    return post(side, "/v1/erase", payload, token)


def files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def window(side: Sidecar) -> Any:
    return sidecars.read_pod(f"http://127.0.0.1:{side.admin}", 10, 10_000, token=TOKEN)


def report(frame: Any, folder: Path) -> str:
    """A report built from the window as ``report --save`` / ``--from`` build it: the saved files and
    the HTML, as text."""
    save_dir(Bundle({"metadata": {"name": "credit"}}, frame, None, []), folder)
    (folder / "report.html").write_text(render(read_dir(folder)), encoding="utf-8")
    return files(folder).decode()


def test_retention_at_start_then_erasure_leaves_no_trace(
    make_sidecar: Any, model: Model, tmp_path: Path
) -> None:
    audit = tmp_path / "audit"
    audit.mkdir()
    old = audit / "audit-20250101T000000-1-0001.jsonl"  # a segment a process before a restart left
    old.write_text(json.dumps({"msg": "request", "request_id": "old", "inputs": [{"email": JANE}]}) + "\n")
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    (tmp_path / "token").write_text(TOKEN)
    side = make_sidecar(
        model.url, "--admin-token-file", str(tmp_path / "token"), "--audit-dir", str(audit),
        "--redact", "email", "--log-payloads", "true", "--retention", "720h",
        # explanations on, rarely sampled: the first four rows become their background, on the audit volume
        "--explain-sample-rate", "0.0001", "--explain-background", "4",
        env={"MODELMONITOR_REDACT_SALT": SALT},
    )  # fmt: skip
    assert not old.exists()  # swept before the sidecar served
    assert side.metric("modelmonitor_sidecar_retention_removed_total", store="audit") == 1

    predict(side, "jane-1", JANE, "CUST-10001")
    predict(side, "john-1", "john@example.org", JOHN)
    for n, (email, customer) in enumerate(OTHERS):
        predict(side, f"other-{n}", email, customer)
    assert post(side, "/v1/feedback", [{"id": "jane-1", "label": 1}, {"id": "john-1", "label": 0}])[0] == 200
    side.wait_lines(4)
    wait_until(lambda: len(window(side)) == 4 and (audit / "explain-background.json").exists())
    hashed = Redactor(salt=SALT).hash(JANE).encode()
    background = (audit / "explain-background.json").read_bytes()
    assert hashed in background and JOHN.encode() in background  # what there is to erase
    assert hashed in files(audit) and JOHN.encode() in files(audit)
    assert JOHN in report(window(side), tmp_path / "before")

    assert erase(side, {"field": "email", "value": JANE}, token=None)[0] == 401
    for bad, said in (
        ({"field": "email"}, "missing value"),
        ({"field": "email", "value": [JANE]}, "string or a number"),
        ({"field": "email", "value": JANE, "dryRun": True}, "unknown key"),
        (b"email=" + JANE.encode(), "must be JSON"),
    ):
        status, body = erase(side, bad)
        assert status == 400 and said in body["error"] and JANE not in body["error"], body
    assert len(window(side)) == 4 and hashed in files(audit)  # nothing removed
    stdout, stderr = len(side.handle.stdout_text()), len(side.handle.stderr_text())

    status, jane = erase(side, {"field": "email", "value": JANE})
    stores = {"window": 1, "labels": 1, "audit": 1, "explain_background": 1, "explanations": 0}
    assert status == 200 and jane["removed"] == stores, jane
    status, john = erase(side, {"field": "customer", "value": JOHN})
    assert status == 200 and john["removed"] == stores, john
    predict(side, "after", *OTHERS[0])  # traffic goes on: its line is logged after the erasures
    side.wait_lines(5)

    on_disk = files(audit)
    assert hashed not in on_disk and JANE.encode() not in on_disk and JOHN.encode() not in on_disk
    assert OTHERS[1][1].encode() in on_disk  # the others' lines are kept
    frame = window(side)
    assert sorted(frame["__id"]) == ["after", "other-0", "other-1"]
    text = frame.to_json() + report(frame, tmp_path / "after")
    assert JANE not in text and hashed.decode() not in text and JOHN not in text
    assert OTHERS[1][1] in text
    logs = side.handle.stdout_text()[stdout:] + side.handle.stderr_text()[stderr:]
    assert "records erased" in logs and '"request_id":"after"' in logs
    assert JANE not in logs and hashed.decode() not in logs and JOHN not in logs
    assert side.metric("modelmonitor_sidecar_erased_records_total", store="window") == 2
    assert side.metric("modelmonitor_sidecar_oldest_record_age_seconds", store="window") > 0
