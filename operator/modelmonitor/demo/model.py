"""A small, real credit-scoring model server for demos, tests and benchmarks.

Started as ``modelmonitor demo-model --port 8081 [--host 127.0.0.1] [--name credit] [--version v1]
[--delay-ms 0] [--cpu-ms 0] [--error-rate 0] [--flip-rate 0] [--seed 0]``. It scores loan applicants with a fixed
logistic regression over the 10 features of :data:`modelmonitor.demo.data.FEATURES` (missing
numeric features take their reference mean) and answers, per protocol:

- KServe v1: ``POST /v1/models/{name}:predict`` ``{"instances": [record, ...]}`` (records as objects,
  or lists in ``FEATURES`` order) -> ``{"predictions": [[p_reject, p_approve], ...]}``;
  ``GET /v1/models/{name}`` -> ``{"name", "ready": true}``.
- KServe v2 / Open Inference Protocol: ``POST /v2/models/{name}/infer`` with one tensor per feature
  (shape ``[n]``) or one ``[n, 10]`` tensor -> outputs ``predict`` (INT64 ``[n]``, 1 = approve) and
  ``predict_proba`` (FP64 ``[n, 2]``); ``GET /v2/health/ready``, ``/v2/health/live``, ``/v2/models/{name}``.
- MLflow: ``POST /invocations`` with ``dataframe_split``, ``dataframe_records`` or ``inputs`` ->
  ``{"predictions": [0|1, ...]}``.
- Generic JSON: ``POST /predict`` with one record -> ``{"prediction": 0|1, "probability": p_approve}``,
  or a list of records -> ``{"predictions": [...], "probabilities": [...]}``.
- ``GET /healthz`` -> ``{"status": "ok"}``; ``POST /echo`` returns the request body unchanged (same
  content type) with ``X-Echo-Bytes`` and ``X-Echo-SHA256`` headers, for proxy tests.

``--delay-ms`` sleeps before answering (a slow model), ``--cpu-ms`` busy-spins that much CPU per
request (benchmarks), ``--error-rate`` answers that share of predict requests with a 500 (the
sequence of failures is fixed by ``--seed``), ``--flip-rate`` answers that share of records with the
opposite decision (its probabilities swapped: a worse model, for quality demos; the sequence of
flipped records is fixed by ``--seed`` too). A malformed payload gets a 400 with a JSON message.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import time
from typing import Any

from modelmonitor.demo.data import FEATURES

INTERCEPT = 0.35
COEFFICIENTS: dict[str, tuple[float, float]] = {  # feature -> (reference mean, weight per unit)
    "income": (45000.0, 0.00003),
    "debt_ratio": (0.32, -4.0),
    "age": (41.0, 0.01),
    "credit_history_months": (90.0, 0.005),
    "num_accounts": (4.0, 0.05),
    "late_payments": (0.5, -0.7),
    "loan_amount": (11000.0, -0.00004),
    "employment_years": (8.0, 0.03),
    "home_owner": (0.45, 0.3),
}
GROUP_EFFECT = {"A": 0.0, "B": -0.15, "C": -0.3}


class PayloadError(ValueError):
    """The request does not carry applicant records this model understands."""


def score(record: dict[str, Any]) -> float:
    """Probability (0-1) that the applicant is approved."""
    z = INTERCEPT
    for name, (mean, weight) in COEFFICIENTS.items():
        value = record.get(name, mean)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(f"feature {name!r} must be a number, got {value!r}")
        z += weight * (value - mean)
    group = record.get("applicant_group", "A")
    z += GROUP_EFFECT.get(str(group), 0.0)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def _record(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if isinstance(item, list) and len(item) == len(FEATURES):
        return dict(zip(FEATURES, item, strict=True))
    raise PayloadError(
        f"a record is an object or a list of {len(FEATURES)} values in the order {list(FEATURES)}"
    )


def _records(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise PayloadError("expected a non-empty list of records")
    return [_record(i) for i in items]


def v2_records(body: Any) -> list[dict[str, Any]]:
    """Records from an Open Inference Protocol request."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise PayloadError("a v2 request needs an 'inputs' list of tensors")
    if len(inputs) == 1 and len(inputs[0].get("shape", [])) == 2:
        t = inputs[0]
        n, cols = t["shape"]
        data = t["data"]
        flat = [v for row in data for v in row] if data and isinstance(data[0], list) else data
        return [_record(flat[i * cols : (i + 1) * cols]) for i in range(n)]
    columns = {str(t.get("name")): t.get("data") for t in inputs}
    lengths = {len(v) for v in columns.values() if isinstance(v, list)}
    if len(lengths) != 1 or len(columns) != len(inputs):
        raise PayloadError("v2 input tensors must be lists of the same length")
    n = lengths.pop()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def mlflow_records(body: Any) -> list[dict[str, Any]]:
    """Records from an MLflow scoring-server request."""
    if not isinstance(body, dict):
        raise PayloadError("an MLflow request is an object with dataframe_split, dataframe_records or inputs")
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]
    if "dataframe_records" in body:
        return _records(body["dataframe_records"])
    inputs = body.get("inputs", body.get("instances"))
    if isinstance(inputs, dict):
        n = min(len(v) for v in inputs.values())
        return [{k: v[i] for k, v in inputs.items()} for i in range(n)]
    return _records(inputs)


class DemoModel:
    """The HTTP application and its failure/latency knobs."""

    def __init__(
        self,
        name: str,
        version: str,
        delay_ms: float,
        cpu_ms: float,
        error_rate: float,
        seed: int,
        flip_rate: float = 0.0,
    ):
        self.name = name
        self.version = version
        self.delay = delay_ms / 1000.0
        self.cpu = cpu_ms / 1000.0
        self.error_rate = error_rate
        self.flip_rate = flip_rate
        self.rng = random.Random(seed)
        self.flips = random.Random(seed)  # its own sequence: flips leave the failure sequence as it was

    def score(self, record: dict[str, Any]) -> float:
        """Probability (0-1) of approval this server answers: :func:`score`, or with ``--flip-rate``
        its complement for that share of records (the opposite decision)."""
        p = score(record)
        if self.flip_rate > 0 and self.flips.random() < self.flip_rate:
            return 1.0 - p
        return p

    async def _prepare(self) -> bool:
        """Apply latency and CPU knobs; True when this request must fail."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self.cpu > 0:
            end = time.process_time() + self.cpu
            while time.process_time() < end:
                pass
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def build(self) -> Any:
        from aiohttp import web

        def reply(body: Any, status: int = 200) -> web.Response:
            return web.Response(
                body=json.dumps(body).encode(), status=status, content_type="application/json"
            )

        def handler(kind: str) -> Any:
            async def handle(request: web.Request) -> web.Response:
                fail = await self._prepare()
                try:
                    body = json.loads(await request.read())
                except ValueError:
                    return reply({"error": "request body is not valid JSON"}, 400)
                if fail:
                    return reply({"error": "injected model failure (--error-rate)"}, 500)
                try:
                    return reply(self.respond(kind, body))
                except (PayloadError, KeyError, TypeError, ValueError, IndexError) as exc:
                    return reply({"error": f"bad {kind} payload: {exc}"}, 400)

            return handle

        async def echo(request: web.Request) -> web.Response:
            data = await request.read()
            headers = {"X-Echo-Bytes": str(len(data)), "X-Echo-SHA256": hashlib.sha256(data).hexdigest()}
            ctype = request.headers.get("Content-Type", "application/octet-stream")
            return web.Response(body=data, headers={**headers, "Content-Type": ctype})

        async def ok(request: web.Request) -> web.Response:
            return reply({"status": "ok", "name": self.name, "version": self.version, "ready": True})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/models/{name}:predict", handler("kserve-v1"))
        app.router.add_post("/v2/models/{name}/infer", handler("kserve-v2"))
        app.router.add_post("/invocations", handler("mlflow"))
        app.router.add_post("/predict", handler("json"))
        app.router.add_post("/echo", echo)
        for path in (
            "/healthz",
            "/v2/health/ready",
            "/v2/health/live",
            "/v1/models/{name}",
            "/v2/models/{name}",
        ):
            app.router.add_get(path, ok)
        return app

    def respond(self, kind: str, body: Any) -> Any:
        """The response body for a parsed request of protocol ``kind``."""
        if kind == "kserve-v1":
            items = body.get("instances", body.get("inputs")) if isinstance(body, dict) else None
            probs = [self.score(r) for r in _records(items)]
            return {"predictions": [[round(1 - p, 6), round(p, 6)] for p in probs]}
        if kind == "kserve-v2":
            probs = [self.score(r) for r in v2_records(body)]
            n = len(probs)
            out: dict[str, Any] = {
                "model_name": self.name,
                "model_version": self.version,
                "outputs": [
                    {
                        "name": "predict",
                        "shape": [n],
                        "datatype": "INT64",
                        "data": [int(p >= 0.5) for p in probs],
                    },
                    {
                        "name": "predict_proba",
                        "shape": [n, 2],
                        "datatype": "FP64",
                        "data": [v for p in probs for v in (round(1 - p, 6), round(p, 6))],
                    },
                ],
            }
            if isinstance(body, dict) and "id" in body:
                out["id"] = body["id"]
            return out
        if kind == "mlflow":
            return {"predictions": [int(self.score(r) >= 0.5) for r in mlflow_records(body)]}
        if isinstance(body, dict):
            p = self.score(body)
            return {"prediction": int(p >= 0.5), "probability": round(p, 6)}
        probs = [self.score(r) for r in _records(body)]
        return {"predictions": [int(p >= 0.5) for p in probs], "probabilities": [round(p, 6) for p in probs]}


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit code."""
    from aiohttp import web

    model = DemoModel(
        args.name, args.version, args.delay_ms, args.cpu_ms, args.error_rate, args.seed, args.flip_rate
    )
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None
    print(f"demo-model {args.name} {args.version} serving on http://{args.host}:{args.port}", flush=True)
    web.run_app(
        model.build(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=(loop_factory() if loop_factory else None),
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the ``demo-model`` sub-command."""
    p = subparsers.add_parser(
        "demo-model",
        help="serve the demo credit-scoring model (KServe v1/v2, MLflow, JSON)",
        description="A small HTTP model server that scores loan applicants with a fixed formula, for the "
        "demo and the tests; options make it slow, fail, or answer wrongly on purpose.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081)")
    p.add_argument("--name", default="credit", help="model name in paths and v2 responses (default credit)")
    p.add_argument("--version", default="v1", help="model version reported in v2 responses (default v1)")
    p.add_argument(
        "--delay-ms", type=float, default=0.0, help="sleep this long per request, in ms (slow model)"
    )
    p.add_argument("--cpu-ms", type=float, default=0.0, help="busy-spin this much CPU per request, in ms")
    p.add_argument("--error-rate", type=float, default=0.0, help="share 0-1 of predict requests answered 500")
    p.add_argument(
        "--flip-rate",
        type=float,
        default=0.0,
        help="share 0-1 of records answered with the opposite decision (a worse model; default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the failure and flip sequences (default 0)")
    p.set_defaults(func=main)
