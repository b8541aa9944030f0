"""The sidecars' admin API for many pods at once, in one process: ``operator_scale.py``'s window stand-in.

Every pod of the benchmark has ``podIP: 127.0.0.1`` and every monitor ``spec.sidecar.adminPort`` set
to this server's port, so each evaluation's window read (``GET /v1/window?since=&limit=`` with the
monitor's bearer token, as ``adapters/sidecars.py`` sends it) lands here. The body is the real
sidecar's: rows go through ``modelmonitor.sidecar.window.Window`` (``add`` then ``feedback`` for the
labels) and ``Window.query`` renders the page, so the operator decodes what a sidecar would send.

One window serves every pod: ``--rows`` rows of 8 numeric and 2 categorical features; ``f0``, ``f1``
and ``c0`` are drawn shifted from the reference (so a drift test finds them and the dataset stays
under the default drift share), a binary prediction with its probabilities, and a ground-truth label
joined to every row (accuracy about 0.75). The rows are stamped anew every ``--refresh`` seconds
(they must be newer than the pod template's start, which the operator sets at injection), and the
page is encoded once per refresh: the stand-in's own cost stays small and is reported apart.

Usage (``operator_scale.py`` starts it)::

    python benchmarks/window_standin.py --port-file F --rows 2000 [--reference-out profile.json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "operator") not in sys.path:
    sys.path.insert(0, str(ROOT / "operator"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from aiohttp import web  # noqa: E402

from modelmonitor.sidecar.window import Window  # noqa: E402

NUMERIC = [f"f{i}" for i in range(8)]
CATEGORIES = {"c0": ["north", "south", "east", "west"], "c1": ["web", "app", "store"]}
DRIFTED = {"f0": 0.6, "f1": -0.5}  # shift, in standard deviations
WEIGHTS = np.linspace(1.0, -0.8, len(NUMERIC))


def features(rng: np.random.Generator, n: int, *, drifted: bool) -> pd.DataFrame:
    """``n`` rows of the model's inputs; ``drifted`` moves f0, f1 and c0 away from the reference."""
    data: dict[str, Any] = {}
    for name in NUMERIC:
        data[name] = rng.normal(DRIFTED.get(name, 0.0) if drifted else 0.0, 1.0, n).round(4)
    c0 = [0.55, 0.15, 0.15, 0.15] if drifted else [0.25, 0.25, 0.25, 0.25]
    data["c0"] = rng.choice(CATEGORIES["c0"], n, p=c0)
    data["c1"] = rng.choice(CATEGORIES["c1"], n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame(data)


def reference_profile_json(rows: int = 5000, seed: int = 7) -> str:
    """The reference the monitors compare with (``modelmonitor profile`` of undrifted rows)."""
    from modelmonitor.drift.profile import build_profile

    return build_profile(features(np.random.default_rng(seed), rows, drifted=False)).to_json()


def render_page(rows: int, seed: int, now: float) -> bytes:
    """One ``/v1/window`` page holding the whole window, rows stamped just before ``now``."""
    rng = np.random.default_rng(seed)
    frame = features(rng, rows, drifted=True)
    logits = frame[NUMERIC].to_numpy() @ WEIGHTS * 0.6
    p = 1.0 / (1.0 + np.exp(-logits))
    labels = rng.random(rows) < p
    window = Window(max_rows=rows, max_age=3600.0, clock=lambda: now)
    records = frame.to_dict("records")
    for i, feats in enumerate(records):
        window.add(now - (rows - i) * 0.002, f"r{i}", "1.0.0", [feats], [int(p[i] > 0.5)],
                   [[round(1 - p[i], 4), round(p[i], 4)]])  # fmt: skip
    for i in range(rows):
        window.feedback(f"r{i}", int(labels[i]))
    body = window.query(0, rows + window.seq + 10)
    body["model"] = {"name": "scale", "version": "1.0.0"}
    return json.dumps(body, separators=(",", ":")).encode()


class Stand:
    def __init__(self, rows: int, refresh: float) -> None:
        self.rows, self.refresh = rows, refresh
        self.page = render_page(rows, 1, time.time())
        self.served: collections.Counter[str] = collections.Counter()

    async def keep_fresh(self) -> None:
        seed = 1
        while True:
            await asyncio.sleep(self.refresh)
            seed += 1
            self.page = await asyncio.get_running_loop().run_in_executor(
                None, render_page, self.rows, seed, time.time()
            )

    async def window(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer ") or len(
            request.headers["Authorization"]
        ) < len("Bearer x"):
            self.served["401"] += 1
            return web.json_response({"error": "send the monitor's admin token"}, status=401)
        self.served["window"] += 1
        return web.Response(body=self.page, content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.served, "page_bytes": len(self.page), "rows": self.rows})


async def serve(args: argparse.Namespace) -> None:
    stand = Stand(args.rows, args.refresh)
    app = web.Application()
    app.router.add_get("/v1/window", stand.window)
    app.router.add_get("/stats", stand.stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    args.port_file.write_text(f"{port}\n")
    refresher = asyncio.create_task(stand.keep_fresh())
    try:
        await asyncio.Event().wait()
    finally:
        refresher.cancel()
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", type=Path, required=True, help="written with the port once listening")
    parser.add_argument("--rows", type=int, default=2000, help="rows in every pod's window")
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between re-stamped windows")
    parser.add_argument("--reference-out", type=Path, help="write the reference profile JSON here first")
    args = parser.parse_args()
    if args.reference_out:
        args.reference_out.write_text(reference_profile_json())
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
