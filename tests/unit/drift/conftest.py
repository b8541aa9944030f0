"""Data makers for the drift tests: seeded, small, and shaped like model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

CITY_SHARES = [0.4, 0.3, 0.2, 0.1]


def make_frame(
    rows: int,
    seed: int,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    city_shares: list[float] | None = None,
    numeric: int = 4,
) -> pd.DataFrame:
    """``numeric`` normal features (x0 shifted by ``shift`` sd, x1 scaled by ``scale``), an integer
    feature, a 4-category ``city`` and a binary ``flag``."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(numeric):
        mean = shift if i == 0 else 0.0
        sd = scale if i == 1 else 1.0
        data[f"x{i}"] = rng.normal(mean, sd, rows)
    data["age"] = rng.integers(18, 90, rows)
    data["city"] = rng.choice(["paris", "lyon", "nice", "lille"], rows, p=city_shares or CITY_SHARES)
    data["flag"] = rng.integers(0, 2, rows)
    return pd.DataFrame(data)
