"""The evaluate stage: one pure evaluator per concern, each a module with

    def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict) -> Finding

taking the spec, what the gather stage observed and the stored status (for counts kept between
evaluations), and returning its verdicts and the status fields it owns. Adding a concern is writing
one module and listing it in ``EVALUATORS``; the evaluators never import one another (an
import-linter contract), and what several of them judge is derived once in
``observations.compare``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate import (
    calibration,
    checks,
    concept,
    drift,
    experiment,
    fairness,
    integrity,
    performance,
    slo,
)
from modelmonitor.evaluate.findings import Finding, Verdict
from modelmonitor.evaluate.observations import Observations, compare

Evaluator = Callable[[ModelMonitorSpec, Observations, dict[str, Any]], Finding]

# In the order their conditions are first listed in status.
EVALUATORS: tuple[Evaluator, ...] = (
    slo.evaluate,
    checks.evaluate,
    drift.evaluate,
    integrity.evaluate,
    performance.evaluate,
    fairness.evaluate,
    concept.evaluate,
    calibration.evaluate,
    experiment.evaluate,
)
# Judged again on an A/B test's challenger, with its own observations: a True one stops it.
GUARDS: tuple[Evaluator, ...] = (slo.evaluate, fairness.evaluate)


@dataclass
class Evaluation:
    verdicts: list[Verdict] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None  # the drift report, for metrics and the retrain Job's env
    state: dict[str, Any] = field(default_factory=dict)  # what to keep for the next evaluation


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Evaluation:
    """Every evaluator on the same observations; each status field (or sub-field of an object, as
    ``performance.segments``) comes from one of them."""
    compare(spec, obs)
    if obs.experiment is not None and obs.experiment.challenger_obs is not None:
        obs.experiment.guards = [
            v for guard in GUARDS for v in guard(spec, obs.experiment.challenger_obs, {}).verdicts
        ]
    out = Evaluation(drift=obs.drift)
    for evaluator in EVALUATORS:
        finding = evaluator(spec, obs, status)
        out.verdicts.extend(finding.verdicts)
        out.state.update(finding.state)
        for key, value in finding.status.items():  # one level deep: performance.segments is fairness's
            held = out.status.get(key)
            out.status[key] = (
                {**held, **value} if isinstance(held, dict) and isinstance(value, dict) else value
            )
    return out
