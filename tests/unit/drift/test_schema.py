"""Which reference columns are numeric and which categorical."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelmonitor.drift.schema import infer_schema


def test_numbers_with_few_distinct_values_are_categorical_wherever_the_values_appear() -> None:
    """The first rows settle a column only when they already hold more than a few values; a column
    whose variety comes late, or whose first rows are missing, is still judged on all its values."""
    late = np.zeros(3000)
    late[2500:] = np.arange(500)
    frame = pd.DataFrame(
        {
            "spread": np.arange(3000) * 0.5,
            "late": late,
            "flags": np.arange(3000) % 3,
            "gappy": np.where(np.arange(3000) < 100, np.nan, np.arange(3000) % 4),
            "ties": np.repeat([0.0, -0.0, 1.0, 2.0, 3.0, 4.0], 500),
        }
    )
    kinds = {name: s.type for name, s in infer_schema(frame).items()}
    assert kinds == {
        "spread": "numeric",
        "late": "numeric",
        "flags": "categorical",
        "gappy": "categorical",
        "ties": "categorical",  # 0.0 and -0.0 are one value
    }
