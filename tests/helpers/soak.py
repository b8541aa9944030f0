"""Mixed load through a real sidecar in front of the demo model's ``POST /echo``, checked end to end.

``start_stack(workdir)`` starts the demo model (its own handlers, plus a middleware that counts the
requests ``/echo`` answered, read at ``GET /soak/count``) and a real sidecar in front of it, each a
process on free ports. ``run_load(stack, seconds, concurrency)`` runs ``concurrency`` clients, each on
its own kept-alive connection, for ``seconds``; every request carries a body of one of :data:`KINDS`:

- ``valid``: a KServe v1 predict body of the demo's applicants (the sidecar captures its rows);
- ``invalid``: JSON cut short, or bytes that are not UTF-8;
- ``empty``: no body (``Content-Length: 0``);
- ``huge``: 1-8 MiB of random bytes (beyond the sidecar's capture limit: forwarded, not captured);
- ``chunked``: a valid or random body sent with ``Transfer-Encoding: chunked`` in chunks of random size.

Each answer is checked: status 200, the model's ``X-Echo-SHA256`` (what the model received) and the
SHA-256 of the body that came back both equal the SHA-256 of the body sent. A request with no answer
(error, reset, timeout) or a wrong status counts as lost. The sidecar's RSS is sampled every 0.25 s;
``rss_warm`` is taken when the warm-up (the first fifth of the run, at least one body of each kind
sent) ends. The result holds the sidecar's admin ``/metrics`` counters: requests served, rows
captured, captures dropped by reason, bodies it could not decode.

Run the model half alone with ``python -m tests.helpers.soak PORT`` (what ``start_stack`` does).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmonitor.demo.data import make_payload, make_rows
from tests.helpers.processes import ProcessHandle, free_port, start_process
from tests.helpers.sidecar import Sidecar, request, start_sidecar

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("valid", "invalid", "empty", "huge", "chunked")
WEIGHTS = (45, 20, 10, 3, 22)  # shares of the requests, in percent
HUGE_MIN, HUGE_MAX = 1 << 20, 8 << 20
RSS_EVERY = 0.25  # seconds between RSS samples


@dataclass
class Stack:
    """The demo model (counting) and the sidecar in front of it."""

    model: ProcessHandle
    model_port: int
    sidecar: Sidecar

    def model_count(self) -> int:
        """Requests the model's ``/echo`` has answered."""
        status, _, body = request(self.model_port, "GET", "/soak/count")
        assert status == 200, body
        return int(json.loads(body)["echo"])

    def stop(self) -> None:
        self.sidecar.handle.stop()
        self.model.stop()


def start_stack(*sidecar_args: str) -> Stack:
    """Start the counting demo model and a sidecar in front of it; both ready."""
    port = free_port()
    model = start_process(
        [sys.executable, "-m", "tests.helpers.soak", str(port)],
        ready_url=f"http://127.0.0.1:{port}/healthz",
        cwd=ROOT,
    )
    try:
        sidecar = start_sidecar(f"http://127.0.0.1:{port}", "--model-name", "soak", *sidecar_args)
    except Exception:
        model.stop()
        raise
    return Stack(model, port, sidecar)


@dataclass
class Kind:
    """Counts for one kind of body."""

    sent: int = 0
    answered: int = 0
    mismatched: int = 0
    lost: int = 0
    bytes: int = 0


@dataclass
class Result:
    seconds: float
    concurrency: int
    kinds: dict[str, Kind] = field(default_factory=lambda: {k: Kind() for k in KINDS})
    failures: list[str] = field(default_factory=list)  # the first few lost or altered requests
    model_count: int = 0
    rss_start: int = 0  # bytes, at the sidecar's start (before any request)
    rss_warm: int = 0  # bytes, when the warm-up ends
    rss_end: int = 0  # bytes, when the load ends
    rss_max: int = 0
    sidecar: dict[str, Any] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(k.sent for k in self.kinds.values())

    @property
    def answered(self) -> int:
        return sum(k.answered for k in self.kinds.values())

    @property
    def mismatched(self) -> int:
        return sum(k.mismatched for k in self.kinds.values())

    @property
    def lost(self) -> int:
        return sum(k.lost for k in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        mib = 1 << 20
        return {
            "seconds": round(self.seconds, 2),
            "concurrency": self.concurrency,
            "requests": {k: vars(v) for k, v in self.kinds.items()},
            "sent": self.sent,
            "answered": self.answered,
            "model_count": self.model_count,
            "checksum_mismatches": self.mismatched,
            "lost": self.lost,
            "failures": self.failures,
            "rss_mib": {
                "start": round(self.rss_start / mib, 1),
                "after_warmup": round(self.rss_warm / mib, 1),
                "end": round(self.rss_end / mib, 1),
                "max": round(self.rss_max / mib, 1),
            },
            "sidecar": self.sidecar,
        }


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


VALID_POOL = [json.dumps(make_payload("kserve-v1", make_rows(n, seed=n))).encode() for n in (1, 4, 16, 64)]


def make_body(rng: random.Random, kind: str) -> tuple[bytes, list[bytes] | None]:
    """(body, chunks to send it in or None for Content-Length) of one request of ``kind``."""
    if kind == "valid":
        return rng.choice(VALID_POOL), None
    if kind == "invalid":
        if rng.random() < 0.5:
            whole = rng.choice(VALID_POOL)
            return whole[: rng.randrange(1, len(whole))], None
        return b"\xff\xfe{" + rng.randbytes(rng.randrange(1, 4096)), None
    if kind == "empty":
        return b"", None
    if kind == "huge":
        return rng.randbytes(rng.randrange(HUGE_MIN, HUGE_MAX + 1)), None
    body = rng.choice(VALID_POOL) if rng.random() < 0.5 else rng.randbytes(rng.randrange(1, 256 * 1024))
    chunks, at = [], 0
    while at < len(body):
        size = rng.choice((1, 7, 512, 4096, 65536))
        chunks.append(body[at : at + size])
        at += size
    return body, chunks


def _client(port: int, deadline: float, rng: random.Random, result: Result, lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent_kinds: list[str] = []
    try:
        while time.monotonic() < deadline:
            # every client sends each kind once first, so the warm-up has seen all of them
            kind = KINDS[len(sent_kinds)] if len(sent_kinds) < len(KINDS) else rng.choices(KINDS, WEIGHTS)[0]
            sent_kinds.append(kind)
            body, chunks = make_body(rng, kind)
            digest = hashlib.sha256(body).hexdigest()
            failure = None
            with lock:
                result.kinds[kind].sent += 1
                result.kinds[kind].bytes += len(body)
            try:
                if chunks is None:
                    conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/json"})
                else:
                    conn.request("POST", "/echo", body=iter(chunks), encode_chunked=True)
                resp = conn.getresponse()
                back = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                failure = f"{kind} ({len(body)} bytes): no answer: {exc!r}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                with lock:
                    result.kinds[kind].lost += 1
            else:
                ok = resp.status == 200
                same = (
                    resp.getheader("X-Echo-SHA256") == digest and hashlib.sha256(back).hexdigest() == digest
                )
                with lock:
                    if not ok:
                        result.kinds[kind].lost += 1
                        failure = f"{kind} ({len(body)} bytes): status {resp.status}: {back[:200]!r}"
                    else:
                        result.kinds[kind].answered += 1
                        if not same:
                            result.kinds[kind].mismatched += 1
                            failure = f"{kind} ({len(body)} bytes): checksum differs ({len(back)} bytes back)"
            if failure is not None:
                with lock:
                    if len(result.failures) < 10:
                        result.failures.append(failure)
    finally:
        conn.close()


def sidecar_counters(sidecar: Sidecar) -> dict[str, Any]:
    """What the sidecar's admin /metrics says it served, captured and dropped."""
    prefix = "modelmonitor_sidecar_"
    dropped: dict[str, float] = {}
    for line in sidecar.admin_get("/metrics").splitlines():
        if line.startswith(prefix + "captures_dropped_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            dropped[reason] = float(line.rpartition(" ")[2])
    return {
        "served": int(sidecar.metric(prefix + "requests_total")),
        "served_200": int(sidecar.metric(prefix + "requests_total", code="200")),
        "captured_rows": int(sidecar.metric(prefix + "captured_rows_total")),
        "parse_failures": {
            part: int(sidecar.metric(prefix + "parse_failures_total", part=part))
            for part in ("request", "response", "codec")
        },
        "captures_dropped": {k: int(v) for k, v in sorted(dropped.items())},
    }


def run_load(stack: Stack, seconds: float, concurrency: int, seed: int = 0) -> Result:
    """``concurrency`` clients for ``seconds`` through the sidecar; see the module docstring."""
    result = Result(seconds=seconds, concurrency=concurrency)
    pid = stack.sidecar.handle.pid
    result.rss_start = result.rss_max = rss(pid)
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    warm_at = start + seconds / 5
    threads = [
        threading.Thread(
            target=_client,
            args=(stack.sidecar.port, deadline, random.Random(seed * 1000 + i), result, lock),
            daemon=True,
        )
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        now = rss(pid)
        result.rss_max = max(result.rss_max, now)
        if not result.rss_warm and time.monotonic() >= warm_at:
            result.rss_warm = now
        time.sleep(RSS_EVERY)
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - start
    result.rss_end = rss(pid)
    result.rss_warm = result.rss_warm or result.rss_end
    result.model_count = stack.model_count()
    result.sidecar = sidecar_counters(stack.sidecar)
    return result


def serve_counting_model(port: int) -> None:
    """The demo model's application on 127.0.0.1:``port``, counting what ``/echo`` answers."""
    from aiohttp import web

    from modelmonitor.demo.model import DemoModel

    counts = {"echo": 0}

    @web.middleware
    async def count(req: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(req)
        if req.path == "/echo":
            counts["echo"] += 1
        return resp  # type: ignore[no-any-return]

    async def show(_: web.Request) -> web.Response:
        return web.json_response(counts)

    app = DemoModel("soak", "v1", 0, 0, 0, 0).build()
    app.middlewares.append(count)
    app.router.add_get("/soak/count", show)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    serve_counting_model(int(sys.argv[1]))
