"""KernelSHAP in pure Python: per-feature attributions of one prediction (no I/O, no numpy).

The sidecar must stay small (no numpy, pandas or scipy: tests/integration/sidecar/
test_sidecar_imports.py), so this is the method of Lundberg & Lee (2017, "A Unified Approach to
Interpreting Model Predictions") written out for the handful of features a model request carries.

- **Value of a coalition** S of features: the mean prediction over the background rows with the
  features of S taken from the explained row x (interventional, features assumed independent):
  v(S) = mean_k f(x_S, bg_k,~S). v(empty) is the **baseline** (the mean prediction over the
  background), v(all) = f(x) the **prediction**.
- **Attributions** phi solve the weighted least squares min sum_S pi(S) (v(S) - v(empty) - sum_{j in
  S} phi_j)^2 with the Shapley kernel pi(S) = (M-1) / (C(M,|S|) |S| (M-|S|)) and the **efficiency
  constraint** sum_j phi_j = f(x) - baseline (eliminated by substitution, so it holds exactly). The
  (M-1)x(M-1) normal equations are solved by Gaussian elimination with partial pivoting. With every
  coalition the solution is the Shapley value exactly; for an additive model f = b + sum_j g_j(x_j) it
  is exact with any full-rank set of coalitions: phi_j = g_j(x_j) - mean_k g_j(bg_kj).
- **Coalitions** (:func:`plan`): all 2^M - 2 of them when ``budget`` allows (``exact``), else as the
  ``shap`` package does: coalition sizes are taken in pairs (s, M-s) from the smallest, each pair
  enumerated whole while the budget left covers it at its kernel weight, and the rest of the budget
  is sampled - a size drawn with the kernel's weight of the sizes left, a uniform subset of that size,
  and its complement - with equal weights sharing the kernel mass those sizes hold. Duplicates add
  their weights. A seeded ``random.Random`` makes a plan reproducible.

Cost: one model evaluation per (coalition + the empty one) x background row, plus x itself:
:func:`rows_needed`. The sidecar sends them as one batch (``sidecar/explain.py``).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Coalition = tuple[int, ...]  # indices of the players taken from x, ascending


class ShapError(ValueError):
    """The attributions cannot be computed (too few coalitions for the features, bad predictions)."""


@dataclass(frozen=True)
class Plan:
    """The coalitions to evaluate and their regression weights; ``exact`` when all were enumerated."""

    players: int
    coalitions: tuple[Coalition, ...]
    weights: tuple[float, ...]
    exact: bool


@dataclass(frozen=True)
class Attribution:
    """One explained prediction: ``values`` aligned with the players, summing to prediction - baseline."""

    baseline: float
    prediction: float
    values: tuple[float, ...]
    coalitions: int
    exact: bool


def coalitions_total(m: int) -> int:
    """Coalitions other than the empty and the full one: 2^m - 2 (0 for m < 2)."""
    return (1 << m) - 2 if m >= 2 else 0


def rows_needed(m: int, coalitions: int, background: int) -> int:
    """Rows the model scores for one explanation: background x (coalitions + the empty one) + x."""
    return background * (coalitions + 1) + 1


def budget_for(max_rows: int, background: int) -> int:
    """The most coalitions one batch of ``max_rows`` rows holds with ``background`` rows each."""
    return max(0, (max_rows - 1) // max(1, background) - 1)


def plan(m: int, budget: int, rng: random.Random | None = None) -> Plan:
    """The coalitions for ``m`` players within ``budget`` coalitions (see the module docstring)."""
    if m < 2:
        return Plan(m, (), (), True)
    total = coalitions_total(m)
    if budget >= total:
        chosen: list[Coalition] = []
        weights: list[float] = []
        for size in range(1, m):
            w = _kernel(m, size)
            for combo in itertools.combinations(range(m), size):
                chosen.append(combo)
                weights.append(w)
        return Plan(m, tuple(chosen), tuple(weights), True)
    if budget < 2 * m:
        raise ShapError(
            f"{budget} coalitions are too few for {m} features (at least {2 * m}): give the batch more "
            "rows or use a smaller background"
        )
    rng = rng or random.Random(0)
    sizes = list(range(1, (m - 1) // 2 + 1 + (m - 1) % 2))  # s = 1 .. ceil((m-1)/2)
    mass = {s: (m - 1) / (s * (m - s)) * (1 if 2 * s == m else 2) for s in sizes}
    total_mass = sum(mass.values())
    picked: dict[Coalition, float] = {}
    left = budget
    left_mass = total_mass
    full_sizes = 0
    for s in sizes:
        paired = 2 * s != m
        count = math.comb(m, s) * (2 if paired else 1)
        if left * mass[s] / left_mass < count - 1e-8:
            break
        w = mass[s] / total_mass / count  # the share of the kernel one coalition of this size holds
        for combo in itertools.combinations(range(m), s):
            picked[combo] = w
            if paired:
                picked[_complement(combo, m)] = w
        left -= count
        left_mass -= mass[s]
        full_sizes += 1
    rest = sizes[full_sizes:]
    if rest and left > 0:
        counts: dict[Coalition, int] = {}
        rest_mass = [mass[s] for s in rest]
        drawn = 0
        while drawn < left:
            s = rng.choices(rest, weights=rest_mass)[0]
            combo = tuple(sorted(rng.sample(range(m), s)))
            counts[combo] = counts.get(combo, 0) + 1
            drawn += 1
            if 2 * s != m and drawn < left:
                other = _complement(combo, m)
                counts[other] = counts.get(other, 0) + 1
                drawn += 1
        share = left_mass / total_mass / drawn
        for combo, n in counts.items():
            picked[combo] = picked.get(combo, 0.0) + n * share
    items = sorted(picked.items(), key=lambda kv: (len(kv[0]), kv[0]))
    return Plan(m, tuple(c for c, _ in items), tuple(w for _, w in items), False)


def _kernel(m: int, size: int) -> float:
    return (m - 1) / (math.comb(m, size) * size * (m - size))


def _complement(combo: Coalition, m: int) -> Coalition:
    inside = set(combo)
    return tuple(j for j in range(m) if j not in inside)


def perturbed_rows(
    x: Mapping[str, Any],
    background: Sequence[Mapping[str, Any]],
    players: Sequence[str],
    the_plan: Plan,
) -> list[dict[str, Any]]:
    """The rows to score, in the order :func:`solve` reads them: x itself; then, for the empty
    coalition and each coalition of the plan, every background row with the coalition's players taken
    from x. Features that are not players keep x's value in every row."""
    return list(iter_rows(x, background, players, the_plan))


def iter_rows(
    x: Mapping[str, Any],
    background: Sequence[Mapping[str, Any]],
    players: Sequence[str],
    the_plan: Plan,
) -> Iterator[dict[str, Any]]:
    """:func:`perturbed_rows` one row at a time (a caller on an event loop can yield between rows)."""
    order = list(x.keys())  # x's own key order in every row: positional encodings follow it
    inside = set(players)
    yield dict(x)
    bases = [[bg[k] if k in inside else x[k] for k in order] for bg in background]
    index = {k: i for i, k in enumerate(order)}
    for combo in ((), *the_plan.coalitions):
        taken = [(index[players[j]], x[players[j]]) for j in combo]
        for base in bases:
            values = list(base)
            for i, v in taken:
                values[i] = v
            yield dict(zip(order, values, strict=True))


def solve(predictions: Sequence[float], background: int, the_plan: Plan) -> Attribution:
    """Attributions from the model's answers to :func:`perturbed_rows` (same order, same plan)."""
    m = the_plan.players
    expected = rows_needed(m, len(the_plan.coalitions), background)
    if len(predictions) != expected:
        raise ShapError(f"{len(predictions)} predictions for {expected} rows")
    values = [float(p) for p in predictions]
    if not all(math.isfinite(v) for v in values):
        raise ShapError("the model answered a prediction that is not a finite number")
    fx = values[0]
    means = [math.fsum(values[1 + i * background : 1 + (i + 1) * background]) / background
             for i in range(len(the_plan.coalitions) + 1)]  # fmt: skip
    baseline = means[0]
    delta = fx - baseline
    if m == 0:
        return Attribution(baseline, fx, (), 0, True)
    if m == 1:
        return Attribution(baseline, fx, (delta,), 0, True)
    # Substitute phi_last = delta - sum(phi_others): regressors z_j - z_last, target v - base - z_last delta.
    n = m - 1
    ata = [[0.0] * n for _ in range(n)]
    aty = [0.0] * n
    for combo, w, v in zip(the_plan.coalitions, the_plan.weights, means[1:], strict=True):
        inside = set(combo)
        last = 1.0 if m - 1 in inside else 0.0
        a = [(1.0 if j in inside else 0.0) - last for j in range(n)]
        y = v - baseline - last * delta
        nonzero = [j for j in range(n) if a[j]]
        for j in nonzero:
            aty[j] += w * a[j] * y
            row = ata[j]
            for k in nonzero:
                row[k] += w * a[j] * a[k]
    phi = gauss(ata, aty)
    phi.append(delta - math.fsum(phi))
    return Attribution(baseline, fx, tuple(phi), len(the_plan.coalitions), the_plan.exact)


def gauss(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve ``matrix @ x = rhs`` by Gaussian elimination with partial pivoting (inputs are copied)."""
    n = len(rhs)
    a = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    scale = max((abs(v) for row in matrix for v in row), default=0.0) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) <= 1e-12 * scale:
            raise ShapError("the coalitions do not determine every feature's attribution (singular system)")
        a[col], a[pivot] = a[pivot], a[col]
        head = a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / head[col]
            if factor:
                row = a[r]
                for c in range(col, n + 1):
                    row[c] -= factor * head[c]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (a[r][n] - math.fsum(a[r][c] * out[c] for c in range(r + 1, n))) / a[r][r]
    return out


def explain(
    f: Callable[[list[dict[str, Any]]], Sequence[float]],
    x: Mapping[str, Any],
    background: Sequence[Mapping[str, Any]],
    players: Sequence[str],
    budget: int,
    rng: random.Random | None = None,
) -> Attribution:
    """KernelSHAP of ``f`` (a batch of rows -> one number per row) at ``x`` in one call of ``f``."""
    the_plan = plan(len(players), budget, rng)
    rows = perturbed_rows(x, background, players, the_plan)
    return solve(list(f(rows)), len(background), the_plan)
