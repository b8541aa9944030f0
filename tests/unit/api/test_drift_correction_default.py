"""``spec.drift.correction`` defaults to ``bh``: measured on clean data, the uncorrected KS tests name a
false feature in about a third of evaluations of eight features, Benjamini-Hochberg in at most alpha.

2,000 seeded evaluations of 8 independent standard-normal features, reference and window of 300 rows
each (n_eff = 150, so ``auto`` picks KS at alpha = 0.05). The KS statistics come from the engine's
exact kernel and the p-values from its profile formula (the operator's path); the verdicts from
``decide``, the function ``detect`` ends with. docs/drift.md quotes the figures this test measures.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
import pandas as pd

from modelmonitor.api import ModelMonitorSpec
from modelmonitor.cli import build_parser
from modelmonitor.drift import detect
from modelmonitor.drift.defaults import DEFAULT_THRESHOLDS
from modelmonitor.drift.methods import ks_pvalues
from modelmonitor.drift.numeric import exact_stats
from modelmonitor.drift.report import FeatureResult
from modelmonitor.drift.verdicts import decide

EVALUATIONS, FEATURES, ROWS = 2000, 8, 300
ALPHA = DEFAULT_THRESHOLDS["ks"]
SEED = 20240611
SE = float(np.sqrt(0.34 * 0.66 / EVALUATIONS))  # binomial standard error of a rate near 1/3


def _default_correction() -> str:
    return str(ModelMonitorSpec.model_validate({"target": {"deployment": "m"}}).drift.correction)


@functools.cache
def _pvalues() -> np.ndarray:
    """KS p-values of clean features: one row per evaluation, one column per feature."""
    rng = np.random.default_rng(SEED)
    ref = rng.normal(size=(EVALUATIONS * FEATURES, ROWS))
    cur = rng.normal(size=(EVALUATIONS * FEATURES, ROWS))
    d, n_ref, n_cur = [], [], []
    for start in range(0, len(ref), 1000):  # blocks, as detect computes them
        stats, _, n1, n2 = exact_stats(ref[start : start + 1000], cur[start : start + 1000])
        d.append(stats.ks)
        n_ref.append(n1)
        n_cur.append(n2)
    p = ks_pvalues(np.concatenate(d), np.concatenate(n_ref), np.concatenate(n_cur), exact=False)
    return p.reshape(EVALUATIONS, FEATURES)


def _named(pvalues: np.ndarray, correction: str) -> np.ndarray:
    """How many features each evaluation names as drifted, with ``correction``."""
    out = []
    for row in pvalues:
        results = [
            FeatureResult(f"x{j}", "numeric", "ks", 0.0, float(p), ALPHA, False, None)
            for j, p in enumerate(row)
        ]
        out.append(
            sum(r.drifted for r in decide(results, None if correction == "none" else correction, None))
        )
    return np.array(out)


def test_the_spec_and_the_cli_default_to_bh() -> None:
    assert _default_correction() == "bh"
    drift = next(
        sub
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        if name == "drift"
    )
    assert drift.get_default("correction") == _default_correction()


def test_clean_p_values_are_uniform_enough_for_the_rates_to_mean_something() -> None:
    share = float((_pvalues() < ALPHA).mean())
    assert abs(share - ALPHA) < 0.006  # 16,000 tests: 3 standard errors


def test_without_a_correction_a_third_of_evaluations_name_a_clean_feature() -> None:
    rate = float((_named(_pvalues(), "none") > 0).mean())
    expected = 1 - (1 - ALPHA) ** FEATURES  # 33.7 %
    assert abs(rate - expected) < 3 * SE, f"measured {rate:.1%}, expected {expected:.1%}"


def test_with_the_default_at_most_alpha_of_evaluations_name_a_clean_feature() -> None:
    rate = float((_named(_pvalues(), _default_correction()) > 0).mean())
    assert rate <= ALPHA + 3 * float(np.sqrt(ALPHA * (1 - ALPHA) / EVALUATIONS)), f"measured {rate:.1%}"
    assert rate < float((_named(_pvalues(), "none") > 0).mean()) / 4


def test_detect_judges_an_evaluation_as_the_simulation_does() -> None:
    # The simulation's verdicts are detect's: same p-values in, same features out, on a few evaluations.
    rng = np.random.default_rng(SEED + 1)
    columns = [f"x{j}" for j in range(FEATURES)]
    shift = np.zeros(FEATURES)
    shift[:2] = (0.4, 0.25)  # two features moved, so that the verdicts are not all "no drift"
    for _ in range(20):
        ref = pd.DataFrame(rng.normal(size=(ROWS, FEATURES)), columns=columns)
        cur = pd.DataFrame(rng.normal(size=(ROWS, FEATURES)) + shift, columns=columns)
        report = detect(ref, cur, correction=_default_correction())
        p = {f.name: f.p_value for f in report.features}
        row = np.array([[p[c] for c in columns]])
        results = [
            FeatureResult(c, "numeric", "ks", 0.0, float(row[0, j]), ALPHA, False, None)
            for j, c in enumerate(columns)
        ]
        mine = {r.name for r in decide(results, _default_correction(), None) if r.drifted}
        assert {f.name for f in report.features if f.drifted} == mine
        assert {f.method for f in report.features} == {"ks"}
