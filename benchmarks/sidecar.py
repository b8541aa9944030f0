"""Sidecar overhead benchmark: direct vs through the sidecar vs through nginx, on loopback, and the
other designs (nginx or HAProxy as the data plane, the sidecar's capture in a process of its own).

Usage::

    .venv/bin/python benchmarks/sidecar.py --quick      # < 2 minutes (about 70-110 s here)
    .venv/bin/python benchmarks/sidecar.py              # full (6-8 minutes, 60 s memory run)

Every setup sends the same 10-feature KServe v1 payload of the demo model. Loads:

- ``rate``: a constant 1,000 requests/s, open loop (latency counted from each request's scheduled
  time, so a stall is not hidden), from an asyncio generator over 32 keep-alive connections;
- ``saturation``: wrk (Debian) with 32 connections, in front of a trivial model and of a model that
  burns 1 ms of CPU per request.

CPU per request is the proxy process's own user+system time (``/proc/<pid>/stat``, children included
for nginx) over the run divided by the requests served. The sidecar runs with capture and logging on
(log lines written to a file). nginx runs as a reverse proxy with upstream keep-alive and an
access log. Results: a table on stdout and ``benchmarks/results/sidecar.json``.

The other design (setup ``nginx+capture``, when the njs module is installed: Debian
``libnginx-mod-http-js``): nginx proxies to the model and writes one JSON line per request with both
bodies (an njs body filter keeps the response's) to a capture log; a capture process reads the log
as it grows and runs the sidecar's own capture on every line, with the same admin API. Its CPU is
nginx's plus the capture process's; ``designs`` in the results puts the designs side by side.

The third design (setup ``haproxy+capture``, when HAProxy is installed: Debian ``haproxy``): HAProxy
proxies to the model, buffers both bodies (up to its 64 KiB buffer) and logs one JSON line per
request with them to a file, which the same capture process reads. A body larger than the buffer is
logged cut short; the capture process counts it as ``too_large`` and captures nothing of it.

The floor (setup ``python-relay``): the least any Python data plane on the same event loop and HTTP
parser must spend, a uvloop relay that parses both directions with llhttp (every callback on) and
passes the bytes on as they are, with one model connection per client connection; no head rewrite,
request ids, metrics or capture. Its ratio to nginx tells what the event loop costs; the sidecar's
distance from it, what the sidecar's own Python per request costs.

Capture completeness: the sidecar may drop captures under saturation to protect traffic. After each
load step the benchmark waits for the capture queue to drain, reads ``/metrics`` on the admin port and
reports what the sidecar served, captured and dropped (by reason) in that step; at the constant rate
nothing may be dropped (target ``rate_captures_dropped`` = 0, ``rate_captured_share`` = 1).

Memory: RSS of a fresh sidecar started as the product starts it (``modelmonitor sidecar``, through
the CLI, which loads every command module) and started from the sidecar's command module alone; then
sampled through a constant-rate run with a full window.

``--operator DIR`` runs the ``modelmonitor`` package found in DIR (default: this checkout's
``operator/``), so that an older tree (``git archive REV operator | tar -x -C /tmp/old``) can be
measured by the same benchmark for a before/after comparison.
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
PACKAGE_ROOT = ROOT / "operator"  # where the modelmonitor package under test is (--operator)
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


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def scrape(admin_port: int) -> dict[str, Any]:
    """The sidecar's own counts: 2xx answers served (and the others), rows captured, captures dropped
    (by reason), capture queue depth."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, Any] = {"served": 0, "not_2xx": 0, "captured": 0, "queue": 0, "drops": {}}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        n = int(float(value))
        if name.startswith("modelmonitor_sidecar_requests_total"):
            if 'code="2' in name:  # answered by the model; a client that left (499) has nothing to capture
                out["served"] += n
            else:
                out["not_2xx"] += n
        elif name.startswith("modelmonitor_sidecar_captured_rows_total"):
            out["captured"] += n
        elif name.startswith("modelmonitor_sidecar_capture_queue_depth"):
            out["queue"] += n
        elif name.startswith("modelmonitor_sidecar_captures_dropped_total"):
            found = re.search(r'reason="([^"]*)"', name)
            reason = found.group(1) if found else "?"
            out["drops"][reason] = out["drops"].get(reason, 0) + n
    return out


def settled(admin_port: int, timeout: float = 10.0) -> dict[str, Any]:
    """Counts once the capture queue is empty and the captured count stopped moving for 0.3 s (the
    sidecar drains every 100 ms; nginx flushes its capture log and the capture process reads it every
    100 ms each)."""
    deadline = time.monotonic() + timeout
    last = scrape(admin_port)
    still = 0
    while time.monotonic() < deadline:
        time.sleep(0.15)
        now = scrape(admin_port)
        still = still + 1 if now["queue"] == 0 and now["captured"] == last["captured"] else 0
        last = now
        if still >= 2:
            break
    return last


def completeness(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What one load step served, captured and dropped (every demo request carries one row)."""
    served = after["served"] - before["served"]
    captured = after["captured"] - before["captured"]
    drops = {k: v - before["drops"].get(k, 0) for k, v in after["drops"].items()}
    drops = {k: v for k, v in drops.items() if v}
    return {
        "served": served,
        "not_2xx": after["not_2xx"] - before["not_2xx"],
        "captured": captured,
        "dropped": sum(drops.values()),
        "dropped_by_reason": drops,
        "captured_share": round(captured / served, 6) if served else None,
    }


def _version(cmd: list[str], pattern: str) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else None


def host() -> dict[str, Any]:
    """The machine and the software measured, and how busy the machine was at the start."""
    from importlib import metadata

    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    versions: dict[str, str | None] = {}
    for dist in ("uvloop", "httptools", "orjson", "prometheus_client"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["nginx"] = _version(["nginx", "-v"], r"nginx/(\S+)")
    versions["haproxy"] = _version(["haproxy", "-v"], r"version (\S+)")
    versions["wrk"] = _version(["wrk", "-v"], r"wrk (\S+)")
    return {
        "cpu_model": cpu.group(1).strip() if cpu else None,
        "cpus": os.cpu_count(),
        "ram_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


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


# the other design: nginx as the data plane, the sidecar's capture in a process of its own --------------
NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian: libnginx-mod-http-js
# A response body filter that keeps a copy of the body in a variable for the capture log line.
CAPTURE_JS = """function collect(r, data, flags) {
    if (data.length) {
        r.variables.resp_body += data;
    }
    r.sendBuffer(data, flags);
}
export default {collect};
"""
CAPTURE_FORMAT = (
    '\'{"ts":$msec,"id":"$request_id","method":"$request_method","uri":"$request_uri",'
    '"status":$status,"rt":$request_time,"urt":"$upstream_response_time",'
    '"req":"$request_body","resp":"$resp_body"}\''
)

# HAProxy as the data plane: the request id passed on or made, both bodies kept in variables once
# buffered, the model's time in µs from the clock at the request and at the response, and one JSON line
# per request on stdout (a file the capture process reads). A body past the buffer is logged cut short:
# its logged size says so.
HAPROXY_BUFFER = 65536
HAPROXY_FORMAT = (
    '\'{"ts":%Ts.%ms,"id":"%[var(txn.rid),json(utf8s)]","method":"%HM","uri":"%[var(txn.url),json(utf8s)]",'
    '"status":%ST,"rt_us":"%[var(txn.rt)]","req_size":"%[var(txn.reqn)]",'
    '"resp_size":"%[var(txn.respn)]","req":"%[var(txn.req),json(utf8s)]","resp":"%[var(txn.resp),json(utf8s)]"}\''
)
HAPROXY_RULES = """  option http-buffer-request
  option dontlognull
  unique-id-format %{+X}o%pid%Ts%rt
  http-request set-var(txn.us0) date_us
  http-request set-var(txn.t0) date,mul(1000000),add(txn.us0)
  http-request set-var(txn.url) url
  http-request set-var(txn.rid) req.hdr(x-request-id)
  http-request set-var(txn.rid) unique-id unless { var(txn.rid) -m found }
  http-request set-header X-Request-ID %[var(txn.rid)]
  http-request set-var(txn.req) req.body
  http-request set-var(txn.reqn) req.body_size
  http-response wait-for-body time 1s
  http-response set-var(txn.resp) res.body
  http-response set-var(txn.respn) res.body_size
  http-response set-var(txn.us1) date_us
  http-response set-var(txn.rt) date,mul(1000000),add(txn.us1),sub(txn.t0)
  http-response set-header X-Request-ID %[var(txn.rid)]
"""


def haproxy_conf(port: int, model_port: int) -> str:
    """HAProxy as a reverse proxy with reused model connections, one thread, logging a capture line per
    request (both bodies) to stdout."""
    return (
        f"global\n  nbthread 1\n  log stdout format raw local0\n  tune.bufsize {HAPROXY_BUFFER}\n"
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 75s\n  timeout server 60s\n"
        f"  http-reuse always\nfrontend capture\n  bind 127.0.0.1:{port}\n{HAPROXY_RULES}"
        f"  log global\n  log-format {HAPROXY_FORMAT}\n  default_backend model\n"
        f"backend model\n  server model 127.0.0.1:{model_port}\n"
    )


def nginx_conf(prefix: Path, port: int, model_port: int, capture_log: Path | None) -> str:
    """nginx as a reverse proxy with upstream keep-alive and an access log; with ``capture_log``, also
    one JSON line per request carrying both bodies (njs keeps the response's), flushed every 100 ms."""
    head = f"load_module {NJS_MODULE};\n" if capture_log else ""
    http = ""
    location = 'proxy_pass http://model; proxy_http_version 1.1; proxy_set_header Connection "";'
    if capture_log:
        (prefix / "capture.js").write_text(CAPTURE_JS)
        http = (
            f' js_path {prefix}; js_import capture.js; js_var $resp_body "";\n'
            f" log_format capture escape=json {CAPTURE_FORMAT};\n"
            # bodies up to 1 MiB stay in memory, where $request_body can read them (the sidecar's limit)
            " client_body_buffer_size 1m;\n"
        )
        location += (
            f" access_log {capture_log} capture buffer=64k flush=100ms;"
            " js_body_filter capture.collect buffer_type=string;"
            " proxy_set_header X-Request-ID $request_id;"
        )
    return (
        f"{head}user root;\nworker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n access_log {prefix}/access.log combined buffer=64k;\n{http}"
        f" client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;\n"
        f" uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;\n"
        f" upstream model {{ server 127.0.0.1:{model_port}; keepalive 64; }}\n"
        f" server {{ listen 127.0.0.1:{port};\n  location / {{ {location} }} }}\n}}\n"
    )


def run_capture_process(log: Path, admin_port: int) -> None:
    """The sidecar's capture without its proxy: read nginx's or HAProxy's capture log as it grows (every
    100 ms, as the sidecar drains its queue), turn each line into the record the proxy would have
    queued, and run the sidecar's own capture on it (codecs, redaction, window, log line, metrics, admin
    API)."""
    from modelmonitor.sidecar import jsonfast
    from modelmonitor.sidecar.admin import MAX_FEEDBACK_BYTES, build_handler, too_large
    from modelmonitor.sidecar.adminhttp import start_server
    from modelmonitor.sidecar.capture import Capture
    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.logline import LogWriter
    from modelmonitor.sidecar.metrics import SidecarMetrics
    from modelmonitor.sidecar.redact import Redactor
    from modelmonitor.sidecar.window import Window

    config = SidecarConfig(
        ("127.0.0.1", 0),
        ("127.0.0.1", 0),
        ("127.0.0.1", admin_port),
        model_name="credit",
        model_version="bench",
    )
    window = Window(config.window_rows, config.window_age, config.label_ttl)
    metrics = SidecarMetrics(config.model_name, config.model_version, window)
    writer = LogWriter(on_drop=lambda n: metrics.dropped("log_backpressure", n))
    redactor = Redactor(config.redact, config.redact_mode, "bench-salt", config.detect)
    capture = Capture(config, metrics, window, redactor, writer)

    def consume(raw: bytes) -> bytes | None:
        entry = jsonfast.loads(raw)
        status = int(entry["status"])
        req, resp = entry["req"].encode(), entry["resp"].encode()
        req_n, resp_n = len(req), len(resp)
        if "rt_us" in entry:  # HAProxy: the time from the request to the response in µs, "-" when unset
            us = entry["rt_us"]
            total = model = int(us) / 1e6 if us.isdigit() else None
            req_n = int(entry["req_size"]) if entry["req_size"].isdigit() else 0  # "-": no body read
            resp_n = int(entry["resp_size"]) if entry["resp_size"].isdigit() else 0
            req, resp = (req if req_n else b""), (resp if resp_n else b"")
        else:  # nginx: seconds, and the model's own time
            total, model = float(entry["rt"]), float(entry["urt"]) if entry["urt"][:1].isdigit() else None
        metrics.observe(status, total or 0.0, model, "model")
        bodies: tuple[list[bytes] | None, list[bytes] | None] = ([req], [resp])
        if len(req) != req_n or len(resp) != resp_n:  # past the proxy's buffer: logged cut short
            metrics.dropped("too_large")
            bodies = (None, None)
        record = (
            float(entry["ts"]), entry["id"], entry["method"].encode(), entry["uri"].encode(), status,
            total or 0.0, model, *bodies, "", req_n, resp_n, 0,
        )  # fmt: skip
        return capture.process(record)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        handler = build_handler(config, window, metrics)
        server = await start_server(handler, "127.0.0.1", admin_port, MAX_FEEDBACK_BYTES, too_large)
        while not log.exists():
            await asyncio.sleep(0.05)
        rest = b""
        with open(log, "rb") as f:
            while not stop.is_set():
                *complete, rest = (rest + f.read()).split(b"\n")
                lines = []
                for raw in complete:
                    try:
                        line = consume(raw)
                    except Exception:  # as in the sidecar: a capture that fails is counted, never fatal
                        metrics.dropped("error")
                        continue
                    if line is not None:
                        lines.append(line)
                if lines:
                    writer.submit(b"\n".join(lines) + b"\n", len(lines))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)
        server.close()
        writer.close()

    import uvloop

    uvloop.run(main())


# the floor: a relay on the sidecar's event loop and parser, doing nothing else ------------------------
def run_relay(port: int, model_port: int) -> None:
    """Relay 127.0.0.1:``port`` to the model: each client connection gets one model connection; both
    directions are parsed with llhttp (as a proxy must, to find where messages end) and relayed as
    received. No head rewrite, request ids, metrics or capture: the floor of a Python data plane."""
    import gc

    import httptools
    import uvloop

    class Parsed:
        """llhttp callbacks that keep what a proxy would read of each message."""

        def __init__(self) -> None:
            self.url = b""
            self.headers: list[tuple[bytes, bytes]] = []
            self.body: list[bytes] = []
            self.messages = 0

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_status(self, status: bytes) -> None:
            self.url = status

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_headers_complete(self) -> None:
            self.headers = []
            self.url = b""

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            self.body = []
            self.messages += 1

    class ModelSide(Parsed, asyncio.Protocol):
        def __init__(self, client: ClientSide) -> None:
            super().__init__()
            self.client = client
            self.parser = httptools.HttpResponseParser(self)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)
            if self.client.transport is not None:
                self.client.transport.write(data)

        def connection_lost(self, exc: BaseException | None) -> None:
            if self.client.transport is not None:
                self.client.transport.close()

    class ClientSide(Parsed, asyncio.Protocol):
        def __init__(self) -> None:
            super().__init__()
            self.transport: asyncio.Transport | None = None
            self.model: asyncio.Transport | None = None
            self.pending: list[bytes] = []
            self.parser = httptools.HttpRequestParser(self)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]
            asyncio.get_running_loop().create_task(self.connect())

        async def connect(self) -> None:
            loop = asyncio.get_running_loop()
            model, _ = await loop.create_connection(lambda: ModelSide(self), "127.0.0.1", model_port)
            self.model = model  # type: ignore[assignment]
            model.write(b"".join(self.pending))
            self.pending = []

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)
            if self.model is not None:
                self.model.write(data)
            else:
                self.pending.append(data)

        def connection_lost(self, exc: BaseException | None) -> None:
            self.transport = None
            if self.model is not None:
                self.model.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(ClientSide, "127.0.0.1", port, backlog=2048)
        gc.collect()
        gc.freeze()  # as the sidecar does
        await stop.wait()
        server.close()

    uvloop.run(main())


# processes ------------------------------------------------------------------------------------------
class Stack:
    """A model with the sidecar, nginx, and (``alternative``, when njs is installed) nginx with a capture
    process in front of it; all stopped by ``close``."""

    def __init__(self, tmp: Path, name: str, model_args: list[str], alternative: bool = True) -> None:
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
        self.rss_after_start = round(rss_mib(self.sidecar.pid), 2)
        self.relay_port = free_port()
        self.relay = self._start_self(
            ["--relay", str(self.relay_port), "--relay-model", str(self.model_port)],
            f"http://127.0.0.1:{self.relay_port}/healthz",
            tmp / f"{name}-relay.log",
        )
        self.nginx: subprocess.Popen[bytes] | None = None
        self.nginx_capture: subprocess.Popen[bytes] | None = None
        self.capture: subprocess.Popen[bytes] | None = None
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx:
            prefix = tmp / f"{name}-nginx"
            self.nginx = self._start_nginx(nginx, prefix, self.nginx_port, None)
        if nginx and alternative and NJS_MODULE.exists():
            # The other design: nginx is the data plane, the sidecar's capture runs in a process of its own
            # fed from nginx's capture log (request and response bodies, see capture_process).
            prefix = tmp / f"{name}-nginx-capture"
            self.capture_port, self.capture_admin = free_port(), free_port()
            self.capture_log = prefix / "capture.log"
            self.nginx_capture = self._start_nginx(nginx, prefix, self.capture_port, self.capture_log)
            self.capture = self._start_self(
                ["--capture-process", str(self.capture_log), "--capture-admin", str(self.capture_admin)],
                f"http://127.0.0.1:{self.capture_admin}/healthz",
                tmp / f"{name}-capture.log",
            )
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.haproxy_capture: subprocess.Popen[bytes] | None = None
        haproxy = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
        )
        if haproxy and alternative:
            # The third design: HAProxy is the data plane and logs both bodies; the same capture process.
            self.haproxy_port, self.haproxy_admin = free_port(), free_port()
            conf, self.haproxy_log = tmp / f"{name}-haproxy.cfg", tmp / f"{name}-haproxy-capture.log"
            conf.write_text(haproxy_conf(self.haproxy_port, self.model_port))
            self.haproxy = self._start(
                [haproxy, "-db", "-f", str(conf)],
                f"http://127.0.0.1:{self.haproxy_port}/healthz",
                self.haproxy_log,  # its stdout: the capture lines
                errors=tmp / f"{name}-haproxy.err",
            )
            self.haproxy_capture = self._start_self(
                ["--capture-process", str(self.haproxy_log), "--capture-admin", str(self.haproxy_admin)],
                f"http://127.0.0.1:{self.haproxy_admin}/healthz",
                tmp / f"{name}-haproxy-capture-process.log",
            )

    def _start_nginx(
        self, nginx: str, prefix: Path, port: int, capture_log: Path | None
    ) -> subprocess.Popen[bytes]:
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_conf(prefix, port, self.model_port, capture_log))
        return self._start(
            [nginx, "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
            f"http://127.0.0.1:{port}/healthz",
            prefix / "stdout.log",
        )

    def _start_self(self, args: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
        """This script in a process of its own, in one of its hidden roles (relay, capture process)."""
        return self._start([sys.executable, str(Path(__file__).resolve()), *args], ready, log)

    def _start(
        self, cmd: list[str], ready: str, log: Path, errors: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` with its stdout in ``log`` (and its stderr too, unless ``errors`` is given)."""
        env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
        with open(log, "wb") as out, open(errors or os.devnull, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err if errors else subprocess.STDOUT, env=env)
        self.procs.append(proc)
        wait_ready(ready, proc)
        return proc

    def targets(self) -> list[tuple[str, int, tuple[int, ...], int | None]]:
        """(setup, port, pids whose CPU counts, admin port to read capture counts from)."""
        out: list[tuple[str, int, tuple[int, ...], int | None]] = [
            ("direct", self.model_port, (), None),
            ("sidecar", self.sidecar_port, (self.sidecar.pid,), self.admin_port),
        ]
        if self.nginx is not None:
            out.append(("nginx", self.nginx_port, (self.nginx.pid,), None))
        out.append(("python-relay", self.relay_port, (self.relay.pid,), None))
        if self.nginx_capture is not None and self.capture is not None:
            pids = (self.nginx_capture.pid, self.capture.pid)
            out.append(("nginx+capture", self.capture_port, pids, self.capture_admin))
        if self.haproxy is not None and self.haproxy_capture is not None:
            pids = (self.haproxy.pid, self.haproxy_capture.pid)
            out.append(("haproxy+capture", self.haproxy_port, pids, self.haproxy_admin))
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


def measure(
    load: str,
    model: str,
    setup: str,
    port: int,
    pids: tuple[int, ...],
    run: Any,
    admin: int | None = None,
) -> dict[str, Any]:
    counts = settled(admin) if admin else None
    cpu0 = [cpu_seconds(p) for p in pids]
    result: dict[str, Any] = run(port)
    if counts is not None and admin:
        result.update(completeness(counts, settled(admin)))  # capture work done after the run counts too
    parts = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    cpu = sum(parts) if pids else None
    if len(parts) > 1 and result["requests"]:
        result["cpu_us_per_req_by_process"] = [round(c / result["requests"] * 1e6, 1) for c in parts]
    result.update(load=load, model=model, setup=setup)
    result["proxy_cpu_us_per_req"] = (
        cpu / result["requests"] * 1e6 if cpu is not None and result["requests"] else None
    )
    return result


def sidecar_rss_alone(tmp: Path, model_port: int) -> float:
    """RSS (MiB) of a sidecar started from its command module alone, without the CLI's other commands."""
    listen, admin = free_port(), free_port()
    code = (
        "import argparse, sys; from modelmonitor.sidecar import commands; p = argparse.ArgumentParser(); "
        "commands.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    cmd = [sys.executable, "-c", code, "sidecar", "--listen", f"127.0.0.1:{listen}"]
    cmd += ["--upstream", f"http://127.0.0.1:{model_port}", "--admin", f"127.0.0.1:{admin}"]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    with open(tmp / "alone.log", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{admin}/healthz", proc)
        time.sleep(0.5)
        return round(rss_mib(proc.pid), 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    global PACKAGE_ROOT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (< 2 minutes in all)")
    parser.add_argument("--rate", type=float, default=1000.0, help="constant rate, requests/s (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="constant-rate rounds, setups interleaved")
    parser.add_argument("--output", default=str(RESULTS), help="JSON results file")
    parser.add_argument("--operator", default=str(PACKAGE_ROOT), help="directory of the package measured")
    parser.add_argument(
        "--no-alternative",
        action="store_true",
        help="measure the sidecar only, not the designs with a capture process",
    )
    parser.add_argument("--capture-process", metavar="LOG", help=argparse.SUPPRESS)
    parser.add_argument("--capture-admin", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--relay-model", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay:  # the floor setup (started by the benchmark)
        run_relay(args.relay, args.relay_model)
        return 0
    if args.capture_process:  # the capture process of the nginx design (started by the benchmark)
        run_capture_process(Path(args.capture_process), args.capture_admin)
        return 0
    PACKAGE_ROOT = Path(args.operator).resolve()
    machine = host()
    rate_s, sat_s, mem_s = (3.0, 3.0, 6.0) if args.quick else (20.0, 15.0, 60.0)
    body = payload()
    have_wrk = shutil.which("wrk") is not None
    runs: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmpdir:
        tmp = Path(tmpdir)
        trivial = Stack(tmp, "trivial", [], not args.no_alternative)
        busy = Stack(tmp, "cpu1ms", ["--cpu-ms", "1"], not args.no_alternative)
        try:
            memory["rss_mib_after_start"] = trivial.rss_after_start
            memory["rss_mib_after_start_without_cli"] = sidecar_rss_alone(tmp, trivial.model_port)
            for stack in (trivial, busy):  # warm up connections, caches and the JIT-less interpreter
                for _, port, _, _ in stack.targets():
                    rate_load(port, body, 500, 0.5)
            rate_key = f"rate-{args.rate:g}"
            for n in range(args.rounds):
                for setup, port, pid, admin in trivial.targets():
                    run = measure(
                        rate_key,
                        "trivial",
                        setup,
                        port,
                        pid,
                        lambda p: rate_load(p, body, args.rate, rate_s),
                        admin,
                    )
                    runs.append({**run, "round": n + 1})
            if have_wrk:
                for stack, model in ((trivial, "trivial"), (busy, "cpu-1ms")):
                    for setup, port, pid, admin in stack.targets():
                        runs.append(
                            measure(
                                "saturation",
                                model,
                                setup,
                                port,
                                pid,
                                lambda p: wrk_load(p, body, sat_s),
                                admin,
                            )
                        )
            memory.update(memory_run(trivial, body, args.rate, mem_s))
            log_lines = trivial.sidecar_log.read_bytes().count(b"\n")
        finally:
            trivial.close()
            busy.close()
    report(runs, memory, args, have_wrk, log_lines, machine)
    return 0


def memory_run(stack: Stack, body: bytes, rate: float, seconds: float) -> dict[str, Any]:
    """RSS of the sidecar sampled every second through a constant-rate run (its window is full)."""
    pid = stack.sidecar.pid
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    done = False

    async def sample() -> None:
        while not done:
            samples.append((round(time.monotonic() - start, 1), round(rss_mib(pid), 2)))
            await asyncio.sleep(1.0)

    def mem_run(port: int) -> dict[str, Any]:
        async def both() -> dict[str, Any]:
            nonlocal done
            task = asyncio.create_task(sample())
            gen = _Generator(port, body)
            elapsed = await gen.run_rate(rate, seconds)
            done = True
            await task
            return {"requests": len(gen.latencies), "errors": gen.errors, "rps": len(gen.latencies) / elapsed}

        result: dict[str, Any] = asyncio.run(both())
        return result

    mem = measure(
        f"memory-{rate:g}", "trivial", "sidecar", stack.sidecar_port, (pid,), mem_run, stack.admin_port
    )
    rss = [s[1] for s in samples]
    third = max(1, len(rss) // 3)
    other: dict[str, Any] = {}
    if stack.nginx_capture is not None and stack.capture is not None:
        nginx_pids = [stack.nginx_capture.pid, *children(stack.nginx_capture.pid)]
        other = {
            "nginx_capture_rss_mib": round(sum(rss_mib(p) for p in nginx_pids), 2),
            "capture_process_rss_mib": round(rss_mib(stack.capture.pid), 2),
            "capture_process_window_rows": window_rows(stack.capture_admin),
        }
    if stack.haproxy is not None and stack.haproxy_capture is not None:
        other["haproxy_rss_mib"] = round(rss_mib(stack.haproxy.pid), 2)
        other["haproxy_capture_process_rss_mib"] = round(rss_mib(stack.haproxy_capture.pid), 2)
        other["haproxy_capture_process_window_rows"] = window_rows(stack.haproxy_admin)
    return {
        **other,
        "seconds": seconds,
        "requests": mem["requests"],
        "dropped": mem.get("dropped"),
        "window_rows": window_rows(stack.admin_port),
        "rss_mib_samples": samples,
        "rss_mib_start": rss[0],
        "rss_mib_end": rss[-1],
        "rss_mib_max": max(rss),
        "growth_mib_after_first_third": round(max(rss[third:]) - max(rss[:third]), 2),
    }


def window_rows(admin_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=5) as resp:
        return int(json.loads(resp.read())["window_rows"])


def _sum(runs: list[dict[str, Any]], key: str) -> float:
    return float(sum(r[key] for r in runs))


def cpu_per_request(runs: list[dict[str, Any]]) -> float | None:
    """CPU µs per request over several runs: total CPU over total requests."""
    if not runs or any(r["proxy_cpu_us_per_req"] is None for r in runs):
        return None
    return float(sum(r["proxy_cpu_us_per_req"] * r["requests"] for r in runs)) / _sum(runs, "requests")


def added_ms(direct: list[dict[str, Any]], runs: list[dict[str, Any]], key: str) -> float:
    """What ``runs`` add to the latency ``key`` over the direct runs of the same rounds, on average."""
    return round(float(sum(r[key] - d[key] for d, r in zip(direct, runs, strict=True))) / len(runs), 3)


def compare_designs(runs: list[dict[str, Any]], memory: dict[str, Any], rate_key: str) -> dict[str, Any]:
    """The designs side by side, from the same run: the Python sidecar as data plane, and nginx or HAProxy
    as data plane with the sidecar's capture in a process of its own (CPU of both processes counted)."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault((r["load"], r["model"], r["setup"]), []).append(r)
    direct = by.get((rate_key, "trivial", "direct"), [])
    ngx = cpu_per_request(by.get((rate_key, "trivial", "nginx"), []))
    out: dict[str, Any] = {}
    rss = {
        "sidecar": memory.get("rss_mib_max"),
        "nginx+capture": (
            round(memory["nginx_capture_rss_mib"] + memory["capture_process_rss_mib"], 2)
            if "capture_process_rss_mib" in memory
            else None
        ),
        "haproxy+capture": (
            round(memory["haproxy_rss_mib"] + memory["haproxy_capture_process_rss_mib"], 2)
            if "haproxy_rss_mib" in memory
            else None
        ),
    }
    for setup in ("sidecar", "nginx+capture", "haproxy+capture"):
        rate = by.get((rate_key, "trivial", setup), [])
        if not rate or not direct:
            continue
        cpu = cpu_per_request(rate)
        served = _sum(rate, "served")
        sat = {m: by.get(("saturation", m, setup), []) for m in ("trivial", "cpu-1ms")}
        sat_direct = by.get(("saturation", "cpu-1ms", "direct"), [])
        out[setup] = {
            "cpu_us_per_req": round(cpu, 1) if cpu else None,
            "cpu_vs_nginx": round(cpu / ngx, 2) if cpu and ngx else None,
            "cpu_us_per_req_by_process": [
                round(
                    sum(r["cpu_us_per_req_by_process"][i] * r["requests"] for r in rate)
                    / _sum(rate, "requests"),
                    1,
                )
                for i in range(len(rate[0].get("cpu_us_per_req_by_process", [])))
            ]
            or None,
            "added_p50_ms": added_ms(direct, rate, "p50_ms"),
            "added_p99_ms": added_ms(direct, rate, "p99_ms"),
            "dropped": int(_sum(rate, "dropped")),
            "captured_share": round(_sum(rate, "captured") / served, 6) if served else None,
            "saturation_rps_trivial": round(sat["trivial"][0]["rps"]) if sat["trivial"] else None,
            "saturation_cpu_us_per_req_trivial": (
                round(sat["trivial"][0]["proxy_cpu_us_per_req"], 1) if sat["trivial"] else None
            ),
            "throughput_share_cpu_model": (
                round(sat["cpu-1ms"][0]["rps"] / sat_direct[0]["rps"], 3)
                if sat["cpu-1ms"] and sat_direct
                else None
            ),
            "rss_mib": rss[setup],
        }
    return out


def compute_targets(runs: list[dict[str, Any]], memory: dict[str, Any], rate_key: str) -> dict[str, Any]:
    """The goals, each with its measured value; constant-rate figures pooled over the rounds."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault((r["load"], r["model"], r["setup"]), []).append(r)
    targets: dict[str, Any] = {}
    direct, side = by.get((rate_key, "trivial", "direct"), []), by.get((rate_key, "trivial", "sidecar"), [])
    nginx = by.get((rate_key, "trivial", "nginx"), [])
    if direct and side:
        targets["added_p50_ms"] = {"value": added_ms(direct, side, "p50_ms"), "target": 1.0}
        targets["added_p99_ms"] = {"value": added_ms(direct, side, "p99_ms"), "target": 2.0}
        for peer in ("nginx", "python-relay"):  # not goals: what a peer adds on this machine in the same run
            runs_of = by.get((rate_key, "trivial", peer), [])
            if len(runs_of) == len(direct):
                p99 = added_ms(direct, runs_of, "p99_ms")
                targets[f"{peer.replace('-', '_')}_added_p99_ms"] = {"value": p99, "target": None}
        cpu = cpu_per_request(side)
        targets["sidecar_cpu_us_per_req"] = {"value": round(cpu or 0.0, 1), "target": None}
        ngx = cpu_per_request(nginx)
        if cpu and ngx:
            targets["nginx_cpu_us_per_req"] = {"value": round(ngx, 1), "target": None}
            targets["sidecar_cpu_vs_nginx"] = {"value": round(cpu / ngx, 2), "target": 1.5}
            floor = cpu_per_request(by.get((rate_key, "trivial", "python-relay"), []))
            if floor:  # not goals: where the sidecar's CPU goes, the event loop's share and its own
                targets["python_relay_cpu_us_per_req"] = {"value": round(floor, 1), "target": None}
                targets["python_relay_cpu_vs_nginx"] = {"value": round(floor / ngx, 2), "target": None}
                targets["sidecar_cpu_over_python_relay_us"] = {"value": round(cpu - floor, 1), "target": None}
        targets["rate_captures_dropped"] = {"value": int(_sum(side, "dropped")), "target": 0}
        served = _sum(side, "served")
        share = _sum(side, "captured") / served if served else 0.0
        targets["rate_captured_share"] = {"value": round(share, 6), "target": 1.0, "min": True}
    d, s = by.get(("saturation", "cpu-1ms", "direct")), by.get(("saturation", "cpu-1ms", "sidecar"))
    if d and s:
        targets["throughput_share_cpu_model"] = {
            "value": round(s[0]["rps"] / d[0]["rps"], 3),
            "target": 0.8,
            "min": True,
        }
    if memory:
        targets["memory_growth_mib"] = {"value": memory["growth_mib_after_first_third"], "target": 5.0}
        targets["rss_mib_max"] = {"value": memory["rss_mib_max"], "target": 40.0}
    for t in targets.values():
        if t["target"] is not None:
            t["met"] = t["value"] >= t["target"] if t.get("min") else t["value"] <= t["target"]
    return targets


def report(
    runs: list[dict[str, Any]],
    memory: dict[str, Any],
    args: Any,
    have_wrk: bool,
    log_lines: int,
    machine: dict[str, Any],
) -> None:
    print(
        f"\n{'load':<12} {'model':<8} {'setup':<15} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'CPU µs/req':>10} "
        f"{'errors':>6} {'captured/served':>16} {'dropped':>7}"
    )
    for r in runs:
        cpu = f"{r['proxy_cpu_us_per_req']:.0f}" if r["proxy_cpu_us_per_req"] is not None else "-"
        cap = f"{r['captured']}/{r['served']}" if "served" in r else "-"
        dropped = str(r["dropped"]) if "dropped" in r else "-"
        print(
            f"{r['load']:<12} {r['model']:<8} {r['setup']:<15} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['rps']:>9.0f} {cpu:>10} {r['errors']:>6} {cap:>16} {dropped:>7}"
        )
    targets = compute_targets(runs, memory, f"rate-{args.rate:g}")
    designs = compare_designs(runs, memory, f"rate-{args.rate:g}")
    print()
    for setup, d in designs.items():
        print(
            f"design {setup:<15} CPU {d['cpu_us_per_req']} µs/req ({d['cpu_vs_nginx']}x nginx; by process "
            f"{d['cpu_us_per_req_by_process']}), added p50 {d['added_p50_ms']} ms, p99 {d['added_p99_ms']} ms, "
            f"dropped {d['dropped']}, captured {d['captured_share']}, RSS {d['rss_mib']} MiB"
        )
    for name, t in targets.items():
        if t["target"] is None:
            print(f"{name:<28} {t['value']:>9}")
            continue
        rel = "≥" if t.get("min") else "≤"
        print(f"{name:<28} {t['value']:>9} (target {rel} {t['target']}) {'MET' if t['met'] else 'MISSED'}")
    if memory:
        print(
            f"sidecar RSS after start: {memory['rss_mib_after_start']} MiB through the CLI, "
            f"{memory['rss_mib_after_start_without_cli']} MiB from its command module alone; over "
            f"{memory['seconds']:g} s at {args.rate:g} req/s with {memory['window_rows']} window rows: start "
            f"{memory['rss_mib_start']} MiB, end {memory['rss_mib_end']} MiB, max {memory['rss_mib_max']} MiB"
        )
    print(f"sidecar log lines written: {log_lines}")
    out = {
        "mode": "quick" if args.quick else "full",
        "time": machine["date"],
        "host": machine,
        "package": str(PACKAGE_ROOT),
        "load_generator": {
            "rate": f"asyncio open-loop, 32 connections, {args.rounds} rounds with the setups interleaved",
            "saturation": "wrk -t1 -c32" if have_wrk else None,
        },
        "runs": runs,
        "memory": memory,
        "targets": targets,
        "designs": designs,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(f"results written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
