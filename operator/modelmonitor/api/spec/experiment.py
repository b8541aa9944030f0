"""An A/B test of the target (the champion) against a challenger Deployment.

The statistics are always valid (mSPRT, quality/sequential.py): the decision may be looked at after
every interval without inflating false promotions. docs/experiments.md says how, with the figures.
"""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import Better, ContainerName, DNSName, Duration, ExperimentMetric, Promote


class Challenger(Model):
    deployment: DNSName = Field(description="The challenger model's Deployment, in the monitor's namespace.")
    container: ContainerName | None = Field(
        default=None,
        description="The challenger's model container; default: the one named as the champion's, else its "
        "only container that is not the sidecar.",
    )


class Outcome(Model):
    """The per-request outcome (``metric: outcome``): the value sent as feedback for the request id."""

    better: Better = Field(default=Better.HIGHER, description="Which way the outcome is better.")
    missing: float | None = Field(
        default=None,
        description="The outcome of a request that got no feedback within `after` (0 for a click that never "
        "came); unset: such a request is not counted.",
    )
    after: Duration = Field(
        default="10m", description="How long a request waits for its outcome before it counts as `missing`."
    )


class HTTPRouteRef(Model):
    """A Gateway API HTTPRoute whose backend weights the operator sets."""

    name: DNSName = Field(description="The HTTPRoute, in the monitor's namespace.")
    championBackend: DNSName = Field(description="The Service (backendRef name) of the champion's pods.")
    challengerBackend: DNSName = Field(description="The Service (backendRef name) of the challenger's pods.")

    rules = (
        Rule(
            cel="self.championBackend != self.challengerBackend",
            message="the champion and the challenger need a backend each",
            check=lambda r: r.championBackend != r.challengerBackend,
            field="challengerBackend",
        ),
    )


class Traffic(Model):
    """How requests are split. Without ``httpRoute`` both variants sit behind the target's Service and
    the operator scales the challenger so its share of the ready pods is ``share``."""

    share: float = Field(default=0.5, gt=0, lt=1, description="The challenger's share of requests (0-1).")
    httpRoute: HTTPRouteRef | None = Field(
        default=None, description="Split by the weights of this HTTPRoute's backends instead of by replicas."
    )


class BusinessMetric(Model):
    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one value, run per variant with `$deployment` replaced by the variant's "
        "Deployment and `$pods` by a regex of its pod names. Reported per variant; guarded by `min`.",
    )
    min: float | None = Field(
        default=None, description="The challenger is stopped when its value falls below this."
    )


class Experiment(Model):
    """An A/B test of the target (champion) against a challenger Deployment."""

    challenger: Challenger = Field(description="The variant tested against the target.")
    metric: ExperimentMetric = Field(
        default=ExperimentMetric.ACCURACY,
        description="What the variants are compared on: a quality metric from joined labels, or `outcome`.",
    )
    outcome: Outcome | None = Field(
        default=None, description="How the per-request outcome is read (metric outcome)."
    )
    traffic: Traffic = Field(
        default_factory=Traffic, description="How requests are split between the variants."
    )
    businessMetric: BusinessMetric | None = Field(
        default=None, description="A PromQL business figure per variant (revenue, CTR)."
    )
    minRows: int = Field(
        default=1000, ge=10, description="Rows (labelled, or with an outcome) per variant before a verdict."
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="1 - alpha of the always-valid test.")
    mixing: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="The mSPRT's mixing standard deviation, in standard deviations of the metric: the size of "
        "effect the test is most sensitive to.",
    )
    batch: int = Field(
        default=100,
        ge=10,
        le=10000,
        description="Rows per batch for metrics that are not a mean over rows (auc, f1, precision, recall, "
        "r2, ece): each batch's value is one observation.",
    )
    promote: Promote = Field(
        default=Promote.MANUAL,
        description="`auto` promotes the winner by itself; `manual` waits for the annotation "
        "modelmonitor.io/promote=approved on the monitor.",
    )

    rules = (
        Rule(
            cel="!has(self.outcome) || self.metric == 'outcome'",
            message="experiment.outcome is read only with metric: outcome",
            check=lambda e: e.outcome is None or e.metric == ExperimentMetric.OUTCOME,
            field="outcome",
        ),
    )
