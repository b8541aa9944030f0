"""What an evaluator returns: verdicts (a condition each, with reason and message) and the status
fields it owns. Pure data.

``Unknown`` is its own verdict: a figure that could not be had makes its condition Unknown with the
reason (never True), and too little traffic says ``InsufficientData`` instead of passing or failing,
so low traffic or a dead Prometheus can never trigger an action (policy/verdict.py turns the
verdicts into the phase).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    type: str
    status: str  # True | False | Unknown
    reason: str
    message: str


@dataclass
class Finding:
    """One evaluator's result: its conditions, the ``status`` fields it writes (for example
    ``{"slo": {...}}``; each status field has exactly one owner among the evaluators), and its state."""

    verdicts: list[Verdict] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """What this evaluator keeps for the next evaluation (under its own key; survives restarts in the
    monitor's state ConfigMap, and comes back in ``Observations.state``)."""


def fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.4g}{unit}"
