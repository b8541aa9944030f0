"""Labels join their predictions across pods: a label posted to one replica's sidecar finds the row
another replica served, through the operator's read of every window (the sidecars' real Window
answering over HTTP on free loopback ports)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest

from modelmonitor.adapters import sidecars
from modelmonitor.sidecar.window import Window

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serve(window: Window, before: list[Any] | None = None) -> tuple[ThreadingHTTPServer, str]:
    """``before[n]``: run before the n-th answer is made (to change the window mid-read)."""
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if before and served[0] < len(before) and before[served[0]] is not None:
                before[served[0]]()
            served[0] += 1
            body = json.dumps(window.query(int(query["since"][0]), int(query["limit"][0]))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None: ...

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture
def pods() -> Iterator[tuple[Window, Window, Clock, dict[str, str]]]:
    clock = Clock()
    a, b = Window(label_ttl=600, clock=clock), Window(label_ttl=600, clock=clock)
    servers = [serve(a), serve(b)]
    yield a, b, clock, {"pod-a": servers[0][1], "pod-b": servers[1][1]}
    for httpd, _ in servers:
        httpd.shutdown()
        httpd.server_close()


def add(window: Window, clock: Clock, request_id: str, x: float, prediction: int) -> None:
    window.add(clock(), request_id, "v1", [{"x": x}], [prediction], [[0.3, 0.7]])


def test_a_label_posted_to_another_replica_joins_its_prediction(pods: Any) -> None:
    a, b, clock, endpoints = pods
    add(a, clock, "r1", 1.0, 1)
    add(a, clock, "r2", 2.0, 0)
    add(b, clock, "r3", 3.0, 1)
    clock.now += 30
    assert b.feedback("r1", 0) == "pending"  # r1 was served by pod a: pod b keeps the label waiting
    assert a.feedback("r2", 1) == "joined"
    assert b.feedback("r9", 1) == "pending"  # a prediction no window holds (yet)

    window = sidecars.read_window(endpoints, timeout=2.0, max_rows=100)
    frame = window.frame.set_index("__id")
    assert frame.loc["r1", "__label"] == 0 and frame.loc["r1", "__pod"] == "pod-a"
    assert frame.loc["r1", "__label_ts"] == pytest.approx(1030.0)
    assert frame.loc["r2", "__label"] == 1 and frame.loc["r2", "__label_ts"] == pytest.approx(1030.0)
    assert frame.loc["r3", "__label"] is None
    assert frame.loc["r1", "__probabilities"] == [0.3, 0.7]
    assert window.labels_joined_across == 1 and window.labels_waiting == 1


def test_a_label_event_on_a_later_page_labels_a_row_of_an_earlier_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    a = Window(label_ttl=600, clock=clock)
    for i in range(8):
        add(a, clock, f"r{i}", float(i), 1)
    # The label of r0 arrives after the first page (r0..r4, unlabelled) was read: its event comes
    # on the second page, after r5..r7.
    httpd, url = serve(a, before=[None, lambda: a.feedback("r0", 1)])
    monkeypatch.setattr(sidecars, "PAGE", 5)
    try:
        window = sidecars.read_window({"pod-a": url}, timeout=2.0, max_rows=100)
    finally:
        httpd.shutdown()
        httpd.server_close()
    labels = {
        i: (None if pd.isna(v) else v)
        for i, v in zip(window.frame["__id"], window.frame["__label"], strict=True)
    }
    assert labels == {"r0": 1, **{f"r{i}": None for i in range(1, 8)}}
