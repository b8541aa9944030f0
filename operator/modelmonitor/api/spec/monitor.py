"""The whole spec, and the rules that span its sections."""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.durations import cel_seconds
from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.actions import Actions
from modelmonitor.api.spec.drift import Drift
from modelmonitor.api.spec.experiment import Experiment
from modelmonitor.api.spec.explain import Explain
from modelmonitor.api.spec.observability import Check, Prometheus, SLOs
from modelmonitor.api.spec.performance import Performance
from modelmonitor.api.spec.target import Sidecar, Target, Window
from modelmonitor.api.spec.types import Duration, Trigger

_NEEDS_PERFORMANCE = {Trigger.PERFORMANCE_DEGRADED, Trigger.CONCEPT_DRIFT, Trigger.FAIRNESS_VIOLATED}


def _not_shorter(longer: str, shorter: str) -> bool:
    """``duration(longer) >= duration(shorter)`` as CEL evaluates it (false when either cannot convert)."""
    a, b = cel_seconds(longer), cel_seconds(shorter)
    return a is not None and b is not None and a >= b


class ModelMonitorSpec(Model):
    """What to watch, how to judge it and what to do about it."""

    target: Target
    interval: Duration = Field(default="60s", description="Time between two evaluations.")
    window: Window = Field(default_factory=Window, description="The evaluation window.")
    sidecar: Sidecar = Field(default_factory=Sidecar, description="The capture sidecar.")
    prometheus: Prometheus = Field(default_factory=Prometheus, description="The Prometheus to query.")
    slos: SLOs = Field(
        default_factory=SLOs, description="Latency, error, throughput and resource objectives."
    )
    checks: list[Check] = Field(default_factory=list, max_length=50, description="Custom PromQL checks.")
    drift: Drift = Field(default_factory=Drift, description="Data drift of the inputs.")
    performance: Performance | None = Field(default=None, description="Quality from ground-truth feedback.")
    actions: Actions = Field(default_factory=Actions, description="What to do on a breach.")
    experiment: Experiment | None = Field(default=None, description="A/B test against a challenger.")
    explain: Explain = Field(
        default_factory=Explain, description="Per-prediction explanations (off by default)."
    )
    retention: Duration = Field(
        default="720h",
        description="How long captured rows, labels, explanations and audit records are kept (default 30 days).",
    )

    rules = (
        Rule(
            cel="!has(self.retention) || duration(self.retention) >= duration('1h')",
            message="retention must be at least 1h",
            check=lambda s: (cel_seconds(s.retention) or 0.0) >= 3600,
            field="retention",
        ),
        Rule(
            cel="duration(self.interval) >= duration('5s')",
            message="interval must be at least 5s",
            check=lambda s: (cel_seconds(s.interval) or 0.0) >= 5,
            field="interval",
        ),
        Rule(
            cel="!has(self.checks) || self.checks.all(c, self.checks.exists_one(d, d.name == c.name))",
            message="check names must be unique",
            check=lambda s: len({c.name for c in s.checks}) == len(s.checks),
            field="checks",
        ),
        Rule(
            cel="!has(self.actions) || !has(self.actions.rollback) || "
            "duration(self.actions.rollback.cooldown) >= duration(self.interval)",
            message="actions.rollback.cooldown must be at least the interval",
            check=lambda s: (
                s.actions.rollback is None or _not_shorter(s.actions.rollback.cooldown, s.interval)
            ),
            field="actions.rollback.cooldown",
        ),
        Rule(
            cel="!has(self.actions) || !has(self.actions.rollback) || has(self.performance) || "
            "self.actions.rollback.when.all(t, t != 'PerformanceDegraded' && t != 'ConceptDrift' "
            "&& t != 'FairnessViolated')",
            message="rolling back on PerformanceDegraded, ConceptDrift or FairnessViolated needs spec.performance",
            check=lambda s: (
                s.actions.rollback is None
                or s.performance is not None
                or all(t not in _NEEDS_PERFORMANCE for t in s.actions.rollback.when)
            ),
            field="actions.rollback.when",
        ),
        Rule(
            cel="!has(self.experiment) || self.experiment.challenger.deployment != self.target.deployment",
            message="the challenger must be another Deployment than the target",
            check=lambda s: s.experiment is None or s.experiment.challenger.deployment != s.target.deployment,
            field="experiment.challenger.deployment",
        ),
    )
