"""KernelSHAP (sidecar/shap.py) against what Shapley values are: on an additive model the attributions
are the coefficients times the deltas from the background mean, exactly, enumerated or sampled; on
a non-linear model they match brute-force Shapley values; they always sum to f(x) - E_bg f."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from modelmonitor.sidecar import shap


def linear(weights: list[float], bias: float) -> Any:
    def f(rows: list[dict[str, Any]]) -> list[float]:
        return [bias + sum(w * r[f"x{j}"] for j, w in enumerate(weights)) for r in rows]

    return f


def data(m: int, n: int, seed: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    rng = random.Random(seed)
    x = {f"x{j}": rng.uniform(-3, 3) for j in range(m)}
    bg = [{f"x{j}": rng.gauss(j, 2) for j in range(m)} for _ in range(n)]
    return x, bg


@pytest.mark.parametrize(("m", "budget", "exact"), [(4, 1000, True), (12, 60, False)])
def test_a_linear_model_gets_its_coefficients_times_the_deltas(m: int, budget: int, exact: bool) -> None:
    weights = [(-1) ** j * (j + 0.5) for j in range(m)]
    x, bg = data(m, 7, seed=m)
    f = linear(weights, 3.25)
    players = list(x)
    got = shap.explain(f, x, bg, players, budget, random.Random(1))
    assert got.exact is exact
    # distinct coalitions: a sampled duplicate adds its weight to the first
    assert got.coalitions == shap.coalitions_total(m) if exact else 2 * m <= got.coalitions <= budget
    for j, w in enumerate(weights):
        mean = sum(r[f"x{j}"] for r in bg) / len(bg)
        # additive model: exact with any full-rank set of coalitions, sampled too (tolerance 1e-9)
        assert got.values[j] == pytest.approx(w * (x[f"x{j}"] - mean), abs=1e-9)
    assert got.baseline == pytest.approx(sum(f(bg)) / len(bg), abs=1e-12)
    assert sum(got.values) == pytest.approx(f([x])[0] - got.baseline, abs=1e-9)


def nonlinear(rows: list[dict[str, Any]]) -> list[float]:
    return [r["x0"] * r["x1"] + r["x2"] ** 2 + max(r["x0"], r["x3"]) + math.sin(r["x4"] * r["x1"])
            + 0.5 * r["x5"] for r in rows]  # fmt: skip


def brute_force(x: dict[str, float], bg: list[dict[str, float]]) -> list[float]:
    """Shapley values from their definition, the value of S being E_bg f(x_S, bg_~S)."""
    names = list(x)
    m = len(names)

    def v(subset: tuple[int, ...]) -> float:
        rows = [{**b, **{names[j]: x[names[j]] for j in subset}} for b in bg]
        return sum(nonlinear(rows)) / len(rows)

    out = []
    for j in range(m):
        others = [k for k in range(m) if k != j]
        total = 0.0
        for size in range(m):
            w = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for s in itertools.combinations(others, size):
                total += w * (v(tuple(sorted((*s, j)))) - v(s))
        out.append(total)
    return out


def test_a_nonlinear_model_matches_brute_force_shapley_values() -> None:
    x, bg = data(6, 5, seed=3)
    truth = brute_force(x, bg)
    exact = shap.explain(nonlinear, x, bg, list(x), 10_000)
    assert exact.exact and exact.coalitions == 62
    assert list(exact.values) == pytest.approx(truth, abs=1e-9)
    sampled = shap.explain(nonlinear, x, bg, list(x), 40, random.Random(7))
    assert not sampled.exact
    # 40 of 62 coalitions, sizes 1 and 5 enumerated, the rest sampled: within 0.1 of the truth here
    scale = max(abs(t) for t in truth)
    assert max(abs(a - b) for a, b in zip(sampled.values, truth, strict=True)) < 0.1 * scale
    for got in (exact, sampled):
        assert sum(got.values) == pytest.approx(nonlinear([x])[0] - got.baseline, abs=1e-9)


def test_features_that_are_not_players_keep_the_explained_rows_value() -> None:
    x = {"a": 1.0, "secret": "sha256:x", "b": 2.0}
    bg = [{"a": 0.0, "secret": "other", "b": 0.0}] * 2
    the_plan = shap.plan(2, 100)
    rows = shap.perturbed_rows(x, bg, ["a", "b"], the_plan)
    assert len(rows) == shap.rows_needed(2, len(the_plan.coalitions), 2) == 7
    assert all(r["secret"] == "sha256:x" and list(r) == ["a", "secret", "b"] for r in rows)
    assert rows[0] == x and rows[1] == {"a": 0.0, "secret": "sha256:x", "b": 0.0}


def test_plans_are_bounded_reproducible_and_refuse_too_small_a_budget() -> None:
    one = shap.plan(10, 200, random.Random(5))
    assert len(one.coalitions) <= 200 and not one.exact
    assert one == shap.plan(10, 200, random.Random(5))
    assert {len(c) for c in one.coalitions} >= {1, 9}  # the smallest sizes are enumerated whole
    assert shap.budget_for(2048, 20) == 101 and shap.rows_needed(10, 101, 20) == 2041
    with pytest.raises(shap.ShapError, match="too few for 10 features"):
        shap.plan(10, 19)
    with pytest.raises(shap.ShapError, match="singular"):
        shap.gauss([[1.0, 2.0], [2.0, 4.0]], [1.0, 2.0])
    assert shap.gauss([[2.0, 1.0], [1.0, 3.0]], [3.0, 5.0]) == pytest.approx([0.8, 1.4])
