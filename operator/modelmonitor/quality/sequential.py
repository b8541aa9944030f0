"""Always-valid comparison of two variants: the mixture sequential probability ratio test (mSPRT).

Johari, Pekelis and Walsh ("Peeking at A/B tests", KDD 2017): with a normal mixture N(0, tau^2) over
the difference theta = mean_challenger - mean_champion, and d the observed difference with variance
V = var_champion/n_champion + var_challenger/n_challenger (plug-in sample variances; the arms may
differ in size), the mixture likelihood ratio against theta = theta0 is

    Lambda(theta0) = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2)))

Under the null it is a martingale, so P(sup over looks of Lambda >= 1/alpha) <= alpha (Ville): one
may look after every interval, as often as one likes. The always-valid p-value is the running
minimum over looks of min(1, 1/Lambda(0)); the confidence sequence is the running intersection of
{theta : Lambda(theta) < 1/alpha}, i.e. d +- sqrt(2 V (V + tau^2) / tau^2 (log(1/alpha) +
log((V + tau^2) / V) / 2)). The p-value drops to alpha or below exactly when the interval leaves 0.

The mixing variance tau^2 is where the test is most powerful: effects of about tau are found
soonest. We take tau = ``mixing`` x the pooled standard deviation of the two arms (``mixing``
defaults to 0.1: effects of a tenth of a standard deviation), frozen at the first look where both
arms have ``min_n`` observations, so it never moves with the data afterwards. Johari et al. fit the
mixture to the effects seen in earlier experiments on the platform; a monitor has no such history,
and a scale-free fraction of the spread is the choice that needs none.

Everything here is O(1) per look in the number of observations: an arm is a count, a mean and a sum
of squared deviations (Welford; batches merged by Chan's formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A constant arm (every row correct) has no spread; its variance is floored so V is never 0.
VARIANCE_FLOOR = 1e-12
SAMPLES_LIMIT = 10**9


@dataclass
class Arm:
    """The running count, mean and sum of squared deviations (M2) of one variant's values."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: ArrayLike) -> None:
        """Fold ``values`` (any shape; flattened) in: one numpy pass, then Chan's merge."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size:
            mean = float(x.mean())
            self.merge(Arm(int(x.size), mean, float(np.square(x - mean).sum())))

    def merge(self, other: Arm) -> None:
        """Fold another arm's statistics in (Chan, Golub and LeVeque's pairwise update)."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n

    @classmethod
    def from_counts(cls, n: int, k: int) -> Arm:
        """A Bernoulli arm: ``k`` successes in ``n`` trials."""
        if not 0 <= k <= n:
            raise ValueError(f"from_counts: {k} successes in {n} trials; pass 0 <= k <= n")
        return cls() if n == 0 else cls(n, k / n, k * (n - k) / n)

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 in the denominator), at least 1e-12 x (1 + mean^2)."""
        raw = self.m2 / (self.n - 1) if self.n > 1 else 0.0
        return max(raw, VARIANCE_FLOOR * (1.0 + self.mean * self.mean))

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arm:
        return cls(int(data["n"]), float(data["mean"]), float(data["m2"]))


def difference_variance(champion: Arm, challenger: Arm) -> float:
    """V: the variance of the difference of the two means (plug-in, unequal sizes)."""
    return champion.variance / champion.n + challenger.variance / challenger.n


def pooled_sd(champion: Arm, challenger: Arm) -> float:
    """The within-arm pooled standard deviation (both arms need 2 observations or more)."""
    m2 = max(champion.m2 + challenger.m2, 0.0)
    spread = m2 / (champion.n + challenger.n - 2)
    return math.sqrt(max(spread, VARIANCE_FLOOR * (1.0 + champion.mean**2 + challenger.mean**2)))


def log_lambda(
    effect: ArrayLike, variance: ArrayLike, tau2: ArrayLike, null: float = 0.0
) -> NDArray[np.float64]:
    """log Lambda(null) of the normal-mixture SPRT, elementwise (effect d, variance V of d, tau^2;
    numpy broadcasting, so a simulation may pass one tau^2 per row)."""
    d, v = np.asarray(effect, dtype=np.float64) - null, np.asarray(variance, dtype=np.float64)
    t2 = np.asarray(tau2, dtype=np.float64)
    out: NDArray[np.float64] = 0.5 * np.log(v / (v + t2)) + t2 * d * d / (2.0 * v * (v + t2))
    return out


def half_width(variance: ArrayLike, tau2: ArrayLike, alpha: float) -> NDArray[np.float64]:
    """Half the width of {theta : Lambda(theta) < 1/alpha} around d, elementwise (broadcasting)."""
    v, t2 = np.asarray(variance, dtype=np.float64), np.asarray(tau2, dtype=np.float64)
    out: NDArray[np.float64] = np.sqrt(
        2.0 * v * (v + t2) / t2 * (math.log(1.0 / alpha) + 0.5 * np.log((v + t2) / v))
    )
    return out


def p_values(effects: ArrayLike, variances: ArrayLike, tau2: ArrayLike) -> NDArray[np.float64]:
    """The always-valid p-values of a sequence of looks (the last axis): the running minimum of
    min(1, 1/Lambda(0)). Vectorized over any leading axes (simulations)."""
    ll = log_lambda(effects, variances, tau2)
    out: NDArray[np.float64] = np.minimum.accumulate(np.exp(-np.maximum(ll, 0.0)), axis=-1)
    return out


@dataclass(frozen=True)
class Look:
    """One look: the observed difference (challenger - champion), the always-valid interval on it
    (None for an unbounded side), the always-valid p-value and the number of looks so far."""

    effect: float
    interval: tuple[float | None, float | None]
    p_value: float
    looks: int
    tested: bool  # False until both arms have min_n observations (then p is 1, the interval open)


@dataclass
class SequentialTest:
    """The running state of one mSPRT: the frozen tau^2, the running minimum p-value and the running
    intersection of the intervals. Small and JSON-able (``to_json``/``from_json``)."""

    alpha: float = 0.05
    mixing: float = 0.1
    min_n: int = 2
    tau2: float | None = None
    p_value: float = 1.0
    low: float = -math.inf
    high: float = math.inf
    looks: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha {self.alpha}: pass a share strictly between 0 and 1")
        if self.mixing <= 0.0:
            raise ValueError(f"mixing {self.mixing}: pass a positive share of the standard deviation")
        self.min_n = max(self.min_n, 2)

    def look(self, champion: Arm, challenger: Arm) -> Look:
        """Fold in the arms as they stand now (their totals, not the rows since the last look)."""
        self.looks += 1
        effect = challenger.mean - champion.mean if champion.n and challenger.n else 0.0
        if min(champion.n, challenger.n) < self.min_n:
            return Look(effect, (None, None), 1.0, self.looks, tested=False)
        if self.tau2 is None:
            self.tau2 = (self.mixing * pooled_sd(champion, challenger)) ** 2
        v = difference_variance(champion, challenger)
        ll = float(log_lambda(effect, v, self.tau2)[()])
        self.p_value = min(self.p_value, math.exp(-max(ll, 0.0)))
        hw = float(half_width(v, self.tau2, self.alpha)[()])
        low, high = max(self.low, effect - hw), min(self.high, effect + hw)
        if low > high:  # this look's interval misses the running one: keep the nearest point of it
            low = high = self.high if effect - hw > self.high else self.low
        self.low, self.high = low, high
        return Look(effect, self.interval, self.p_value, self.looks, tested=True)

    @property
    def interval(self) -> tuple[float | None, float | None]:
        return (_finite(self.low), _finite(self.high))

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "alpha": self.alpha, "mixing": self.mixing, "min_n": self.min_n, "tau2": self.tau2,
            "p_value": self.p_value, "low": low, "high": high, "looks": self.looks,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SequentialTest:
        low, high, tau2 = data.get("low"), data.get("high"), data.get("tau2")
        return cls(
            alpha=float(data["alpha"]),
            mixing=float(data["mixing"]),
            min_n=int(data["min_n"]),
            tau2=None if tau2 is None else float(tau2),
            p_value=float(data["p_value"]),
            low=-math.inf if low is None else float(low),
            high=math.inf if high is None else float(high),
            looks=int(data["looks"]),
        )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def samples_needed(
    champion: Arm, challenger: Arm, tau2: float, alpha: float, *, limit: int = SAMPLES_LIMIT
) -> tuple[int, int] | None:
    """Further observations (champion, challenger) until this look's interval would leave 0, were
    the observed effect and variances to hold, at the current allocation ratio: the smallest m with
    half_width(V / m) < |d|, by bisection; (0, 0) when it already has. None when the effect is 0,
    an arm has fewer than 2 observations, or it would take more than ``limit`` more per variant."""
    if min(champion.n, challenger.n) < 2 or tau2 <= 0.0:
        return None
    d, v = abs(challenger.mean - champion.mean), difference_variance(champion, challenger)
    if d == 0.0:
        return None

    def enough(m: float) -> bool:
        return float(half_width(v / m, tau2, alpha)[()]) < d

    if enough(1.0):
        return (0, 0)
    biggest = max(champion.n, challenger.n)
    hi = 2.0
    while not enough(hi):
        if (hi - 1.0) * biggest > limit:
            return None
        hi *= 2.0
    lo = hi / 2.0
    for _ in range(64):  # the multiplier to within 2^-64 of its range: far below one observation
        mid = (lo + hi) / 2.0
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    more = (math.ceil((hi - 1.0) * champion.n), math.ceil((hi - 1.0) * challenger.n))
    return None if max(more) > limit else more


__all__ = [
    "Arm",
    "Look",
    "SequentialTest",
    "difference_variance",
    "half_width",
    "log_lambda",
    "p_values",
    "pooled_sd",
    "samples_needed",
]
