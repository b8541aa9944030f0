"""Prometheus figures of one evaluation: nine instant queries (one per figure) against one combined query.

Usage::

    .venv/bin/python benchmarks/prometheus_figures.py                  # 200 evaluations x 5 rounds
    .venv/bin/python benchmarks/prometheus_figures.py --evaluations 1000 --rounds 3 --sidecar

What runs, all on 127.0.0.1: a real Prometheus (Debian ``/usr/bin/prometheus``, free port, temp
dir) and, in this process, the operator's own ``adapters/prometheus.PrometheusPort`` (the HTTP
session, deadline and answer cap of the operator). An evaluation asks the six SLO and three
resource figures of ``policy/queries.py`` for one Deployment: the old way, ``query()`` once per
figure; the new way, ``query_figures()`` once. Without ``--sidecar`` no series exist, so every figure
is an empty vector, as in ``benchmarks/operator_scale.py``; with it a real demo model and sidecar
serve traffic and Prometheus scrapes the sidecar, so the SLO figures have values.

The two ways alternate within each round (the order swapped every round) so that the machine's
load falls on both alike. Per evaluation: CPU of this process (the operator's side: requests,
urllib3, JSON decode; every thread counted), CPU of Prometheus (``/proc/<pid>/stat``) and wall
time. Prints a table and the ratios old/new (median over rounds), and writes
``benchmarks/results/prometheus_figures.json`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "operator")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import yaml  # noqa: E402

from modelmonitor.adapters.prometheus import PrometheusPort  # noqa: E402
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "prometheus_figures.json"
TICK = os.sysconf("SC_CLK_TCK")
SELECTOR = Selector("bench", "credit-scoring", "model", ("5d4f8b7c9", "7c9d8f6b5"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:g}s")


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def instant(url: str, promql: str) -> list[Any]:
    query = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as resp:
        return list(json.loads(resp.read())["data"]["result"])


TRAFFIC = """
import sys, time, urllib.request
target, body = sys.argv[1], open(sys.argv[2], "rb").read()
while True:
    try:
        with urllib.request.urlopen(urllib.request.Request(target, body, {"Content-Type": "application/json"}), timeout=5) as r:
            r.read()
    except OSError:
        pass  # the model's injected 500s
    time.sleep(0.02)
"""


def sidecar_stack(workdir: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    """A demo model and its sidecar (model label ``credit-scoring``) under steady traffic from a
    process of its own (its CPU is not this process's); the processes and the sidecar's admin
    address for Prometheus to scrape."""
    from modelmonitor.demo.data import make_payload, make_rows, path_for

    model_port, port, admin = free_port(), free_port(), free_port()
    cli = [sys.executable, "-m", "modelmonitor.cli"]
    procs = [
        start([*cli, "demo-model", "--port", str(model_port), "--name", "credit-scoring", "--error-rate", "0.05"],
              workdir / "model.log"),
        start([*cli, "sidecar", "--listen", f"127.0.0.1:{port}", "--upstream", f"http://127.0.0.1:{model_port}",
               "--admin", f"127.0.0.1:{admin}", "--model-name", "credit-scoring", "--protocol", "kserve-v1"],
              workdir / "sidecar.log"),
    ]  # fmt: skip
    wait_for(f"http://127.0.0.1:{model_port}/healthz")
    wait_for(f"http://127.0.0.1:{admin}/healthz")
    body = workdir / "body.json"
    body.write_bytes(json.dumps(make_payload("kserve-v1", make_rows(5, seed=1), "credit-scoring")).encode())
    target = f"http://127.0.0.1:{port}{path_for('kserve-v1', 'credit-scoring')}"
    procs.append(start([sys.executable, "-c", TRAFFIC, target, str(body)], workdir / "traffic.log"))
    return procs, f"127.0.0.1:{admin}"


def measure(evaluate: Callable[[], object], n: int, prom_pid: int) -> dict[str, float]:
    """Per evaluation: this process's CPU ms, Prometheus's CPU ms and wall ms, over ``n`` of them."""
    cpu, prom, wall = time.process_time(), cpu_of(prom_pid), time.perf_counter()
    for _ in range(n):
        evaluate()
    return {
        "client_cpu_ms": (time.process_time() - cpu) * 1000 / n,
        "prometheus_cpu_ms": (cpu_of(prom_pid) - prom) * 1000 / n,
        "wall_ms": (time.perf_counter() - wall) * 1000 / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--evaluations", type=int, default=200, help="evaluations per way and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sidecar", action="store_true", help="real sidecar series: figures with values")
    parser.add_argument("--out", type=Path, help=f"default {RESULTS.name} (with --sidecar: *_sidecar.json)")
    args = parser.parse_args()
    out = args.out or (RESULTS.with_name(f"{RESULTS.stem}_sidecar.json") if args.sidecar else RESULTS)

    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        raise SystemExit("the prometheus binary is missing: apt-get install prometheus (make setup does)")
    load_start = os.getloadavg()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="prometheus-figures-") as tmp:
        workdir = Path(tmp)
        scrape = []
        if args.sidecar:
            procs, admin = sidecar_stack(workdir)
            scrape = [{"job_name": "modelmonitor",
                       "static_configs": [{"targets": [admin], "labels": {"namespace": SELECTOR.namespace}}]}]  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        (workdir / "prometheus.yml").write_text(
            yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape})
        )
        prom = start([binary, f"--config.file={workdir / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                      f"--storage.tsdb.path={workdir / 'data'}"], workdir / "prometheus.log")  # fmt: skip
        procs.append(prom)
        try:
            wait_for(f"{url}/-/ready")
            queries = {**slo_queries(SELECTOR, 60), **resource_queries(SELECTOR, 60)}
            if args.sidecar:
                deadline = time.monotonic() + 60
                while not instant(url, f"({queries['latencyP95Ms']}) > 0") and time.monotonic() < deadline:
                    time.sleep(0.5)
            port_ = PrometheusPort(url, timeout=5)
            ways: dict[str, Callable[[], object]] = {
                "nine queries": lambda: [port_.query(q) for q in queries.values()],
                "one combined": lambda: port_.query_figures(queries),
            }
            for way in ways.values():  # warm: the connection, Prometheus's query path
                for _ in range(20):
                    way()
            rounds: list[dict[str, dict[str, float]]] = []
            for r in range(args.rounds):
                order = list(ways) if r % 2 == 0 else list(reversed(ways))
                rounds.append({name: measure(ways[name], args.evaluations, prom.pid) for name in order})
            figures = port_.query_figures(queries)  # after the rounds: the lookback full of samples
        finally:
            for proc in procs:
                stop(proc)

    print(f"{args.evaluations} evaluations x {args.rounds} rounds, {'sidecar series' if args.sidecar else 'no series (empty answers)'}; "
          f"load average at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'round':>5} {'way':<13} {'client CPU ms':>14} {'Prometheus CPU ms':>18} {'wall ms':>9}")
    for r, row in enumerate(rounds, 1):
        for name, m in row.items():
            print(
                f"{r:>5} {name:<13} {m['client_cpu_ms']:>14.2f} {m['prometheus_cpu_ms']:>18.2f} {m['wall_ms']:>9.2f}"
            )
    ratios = {
        key: statistics.median(row["nine queries"][key] / row["one combined"][key] for row in rounds
                               if row["one combined"][key] > 0)
        for key in ("client_cpu_ms", "prometheus_cpu_ms", "wall_ms")
    }  # fmt: skip
    print("old/new, median over rounds: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    result = {
        "evaluations": args.evaluations, "rounds": rounds, "ratios_old_over_new": ratios,
        "series": "sidecar" if args.sidecar else "none", "figures": figures,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in load_start],
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
