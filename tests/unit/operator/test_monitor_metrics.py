"""The operator's per-monitor series on /metrics: one per phase and condition (its current value),
drift per feature, the SLO figures; a status without a group keeps it, a deleted monitor's all go."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import urllib.request
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from modelmonitor.operator import metrics


def scraped(monitor: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """What a scrape of /metrics says of one monitor: family -> labels (without the keys) -> value."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    text = metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("monitor") == monitor and sample.labels.get("namespace") == "ns":
                rest = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in ("namespace", "monitor"))
                )
                out.setdefault(sample.name, {})[rest] = sample.value
    return out


def drift(**scores: float | None) -> dict[str, Any]:
    features = [{"name": n, "method": "ks", "statistic": s} for n, s in scores.items()]
    return {"drift_share": 0.5, "features": features}


def test_phase_conditions_drift_and_slo_follow_the_status_and_go_with_the_monitor() -> None:
    status = {
        "phase": "Degraded",
        "slo": {"latencyP95Ms": 250.0, "errorRate": 0.01},
        "conditions": [{"type": "DataDrift", "status": "True"}, {"type": "Ready", "status": "True"}],
    }
    metrics.record("ns", "m", status, drift(age=0.4, income=0.1, city=None))
    got = scraped("m")
    assert got["modelmonitor_monitor_phase"] == {(("phase", "Degraded"),): 1.0}
    assert got["modelmonitor_monitor_condition"] == {
        (("status", "True"), ("type", "DataDrift")): 1.0,
        (("status", "True"), ("type", "Ready")): 1.0,
    }
    assert got["modelmonitor_monitor_latency_p95_seconds"] == {(): 0.25}
    assert got["modelmonitor_monitor_error_rate"] == {(): 0.01}
    assert got["modelmonitor_monitor_drift_share"] == {(): 0.5}
    assert got["modelmonitor_monitor_feature_drift_score"] == {  # a feature without a statistic has none
        (("feature", "age"), ("method", "ks")): 0.4,
        (("feature", "income"), ("method", "ks")): 0.1,
    }
    # The next evaluation: a new phase, DataDrift turned False (Ready not said: kept), no SLO figures
    # and no drift report (kept as they were), one feature fewer.
    metrics.record(
        "ns", "m", {"phase": "Healthy", "conditions": [{"type": "DataDrift", "status": "False"}]}, None
    )
    got = scraped("m")
    assert got["modelmonitor_monitor_phase"] == {(("phase", "Healthy"),): 1.0}
    assert got["modelmonitor_monitor_condition"] == {
        (("status", "False"), ("type", "DataDrift")): 1.0,
        (("status", "True"), ("type", "Ready")): 1.0,
    }
    assert got["modelmonitor_monitor_latency_p95_seconds"] == {(): 0.25}
    assert len(got["modelmonitor_monitor_feature_drift_score"]) == 2
    metrics.record("ns", "m", {}, drift(age=0.3))
    assert scraped("m")["modelmonitor_monitor_feature_drift_score"] == {
        (("feature", "age"), ("method", "ks")): 0.3
    }
    metrics.record("ns", "other", {"phase": "Unknown"}, None)
    metrics.forget("ns", "m")
    assert scraped("m") == {} and scraped("other") == {
        "modelmonitor_monitor_phase": {(("phase", "Unknown"),): 1.0}
    }
    metrics.forget("ns", "other")
    # Every family is still declared (HELP and TYPE) with no monitor left, as dashboards expect.
    declared = {f.name for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert {f.name for f in metrics.FAMILIES} <= declared


def test_a_status_that_cannot_be_read_as_figures_changes_nothing() -> None:
    metrics.record("ns", "bad", {"phase": "Healthy", "slo": {"errorRate": 0.02}}, None)
    before = scraped("bad")
    with pytest.raises(ValueError):
        metrics.record("ns", "bad", {"phase": "Degraded", "slo": {"errorRate": "n/a"}}, None)
    assert scraped("bad") == before  # nothing half-applied: the phase is still the old one
    metrics.forget("ns", "bad")


def monitor_part(text: bytes) -> bytes:
    """The per-monitor families of an exposition: from the first one's HELP line on."""
    return text[text.index(f"# HELP {metrics.FAMILIES[0].name} ".encode()) :]


def test_the_text_is_what_prometheus_client_would_write_for_the_same_series() -> None:
    # Label values to escape, and floats in Go's notation (large, tiny, negative, inf, nan).
    awkward = {'a"quote': 1e20, "back\\slash": 123456789.0, "new\nline": -0.5, "tiny": 1.5e-12}
    metrics.record("ns", "a", {"phase": "Healthy"}, {"drift_share": float("inf"), "features": [
        {"name": name, "method": "psi", "statistic": value} for name, value in awkward.items()
    ]})  # fmt: skip
    metrics.record("other-ns", "b", {"phase": "Degraded", "slo": {"errorRate": float("nan")}}, None)
    try:
        got = metrics.exposition()
        # The same series through prometheus_client's own families and writer.
        registry = CollectorRegistry()

        class Expected(Collector):
            def collect(self) -> Any:
                for family in metrics.FAMILIES:
                    out = GaugeMetricFamily(
                        family.name, family.help, labels=["namespace", "monitor", *family.labels]
                    )
                    if family is metrics.PHASE:
                        out.add_metric(["ns", "a", "Healthy"], 1.0)
                        out.add_metric(["other-ns", "b", "Degraded"], 1.0)
                    elif family is metrics.DRIFT_SHARE:
                        out.add_metric(["ns", "a"], float("inf"))
                    elif family is metrics.FEATURE_DRIFT:
                        for name, value in awkward.items():
                            out.add_metric(["ns", "a", name, "psi"], value)
                    elif family is metrics.ERROR_RATE:
                        out.add_metric(["other-ns", "b"], float("nan"))
                    yield out

        registry.register(Expected())
        # Only this test's monitors: other tests of the process may have recorded some of their own.
        ours = (b'namespace="ns",', b'namespace="ns"}', b'namespace="other-ns"')
        mine = [
            line for line in monitor_part(got).splitlines(keepends=True)
            if line.startswith(b"#") or (any(k in line for k in ours) and (b'monitor="a"' in line or b'monitor="b"' in line))
        ]  # fmt: skip
        assert b"".join(mine) == generate_latest(registry)
        assert got.startswith(generate_latest(metrics.REGISTRY))  # the operator's own metrics lead
    finally:
        metrics.forget("ns", "a")
        metrics.forget("other-ns", "b")


def test_promtool_accepts_the_text_with_many_monitors() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make setup` installs it (Debian's prometheus package)")
    for i in range(50):
        metrics.record("ns", f"m{i}", {"phase": "Healthy", "slo": {"latencyP95Ms": 20.0 + i},
                                       "conditions": [{"type": "Ready", "status": "True"}]},
                       drift(age=0.1 * (i % 7), income=0.2))  # fmt: skip
    try:
        text = metrics.exposition()
        proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
        # promtool parses the text (a family's second HELP or TYPE, or samples apart, fail) and lints it.
        assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()
        families = list(text_string_to_metric_families(text.decode()))
        names = [f.name for f in families]
        assert len(names) == len(set(names))  # each family once
        phase = next(f for f in families if f.name == metrics.PHASE.name)
        assert len(phase.samples) >= 50
    finally:
        for i in range(50):
            metrics.forget("ns", f"m{i}")


def test_served_over_http_plain_and_gzip_from_a_thread() -> None:
    metrics.record("ns", "served", {"phase": "Healthy"}, None)
    server = metrics.serve("127.0.0.1:0")
    assert server is not None
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            plain = resp.read()
            assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
        assert b'modelmonitor_monitor_phase{monitor="served",namespace="ns",phase="Healthy"} 1.0\n' in plain
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            unzipped = gzip.decompress(resp.read())
        assert monitor_part(unzipped) == monitor_part(plain)
    finally:
        server.shutdown()
        server.server_close()
        metrics.forget("ns", "served")


def test_an_empty_address_serves_nothing() -> None:
    assert metrics.serve("") is None
