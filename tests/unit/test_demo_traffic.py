"""The demo's verdicts hold at every run because its traffic stays far from its bounds.

Measured on the generators the demo's client uses, through the demo model's own score with its
flips, over seeded 1000-row windows (``window.maxRows``): the lowest/highest group approval rate of
reference and shifted traffic stays well above ``minRatio``, the unfair traffic's well below; and the
shifted traffic drifts in exactly the two features it moves.
"""

from __future__ import annotations

import random

from scipy import stats

from modelmonitor.demo import manifests
from modelmonitor.demo.data import FEATURES, make_rows
from modelmonitor.demo.model import score
from modelmonitor.demo.traffic import applicants

WINDOWS = 60
ROWS = 1000
MARGIN = 0.1  # what a window's ratio keeps from the bound, either side


def ratio(rows: list[dict[str, object]], rng: random.Random, min_rows: int = 100) -> float:
    approved: dict[object, list[bool]] = {}
    flip = float(manifests.FLIP_RATE)
    for row in rows:
        p = score(row)
        if rng.random() < flip:
            p = 1.0 - p
        approved.setdefault(row["applicant_group"], []).append(p >= 0.5)
    rates = [sum(v) / len(v) for v in approved.values() if len(v) >= min_rows]
    assert len(rates) >= 2
    return min(rates) / max(rates)


def ratios(kind: str) -> list[float]:
    rng = random.Random(7)
    return [ratio(applicants(kind, ROWS, seed=100 + i), rng) for i in range(WINDOWS)]


def test_reference_and_shifted_traffic_stay_clear_of_the_fairness_bound() -> None:
    bound = manifests.FAIRNESS_MIN_RATIO
    for kind in ("normal", "shifted"):
        lowest = min(ratios(kind))
        assert lowest > bound + MARGIN, (kind, lowest, bound)


def test_unfair_traffic_stays_clear_below_the_fairness_bound() -> None:
    highest = max(ratios("unfair"))
    assert highest < manifests.FAIRNESS_MIN_RATIO - MARGIN, highest


def test_shifted_traffic_drifts_in_income_and_debt_ratio_only() -> None:
    reference = make_rows(3000, seed=1)
    current = applicants("shifted", ROWS, seed=3)
    numeric = [f for f in FEATURES if f != "applicant_group"]
    moved = {
        f
        for f in numeric
        if stats.ks_2samp([r[f] for r in reference], [r[f] for r in current]).statistic > manifests.MIN_EFFECT
    }
    assert moved == {"income", "debt_ratio"}
