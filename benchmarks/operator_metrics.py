"""The operator's /metrics read: its pre-rendered text against prometheus_client's writer, same series.

    python benchmarks/operator_metrics.py [--sizes 100,1000,3000] [--rounds 7] [--out FILE]

For each size, that many monitors are recorded with the status of a settled monitor (phase, p95 and
error rate, four conditions, a quality metric and label coverage, drift share and 12 feature scores:
22 series each). Then, round-robin (one of each per round, after a warm-up), it times in CPU seconds:
  * ``exposition`` - what the operator serves: ``metrics.exposition()``, each monitor's lines
    rendered when its status was recorded, joined at read;
  * ``prometheus_client`` - the peer: the same series as ``GaugeMetricFamily`` objects from one
    collector (what the operator did before, and what a collector of prometheus_client does at every
    read), written by ``generate_latest``.
Like for like: the per-monitor part of both texts is compared byte for byte. ``record`` is timed too
(the operator records each monitor's status once per evaluation): rendering there is the price paid
for cheap reads. A read happens at every Prometheus scrape (the chart's ServiceMonitor: every 30 s)
and every readiness probe (the chart's: every 10 s). The JSON records the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

from modelmonitor.operator import metrics  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "operator_metrics.json"
FEATURES = 12


def status(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A settled monitor's status and drift report (values vary by monitor, as they would)."""
    conditions = [
        {"type": t, "status": "True" if (i + k) % 5 == 0 else "False"}
        for k, t in enumerate(("Ready", "DataDrift", "SLOBreached", "PerformanceDegraded"))
    ]
    st = {
        "phase": "Healthy" if i % 7 else "Degraded",
        "slo": {"latencyP95Ms": 20.0 + i % 50, "errorRate": (i % 13) / 1000},
        "conditions": conditions,
        "performance": {"metrics": {"accuracy": 0.8 + (i % 17) / 100}, "labelCoverage": 0.5},
    }
    drift = {
        "drift_share": (i % 10) / 10,
        "features": [{"name": f"feature_{f}", "method": "ks", "statistic": ((i * 7 + f) % 100) / 100} for f in range(FEATURES)],
    }  # fmt: skip
    return st, drift


class Same(Collector):
    """prometheus_client's families for the series of a text (the per-monitor ones)."""

    def __init__(self, text: str) -> None:
        names = {f.name for f in metrics.FAMILIES}
        self.families = [f for f in text_string_to_metric_families(text) if f.name in names]

    def collect(self) -> Iterator[Any]:
        yield from self.families


def cpu(fn: Callable[[], object]) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def machine() -> dict[str, Any]:
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "prometheus_client": version("prometheus-client"),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds"),
    }


def run_size(n: int, rounds: int) -> dict[str, Any]:
    keys = [(f"team-{i // 50}", f"model-{i}") for i in range(n)]
    t0 = time.process_time()
    for i, (ns, name) in enumerate(keys):
        metrics.record(ns, name, *status(i))
    record_s = (time.process_time() - t0) / n
    text = metrics.exposition()
    peer = CollectorRegistry()
    peer.register(Same(text.decode()))
    start = text.index(f"# HELP {metrics.FAMILIES[0].name} ".encode())
    identical = text[start:] == generate_latest(peer)
    series = sum(1 for line in text[start:].splitlines() if not line.startswith(b"#"))
    times: dict[str, list[float]] = {"exposition": [], "prometheus_client": []}
    metrics.exposition(), generate_latest(peer)  # warm-up
    for _ in range(rounds):
        times["exposition"].append(cpu(metrics.exposition))
        times["prometheus_client"].append(cpu(lambda: generate_latest(peer)))
    for ns, name in keys:
        metrics.forget(ns, name)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [p / max(e, 1e-9) for e, p in zip(times["exposition"], times["prometheus_client"], strict=True)]
    return {
        "monitors": n,
        "series": series,
        "bytes": len(text),
        "identical_per_monitor_text": identical,
        "read_cpu_s": {k: round(v, 6) for k, v in med.items()},
        "read_cpu_s_per_round": {k: [round(x, 6) for x in v] for k, v in times.items()},
        "prometheus_client_over_exposition": {
            "median": round(statistics.median(ratios), 1),
            "round_min": round(min(ratios), 1),
            "round_max": round(max(ratios), 1),
        },
        "record_cpu_us_per_monitor": round(record_s * 1e6, 1),
        # CPU a minute for the chart's reads (2 scrapes and 6 probes) against the records of one
        # evaluation per monitor per minute: what pre-rendering saves, net.
        "cpu_s_per_minute": {
            "exposition_reads": round(8 * med["exposition"], 4),
            "prometheus_client_reads": round(8 * med["prometheus_client"], 4),
            "records": round(n * record_s, 4),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = [run_size(int(n), args.rounds) for n in args.sizes.split(",")]
    print(f"{'monitors':>8} {'series':>7} {'exposition ms':>14} {'prometheus_client ms':>21} {'ratio':>7} "
          f"{'record us/mon':>14} identical")  # fmt: skip
    for r in runs:
        cpu_s = r["read_cpu_s"]
        print(f"{r['monitors']:>8} {r['series']:>7} {cpu_s['exposition'] * 1e3:>14.2f} "
              f"{cpu_s['prometheus_client'] * 1e3:>21.1f} {r['prometheus_client_over_exposition']['median']:>6}x "
              f"{r['record_cpu_us_per_monitor']:>14} {r['identical_per_monitor_text']}")  # fmt: skip
    out = {"benchmark": "operator_metrics", "machine": machine(), "rounds": args.rounds, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["identical_per_monitor_text"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
