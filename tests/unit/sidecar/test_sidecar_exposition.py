"""The sidecar's own Prometheus text: what Prometheus's parser reads back, escaping included."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from modelmonitor.sidecar.exposition import number
from modelmonitor.sidecar.metrics import SidecarMetrics
from modelmonitor.sidecar.window import Window


def test_the_families_parse_back_with_their_values() -> None:
    window = Window()
    window.add(time.time(), "r1", "v", [{"a": 1.0}], [1], None)
    metrics = SidecarMetrics("credit", 'v"1\\x\nz', window)  # a version needing every escape
    metrics.observe(200, 0.0012, 0.001, "model")
    metrics.observe(502, 0.2, None, "sidecar")
    metrics.dropped("queue_full", 3)
    parsed = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parsed.values() for s in f.samples}
    base = (("model", "credit"), ("version", 'v"1\\x\nz'))
    assert samples[("modelmonitor_sidecar_requests_total", (("code", "502"), *base))] == 1
    assert (
        samples[
            ("modelmonitor_sidecar_captures_dropped_total", (*base[:1], ("reason", "queue_full"), *base[1:]))
        ]
        == 3
    )
    assert samples[("modelmonitor_sidecar_captured_rows_total", base)] == 1
    latency = "modelmonitor_sidecar_request_duration_seconds"
    assert parsed[latency].type == "histogram"
    assert samples[(f"{latency}_bucket", (("le", "0.002"), *base))] == 1
    assert samples[(f"{latency}_bucket", (("le", "+Inf"), *base))] == 2 == samples[(f"{latency}_count", base)]
    assert abs(samples[(f"{latency}_sum", base)] - 0.2012) < 1e-9


def test_numbers_are_written_as_go_writes_them() -> None:
    assert [number(3), number(0.25), number(float("inf")), number(12345678.5)] == [
        "3.0",
        "0.25",
        "+Inf",
        "1.23456785e+07",
    ]
