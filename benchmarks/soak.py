"""Soak: mixed bodies at fixed concurrency through a real sidecar for a while, checked end to end.

    python benchmarks/soak.py [--seconds 60] [--concurrency 8] [--seed 0] [--out benchmarks/results/soak.json]

The same load as ``tests/integration/sidecar/test_mixed_load.py`` (the code is ``tests/helpers/soak.py``):
the demo model's ``/echo`` behind a real sidecar process; valid predict bodies, invalid JSON and
non-UTF-8 bytes, empty bodies, 1-8 MiB bodies and chunked bodies; every answer's SHA-256 compared with
the body sent, requests counted at the client, the sidecar and the model; the sidecar's RSS sampled
(start, after the warm-up, end, max) and its admin /metrics read (served, captured rows, drops by
reason). Writes the figures with the machine they were taken on; exits 1 if a request was lost or
altered.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "operator")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from tests.helpers.soak import run_load, start_stack  # noqa: E402


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python, platform and load average of this machine, now."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / (1 << 20), 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load (default 60)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the body sequence (default 0)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()

    before = machine()
    stack = start_stack()
    try:
        result = run_load(stack, args.seconds, args.concurrency, seed=args.seed)
    finally:
        stack.stop()
    figures = result.as_dict()
    report = {"machine": {**before, "load_average_end": [round(x, 2) for x in os.getloadavg()]}, **figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    rss = figures["rss_mib"]
    sidecar = figures["sidecar"]
    print(
        f"{figures['seconds']} s x {args.concurrency} clients on {before['cores']} cores ({before['cpu_model']})"
    )
    print(f"{'kind':<8} {'sent':>7} {'answered':>9} {'altered':>8} {'lost':>5} {'MiB':>9}")
    for kind, k in figures["requests"].items():
        print(
            f"{kind:<8} {k['sent']:>7} {k['answered']:>9} {k['mismatched']:>8} {k['lost']:>5} "
            f"{k['bytes'] / (1 << 20):>9.1f}"
        )
    print(
        f"sent {result.sent}, answered {result.answered}, model {result.model_count}, sidecar served "
        f"{sidecar['served']}; checksum mismatches {result.mismatched}, lost {result.lost}"
    )
    print(
        f"sidecar RSS MiB: start {rss['start']}, after warm-up {rss['after_warmup']}, end {rss['end']}, "
        f"max {rss['max']}; captured rows {sidecar['captured_rows']}, dropped {sidecar['captures_dropped']}"
    )
    print(f"wrote {args.out}")
    intact = result.mismatched == 0 and result.lost == 0 and result.sent == result.model_count
    return 0 if intact else 1


if __name__ == "__main__":
    raise SystemExit(main())
