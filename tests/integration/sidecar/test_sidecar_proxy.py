"""The sidecar as a proxy: bytes, framing, keep-alive, errors - real sidecar, real model."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from modelmonitor.demo.data import PROTOCOLS, make_payload, make_rows, path_for
from tests.helpers.processes import free_port, wait_until
from tests.helpers.sidecar import Model, Sidecar, request, start_model

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_round_trips_byte_identical(model: Model, sidecar: Sidecar, protocol: str) -> None:
    body = json.dumps(make_payload(protocol, make_rows(3, seed=1))).encode()
    headers = {"Content-Type": "application/json", "X-Custom": "Keep Me"}
    direct = request(model.port, "POST", path_for(protocol), body, headers)
    proxied = request(sidecar.port, "POST", path_for(protocol), body, headers)
    assert direct[0] == proxied[0] == 200
    assert proxied[2] == direct[2]  # byte for byte
    assert proxied[1]["content-type"] == direct[1]["content-type"]
    assert proxied[1]["content-length"] == direct[1]["content-length"]
    assert proxied[1]["x-request-id"]


def test_request_reaches_model_byte_identical_with_headers(model: Model, sidecar: Sidecar) -> None:
    body = bytes(range(256)) * 40 + b"\r\n\r\nnot json {"
    status, headers, echoed = request(
        sidecar.port, "POST", "/echo", body, {"Content-Type": "application/x-odd"}
    )
    assert status == 200
    assert echoed == body
    assert headers["x-echo-sha256"] == hashlib.sha256(body).hexdigest()
    assert headers["content-type"] == "application/x-odd"


def test_request_id_is_passed_on_or_generated(sidecar: Sidecar) -> None:
    body = json.dumps(make_payload("json", make_rows(1))).encode()
    _, headers, _ = request(sidecar.port, "POST", "/predict", body, {"X-Request-ID": "trace-me-42"})
    assert headers["x-request-id"] == "trace-me-42"
    _, h1, _ = request(sidecar.port, "POST", "/predict", body)
    _, h2, _ = request(sidecar.port, "POST", "/predict", body)
    assert h1["x-request-id"] != h2["x-request-id"]

    def logged() -> dict[str, dict[str, Any]] | None:
        by_id = {line["request_id"]: line for line in sidecar.lines()}
        return by_id if {"trace-me-42", h1["x-request-id"], h2["x-request-id"]} <= by_id.keys() else None

    by_id = wait_until(logged)
    line = by_id["trace-me-42"]
    assert line["model"] == "credit" and line["version"] == "v7"
    assert line["status"] == 200 and line["latency_ms"] > 0 and line["model_latency_ms"] > 0


def test_keep_alive_many_requests_one_connection(sidecar: Sidecar) -> None:
    body = json.dumps(make_payload("kserve-v1", make_rows(1))).encode()
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    try:
        for _ in range(50):
            conn.request("POST", "/v1/models/credit:predict", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["predictions"]
        # HEAD answers without a body and the connection stays usable
        conn.request("HEAD", "/healthz")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b""
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    health = sidecar.admin_get("/healthz")
    assert health["upstream_idle"] >= 1


def test_pipelined_requests_answered_in_order(sidecar: Sidecar) -> None:
    bodies = [json.dumps({"income": 1000.0 * (i + 1)}).encode() for i in range(3)]
    raw = b"".join(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b" % (len(b), b) for b in bodies
    )
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(bodies[-1]):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    positions = [data.index(b) for b in bodies]
    assert positions == sorted(positions)


def test_chunked_request_and_large_body(sidecar: Sidecar) -> None:
    big = os.urandom(10 * 1024 * 1024)
    status, headers, echoed = request(
        sidecar.port, "POST", "/echo", big, {"Content-Type": "application/octet-stream"}
    )
    assert status == 200 and echoed == big
    assert headers["x-echo-bytes"] == str(len(big))

    def chunks() -> Any:
        for i in range(0, 300_000, 7_000):
            yield big[i : i + 7_000]

    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=30)
    try:
        conn.request("POST", "/echo", body=chunks(), encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"".join(chunks())
    finally:
        conn.close()
    assert sidecar.metric("modelmonitor_sidecar_captures_dropped_total", reason="too_large") >= 1


def test_garbage_and_empty_bodies_forwarded_and_counted(model: Model, sidecar: Sidecar) -> None:
    before = sidecar.metric("modelmonitor_sidecar_parse_failures_total", part="request")
    for body in (b"\x00\xffgarbage{{", b"not json at all"):
        assert request(sidecar.port, "POST", "/echo", body)[2] == body
    # the model's own 400 for a bad payload passes through unchanged
    direct = request(model.port, "POST", "/predict", b"{broken")
    proxied = request(sidecar.port, "POST", "/predict", b"{broken")
    assert proxied[0] == direct[0] == 400 and proxied[2] == direct[2]
    # an empty body is forwarded as an empty body
    status, headers, echoed = request(sidecar.port, "POST", "/echo", b"")
    assert status == 200 and echoed == b"" and headers["x-echo-bytes"] == "0"
    wait_until(
        lambda: sidecar.metric("modelmonitor_sidecar_parse_failures_total", part="request") >= before + 2
    )


def test_model_errors_pass_through_unchanged(make_model: Any, make_sidecar: Any) -> None:
    failing = make_model("--error-rate", "1.0")
    side = make_sidecar(failing.url, "--model-name", "credit", "--model-version", "v1")
    body = json.dumps(make_rows(2)).encode()
    direct = request(failing.port, "POST", "/predict", body)
    proxied = request(side.port, "POST", "/predict", body)
    assert direct[0] == proxied[0] == 500 and direct[2] == proxied[2]
    assert side.metric("modelmonitor_sidecar_errors_total", code="500", source="model") == 1
    assert side.metric("modelmonitor_sidecar_requests_total", code="500") == 1


def test_model_down_gives_clear_502_and_is_counted(make_sidecar: Any) -> None:
    side = make_sidecar(f"http://127.0.0.1:{free_port()}")
    status, headers, body = request(side.port, "POST", "/predict", b'{"income": 1}')
    assert status == 502
    payload = json.loads(body)
    assert payload["error"] == "upstream_unavailable" and payload["source"] == "sidecar"
    assert payload["request_id"] == headers["x-request-id"]
    assert side.metric("modelmonitor_sidecar_errors_total", code="502", source="sidecar") == 1
    line = side.wait_lines(1)[0]
    assert line["status"] == 502 and line["error"] == "upstream_unavailable"


def test_model_dies_and_returns(make_model: Any, make_sidecar: Any) -> None:
    first = make_model()
    side = make_sidecar(first.url)
    body = json.dumps(make_rows(1)[0]).encode()
    assert request(side.port, "POST", "/predict", body)[0] == 200
    first.handle.stop()
    assert request(side.port, "POST", "/predict", body)[0] == 502
    again = start_model(port=first.port)
    try:
        assert request(side.port, "POST", "/predict", body)[0] == 200
    finally:
        again.handle.stop()


def test_slow_model_and_timeout(make_model: Any, make_sidecar: Any) -> None:
    slow = make_model("--delay-ms", "400")
    side = make_sidecar(slow.url, "--upstream-timeout", "30s")
    body = json.dumps(make_rows(1)[0]).encode()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: request(side.port, "POST", "/predict", body), range(8)))
    assert all(r[0] == 200 for r in results)
    assert len({r[2] for r in results}) == 1
    lines = side.wait_lines(8)
    assert all(
        line["model_latency_ms"] >= 350 for line in lines
    )  # the model sleeps 400 ms (loop timers may fire early)

    impatient = make_sidecar(make_model("--delay-ms", "2000").url, "--upstream-timeout", "300ms")
    status, _, out = request(impatient.port, "POST", "/predict", body)
    assert status == 504 and json.loads(out)["error"] == "upstream_timeout"
    assert impatient.metric("modelmonitor_sidecar_errors_total", code="504", source="sidecar") == 1


def test_malformed_http_gets_400_and_client_abort_is_survived(make_model: Any, make_sidecar: Any) -> None:
    slow = make_model("--delay-ms", "300")
    side = make_sidecar(slow.url)
    with socket.create_connection(("127.0.0.1", side.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400") and b'"error":"bad_request"' in data
    # a client that leaves while the model is still thinking
    with socket.create_connection(("127.0.0.1", side.port), timeout=10) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    wait_until(
        lambda: any(line.get("error") == "client_closed" and line["status"] == 499 for line in side.lines())
    )
    body = json.dumps(make_rows(1)[0]).encode()
    assert request(side.port, "POST", "/predict", body)[0] == 200
