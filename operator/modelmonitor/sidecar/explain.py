"""Explanations of sampled predictions, off the request path: the sampler, the worker, the records.

Capture offers each decoded request (:meth:`Explainer.offer`, cheap, never raises). The first
``background`` rows captured become the **reference background** (redacted as the window is, and
written to ``explain-background.json`` in the audit directory so that a restart keeps the same
reference). After that a share ``sample_rate`` of captured requests is taken, if a token of the
per-minute budget is left (else dropped and counted as ``budget``) and the bounded queue has room
(else ``queue_full``): the worker task then explains the request's first row with KernelSHAP
(``shap.py``): it builds the perturbed rows, re-encodes them as one batch body in the request's own
protocol (``reencode.py``), POSTs it straight to the model on the request's path (``modelcall.py``,
never through the proxy: no window row, no request counter, no request line), decodes the answer
with the same codec and solves for the attributions. A request that cannot be re-encoded, or whose
explanation fails, is counted by reason in ``modelmonitor_sidecar_explanations_total``.

The output explained is one number per row: the probability of the positive class (the second of
two, or the predicted class of the explained row among more), else a single probability, else a
numeric prediction. Features whose values redaction changes are never perturbed: they keep the
explained row's value (listed as ``fixed``) and get no attribution.

Each explanation is a JSON line (``"msg": "explanation"``) appended to the log and the audit
segments, and the last ``KEEP`` are held in memory for ``GET /v1/explanations`` (``handler``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from typing import TYPE_CHECKING, Any

from modelmonitor.sidecar import codecs, jsonfast, modelcall, reencode, shap
from modelmonitor.sidecar.adminhttp import Request, Response
from modelmonitor.sidecar.explain_store import KEEP, Background, Records
from modelmonitor.sidecar.logline import iso_time

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelmonitor.sidecar.config import SidecarConfig
    from modelmonitor.sidecar.logline import LogWriter
    from modelmonitor.sidecar.redact import Redactor

QUEUE = 8  # sampled requests waiting for the worker; more are dropped (queue_full)
SLICE_ROWS = 512  # rows built or read between two turns of the event loop (well under 1 ms each)


class TokenBucket:
    """``per_minute`` tokens a minute, refilled continuously; it holds one second's worth (at least
    one token), so calls are spread over the minute rather than spent in a burst on the model."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1.0, per_minute / 60.0)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def output(prediction: Any, probabilities: Any, klass: int | None) -> tuple[str, float] | None:
    """(what is explained, its value) for one row's answer; None when there is no number to explain."""
    if isinstance(probabilities, list) and probabilities:
        index = 1 if len(probabilities) == 2 else klass
        if index is None:
            index = max(range(len(probabilities)), key=lambda i: _num(probabilities[i]) or 0.0)
        if index < len(probabilities) and _num(probabilities[index]) is not None:
            return f"probabilities[{index}]", float(probabilities[index])
        return None
    if _num(probabilities) is not None:
        return "probability", float(probabilities)
    if _num(prediction) is not None:
        return "prediction", float(prediction)
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


async def _values(protocol: str, response: Any, n: int) -> tuple[str, list[float]]:
    """What is explained, and its number for each of the ``n`` rows of the model's answer, read with the codec's
    response side (the batch's own rows need no decoding); yields to the loop between slices."""
    if protocol == "kserve-v2":
        preds, probs, _ = codecs._v2_outputs(response)
    else:
        preds, probs = codecs._predictions(response)
    preds = codecs._align(preds, n)
    probs = codecs._align(probs, n) if probs is not None else [None] * n
    first = probs[0]
    klass = (max(range(len(first)), key=lambda i: _num(first[i]) or 0.0)
             if isinstance(first, list) and first else None)  # fmt: skip
    kind = output(preds[0], first, klass)
    if kind is None:
        raise ValueError("the model's answer has no number to explain")
    values = []
    for i, (p, q) in enumerate(zip(preds, probs, strict=True)):
        got = output(p, q, klass)
        if got is None or got[0] != kind[0]:
            raise ValueError(f"the model's answer has no {kind[0]} for row {i}")
        values.append(got[1])
        if i % SLICE_ROWS == SLICE_ROWS - 1:
            await asyncio.sleep(0)
    return kind[0], values


class Explainer:
    """The sampler, the budget, the background, the worker and the explanations kept."""

    def __init__(
        self,
        config: SidecarConfig,
        redactor: Redactor,
        writer: LogWriter | None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.redactor = redactor
        self.writer = writer
        self.rng = rng or random.Random()
        self.bucket = TokenBucket(config.explain_calls_per_minute)
        self.background = Background(
            config.explain_background, redactor, config.audit_dir, config.model_version
        )
        self.records = Records()
        self.counts: dict[str, int] = {}
        self.calls = 0
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = asyncio.Event()

    # request path side (called by capture, on the loop) ----------------------------------------
    def count(self, result: str) -> None:
        self.counts[result] = self.counts.get(result, 0) + 1

    def offer(
        self,
        ts: float,
        rid: str,
        version: str,
        url: str,
        protocol: str,
        request: Any,
        rows: list[dict[str, Any]],
    ) -> None:
        """A captured, decoded request: background, or a sample to explain, or nothing. Never raises."""
        try:
            if not rows:
                return
            if not self.background.ready:
                self.background.collect(ts, rows)
                if self.background.ready:
                    self._wake.set()  # the worker saves the background
                return
            if self.rng.random() >= self.config.explain_sample_rate:
                return
            reason = reencode.check(protocol, request)
            if reason is not None:
                self.count(f"unencodable_{reason}")
                return
            if len(self.queue) >= QUEUE:
                self.count("queue_full")
                return
            if not self.bucket.take():
                self.count("budget")
                return
            self.queue.append((ts, rid, version, url, protocol, request, dict(rows[0])))
            self._wake.set()
        except Exception:  # an explanation must never reach traffic
            self.count("error")

    # the worker -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Explain queued samples one at a time, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.background.ready and not self.background.saved:
                self.background.saved = True
                await loop.run_in_executor(None, self.background.save)
            while self.queue:
                item = self.queue.popleft()
                try:
                    self._keep(await self.explain(*item))
                    self.count("explained")
                except (reencode.Unencodable, modelcall.ModelCallError) as exc:
                    self.count(exc.reason)
                except shap.ShapError:
                    self.count("unsolvable")
                except (codecs.CodecError, ValueError, TypeError, KeyError, IndexError, AttributeError):
                    self.count("model_answer")

    async def explain(
        self, ts: float, rid: str, version: str, url: str, protocol: str, request: Any, x: dict[str, Any]
    ) -> dict[str, Any]:
        """The explanation record of one request's first row ``x`` (one model call)."""
        redacted = self.redactor.fields
        players = [k for k in x if k not in self.background.fixed and k.lower() not in redacted]
        background = [r for r in self.background.rows if all(p in r for p in players)]
        if not background:
            raise reencode.Unencodable("no_background", "no background row has this request's features")
        budget = shap.budget_for(self.config.explain_max_rows, len(background))
        plan = shap.plan(len(players), budget, self.rng)
        rows: list[dict[str, Any]] = []
        for row in shap.iter_rows(x, background, players, plan):
            rows.append(row)
            if len(rows) % SLICE_ROWS == 0:
                await asyncio.sleep(0)  # served traffic first: the loop runs between slices
        body = jsonfast.dumps(reencode.encode(protocol, request, rows))
        await asyncio.sleep(0)
        cfg = self.config
        self.calls += 1
        started = time.perf_counter()
        status, answer = await modelcall.post(
            cfg.upstream[0], cfg.upstream[1], url, body, cfg.upstream_timeout
        )
        model_ms = (time.perf_counter() - started) * 1000.0
        if not 200 <= status < 300:
            raise modelcall.ModelCallError("model_status", f"the model answered {status}")
        explained, values = await _values(protocol, jsonfast.loads(answer), len(rows))
        got = shap.solve(values, len(background), plan)
        attributions = dict(zip(players, (round(v, 12) for v in got.values), strict=True))
        return {
            "time": iso_time(time.time()),
            "ts": round(time.time(), 6),
            "level": "info",
            "msg": "explanation",
            "request_id": rid,
            "request_ts": round(ts, 6),
            "model": cfg.model_name,
            "version": version,
            "protocol": protocol,
            "output": explained,
            "baseline": got.baseline,
            "prediction": got.prediction,
            "attributions": attributions,
            "fixed": sorted(k for k in x if k not in players),
            "background": len(background),
            "coalitions": got.coalitions,
            "exact": got.exact,
            "rows": len(rows),
            "model_calls": 1,
            "model_ms": round(model_ms, 3),
        }

    def _keep(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.submit(jsonfast.dumps(record) + b"\n", 1)
        self.records.add(record)

    def since(self, cursor: int, limit: int) -> dict[str, Any]:
        """Explanations after ``cursor`` with the drift attribution (``Records.since``), the
        background's state and the outcomes counted so far."""
        out = self.records.since(cursor, limit)
        bg = self.background
        out["background"] = {"rows": len(bg.rows), "target": bg.target, "ready": bg.ready}
        out["counts"] = {**self.counts, **bg.errors}
        out["model_calls"] = self.calls
        return out

    def stats(self) -> tuple[dict[str, int], int, int]:
        """(results by reason, model calls, background rows) for the metrics."""
        return {**self.counts, **self.background.errors}, self.calls, len(self.background.rows)


def handler(explainer: Explainer | None) -> Callable[[Request], Response]:
    """``GET /v1/explanations?id=ID`` (one) or ``?since=CURSOR&limit=N`` (recent, with the drift)."""

    def error(status: int, message: str) -> Response:
        return Response(status, jsonfast.dumps({"error": message}))

    def handle(request: Request) -> Response:
        if explainer is None:
            return error(404, "explanations are off on this sidecar: set spec.explain.sampleRate above 0")
        rid = request.query.get("id")
        if rid is not None:
            found = explainer.records.by_id.get(rid)
            if found is None:
                return error(
                    404, f"no explanation of request {rid[:128]!r} on this pod (it keeps the last {KEEP})"
                )
            return Response(200, jsonfast.dumps(found))
        try:
            since = int(request.query.get("since", "0"))
            limit = min(max(int(request.query.get("limit", str(KEEP))), 1), KEEP)
        except ValueError:
            return error(400, "since and limit must be integers, e.g. /v1/explanations?since=0&limit=100")
        return Response(200, jsonfast.dumps(explainer.since(since, limit)))

    return handle


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel the worker and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
