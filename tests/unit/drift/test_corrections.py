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


def test_none_is_identity_and_unknown_rejected() -> None:
    p = np.array([0.2, 0.01])
    np.testing.assert_array_equal(adjust(p, None), p)
    with pytest.raises(ValueError, match="bonferroni"):
        adjust(p, "holm")
