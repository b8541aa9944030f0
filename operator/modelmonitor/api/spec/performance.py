"""Quality from ground-truth feedback: metrics, concept drift and fairness segments."""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import (
    Calibration,
    Detector,
    Duration,
    MetricName,
    SegmentMetric,
    Share,
    Task,
    within,
)


class Metric(Model):
    name: MetricName = Field(description="Metric computed from predictions joined with ground truth.")
    min: float | None = Field(default=None, description="Lowest acceptable value.")
    max: float | None = Field(default=None, description="Highest acceptable value.")

    rules = (
        Rule(
            cel="has(self.min) || has(self.max)",
            message="a metric needs min, max or both",
            check=lambda m: m.min is not None or m.max is not None,
        ),
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            check=lambda m: within(m.min, m.max),
            field="min",
        ),
    )


class ConceptDrift(Model):
    detector: Detector = Field(
        default=Detector.ADWIN, description="Streaming detector over the error stream."
    )
    delta: float = Field(
        default=0.002, gt=0, lt=1, description="Detector confidence parameter (ADWIN delta)."
    )


class Segment(Model):
    """A fairness check: a metric per group of a feature, compared to the best group."""

    feature: str = Field(
        min_length=1, max_length=253, description="Input feature whose values form the groups."
    )
    metric: SegmentMetric = Field(
        default=SegmentMetric.APPROVAL_RATE, description="Metric compared across groups."
    )
    minRatio: Share = Field(
        default=0.8, description="Lowest group's metric / highest group's (0.8 = 4/5 rule)."
    )
    minRows: int = Field(default=100, ge=1, description="Groups with fewer rows are reported, not judged.")


class Performance(Model):
    """Quality from ground truth fed back to the sidecar."""

    task: Task = Field(description="What the model predicts.")
    positiveLabel: str | None = Field(
        default=None, max_length=253, description="The positive class for binary metrics; default: 1 / true."
    )
    metrics: list[Metric] = Field(
        default_factory=list, max_length=50, description="Metrics and their bounds."
    )
    minLabels: int = Field(default=200, ge=1, description="Below this many labelled rows: InsufficientData.")
    labelDelay: Duration | None = Field(
        default=None,
        description="How long ground truth takes to arrive after the prediction: label coverage is measured on "
        "rows older than this, and LabelsStale is raised when no label arrived for twice this long.",
    )
    conceptDrift: ConceptDrift | None = Field(default=None, description="Concept-drift detection on errors.")
    calibration: Calibration = Field(
        default=Calibration.NONE, description="Recalibration fitted on feedback."
    )
    segments: list[Segment] = Field(default_factory=list, max_length=50, description="Fairness by segment.")

    rules = (
        Rule(
            cel="self.task != 'regression' || !has(self.segments) || self.segments.all(s, s.metric != 'approval_rate')",
            message="approval_rate segments need a classification task",
            check=lambda p: (
                p.task != Task.REGRESSION or all(s.metric != SegmentMetric.APPROVAL_RATE for s in p.segments)
            ),
            field="segments",
        ),
    )
