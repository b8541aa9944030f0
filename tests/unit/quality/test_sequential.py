"""The mSPRT: arms merged exactly, the closed form against its defining integral, the running state,
and A/A simulations where the naive z-test checked at every look fails and the mSPRT does not."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from modelmonitor.quality.sequential import (
    Arm,
    SequentialTest,
    difference_variance,
    half_width,
    log_lambda,
    p_values,
    samples_needed,
)


def test_arm_chunks_merge_to_the_statistics_of_the_concatenation() -> None:
    rng = np.random.default_rng(1)
    chunks = [rng.normal(5.0, 2.0, size) for size in (1, 0, 7, 1000, 3, 250)]
    arm = Arm()
    for chunk in chunks:
        arm.add(chunk)
    everything = np.concatenate(chunks)
    assert arm.n == everything.size
    assert arm.mean == pytest.approx(everything.mean(), rel=1e-12)
    assert arm.variance == pytest.approx(everything.var(ddof=1), rel=1e-10)
    left, right = Arm(), Arm()
    left.add(everything[:400])
    right.add(everything[400:])
    left.merge(right)
    assert (left.n, left.mean) == (arm.n, pytest.approx(arm.mean, rel=1e-12))
    assert left.variance == pytest.approx(arm.variance, rel=1e-10)


def test_bernoulli_counts_equal_the_zeros_and_ones_and_a_constant_arm_has_a_floor() -> None:
    ones = np.r_[np.ones(37), np.zeros(63)]
    counted, added = Arm.from_counts(100, 37), Arm()
    added.add(ones)
    assert counted.n == added.n == 100
    assert counted.mean == pytest.approx(added.mean) and counted.variance == pytest.approx(ones.var(ddof=1))
    constant = Arm()
    constant.add(np.ones(500))
    assert 0.0 < constant.variance < 1e-10
    with pytest.raises(ValueError, match="successes"):
        Arm.from_counts(10, 11)
    assert Arm.from_json(json.loads(json.dumps(counted.to_json()))) == counted


def _mixture_ratio(d: float, v: float, tau2: float, null: float) -> float:
    """Lambda(null) from its definition: the likelihood of d averaged over theta ~ N(null, tau^2),
    over its likelihood at theta = null, integrated numerically."""
    sd, spread = math.sqrt(v), math.sqrt(tau2)
    value, _ = integrate.quad(
        lambda t: stats.norm.pdf(d, t, sd) * stats.norm.pdf(t, null, spread),
        null - 12 * spread,
        null + 12 * spread,
        points=[d],
    )
    return float(value / stats.norm.pdf(d, null, sd))


def test_p_value_and_interval_on_a_hand_computed_case() -> None:
    # 800/1000 right against 850/1000. Sample variances 160/999 and 127.5/999, so V = 287.5/999,000;
    # the pooled sd^2 is 287.5/1998 and tau^2 = 0.1^2 of it = 287.5/199,800: V/tau^2 = 0.2 exactly.
    # Lambda(0) = sqrt(1/6) exp(d^2/(2V) * 5/6) with d = 0.05: sqrt(1/6) e^(4.34348 * 5/6) = 15.236;
    # half width = sqrt(2V * 1.2 * (log 20 + log(6)/2)) = sqrt(6.9069e-4 * 3.89161) = 0.051845.
    champion, challenger = Arm.from_counts(1000, 800), Arm.from_counts(1000, 850)
    test = SequentialTest(alpha=0.05, mixing=0.1)
    look = test.look(champion, challenger)
    v = difference_variance(champion, challenger)
    assert v == pytest.approx(287.5 / 999_000, rel=1e-12)
    assert test.tau2 == pytest.approx(287.5 / 199_800, rel=1e-12)
    assert look.effect == pytest.approx(0.05)
    assert look.p_value == pytest.approx(1 / 15.236, rel=1e-4)
    low, high = look.interval
    assert (low, high) == (pytest.approx(0.05 - 0.051845, abs=1e-6), pytest.approx(0.05 + 0.051845, abs=1e-6))
    assert look.tested and look.looks == 1
    # The closed form is the mixture likelihood ratio it claims to be ...
    tau2 = float(test.tau2)
    assert math.exp(float(log_lambda(0.05, v, tau2)[()])) == pytest.approx(
        _mixture_ratio(0.05, v, tau2, 0.0), rel=1e-6
    )
    # ... and the interval's ends are exactly where that ratio reaches 1/alpha.
    assert low is not None and high is not None
    for end in (low, high):
        assert _mixture_ratio(0.05, v, tau2, end) == pytest.approx(20.0, rel=1e-6)


def test_the_running_state_keeps_the_smallest_p_and_the_intersection_and_tau_stays_frozen() -> None:
    rng = np.random.default_rng(7)
    champion, challenger, test = Arm(), Arm(), SequentialTest(alpha=0.05, min_n=50)
    effects, variances, looks = [], [], []
    early = test.look(champion, challenger)
    assert (early.tested, early.p_value, early.interval) == (False, 1.0, (None, None))
    for _ in range(30):
        champion.add(rng.normal(0.0, 1.0, 40))
        challenger.add(rng.normal(0.1, 1.0, 40))
        look = test.look(champion, challenger)
        if look.tested:
            effects.append(challenger.mean - champion.mean)
            variances.append(difference_variance(champion, challenger))
            looks.append(look)
    first_tau2 = test.tau2
    challenger.add(rng.normal(0.1, 25.0, 1000))  # a burst of spread does not move tau
    test.look(champion, challenger)
    assert test.tau2 == first_tau2 and test.looks == 32
    ps = [look.p_value for look in looks]
    assert ps == sorted(ps, reverse=True)
    assert np.allclose(ps, p_values(effects, variances, float(first_tau2 or 0.0)))
    for before, after in itertools.pairwise(looks):
        assert before.interval[0] <= after.interval[0] <= after.interval[1] <= before.interval[1]  # type: ignore[operator]
    restored = SequentialTest.from_json(json.loads(json.dumps(test.to_json(), allow_nan=False)))
    assert restored == test


def test_samples_needed_is_the_first_size_whose_interval_leaves_zero() -> None:
    champion, challenger = Arm.from_counts(1000, 800), Arm.from_counts(1000, 850)
    tau2 = 287.5 / 199_800  # as frozen above; the interval at 1,000 rows each still holds 0
    more = samples_needed(champion, challenger, tau2, 0.05)
    assert more is not None and more[0] == more[1] > 0

    def width(extra: int) -> float:
        grown = [Arm(a.n + extra, a.mean, a.variance * (a.n + extra - 1)) for a in (champion, challenger)]
        return float(half_width(difference_variance(*grown), tau2, 0.05)[()])

    assert width(more[0]) < 0.05 <= width(more[0] - 1)
    assert samples_needed(champion, Arm.from_counts(1000, 800), tau2, 0.05) is None  # no effect
    assert samples_needed(champion, Arm.from_counts(1000, 801), tau2, 0.05, limit=10_000) is None
    assert samples_needed(Arm.from_counts(1000, 500), challenger, tau2, 0.05) == (0, 0)


SIMULATIONS, LOOKS, ROWS, RATE, ALPHA = 2000, 100, 100, 0.1, 0.05


def _aa_paths(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Successes so far of two identical Bernoulli(0.1) arms, ROWS more each per look, and n."""
    rng = np.random.default_rng(seed)
    a = rng.binomial(ROWS, RATE, size=(SIMULATIONS, LOOKS)).cumsum(axis=1)
    b = rng.binomial(ROWS, RATE, size=(SIMULATIONS, LOOKS)).cumsum(axis=1)
    return a, b, ROWS * np.arange(1, LOOKS + 1)


def test_aa_simulation_the_msprt_holds_alpha_where_the_naive_z_test_at_every_look_does_not() -> None:
    a, b, n = _aa_paths(seed=2017)
    pa, pb = a / n, b / n
    var_a, var_b = pa * (1 - pa) * n / (n - 1), pb * (1 - pb) * n / (n - 1)
    floor = 1e-12 * (1 + pa**2), 1e-12 * (1 + pb**2)
    v = np.maximum(var_a, floor[0]) / n + np.maximum(var_b, floor[1]) / n
    d = pb - pa
    # tau frozen at the first look, as SequentialTest does: 0.1 x the pooled sd of that look
    m2 = a[:, :1] * (n[0] - a[:, :1]) / n[0] + b[:, :1] * (n[0] - b[:, :1]) / n[0]
    tau2 = (0.1 * np.sqrt(np.maximum(m2 / (2 * n[0] - 2), 1e-12))) ** 2
    msprt = p_values(d, v, tau2)[:, -1] <= ALPHA
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(d) / np.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)
    naive = (z > stats.norm.ppf(1 - ALPHA / 2)).any(axis=1)
    bound = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / SIMULATIONS)  # alpha + 2 binomial SEs
    assert msprt.mean() <= bound
    assert naive.mean() > 2 * ALPHA  # checked 100 times, the z-test calls a winner far more often
    # The vectorized figures are the SequentialTest's: one path replayed look by look agrees.
    test = SequentialTest(alpha=ALPHA)
    for k in range(LOOKS):
        look = test.look(Arm.from_counts(int(n[k]), int(a[3, k])), Arm.from_counts(int(n[k]), int(b[3, k])))
    assert look.p_value == pytest.approx(p_values(d[3], v[3], tau2[3])[-1], rel=1e-9)
