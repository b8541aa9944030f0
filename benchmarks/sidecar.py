"""Sidecar overhead benchmark: direct vs through the sidecar vs through nginx, on loopback.

Usage::

    .venv/bin/python benchmarks/sidecar.py --quick      # < 60 s
    .venv/bin/python benchmarks/sidecar.py              # full (a few minutes, 60 s memory run)

Every setup sends the same 10-feature KServe v1 payload of the demo model. Loads:

- ``rate``: a constant 1,000 requests/s, open loop (latency counted from each request's scheduled
  time, so a stall is not hidden), from an asyncio generator over 32 keep-alive connections;
- ``saturation``: wrk (Debian) with 32 connections, in front of a trivial model and of a model that
  burns 1 ms of CPU per request.

CPU per request is the proxy process's own user+system time (``/proc/<pid>/stat``, children included
for nginx) over the run divided by the requests served. The sidecar runs with capture and logging on
(log lines written to a file). nginx runs as a reverse proxy with upstream keep-alive and an
access log. Results: a table on stdout and ``benchmarks/results/sidecar.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httptools

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sidecar.json"
PATH = "/v1/models/credit:predict"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def payload() -> bytes:
    sys.path.insert(0, str(ROOT / "operator"))
    from modelmonitor.demo.data import make_payload, make_rows

    return json.dumps(make_payload("kserve-v1", make_rows(1, seed=42))).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its current children, in seconds."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


# load generators ------------------------------------------------------------------------------------
class _Conn(asyncio.Protocol):
    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.t_sched = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.gen.done(self, time.perf_counter() - self.t_sched, self.parser.get_status_code())
        if not self.parser.should_keep_alive() and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)

    def send(self, t_sched: float) -> None:
        self.t_sched = t_sched
        assert self.transport is not None
        self.transport.write(self.gen.request)


class _Generator:
    def __init__(self, port: int, body: bytes) -> None:
        self.port = port
        self.request = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.latencies: list[float] = []
        self.errors = 0
        self.idle: list[_Conn] = []
        self.backlog: list[float] = []
        self.outstanding = 0
        self.finished = asyncio.Event()
        self.t_inflight: dict[_Conn, float] = {}
        self.reconnect = 0

    def lost(self, conn: _Conn) -> None:
        """A connection closed: forget it; a request it had in flight counts as an error."""
        if conn in self.idle:
            self.idle.remove(conn)
        elif self.t_inflight.pop(conn, None) is not None:
            self.errors += 1
            self.outstanding -= 1
            if self.outstanding == 0:
                self.finished.set()
        self.reconnect += 1

    def done(self, conn: _Conn, latency: float, status: int) -> None:
        self.t_inflight.pop(conn, None)
        self.latencies.append(latency)
        if status != 200:
            self.errors += 1
        self.outstanding -= 1
        if conn.transport is None or conn.transport.is_closing():
            return
        if self.backlog:
            self._send(conn, self.backlog.pop(0))
        else:
            self.idle.append(conn)
        if self.outstanding == 0:
            self.finished.set()

    def _send(self, conn: _Conn, t: float) -> None:
        self.t_inflight[conn] = t
        conn.send(t)

    async def run_rate(self, rate: float, seconds: float, conns: int = 32) -> float:
        loop = asyncio.get_running_loop()
        for _ in range(conns):
            _, c = await loop.create_connection(lambda: _Conn(self), "127.0.0.1", self.port)
            self.idle.append(c)
        n = int(rate * seconds)
        start = time.perf_counter() + 0.01
        i = 0
        while i < n:
            now = time.perf_counter()
            while i < n and start + i / rate <= now:
                t = start + i / rate
                self.outstanding += 1
                self.finished.clear()
                if self.idle:
                    self._send(self.idle.pop(), t)
                else:
                    self.backlog.append(t)
                i += 1
            while self.reconnect:
                self.reconnect -= 1
                _, c = await loop.create_connection(lambda: _Conn(self), "127.0.0.1", self.port)
                if self.backlog:
                    self._send(c, self.backlog.pop(0))
                else:
                    self.idle.append(c)
            if i < n:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        if self.outstanding:
            await asyncio.wait_for(self.finished.wait(), timeout=30)
        return time.perf_counter() - start


def rate_load(port: int, body: bytes, rate: float, seconds: float) -> dict[str, Any]:
    gen = _Generator(port, body)
    try:
        import uvloop

        elapsed = uvloop.run(gen.run_rate(rate, seconds))
    except ImportError:
        elapsed = asyncio.run(gen.run_rate(rate, seconds))
    lat = sorted(gen.latencies)
    return {
        "requests": len(lat),
        "errors": gen.errors,
        "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
    }


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_load(port: int, body: bytes, seconds: float, conns: int = 32) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body.decode())}\n'
        )
        script = f.name
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)

    def lat(q: str) -> float:
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")

    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "requests": int(total.group(1)) if total else 0,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": lat("50"),
        "p99_ms": lat("99"),
    }


# processes ------------------------------------------------------------------------------------------
class Stack:
    """A model, a sidecar and nginx in front of it; all stopped by ``close``."""

    def __init__(self, tmp: Path, name: str, model_args: list[str]) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        py = sys.executable
        self.model_port, self.sidecar_port, self.admin_port, self.nginx_port = (free_port() for _ in range(4))
        self.model = self._start(
            [py, "-m", "modelmonitor.cli", "demo-model", "--port", str(self.model_port), *model_args],
            f"http://127.0.0.1:{self.model_port}/healthz",
            tmp / f"{name}-model.log",
        )
        self.sidecar_log = tmp / f"{name}-sidecar.log"
        self.sidecar = self._start(
            [
                py,
                "-m",
                "modelmonitor.cli",
                "sidecar",
                "--listen",
                f"127.0.0.1:{self.sidecar_port}",
                "--upstream",
                f"http://127.0.0.1:{self.model_port}",
                "--admin",
                f"127.0.0.1:{self.admin_port}",
                "--model-name",
                "credit",
                "--model-version",
                "bench",
            ],
            f"http://127.0.0.1:{self.admin_port}/healthz",
            self.sidecar_log,
        )
        self.nginx: subprocess.Popen[bytes] | None = None
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx:
            prefix = tmp / f"{name}-nginx"
            prefix.mkdir()
            conf = prefix / "nginx.conf"
            conf.write_text(
                f"user root;\nworker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
                f"error_log {prefix}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
                f"http {{\n access_log {prefix}/access.log combined buffer=64k;\n"
                f" client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;\n"
                f" uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;\n"
                f" upstream model {{ server 127.0.0.1:{self.model_port}; keepalive 64; }}\n"
                f" server {{ listen 127.0.0.1:{self.nginx_port};\n"
                f"  location / {{ proxy_pass http://model; proxy_http_version 1.1;"
                f' proxy_set_header Connection ""; }} }}\n}}\n'
            )
            self.nginx = self._start(
                [nginx, "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
                f"http://127.0.0.1:{self.nginx_port}/healthz",
                prefix / "stdout.log",
            )

    def _start(self, cmd: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        wait_ready(ready, proc)
        return proc

    def targets(self) -> list[tuple[str, int, int | None]]:
        out: list[tuple[str, int, int | None]] = [
            ("direct", self.model_port, None),
            ("sidecar", self.sidecar_port, self.sidecar.pid),
        ]
        if self.nginx is not None:
            out.append(("nginx", self.nginx_port, self.nginx.pid))
        return out

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure(load: str, model: str, setup: str, port: int, pid: int | None, run: Any) -> dict[str, Any]:
    cpu0 = cpu_seconds(pid) if pid else 0.0
    result: dict[str, Any] = run(port)
    cpu = cpu_seconds(pid) - cpu0 if pid else None
    result.update(load=load, model=model, setup=setup)
    result["proxy_cpu_us_per_req"] = (
        cpu / result["requests"] * 1e6 if cpu is not None and result["requests"] else None
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (< 60 s in all)")
    parser.add_argument("--rate", type=float, default=1000.0, help="constant rate, requests/s (default 1000)")
    parser.add_argument("--output", default=str(RESULTS), help="JSON results file")
    args = parser.parse_args(argv)
    rate_s, sat_s, mem_s = (4.0, 3.0, 8.0) if args.quick else (20.0, 15.0, 60.0)
    body = payload()
    have_wrk = shutil.which("wrk") is not None
    runs: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmpdir:
        tmp = Path(tmpdir)
        trivial = Stack(tmp, "trivial", [])
        busy = Stack(tmp, "cpu1ms", ["--cpu-ms", "1"])
        try:
            for stack in (trivial, busy):  # warm up connections, caches and the JIT-less interpreter
                for _, port, _ in stack.targets():
                    rate_load(port, body, 500, 0.5)
            for setup, port, pid in trivial.targets():
                runs.append(
                    measure(
                        f"rate-{args.rate:g}",
                        "trivial",
                        setup,
                        port,
                        pid,
                        lambda p: rate_load(p, body, args.rate, rate_s),
                    )
                )
            if have_wrk:
                for stack, model in ((trivial, "trivial"), (busy, "cpu-1ms")):
                    for setup, port, pid in stack.targets():
                        runs.append(
                            measure("saturation", model, setup, port, pid, lambda p: wrk_load(p, body, sat_s))
                        )
            # memory: RSS of the sidecar sampled through a constant-rate run
            pid = trivial.sidecar.pid
            samples: list[tuple[float, float]] = []
            start = time.monotonic()
            done = False

            async def sample() -> None:
                while not done:
                    samples.append((round(time.monotonic() - start, 1), round(rss_mib(pid), 2)))
                    await asyncio.sleep(1.0)

            def mem_run(port: int) -> dict[str, Any]:
                nonlocal done

                async def both() -> dict[str, Any]:
                    nonlocal done
                    task = asyncio.create_task(sample())
                    gen = _Generator(port, body)
                    elapsed = await gen.run_rate(args.rate, mem_s)
                    done = True
                    await task
                    return {
                        "requests": len(gen.latencies),
                        "errors": gen.errors,
                        "rps": len(gen.latencies) / elapsed,
                    }

                result: dict[str, Any] = asyncio.run(both())
                return result

            mem = measure(f"memory-{args.rate:g}", "trivial", "sidecar", trivial.sidecar_port, pid, mem_run)
            rss = [s[1] for s in samples]
            third = max(1, len(rss) // 3)
            memory = {
                "seconds": mem_s,
                "requests": mem["requests"],
                "rss_mib_samples": samples,
                "rss_mib_start": rss[0],
                "rss_mib_end": rss[-1],
                "rss_mib_max": max(rss),
                "growth_mib_after_first_third": round(max(rss[third:]) - max(rss[:third]), 2),
            }
            log_lines = trivial.sidecar_log.read_bytes().count(b"\n")
        finally:
            trivial.close()
            busy.close()
    report(runs, memory, args, have_wrk, log_lines)
    return 0


def report(
    runs: list[dict[str, Any]], memory: dict[str, Any], args: Any, have_wrk: bool, log_lines: int
) -> None:
    print(
        f"\n{'load':<12} {'model':<8} {'setup':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'CPU µs/req':>10} {'errors':>6}"
    )
    for r in runs:
        cpu = f"{r['proxy_cpu_us_per_req']:.0f}" if r["proxy_cpu_us_per_req"] is not None else "-"
        print(
            f"{r['load']:<12} {r['model']:<8} {r['setup']:<8} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['rps']:>9.0f} {cpu:>10} {r['errors']:>6}"
        )
    pick = {(r["load"], r["model"], r["setup"]): r for r in runs}
    rate_key = f"rate-{args.rate:g}"
    targets: dict[str, Any] = {}
    d, s = pick.get((rate_key, "trivial", "direct")), pick.get((rate_key, "trivial", "sidecar"))
    if d and s:
        targets["added_p50_ms"] = {"value": round(s["p50_ms"] - d["p50_ms"], 3), "target": 1.0}
        targets["added_p99_ms"] = {"value": round(s["p99_ms"] - d["p99_ms"], 3), "target": 3.0}
        targets["sidecar_cpu_us_per_req"] = {"value": round(s["proxy_cpu_us_per_req"], 1), "target": 150.0}
    d, s = pick.get(("saturation", "cpu-1ms", "direct")), pick.get(("saturation", "cpu-1ms", "sidecar"))
    if d and s:
        targets["throughput_share_cpu_model"] = {
            "value": round(s["rps"] / d["rps"], 3),
            "target": 0.8,
            "min": True,
        }
    if memory:
        targets["memory_growth_mib"] = {"value": memory["growth_mib_after_first_third"], "target": 5.0}
    print()
    for name, t in targets.items():
        ok = t["value"] >= t["target"] if t.get("min") else t["value"] <= t["target"]
        t["met"] = ok
        rel = "≥" if t.get("min") else "≤"
        print(f"{name:<28} {t['value']:>9} (target {rel} {t['target']}) {'MET' if ok else 'MISSED'}")
    if memory:
        print(
            f"sidecar RSS over {memory['seconds']:g} s at {args.rate:g} req/s: start {memory['rss_mib_start']} MiB, "
            f"end {memory['rss_mib_end']} MiB, max {memory['rss_mib_max']} MiB"
        )
    print(f"sidecar log lines written: {log_lines}")
    out = {
        "mode": "quick" if args.quick else "full",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_generator": {
            "rate": "asyncio open-loop, 32 connections",
            "saturation": "wrk -t1 -c32" if have_wrk else None,
        },
        "runs": runs,
        "memory": memory,
        "targets": targets,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(f"results written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
