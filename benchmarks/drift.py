"""Drift engine benchmark: ModelMonitor against a per-column scipy loop (and Evidently when installed).

Shape: 50 numeric + 10 categorical features, reference 100k rows, current window 10k rows.

    python benchmarks/drift.py [--quick] [--out benchmarks/results/drift.json] [--no-evidently]

The headline is like for like: the same columns and the same tests on the same raw data.
  * cold path — ``detect(reference_df, window_df, method="ks")``: KS for numeric columns and, as its
    categorical counterpart, chi-square for categorical ones; exact statistics, nothing cached. It also
    computes what the loop does not: the decile bins and category tables every feature's
    Jensen-Shannon effect (and PSI) comes from, the integrity checks, the report; not Wasserstein,
    which only ``method`` wasserstein or ``auto`` on large samples uses;
  * scipy loop — per numeric column ``scipy.stats.ks_2samp``, per categorical column
    ``chi2_contingency`` on aligned value counts: what a straightforward implementation does. Both give
    p-values, the verdicts (p < 0.05) are compared column by column;
  * profile path — what the operator does per evaluation: ``detect(profile, window, method="ks")``
    against a profile built once by ``build_profile(reference)``, whose build time is shown beside it;
  * Evidently ``Report([DataDriftPreset()]).run(current, reference)`` timed alone (reading its result
    out is not timed) — only when ``evidently`` is importable. It pins pandas < 3, so it lives in a
    separate venv (``.venv-bench``, see docs/drift.md); otherwise its column says "skipped".

Every contender runs the same number of times, round-robin (one of each per round, so a change of
load on a shared machine hits all of them alike), after one warm-up call each; times are medians of
wall clock and ratios are between medians of the same run, with the spread of the per-round ratios.
Memory is the tracemalloc peak of one call (numpy reports its buffers to tracemalloc) against the bytes
of the input frames. ``--quick`` (< 60 s, for CI) repeats less, skips Evidently and shrinks the scaling
grid. The JSON records the machine (CPU, cores, RAM, versions, load average at start and end, date).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modelmonitor.drift import build_profile, detect

N_NUMERIC = 50
N_CATEGORICAL = 10
DRIFTED_NUMERIC = (0, 1, 2, 3, 4)  # mean shift, scale change, ...
DRIFTED_CATEGORICAL = (0, 1)
ALPHA = 0.05  # significance of both sides' tests
GOALS = {"profile_max_s": 0.040, "profile_speedup_vs_loop": 15.0, "cold_speedup_vs_loop": 2.0}


def make_data(ref_rows: int, cur_rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; a few features drift in the current one."""
    rng = np.random.default_rng(seed)

    def frame(rows: int, drift: bool) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for i in range(N_NUMERIC):
            kind = i % 4
            shift = 0.5 if drift and i in DRIFTED_NUMERIC else 0.0
            if kind == 0:
                cols[f"num_{i}"] = rng.normal(shift, 1.0 + (0.5 if drift and i == 1 else 0.0), rows)
            elif kind == 1:
                cols[f"num_{i}"] = rng.lognormal(shift, 0.8 * (1.5 if drift and i == 1 else 1.0), rows)
            elif kind == 2:
                cols[f"num_{i}"] = rng.exponential(1.0 + shift, rows)
            else:
                cols[f"num_{i}"] = rng.gamma(2.0, 2.0, rows) + shift * 2.8
        for i in range(N_CATEGORICAL):
            k = 3 + 3 * i
            names = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)
            weights = np.linspace(1.0, 2.0, k)
            if drift and i in DRIFTED_CATEGORICAL:
                weights = weights[::-1] ** 2
            cols[f"cat_{i}"] = names[rng.choice(k, rows, p=weights / weights.sum())]
        return pd.DataFrame(cols)

    return frame(ref_rows, False), frame(cur_rows, True)


def input_bytes(*frames: pd.DataFrame) -> int:
    """Bytes of the input arrays: float64 numeric columns plus the category columns' objects."""
    return int(sum(f.memory_usage(deep=True, index=False).sum() for f in frames))


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """The per-column baseline: p-value of ``ks_2samp`` (numeric) or ``chi2_contingency`` (categorical)."""
    out: dict[str, float] = {}
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref.dtype):
            out[name] = float(stats.ks_2samp(ref.dropna().to_numpy(), cur.dropna().to_numpy()).pvalue)
        else:
            counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy().T
            out[name] = float(stats.chi2_contingency(counts).pvalue)
    return out


def rounds(contenders: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Wall-clock seconds of ``repeat`` calls of each contender, round-robin, after one warm-up each."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def peak_bytes(fn: Callable[[], object]) -> int:
    """tracemalloc peak of one call, bytes above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    ram_gib = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            kib = next(int(ln.split()[1]) for ln in f if ln.startswith("MemTotal:"))
        ram_gib = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "pandas": pd.__version__,
        "evidently": version("evidently"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def evidently_runner(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[Any, Any] | None:
    """(run, read): ``run`` is Evidently's ``Report.run`` alone, ``read`` turns its snapshot into
    per-column verdicts; None when evidently is not importable."""
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception:  # not installed, or incompatible with this pandas
        return None

    def run() -> Any:
        return Report([DataDriftPreset()]).run(current, reference)

    def read(snapshot: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                score = float(metric["value"])
                result[config["column"]] = {"method": config["method"], "score": score}
        return result

    return run, read


def compare_with_loop(ours: dict[str, Any], loop: dict[str, float]) -> dict[str, Any]:
    """Column-by-column verdicts of ``detect`` (method ks: KS / chi-square) against the scipy loop."""
    rows = []
    for feature in ours["features"]:
        p_loop = loop[feature["name"]]
        rows.append(
            {
                "name": feature["name"],
                "method": feature["method"],
                "p_ours": feature["p_value"],
                "p_loop": p_loop,
                "drifted_ours": feature["drifted"],
                "drifted_loop": p_loop < ALPHA,
            }
        )
    diffs = [abs(r["p_ours"] - r["p_loop"]) for r in rows if r["p_ours"] is not None]
    return {
        "compared": len(rows),
        "agree": sum(r["drifted_ours"] == r["drifted_loop"] for r in rows),
        "drifted": sorted(r["name"] for r in rows if r["drifted_loop"]),
        "max_abs_p_difference": max(diffs, default=None),
        "disagreements": [r for r in rows if r["drifted_ours"] != r["drifted_loop"]],
    }


def scaling(ref_sizes: list[int], windows: list[int], repeat: int) -> list[dict[str, Any]]:
    """Profile path (per evaluation), cold path and the scipy loop for each reference x window size."""
    out = []
    for ref_rows in ref_sizes:
        reference, _ = make_data(ref_rows, 10, seed=ref_rows)
        start = time.perf_counter()
        profile = build_profile(reference)
        build_s = time.perf_counter() - start
        for cur_rows in windows:
            _, current = make_data(10, cur_rows, seed=cur_rows + 1)
            times = rounds(
                {
                    "profile": partial(detect, profile, current, method="ks"),
                    "cold": partial(detect, reference, current, method="ks"),
                    "loop": partial(scipy_loop, reference, current),
                },
                1 if ref_rows >= 1_000_000 else repeat,
            )
            med = {k: statistics.median(v) for k, v in times.items()}
            row = {"reference_rows": ref_rows, "window_rows": cur_rows, "profile_build_s": build_s}
            row |= {"profile_ms": med["profile"] * 1e3, "cold_s": med["cold"], "scipy_loop_s": med["loop"]}
            out.append(row)
            print(
                f"  ref {ref_rows:>9,}  window {cur_rows:>7,}  build {build_s:6.2f} s  "
                f"profile {med['profile'] * 1e3:7.1f} ms  cold {med['cold']:6.3f} s  "
                f"loop {med['loop']:6.3f} s  (cold {med['loop'] / med['cold']:4.1f}x)",
                flush=True,
            )
    return out


def _ratio(times: dict[str, list[float]], num: str, den: str) -> dict[str, float]:
    """Ratio of medians, and the range of the per-round ratios (the same round's two calls)."""
    per_round = [a / b for a, b in zip(times[num], times[den], strict=True)]
    median = statistics.median(times[num]) / statistics.median(times[den])
    return {"median": median, "round_min": min(per_round), "round_max": max(per_round)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="< 60 s: fewer repeats, no Evidently, small grid"
    )
    parser.add_argument("--out", default="benchmarks/results/drift.json", help="JSON results file")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently even when installed")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 9
    host = machine()

    reference, current = make_data(100_000, 10_000)
    in_cold = input_bytes(reference, current)
    in_window = input_bytes(current)
    print(
        f"machine: {host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB; python {host['python']}, "
        f"numpy {host['numpy']}, scipy {host['scipy']}, pandas {host['pandas']}; "
        f"load average {host['load_average_start']}"
    )
    print(
        f"shape: {N_NUMERIC} numeric + {N_CATEGORICAL} categorical; reference 100,000 rows, "
        f"window 10,000 rows; {repeat} rounds"
    )

    profile = build_profile(reference)
    profile_kib = len(profile.to_json().encode()) / 1024
    contenders: dict[str, Callable[[], object]] = {
        "profile": lambda: detect(profile, current, method="ks"),
        "cold": lambda: detect(reference, current, method="ks"),
        "scipy_loop": lambda: scipy_loop(reference, current),
        "profile_build": lambda: build_profile(reference),
    }
    evidently: dict[str, Any] = {"status": "skipped: --quick" if args.quick else "skipped: --no-evidently"}
    runner = None if (args.quick or args.no_evidently) else evidently_runner(reference, current)
    if runner is None and not (args.quick or args.no_evidently):
        evidently = {
            "status": "skipped: evidently not importable (install it in .venv-bench, see docs/drift.md)"
        }
    if runner is not None:
        contenders["evidently"] = runner[0]
        print("Evidently Report.run is timed in the same rounds", flush=True)
    times = rounds(contenders, repeat)
    med = {name: statistics.median(t) for name, t in times.items()}

    loop = scipy_loop(reference, current)
    verdicts = {
        "cold": compare_with_loop(detect(reference, current, method="ks").to_dict(), loop),
        "profile": compare_with_loop(detect(profile, current, method="ks").to_dict(), loop),
    }
    mem = {
        "profile": peak_bytes(contenders["profile"]),
        "cold": peak_bytes(contenders["cold"]),
        "scipy_loop": peak_bytes(contenders["scipy_loop"]),
    }
    if runner is not None:
        mem["evidently"] = peak_bytes(runner[0])
        theirs = runner[1](runner[0]())
        evidently = {"status": "ran", "seconds": med["evidently"], "columns": len(theirs)}

    ratios = {
        "profile_speedup_vs_loop": _ratio(times, "scipy_loop", "profile"),
        "cold_speedup_vs_loop": _ratio(times, "scipy_loop", "cold"),
    }
    if runner is not None:
        ratios["evidently_over_profile"] = _ratio(times, "evidently", "profile")
        ratios["evidently_over_cold"] = _ratio(times, "evidently", "cold")
    goals = {
        "profile_under_40ms": {
            "goal_s": GOALS["profile_max_s"],
            "measured_s": med["profile"],
            "met": med["profile"] < GOALS["profile_max_s"],
        },
        "profile_15x_loop": {
            "goal": GOALS["profile_speedup_vs_loop"],
            "measured": ratios["profile_speedup_vs_loop"]["median"],
            "met": ratios["profile_speedup_vs_loop"]["median"] >= GOALS["profile_speedup_vs_loop"],
        },
        "cold_2x_loop": {
            "goal": GOALS["cold_speedup_vs_loop"],
            "measured": ratios["cold_speedup_vs_loop"]["median"],
            "met": ratios["cold_speedup_vs_loop"]["median"] >= GOALS["cold_speedup_vs_loop"],
        },
    }

    rows = [
        ("cold path (two DataFrames, exact)", "cold", mem["cold"], in_cold),
        ("per-column scipy loop (KS, chi-square)", "scipy_loop", mem["scipy_loop"], in_cold),
        ("profile path (per window)", "profile", mem["profile"], in_window),
    ]
    if runner is not None:
        rows.append(("Evidently Report.run", "evidently", mem["evidently"], in_cold))
    print()
    print(f"{'contender':<40} {'median':>10} {'loop / it':>10} {'peak MiB':>9} {'x input':>8}")
    for label, key, peak, base in rows:
        print(
            f"{label:<40} {med[key] * 1e3:8.1f}ms {med['scipy_loop'] / med[key]:9.2f}x "
            f"{peak / 2**20:9.1f} {peak / base:8.2f}"
        )
    print(
        f"profile build (once per reference): {med['profile_build'] * 1e3:.0f} ms, {profile_kib:.0f} KiB of JSON"
    )
    if runner is not None:
        print(
            f"Evidently: {ratios['evidently_over_cold']['median']:.1f}x the cold path, "
            f"{ratios['evidently_over_profile']['median']:.0f}x the profile path"
        )
    else:
        print(f"Evidently: {evidently['status']}")
    for path, v in verdicts.items():
        print(
            f"verdicts, {path} path vs scipy loop: {v['agree']}/{v['compared']} columns agree "
            f"(max |p difference| {v['max_abs_p_difference']:.2g}); drifted by the loop: {len(v['drifted'])}"
        )
    for name, r in ratios.items():
        print(f"ratio {name}: {r['median']:.2f} (rounds {r['round_min']:.2f}-{r['round_max']:.2f})")
    print(
        "goals: "
        + ", ".join(
            f"{k} {'met' if g['met'] else 'MISSED'} ({g.get('measured_s', g.get('measured')):.3g})"
            for k, g in goals.items()
        )
    )

    print("\nscaling (reference rows x window rows):", flush=True)
    if args.quick:
        grid = scaling([10_000, 100_000], [1_000, 10_000], 1)
    else:
        grid = scaling([10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000], 3)
    host["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    result = {
        "machine": host,
        "shape": {
            "numeric": N_NUMERIC,
            "categorical": N_CATEGORICAL,
            "reference_rows": 100_000,
            "window_rows": 10_000,
        },
        "quick": args.quick,
        "rounds": repeat,
        "seconds": med,
        "seconds_per_round": times,
        "ratios": ratios,
        "goals": goals,
        "verdicts_vs_loop": verdicts,
        "memory_peak_bytes": mem,
        "input_bytes": {"reference_and_window": in_cold, "window": in_window},
        "profile_json_kib": profile_kib,
        "evidently": evidently,
        "scaling": grid,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
