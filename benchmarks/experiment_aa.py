"""A/A simulations: how often a champion-challenger test calls a winner when there is none.

    python benchmarks/experiment_aa.py [--simulations 20000] [--looks 10,100,1000] [--rows 100]

Both variants are Bernoulli(--rate) (a click, or a correct prediction) with no difference. Each
simulation adds --rows rows to each variant before every look; a false positive is a simulation in
which any look declared a winner. Two contenders on the same draws:

  * the naive fixed-horizon two-sided z-test (unpooled variances), checked at every look;
  * the always-valid mSPRT of ``modelmonitor.quality.sequential`` as the operator runs it: tau =
    mixing x the pooled standard deviation, frozen at the first look; a verdict once the running
    minimum p-value reaches alpha. Also shown: the false promotions alone (the challenger's side).

Rates are shares of simulations, with the binomial standard error of a rate of alpha. Runs in blocks
of simulations so 1,000 looks fit in memory; about 10 s for the default 20,000 x (10, 100, 1,000).

Then, what the safety costs: with a real difference (the challenger at --rate + --lift), the share
of 2,000 simulations the mSPRT decides within the 1,000 looks, and the median rows per variant it
took, for a few values of mixing; beside it the rows per variant a fixed-horizon z-test needs for
80 % power (which may be looked at once only).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats

from modelmonitor.quality.sequential import VARIANCE_FLOOR, p_values


def simulate(
    simulations: int, looks: int, rows: int, rate: float, alpha: float, mixing: float, seed: int
) -> dict[str, float]:
    """False-positive shares of the naive z-test and the mSPRT over ``simulations`` A/A runs."""
    rng = np.random.default_rng(seed)
    naive = msprt = promoted = 0
    z_crit = stats.norm.ppf(1 - alpha / 2)
    n = rows * np.arange(1, looks + 1, dtype=np.float64)
    block = max(1, 4_000_000 // looks)
    for start in range(0, simulations, block):
        size = min(block, simulations - start)
        a = rng.binomial(rows, rate, size=(size, looks)).cumsum(axis=1)
        b = rng.binomial(rows, rate, size=(size, looks)).cumsum(axis=1)
        pa, pb = a / n, b / n
        d = pb - pa
        var_a = np.maximum(pa * (1 - pa) * n / (n - 1), VARIANCE_FLOOR * (1 + pa**2))
        var_b = np.maximum(pb * (1 - pb) * n / (n - 1), VARIANCE_FLOOR * (1 + pb**2))
        v = var_a / n + var_b / n
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(d) / np.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)
        naive += int((z > z_crit).any(axis=1).sum())
        m2 = n[0] * (pa[:, :1] * (1 - pa[:, :1]) + pb[:, :1] * (1 - pb[:, :1]))
        pooled = np.maximum(m2 / (2 * n[0] - 2), VARIANCE_FLOOR)
        tau2 = mixing**2 * pooled  # frozen at the first look, one per simulation
        p = p_values(d, v, tau2)
        decided = p[:, -1] <= alpha
        msprt += int(decided.sum())
        # The side of a verdict is the sign of the effect at the first look whose p reached alpha.
        first = np.argmax(p <= alpha, axis=1)
        promoted += int((decided & (d[np.arange(size), first] > 0)).sum())
    return {"naive": naive / simulations, "msprt": msprt / simulations, "promoted": promoted / simulations}


def power(
    looks: int, rows: int, rate: float, lift: float, alpha: float, mixing: float, seed: int
) -> tuple[float, float]:
    """Share of 2,000 simulations with a true lift decided within ``looks``, and their median rows."""
    rng = np.random.default_rng(seed)
    n = rows * np.arange(1, looks + 1, dtype=np.float64)
    a = rng.binomial(rows, rate, size=(2000, looks)).cumsum(axis=1)
    b = rng.binomial(rows, rate + lift, size=(2000, looks)).cumsum(axis=1)
    pa, pb = a / n, b / n
    v = np.maximum(pa * (1 - pa) * n / (n - 1), VARIANCE_FLOOR) / n
    v += np.maximum(pb * (1 - pb) * n / (n - 1), VARIANCE_FLOOR) / n
    pooled = n[0] * (pa[:, :1] * (1 - pa[:, :1]) + pb[:, :1] * (1 - pb[:, :1])) / (2 * n[0] - 2)
    p = p_values(pb - pa, v, mixing**2 * np.maximum(pooled, VARIANCE_FLOOR))
    decided = p[:, -1] <= alpha
    at = n[np.argmax(p <= alpha, axis=1)][decided]
    return float(decided.mean()), float(np.median(at)) if at.size else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simulations", type=int, default=20_000)
    parser.add_argument("--looks", default="10,100,1000", help="comma-separated numbers of looks")
    parser.add_argument("--rows", type=int, default=100, help="rows per variant between looks")
    parser.add_argument("--rate", type=float, default=0.1, help="both variants' success rate")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--mixing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--lift", type=float, default=0.01, help="the challenger's true lift (power table)")
    args = parser.parse_args()
    se = math.sqrt(args.alpha * (1 - args.alpha) / args.simulations)
    print(
        f"A/A, Bernoulli({args.rate}) both variants, {args.simulations:,} simulations, alpha {args.alpha}, "
        f"{args.rows} rows per variant per look, mixing {args.mixing}; SE of a rate of alpha: {se:.4f}"
    )
    print(
        f"{'looks':>6} {'rows/variant':>13} {'naive z-test':>13} {'mSPRT':>7} {'false promotions':>17} {'s':>6}"
    )
    for looks in (int(x) for x in args.looks.split(",")):
        began = time.perf_counter()
        r = simulate(args.simulations, looks, args.rows, args.rate, args.alpha, args.mixing, args.seed)
        print(
            f"{looks:>6,} {looks * args.rows:>13,} {r['naive']:>12.1%} {r['msprt']:>7.2%} "
            f"{r['promoted']:>17.2%} {time.perf_counter() - began:>6.1f}"
        )
    fixed = _fixed_horizon(args.rate, args.rate + args.lift, args.alpha)
    print(
        f"\npower: challenger at {args.rate + args.lift:g} vs {args.rate:g}, up to 1,000 looks of {args.rows} rows; "
        f"a fixed-horizon z-test needs {fixed:,} rows per variant for 80 % power"
    )
    print(f"{'mixing':>7} {'decided':>8} {'median rows/variant':>20}")
    for mixing in (0.02, 0.05, 0.1, 0.2, 0.5):
        share, median = power(1000, args.rows, args.rate, args.lift, args.alpha, mixing, args.seed)
        print(f"{mixing:>7g} {share:>8.1%} {median:>20,.0f}")


def _fixed_horizon(p0: float, p1: float, alpha: float, power_: float = 0.8) -> int:
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power_)
    return math.ceil(z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p1 - p0) ** 2)


if __name__ == "__main__":
    main()
