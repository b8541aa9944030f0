"""Model-quality benchmark: one quality evaluation against a bare scikit-learn loop, river's detector.

Shape (the issue's): a 10k-row labelled window, as the sidecar captures it, with 3 segment features.

    python benchmarks/quality.py [--quick] [--out benchmarks/results/quality.json]

Contenders, all in this one process on the same data:
  * one quality evaluation — the operator's evaluators ``evaluate.performance.evaluate`` and
    ``evaluate.fairness.evaluate`` on an ``Observations`` whose ``captured`` is the window's DataFrame
    (features, ``__id``, ``__ts``, ``__prediction``, ``__probabilities``, ``__label``, ``__label_ts``)
    for a binary classifier with the default metrics plus ``ece`` and 3 segments (approval_rate,
    accuracy, true_positive_rate). It includes coercing the JSON labels, predictions and probabilities
    out of the frame (``quality.labels``), Wilson intervals for every rate of every group, judging
    the bounds and writing the status dict;
  * bare scikit-learn loop — the same figures from numpy arrays extracted beforehand (not timed):
    ``sklearn.metrics`` accuracy, precision, recall, f1, roc_auc, log_loss, brier, the positive rate
    and ECE on the same equal-count bins in numpy, and per group of each segment feature the one rate
    asked for (approval, accuracy, TPR) with numpy boolean masks; no intervals, no judging;
  * concept drift — ``quality.concept.ConceptDetector("adwin").update`` over 100k 0/1 errors, against a
    plain ``for e in errors: river.drift.ADWIN().update(e)`` loop;
  * CBPE (``quality.estimate``) fit on 50k labelled rows and estimate on 5k: reported only.

The goal is the issue's: one evaluation costs at most 2x the bare loop (PASS/MISS is printed, never
asserted: times depend on the machine). Times are medians of the same number of runs for both sides,
taken in turns (ours, then the peer's, each run) after one warm-up each, so a noisy neighbour slows
both; every timed section runs under ``threadpoolctl.threadpool_limits(1)`` (BLAS/OpenMP pools spin
on shared CPUs). ``--quick`` repeats 5 times instead of 20.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import river
import scipy
import sklearn
from river import drift as river_drift
from sklearn import metrics as skm
from threadpoolctl import threadpool_limits

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate import fairness, performance
from modelmonitor.evaluate.observations import Observations
from modelmonitor.quality.concept import ConceptDetector
from modelmonitor.quality.estimate import CBPE
from modelmonitor.quality.labels import labelled, predicted_positive

ROWS = 10_000
NOW = 1_760_000_000.0
SEGMENTS = (("applicant_group", "approval_rate"), ("region", "accuracy"), ("channel", "true_positive_rate"))
GROUPS = {
    "applicant_group": (["A", "B", "C"], [0.4, 0.3, 0.3]),
    "region": (["north", "south", "east", "west"], [0.3, 0.3, 0.2, 0.2]),
    "channel": (["web", "app", "branch"], [0.5, 0.35, 0.15]),
}
# The default binary metrics plus ece; a bound on each, so the spec lists them all.
METRICS = [
    {"name": "accuracy", "min": 0.6},
    {"name": "precision", "min": 0.5},
    {"name": "recall", "min": 0.5},
    {"name": "f1", "min": 0.5},
    {"name": "auc", "min": 0.6},
    {"name": "logloss", "max": 0.7},
    {"name": "brier", "max": 0.25},
    {"name": "positive_rate", "min": 0.05, "max": 0.95},
    {"name": "ece", "max": 0.1},
]
ERRORS = 100_000


def make_scores(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated positive-class score (0-1) and 0/1 labels drawn from it."""
    score = rng.beta(2.0, 3.0, rows)
    return score, (rng.random(rows) < score).astype(int)


def make_window(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """A labelled window in the sidecar's shape: JSON values, one Python object per cell."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"income": rng.normal(50_000, 10_000, rows), "age": rng.integers(18, 80, rows)}
    for name, (values, weights) in GROUPS.items():
        cols[name] = rng.choice(values, rows, p=weights)
    score, truth = scored(rows, rng, cols["applicant_group"])
    prediction = (score >= 0.5).astype(int)
    ts = NOW - 3600 + np.arange(rows) * (3600 / rows)
    cols |= {
        "__id": [f"r{i}" for i in range(rows)],
        "__ts": ts,
        "__prediction": prediction.tolist(),
        "__probabilities": [[1 - s, s] for s in score.tolist()],
        "__label": truth.tolist(),
        "__label_ts": (ts + rng.uniform(60, 600, rows)).tolist(),
    }
    return pd.DataFrame(cols)


def scored(rows: int, rng: np.random.Generator, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels; group B is scored lower (a planted approval gap for the fairness check)."""
    score = rng.beta(2.0, 3.0, rows) * np.where(group == "B", 0.7, 1.0)
    return score, (rng.random(rows) < score).astype(int)


def make_spec() -> ModelMonitorSpec:
    segments = [{"feature": f, "metric": m} for f, m in SEGMENTS]
    return ModelMonitorSpec.model_validate(
        {
            "target": {"deployment": "x", "port": 8080},
            "performance": {"task": "binary-classification", "metrics": METRICS, "segments": segments},
        }
    )


def ours(spec: ModelMonitorSpec, frame: pd.DataFrame) -> dict[str, Any]:
    """One quality evaluation, as the Reconciler's evaluate stage runs it: the status it writes."""
    obs = Observations(lookback_seconds=3600, now=NOW, captured=frame)
    status: dict[str, Any] = {}
    perf = performance.evaluate(spec, obs, status).status["performance"]
    segs = fairness.evaluate(spec, obs, status).status["performance"]["segments"]
    return perf | {"segments": segs}


def extract(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The peer's inputs as numpy arrays (taken before its clock starts, except in the "extracting" row)."""
    out = {
        "y_true": frame["__label"].to_numpy(dtype=int),
        "y_pred": frame["__prediction"].to_numpy(dtype=int),
        "score": np.array([p[1] for p in frame["__probabilities"]], dtype=float),
    }
    return out | {name: frame[name].to_numpy(dtype=str) for name in GROUPS}


def ece_numpy(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE on equal-count bins (scikit-learn has no ECE; the same bins as calibration_curve's quantile)."""
    edges = np.percentile(p, np.linspace(0.0, 100.0, bins + 1))
    ids = np.searchsorted(edges[1:-1], p)
    rows = np.bincount(ids, minlength=bins)
    gap = np.abs(np.bincount(ids, weights=p, minlength=bins) - np.bincount(ids, weights=y, minlength=bins))
    return float(gap[rows > 0].sum() / rows.sum())


def peer(a: dict[str, np.ndarray]) -> dict[str, Any]:
    """The bare loop: the same figures from extracted arrays, sklearn.metrics and numpy masks."""
    y, yhat, s = a["y_true"], a["y_pred"], a["score"]
    figures = {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "auc": skm.roc_auc_score(y, s),
        "logloss": skm.log_loss(y, s),
        "brier": skm.brier_score_loss(y, s),
        "positive_rate": float(yhat.mean()),
        "ece": ece_numpy(y, s),
    }
    segments = {}
    for feature, metric in SEGMENTS:
        values = a[feature]
        rates = {}
        for g in np.unique(values):
            m = values == g
            if metric == "approval_rate":
                rates[g] = float(yhat[m].mean())
            elif metric == "accuracy":
                rates[g] = float((yhat[m] == y[m]).mean())
            else:
                positives = m & (y == 1)
                rates[g] = float(yhat[positives].mean())
        segments[feature] = min(rates.values()) / max(rates.values())
    return {"metrics": {k: float(v) for k, v in figures.items()}, "ratios": segments}


def agreement(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Largest absolute difference between our figures and the peer's (they should be equal to 1e-6)."""
    diffs = {k: abs(mine["metrics"][k] - v) for k, v in theirs["metrics"].items()}
    diffs |= {
        f"{s['feature']}.ratio": abs(s["ratio"] - theirs["ratios"][s["feature"]]) for s in mine["segments"]
    }
    worst = max(diffs, key=lambda k: diffs[k])
    return {"max_abs_diff": diffs[worst], "worst": worst, "agree": diffs[worst] <= 2e-6}


def timed_turns(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Seconds of ``repeat`` calls of each, taken in turns after one warm-up call of each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def coerce(frame: pd.DataFrame) -> None:
    """The JSON coercion one evaluation does: ``labelled`` once (the evaluators share it through
    ``Observations.labels``), ``predicted_positive`` once for approval_rate."""
    labelled(frame, "binary-classification")
    predicted_positive(frame)


def error_stream(rows: int = ERRORS, seed: int = 1) -> list[int]:
    """0/1 errors whose rate rises from 10 % to 25 % halfway: both detectors have a change to find."""
    rng = np.random.default_rng(seed)
    rate = np.where(np.arange(rows) < rows // 2, 0.10, 0.25)
    return (rng.random(rows) < rate).astype(int).tolist()


def plain_adwin(errors: list[int]) -> int:
    detector = river_drift.ADWIN()
    alarms = 0
    for e in errors:
        detector.update(e)
        alarms += detector.drift_detected
    return alarms


def machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "river": river.__version__,
    }


def summary(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repeats instead of 20 (< 60 s, for CI)")
    parser.add_argument("--out", default="benchmarks/results/quality.json", help="JSON results file")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 20

    frame, spec = make_window(), make_spec()
    arrays = extract(frame)
    segs = ", ".join(f"{m} by {f} ({len(GROUPS[f][0])} groups)" for f, m in SEGMENTS)
    print(f"window: {ROWS:,} labelled rows, binary, {len(METRICS)} metrics; segments: {segs}")
    print(
        f"repeats: {repeat} each side, in turns; threadpool_limits(1) around every timed section", flush=True
    )

    with threadpool_limits(limits=1):
        check = agreement(ours(spec, frame), peer(arrays))
        # The parts say where our time goes, timed in the same turns so that every row saw the same load.
        # The evaluators coerce the frame's JSON themselves: performance once, fairness once per
        # labelled segment (accuracy, TPR) and once for approval_rate's predictions.
        obs = Observations(lookback_seconds=3600, now=NOW, captured=frame)
        parts = {
            "performance.evaluate": lambda: performance.evaluate(spec, obs, {}),
            "fairness.evaluate": lambda: fairness.evaluate(spec, obs, {}),
            "JSON coercion (labelled x1, predicted_positive x1)": lambda: coerce(frame),
        }
        turns = timed_turns(
            {
                "ours": lambda: ours(spec, frame),
                "peer": lambda: peer(arrays),
                "peer_extract": lambda: peer(extract(frame)),
                **parts,
            },
            repeat,
        )
        t_ours, t_peer, t_extract = turns["ours"], turns["peer"], turns["peer_extract"]
        part_times = {name: turns[name] for name in parts}

        errors = error_stream()
        turns = timed_turns(
            {"ours": lambda: ConceptDetector("adwin").update(errors), "plain": lambda: plain_adwin(errors)},
            repeat,
        )
        t_concept, t_adwin = turns["ours"], turns["plain"]
        changes = ConceptDetector("adwin").update(errors)
        alarms = plain_adwin(errors)

        rng = np.random.default_rng(2)
        ref_score, ref_truth = make_scores(50_000, rng)
        chunk_score, _ = make_scores(5_000, rng)
        fitted = CBPE().fit(ref_truth, ref_score)
        t_fit = timed(lambda: CBPE().fit(ref_truth, ref_score), repeat)
        t_estimate = timed(lambda: fitted.estimate(chunk_score), repeat)

    m_ours, m_peer = statistics.median(t_ours), statistics.median(t_peer)
    ratio = m_ours / m_peer
    m_concept, m_adwin = statistics.median(t_concept), statistics.median(t_adwin)
    rate_concept, rate_adwin = ERRORS / m_concept, ERRORS / m_adwin

    print()
    print(f"{'contender':<58} {'median':>10} {'vs peer':>8}")
    print(f"{'one quality evaluation (performance + fairness)':<58} {m_ours * 1e3:8.1f}ms {ratio:7.2f}x")
    for name, times in part_times.items():
        print(f"{'  part: ' + name:<58} {statistics.median(times) * 1e3:8.1f}ms")
    print(f"{'bare sklearn loop on extracted arrays':<58} {m_peer * 1e3:8.1f}ms {1.0:7.2f}x")
    m_extract = statistics.median(t_extract)
    print(
        f"{'  the same, extracting the arrays from the frame too':<58} {m_extract * 1e3:8.1f}ms {m_extract / m_peer:7.2f}x"
    )
    print("  ours includes: JSON coercion of labels/predictions/probabilities from the frame, sort by __ts,")
    print("  every rate of every group with Wilson intervals, bounds judged, status dict;")
    print("  peer includes: the same 9 metrics and 3 segment ratios from arrays extracted before timing.")
    same = "agree" if check["agree"] else "DIFFER"
    print(f"figures {same}: largest difference {check['max_abs_diff']:.2e} ({check['worst']})")
    goal = ratio <= 2.0
    best = min(t_ours) / min(t_peer)  # the fastest runs, least disturbed by a busy machine
    print(
        f"goal ours <= 2x peer: {'PASS' if goal else 'MISS'} ({ratio:.2f}x of medians; {best:.2f}x of best runs)"
    )
    print()
    print(f"{'concept drift, 100k 0/1 errors':<58} {'updates/s':>10} {'x plain':>8}")
    print(f"{'ConceptDetector(adwin).update(errors)':<58} {rate_concept:10,.0f} {m_adwin / m_concept:7.2f}x")
    print(f"{'for e in errors: river ADWIN().update(e)':<58} {rate_adwin:10,.0f} {1.0:7.2f}x")
    print(f"  rises kept: {len(changes)}; river alarms: {alarms} (we keep only alarms where the error rises)")
    print()
    fit_s, est_s = statistics.median(t_fit), statistics.median(t_estimate)
    print(f"CBPE: fit on 50,000 rows {fit_s * 1e3:.1f} ms, estimate on 5,000 rows {est_s * 1e3:.1f} ms")

    result = {
        "shape": {"window_rows": ROWS, "metrics": [m["name"] for m in METRICS], "segments": SEGMENTS},
        "quick": args.quick,
        "repeat": repeat,
        "threadpool_limits": 1,
        "machine": machine(),
        "evaluation": {
            "ours": summary(t_ours),
            "ours_parts": {name: summary(times) for name, times in part_times.items()},
            "peer": summary(t_peer),
            "peer_with_extraction": summary(t_extract),
            "ratio_ours_over_peer": ratio,
            "ratio_best_runs": best,
            "goal_max_ratio": 2.0,
            "goal": "PASS" if goal else "MISS",
            "figures": check,
        },
        "concept": {
            "errors": ERRORS,
            "ours": summary(t_concept) | {"updates_per_s": rate_concept},
            "plain_adwin": summary(t_adwin) | {"updates_per_s": rate_adwin},
            "rate_ratio_ours_over_plain": rate_concept / rate_adwin,
            "time_ratio_ours_over_plain": m_concept / m_adwin,
            "rises_kept": len(changes),
            "river_alarms": alarms,
        },
        "cbpe": {
            "fit_rows": 50_000,
            "estimate_rows": 5_000,
            "fit": summary(t_fit),
            "estimate": summary(t_estimate),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
