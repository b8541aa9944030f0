"""An A/B test of the target against a challenger Deployment."""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.rules import Model
from modelmonitor.api.spec.types import DNSName, MetricName, Promote


class Challenger(Model):
    deployment: DNSName = Field(description="The challenger model's Deployment.")


class Experiment(Model):
    """An A/B test of the target (champion) against a challenger Deployment."""

    challenger: Challenger = Field(description="The variant tested against the target.")
    metric: MetricName = Field(
        default=MetricName.ACCURACY, description="Metric the variants are compared on."
    )
    minRows: int = Field(default=1000, ge=10, description="Labelled rows per variant before a verdict.")
    confidence: float = Field(default=0.95, ge=0.5, lt=1, description="Confidence required to call a winner.")
    promote: Promote = Field(default=Promote.MANUAL, description="`auto` promotes the winner by itself.")
