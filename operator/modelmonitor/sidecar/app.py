"""Wiring of the sidecar process: proxy, capture, window, admin server, log writer, signals."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time

from modelmonitor.sidecar import jsonfast
from modelmonitor.sidecar.admin import MAX_FEEDBACK_BYTES, build_handler, too_large
from modelmonitor.sidecar.adminhttp import start_server
from modelmonitor.sidecar.audit import AuditLog
from modelmonitor.sidecar.auth import admin_access
from modelmonitor.sidecar.capture import Capture
from modelmonitor.sidecar.config import SidecarConfig
from modelmonitor.sidecar.erase import Eraser
from modelmonitor.sidecar.logline import LogWriter, iso_time
from modelmonitor.sidecar.metrics import SidecarMetrics
from modelmonitor.sidecar.proxy import ClientConnection, ProxyServer
from modelmonitor.sidecar.redact import Redactor
from modelmonitor.sidecar.retention import SWEEP_SECONDS as RETENTION_SWEEP
from modelmonitor.sidecar.retention import Retention
from modelmonitor.sidecar.upstream import UpstreamPool
from modelmonitor.sidecar.window import Window

SWEEP_SECONDS = 5.0  # idle connections and window age
DEADLINE_SWEEP = 0.1  # upstream timeouts are enforced to within this many seconds
DRAIN_SECONDS = 10.0  # time in-flight requests get to finish at shutdown


def _event(msg: str, level: str = "info", **fields: object) -> None:
    """A sidecar event (not a request) as a JSON line on stderr."""
    now = time.time()
    line = {"time": iso_time(now), "level": level, "msg": msg, **fields}
    sys.stderr.write(jsonfast.dumps(line).decode() + "\n")
    sys.stderr.flush()


async def serve(config: SidecarConfig, stop: asyncio.Event | None = None) -> None:
    """Run the sidecar until ``stop`` is set or SIGTERM/SIGINT arrives."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    access = admin_access(config, log=_event)  # reads the token file first; never logs the token
    window = Window(config.window_rows, config.window_age, config.label_ttl)
    metrics = SidecarMetrics(config.model_name, config.model_version, window)
    audit = (
        AuditLog(config.audit_dir, config.audit_segment_bytes, config.audit_segment_age, config.audit_keep)
        if config.audit_dir
        else None
    )
    writer = LogWriter(audit=audit, on_drop=lambda n: metrics.dropped("log_backpressure", n))
    redactor = Redactor(config.redact, config.redact_mode, config.redact_salt, config.detect)
    capture = Capture(config, metrics, window, redactor, writer)
    # Retention and erasure of what is captured; a store of other records registers with retention.
    retention = Retention(config.retention, window, audit)
    eraser = Eraser(retention, redactor, capture.flush, log=_event)
    metrics.retention = retention
    explainer, explanations = None, None
    if config.explain_sample_rate > 0:  # imported only when on: the sidecar's memory stays as it was
        from modelmonitor.sidecar import explain

        explainer = explain.Explainer(config, redactor, writer)
        explanations = explain.handler(explainer)
        capture.explainer = explainer
        metrics.explain_stats = explainer.stats
        retention.register(explainer.background)  # under --retention and POST /v1/erase, as the window
        retention.register(explainer.records)
    pool = UpstreamPool(config.upstream[0], config.upstream[1], config.connect_timeout)
    proxy = ProxyServer(config, pool, capture.on_finish)
    metrics.stale_counts = lambda: proxy.stale

    def retain() -> None:
        removed = {store: n for store, n in retention.sweep().items() if n}
        if removed:
            _event("records past the retention removed", removed=removed, retention_s=retention.seconds)

    async def retainer() -> None:
        while True:
            await asyncio.sleep(RETENTION_SWEEP)
            retain()

    retain()  # at start: what an earlier process left past the retention goes before anything is served
    handler = build_handler(config, window, metrics, proxy, access, explanations=explanations, eraser=eraser)
    # The model's port first: /healthz (the readiness probe) must not answer before traffic is accepted,
    # and a listen port that cannot be had ends the process before anything says it is ready.
    server = await loop.create_server(
        lambda: ClientConnection(proxy), config.listen[0], config.listen[1], reuse_address=True, backlog=2048
    )
    admin = await start_server(handler, config.admin[0], config.admin[1], MAX_FEEDBACK_BYTES, too_large)
    _event(
        "sidecar started",
        listen=f"{config.listen[0]}:{config.listen[1]}",
        upstream=f"{config.upstream[0]}:{config.upstream[1]}",
        admin=f"{config.admin[0]}:{config.admin[1]}",
        model=config.model_name,
        version=config.model_version,
        protocol=config.protocol,
        redact=list(config.redact),
        audit_dir=config.audit_dir or None,
        retention_s=config.retention,
        log_payloads=config.log_payloads,
        admin_auth=access.mode,
        loop=type(loop).__module__,
    )
    level, message = access.describe()
    _event(message, level=level, admin_auth=access.mode)
    if not config.redact_salt:
        _event(
            "MODELMONITOR_REDACT_SALT is not set: hashed values use a random salt of this process, so "
            "they cannot be joined across pods or restarts (the operator sets it from the monitor's "
            "admin Secret)",
            level="warning",
        )

    async def sweeper() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(DEADLINE_SWEEP)
            proxy.check_deadlines(time.perf_counter())
            if time.monotonic() - last >= SWEEP_SECONDS:
                last = time.monotonic()
                proxy.sweep(last)
                window.evict()

    sweep_task = loop.create_task(sweeper())
    retention_task = loop.create_task(retainer())
    explain_task = loop.create_task(explainer.run()) if explainer is not None else None
    if os.environ.get("MODELMONITOR_GC_TUNE", "1") == "1":
        # Everything built so far lives for the whole process: keep it out of every collection, and
        # collect the young generation less often (the request path allocates many short-lived objects).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 50)
    try:
        await stop.wait()
    finally:
        _event("sidecar stopping", in_flight=sum(len(c.queue) for c in proxy.connections))
        server.close()
        deadline = time.monotonic() + DRAIN_SECONDS
        while any(c.queue for c in proxy.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        proxy.close_all()
        sweep_task.cancel()
        retention_task.cancel()
        if explain_task is not None:
            explain_task.cancel()
        admin.close()
        pool.close()
        capture.flush()
        await loop.run_in_executor(None, writer.close)
        _event("sidecar stopped", log_lines=writer.written)


def run(config: SidecarConfig) -> int:
    """Run the sidecar on uvloop when installed; returns the process exit code."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the stock loop works, only slower
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0
