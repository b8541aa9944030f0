"""Capture records -> log lines and window rows, without processes."""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.sidecar.capture import Capture
from modelmonitor.sidecar.config import SidecarConfig
from modelmonitor.sidecar.metrics import SidecarMetrics
from modelmonitor.sidecar.redact import Redactor
from modelmonitor.sidecar.window import Window


class Writer:
    def __init__(self) -> None:
        self.data = b""

    def submit(self, data: bytes, lines: int) -> None:
        self.data += data


def make(**kw: Any) -> tuple[Capture, Window, SidecarMetrics]:
    cfg = SidecarConfig(
        listen=("h", 1), upstream=("h", 2), admin=("h", 3), model_name="m", model_version="v", **kw
    )
    window = Window(clock=lambda: 1000.0)
    metrics = SidecarMetrics("m", "v", window)
    return Capture(cfg, metrics, window, Redactor(["ssn"], "hash", "s"), None), window, metrics


def record(req: bytes, resp: bytes, status: int = 200, path: bytes = b"/predict") -> tuple[Any, ...]:
    return (1000.0, "rid", b"POST", path, status, 0.002, 0.001, [req], [resp], "", len(req), len(resp), 0)


def test_line_fields_and_window_row() -> None:
    cap, window, _ = make(log_payloads=True)
    line = json.loads(
        cap.process(record(b'{"ssn": "123", "x": 1}', b'{"prediction": 1, "probability": 0.9}'))
    )
    assert line["request_id"] == "rid" and line["model"] == "m" and line["version"] == "v"
    assert line["latency_ms"] == 2.0 and line["model_latency_ms"] == 1.0 and line["status"] == 200
    assert line["inputs"][0]["ssn"].startswith("sha256:") and line["outputs"]["predictions"] == [1]
    assert "123" not in json.dumps(line)
    row = window.rows[0]
    assert row.features["x"] == 1 and row.prediction == 1 and row.probabilities == 0.9


def test_payloads_stay_off_the_log_line_by_default() -> None:
    cap, window, _ = make()
    line = json.loads(cap.process(record(b'{"x": 41}', b'{"prediction": 7}')))
    assert "inputs" not in line and "outputs" not in line and line["rows"] == 1
    assert "41" not in json.dumps(line) and window.rows[0].features["x"] == 41  # still in the window


def test_garbage_counts_parse_failures_and_errors_are_not_captured() -> None:
    cap, window, metrics = make()
    line = json.loads(cap.process(record(b"\xff garbage", b"{}")))
    assert line["capture"] == "request_not_json" and "inputs" not in line
    json.loads(cap.process(record(b"{}", b"<html>")))
    json.loads(cap.process(record(b"[1, 2]", b"{}", path=b"/v2/models/m/infer")))
    assert metrics.parse_failures == {"request": 1, "response": 1, "codec": 1}
    cap.process(record(b'{"x": 1}', b'{"error": "boom"}', status=500))
    assert not window.rows


def test_queue_bound_drops_and_counts() -> None:
    cap, _, metrics = make(queue_size=2)
    cap.queue.extend([record(b"{}", b"{}"), record(b"{}", b"{}")])

    class Ex:
        t_model_start = t_model_end = t_start = 0.0
        error = ""
        status = 200
        sampled = True
        req_body: list[bytes] = [b"{}"]
        resp_body: list[bytes] = [b"{}"]
        req_bytes = resp_bytes = 2
        ts = 0.0
        request_id = "r"
        method = b"POST"
        url = b"/"

    cap.on_finish(Ex())  # type: ignore[arg-type]
    assert metrics.drops == {"queue_full": 1} and len(cap.queue) == 2
    assert metrics.requests == {(200, "model"): 1}


def test_headers_named_in_connection_are_removed() -> None:
    from modelmonitor.sidecar.framing import without_headers as _without

    req = [
        b"GET",
        b" ",
        b"/",
        b" HTTP/1.1\r\n",
        b"X-Hop",
        b": ",
        b"1",
        b"\r\n",
        b"Accept",
        b": ",
        b"*/*",
        b"\r\n",
    ]
    assert b"".join(_without(req, {b"x-hop"})) == b"GET / HTTP/1.1\r\nAccept: */*\r\n"
    resp = [b"HTTP/1.1 200 OK\r\n", b"X-Hop", b": ", b"1", b"\r\n", b"Server", b": ", b"m", b"\r\n"]
    assert b"".join(_without(resp, {b"x-hop"})) == b"HTTP/1.1 200 OK\r\nServer: m\r\n"


def test_rows_come_at_once_and_lines_go_to_the_writer_in_batches() -> None:
    import asyncio

    from modelmonitor.sidecar import capture

    async def scenario() -> tuple[int, int, int, int, int]:
        cap, window, _ = make()
        writer = cap.writer = Writer()  # type: ignore[assignment]
        cap._loop = asyncio.get_running_loop()
        cap.queue.extend(record(b'{"x": %d}' % i, b'{"prediction": 1}') for i in range(3))
        cap.drain()
        rows, early = len(window.rows), writer.data.count(b"\n")  # rows now, lines not yet handed off
        await asyncio.sleep(capture.HANDOFF_SECONDS * 2)  # the hand-off timer is due first
        handed = writer.data.count(b"\n")
        cap.queue.extend(record(b"{}", b"{}") for _ in range(capture.BATCH_ITEMS))
        while cap.queue:  # turns are bounded in time too: however many it takes,
            cap.drain()  # a full batch of lines is handed off at once
        full = writer.data.count(b"\n") - handed
        cap.queue.extend(record(b"{}", b"{}") for _ in range(2))
        cap.flush()  # at shutdown: everything queued is processed and handed off
        return rows, early, handed, full, writer.data.count(b"\n") - handed - full

    assert asyncio.run(scenario()) == (3, 0, 3, capture.BATCH_ITEMS, 2)
