"""Payloads for the demo credit-scoring model: feature rows and per-protocol request bodies.

``make_rows(n, seed, shift)`` draws ``n`` applicants (10 features, see :data:`FEATURES`) from a fixed
distribution; ``shift`` (in standard deviations, 0 = reference) moves income down and debt ratio up,
for drift demos (``debt_shift``, when given, moves the debt ratio by that many of its standard
deviations instead: negative lowers it); ``make_unfair_rows(n, seed)`` keeps every feature's distribution but gives group B the
riskiest applicants (a fairness demo no per-feature drift test can see). ``make_payload(protocol, rows)`` wraps rows as a request body of one protocol and
``path_for`` gives the model's URL path per protocol.
"""

from __future__ import annotations

import random
from typing import Any

FEATURES: tuple[str, ...] = (
    "income",  # yearly, EUR
    "debt_ratio",  # share 0-1 of income spent on debt
    "age",  # years
    "credit_history_months",
    "applicant_group",  # category "A" | "B" | "C" (a protected attribute for fairness demos)
    "num_accounts",
    "late_payments",  # in the last 24 months
    "loan_amount",  # EUR
    "employment_years",
    "home_owner",  # 0 | 1
)
GROUPS = ("A", "B", "C")
# The demo model's 30th percentile of P(approve) over make_rows(3000, seed=1), scored as group A.
RISKIEST_30 = 0.4695
PROTOCOLS = ("kserve-v1", "kserve-v2", "mlflow", "json")


def path_for(protocol: str, name: str = "credit") -> str:
    """The demo model's URL path for a protocol."""
    return {
        "kserve-v1": f"/v1/models/{name}:predict",
        "kserve-v2": f"/v2/models/{name}/infer",
        "mlflow": "/invocations",
        "json": "/predict",
    }[protocol]


def make_rows(
    n: int, seed: int = 0, shift: float = 0.0, debt_shift: float | None = None
) -> list[dict[str, Any]]:
    """``n`` applicant records; ``shift`` > 0 lowers income and raises debt ratio (drift);
    ``debt_shift`` moves the debt ratio by its own count of standard deviations (0.12) instead."""
    rng = random.Random(seed)
    debt_mean = 0.32 + (0.08 * shift if debt_shift is None else 0.12 * debt_shift)
    rows = []
    for _ in range(n):
        income = max(8000.0, rng.lognormvariate(10.7 - 0.35 * shift, 0.45))
        debt = min(0.95, max(0.0, rng.gauss(debt_mean, 0.12)))
        age = int(min(80, max(18, rng.gauss(41, 12))))
        rows.append(
            {
                "income": round(income, 2),
                "debt_ratio": round(debt, 4),
                "age": age,
                "credit_history_months": int(min((age - 18) * 12, max(0, rng.gauss(90, 50)))),
                "applicant_group": rng.choices(GROUPS, weights=(0.5, 0.3, 0.2))[0],
                "num_accounts": int(max(0, rng.gauss(4, 2))),
                "late_payments": int(min(12, rng.expovariate(1.3))),
                "loan_amount": round(max(500.0, rng.lognormvariate(9.3, 0.6)), 2),
                "employment_years": round(max(0.0, rng.gauss(8, 6)), 1),
                "home_owner": int(rng.random() < 0.45),
            }
        )
    return rows


def make_unfair_rows(n: int, seed: int = 0, group: str = "B") -> list[dict[str, Any]]:
    """``n`` applicants drawn as :func:`make_rows` draws them, but ``group`` is given to the 30 % the
    demo model scores lowest (the riskiest; its share in the reference is 30 % too) and the other
    groups keep their 5:2 proportion: every feature keeps its distribution, yet the model approves
    that group far less often."""
    from modelmonitor.demo.model import score  # the model module imports this one

    rows = make_rows(n, seed=seed)
    rng = random.Random(seed * 7 + 1)
    others = [g for g in GROUPS if g != group]
    for row in rows:
        if score({**row, "applicant_group": GROUPS[0]}) < RISKIEST_30:
            row["applicant_group"] = group
        else:
            row["applicant_group"] = rng.choices(others, weights=(0.5, 0.2))[0]
    return rows


def make_payload(
    protocol: str, rows: list[dict[str, Any]], name: str = "credit"
) -> dict[str, Any] | list[Any]:
    """A request body for ``protocol`` carrying ``rows`` (all rows share the first row's keys)."""
    columns = list(rows[0]) if rows else list(FEATURES)
    if protocol == "kserve-v1":
        return {"instances": rows}
    if protocol == "kserve-v2":
        inputs = []
        for col in columns:
            data = [r[col] for r in rows]
            if all(isinstance(v, str) for v in data):
                dtype = "BYTES"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in data):
                dtype = "INT64"
            else:
                dtype = "FP64"
            inputs.append({"name": col, "shape": [len(rows)], "datatype": dtype, "data": data})
        return {"id": "demo", "inputs": inputs}
    if protocol == "mlflow":
        return {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}}
    if protocol == "json":
        return rows[0] if len(rows) == 1 else rows
    raise ValueError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
