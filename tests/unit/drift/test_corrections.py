"""Bonferroni and Benjamini-Hochberg adjusted p-values."""

from __future__ import annotations

import numpy as np
import pytest

from modelmonitor.drift.corrections import adjust


def test_bonferroni_multiplies_by_number_of_tests() -> None:
    p = np.array([0.01, 0.02, np.nan, 0.5])
    out = adjust(p, "bonferroni")
    np.testing.assert_allclose(out[[0, 1, 3]], [0.03, 0.06, 1.0])
    assert np.isnan(out[2])


def test_benjamini_hochberg_known_values() -> None:
    # Worked example: sorted p-values times m / rank, then cumulative minimum from the top.
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    out = adjust(p, "bh")
    np.testing.assert_allclose(out, [0.025, 0.05, 0.05, 0.025, 0.2])


def _bh_by_hand(p: np.ndarray) -> np.ndarray:
    """The step-up formula the module used before scipy's false_discovery_control."""
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(monotone, 1.0)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_benjamini_hochberg_equals_the_step_up_formula_on_random_p_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 300))
    p = np.concatenate(
        [rng.uniform(size=m), rng.uniform(0, 1e-4, size=m // 3), np.round(rng.uniform(size=5), 1)]
    )
    p[rng.uniform(size=p.size) < 0.1] = np.nan
    out = adjust(p, "bh")
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(out), ~ok)
    np.testing.assert_allclose(out[ok], _bh_by_hand(p[ok]), rtol=1e-12, atol=0)


def test_none_is_identity_and_unknown_rejected() -> None:
    p = np.array([0.2, 0.01])
    np.testing.assert_array_equal(adjust(p, None), p)
    with pytest.raises(ValueError, match="bonferroni"):
        adjust(p, "holm")
