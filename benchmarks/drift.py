"""Drift engine benchmark: ModelMonitor against a per-column scipy loop and Evidently's DataDriftPreset.

Shape (the issue's): 50 numeric + 10 categorical features, reference 100k rows, current window 10k rows.

    python benchmarks/drift.py [--quick] [--out benchmarks/results/drift.json] [--no-evidently]

Contenders, all in this one process on the same data:
  * operator path — ``build_profile(reference)`` once, then ``detect(profile, window)`` per evaluation;
  * cold path — ``detect(reference_df, window_df)``, nothing cached (exact statistics);
  * scipy loop — per numeric column ``ks_2samp`` + ``wasserstein_distance``/std, per categorical column
    ``chi2_contingency`` on aligned value counts (what a straightforward implementation does);
  * Evidently ``Report([DataDriftPreset()])`` — only when ``evidently`` is importable (it pins pandas < 3,
    so it lives in a separate venv: see docs/drift.md); otherwise the column says "skipped".

Times are medians of repeated runs (wall clock, seconds); memory is the tracemalloc peak of one run
(numpy reports its buffers to tracemalloc) compared with the bytes of the input arrays. ``--quick``
(< 60 s, for CI) keeps the full shape but repeats less, skips Evidently and shrinks the scaling grid.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
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


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """The per-column baseline: scipy tests one column at a time."""
    out: dict[str, tuple[float, float]] = {}
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref.dtype):
            a, b = ref.dropna().to_numpy(), cur.dropna().to_numpy()
            ks = stats.ks_2samp(a, b)
            out[name] = (float(ks.pvalue), float(stats.wasserstein_distance(a, b) / np.std(a)))
        else:
            counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy().T
            chi = stats.chi2_contingency(counts)
            out[name] = (float(chi.pvalue), float(chi.statistic))
    return out


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall-clock seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], object]) -> int:
    """tracemalloc peak of one call, bytes above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def evidently_runner(reference: pd.DataFrame, current: pd.DataFrame) -> Callable[[], dict[str, Any]] | None:
    """A callable running Evidently's DataDriftPreset, or None when evidently is not importable."""
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception:  # not installed, or incompatible with this pandas
        return None

    def run() -> dict[str, Any]:
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        result: dict[str, Any] = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                score = float(metric["value"])
                result[config["column"]] = {
                    "method": config["method"],
                    "score": score,
                    "threshold": config["threshold"],
                    "drifted": score >= config["threshold"],
                }
        return result

    return run


def compare_verdicts(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Per-column agreement where both used the same family of method."""
    same = {"wasserstein": "Wasserstein distance (normed)", "jensenshannon": "Jensen-Shannon distance"}
    rows = []
    for feature in ours["features"]:
        other = theirs.get(feature["name"])
        if other is None or same.get(feature["method"]) != other["method"]:
            continue
        rows.append(
            {
                "name": feature["name"],
                "method": feature["method"],
                "ours": feature["statistic"],
                "evidently": other["score"],
                "ours_drifted": feature["drifted"],
                "evidently_drifted": other["drifted"],
            }
        )
    agree = sum(r["ours_drifted"] == r["evidently_drifted"] for r in rows)
    return {
        "compared": len(rows),
        "agree": agree,
        "disagreements": [r for r in rows if r["ours_drifted"] != r["evidently_drifted"]],
        "columns": rows,
    }


def scaling(ref_sizes: list[int], windows: list[int], repeat: int) -> list[dict[str, Any]]:
    """Operator path (per evaluation) and cold path for each reference size x window size."""
    out = []
    for ref_rows in ref_sizes:
        reference, _ = make_data(ref_rows, 10, seed=ref_rows)
        start = time.perf_counter()
        profile = build_profile(reference)
        build_s = time.perf_counter() - start
        for cur_rows in windows:
            _, current = make_data(10, cur_rows, seed=cur_rows + 1)
            op = timed(lambda p=profile, c=current: detect(p, c), repeat)
            cold = timed(lambda r=reference, c=current: detect(r, c), 1 if ref_rows >= 1_000_000 else repeat)
            row = {"reference_rows": ref_rows, "window_rows": cur_rows, "profile_build_s": build_s}
            row |= {"operator_ms": op * 1e3, "cold_s": cold}
            out.append(row)
            print(
                f"  ref {ref_rows:>9,}  window {cur_rows:>7,}  build {build_s:6.2f} s  "
                f"operator {op * 1e3:8.1f} ms  cold {cold:6.2f} s",
                flush=True,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="< 60 s: fewer repeats, no Evidently, small grid"
    )
    parser.add_argument("--out", default="benchmarks/results/drift.json", help="JSON results file")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently even when installed")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7

    reference, current = make_data(100_000, 10_000)
    in_cold = input_bytes(reference, current)
    in_window = input_bytes(current)
    print(
        f"shape: {N_NUMERIC} numeric + {N_CATEGORICAL} categorical; reference 100,000 rows, window 10,000 rows"
    )
    print(
        f"input arrays: reference+window {in_cold / 2**20:.1f} MiB, window {in_window / 2**20:.1f} MiB",
        flush=True,
    )

    start = time.perf_counter()
    profile = build_profile(reference)
    build_s = time.perf_counter() - start
    profile_kib = len(profile.to_json().encode()) / 1024
    operator_s = timed(lambda: detect(profile, current), repeat * 3)
    cold_s = timed(lambda: detect(reference, current), repeat)
    loop_s = timed(lambda: scipy_loop(reference, current), repeat)
    mem = {
        "operator": peak_bytes(lambda: detect(profile, current)),
        "cold": peak_bytes(lambda: detect(reference, current)),
        "scipy_loop": peak_bytes(lambda: scipy_loop(reference, current)),
    }
    ours = detect(reference, current).to_dict()

    evidently: dict[str, Any] = {"status": "skipped: --quick" if args.quick else "skipped: --no-evidently"}
    runner = None if (args.quick or args.no_evidently) else evidently_runner(reference, current)
    if runner is None and not (args.quick or args.no_evidently):
        evidently = {
            "status": "skipped: evidently not importable (install it in .venv-bench, see docs/drift.md)"
        }
    if runner is not None:
        print("running Evidently DataDriftPreset ...", flush=True)
        ev_s = timed(runner, 1)
        theirs = runner()
        mem["evidently"] = peak_bytes(runner)
        evidently = {"status": "ran", "seconds": ev_s, "verdicts": compare_verdicts(ours, theirs)}

    rows = [
        ("operator path (profile, per window)", operator_s, mem["operator"], in_window),
        ("cold path (two DataFrames)", cold_s, mem["cold"], in_cold),
        ("per-column scipy loop", loop_s, mem["scipy_loop"], in_cold),
    ]
    if runner is not None:
        rows.append(("Evidently DataDriftPreset", evidently["seconds"], mem["evidently"], in_cold))
    print()
    print(f"{'contender':<38} {'time':>10} {'vs scipy':>9} {'vs Evid.':>9} {'peak MiB':>9} {'x input':>8}")
    for name, secs, peak, base in rows:
        vs_loop = loop_s / secs
        vs_ev = f"{evidently['seconds'] / secs:8.1f}x" if runner is not None else "  skipped"
        print(
            f"{name:<38} {secs * 1e3:8.1f}ms {vs_loop:8.1f}x {vs_ev:>9} {peak / 2**20:9.1f} {peak / base:8.2f}"
        )
    print(f"profile: built in {build_s:.2f} s, {profile_kib:.0f} KiB of JSON")
    if runner is None:
        print(f"Evidently: {evidently['status']}")
    else:
        v = evidently["verdicts"]
        print(f"Evidently verdicts: {v['agree']}/{v['compared']} columns agree where methods coincide")
        for d in v["disagreements"]:
            print(f"  disagree {d['name']}: ours {d['ours']:.4f} vs Evidently {d['evidently']:.4f}")

    targets = {
        "operator_under_50ms": operator_s < 0.050,
        "operator_5x_scipy_loop": loop_s / operator_s >= 5,
        "cold_not_slower_than_loop": cold_s <= loop_s,
        "operator_memory_under_2x_window": mem["operator"] < 2 * in_window,
        "cold_memory_under_2x_inputs": mem["cold"] < 2 * in_cold,
    }
    if runner is not None:
        targets["operator_100x_evidently"] = evidently["seconds"] / operator_s >= 100
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in targets.items()))

    print("\nscaling (reference rows x window rows):", flush=True)
    if args.quick:
        grid = scaling([10_000, 100_000], [1_000, 10_000], 3)
    else:
        grid = scaling([10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000], 3)

    result = {
        "shape": {
            "numeric": N_NUMERIC,
            "categorical": N_CATEGORICAL,
            "reference_rows": 100_000,
            "window_rows": 10_000,
        },
        "quick": args.quick,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "machine": platform.machine(),
        "seconds": {"operator": operator_s, "cold": cold_s, "scipy_loop": loop_s, "profile_build": build_s},
        "ratios": {
            "scipy_loop_over_operator": loop_s / operator_s,
            "scipy_loop_over_cold": loop_s / cold_s,
            **(
                {
                    "evidently_over_operator": evidently["seconds"] / operator_s,
                    "evidently_over_cold": evidently["seconds"] / cold_s,
                }
                if runner is not None
                else {}
            ),
        },
        "memory_peak_bytes": mem,
        "input_bytes": {"reference_and_window": in_cold, "window": in_window},
        "profile_json_kib": profile_kib,
        "evidently": evidently,
        "targets": targets,
        "scaling": grid,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
