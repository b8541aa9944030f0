"""Prometheus, the service-level objectives and the custom PromQL checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelmonitor.api.durations import cel_seconds
from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import ContainerName, Duration, Share, within


class Prometheus(Model):
    """Where latency, error and resource figures come from."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=2048,
        description="Prometheus base URL; default: the operator's --prometheus-url setting.",
    )
    timeout: Duration = Field(
        default="5s", description="Timeout of one PromQL query (more than 0s, at most 5m)."
    )

    rules = (
        Rule(
            cel="duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('5m')",
            message="prometheus.timeout must be more than 0s and at most 5m",
            check=lambda p: 0 < (cel_seconds(p.timeout) or 0.0) <= 300,
            field="timeout",
        ),
    )


class SLOs(Model):
    """Service-level objectives; a breach sets SLOBreached. Omitted objectives are not checked."""

    latencyP95Ms: float | None = Field(default=None, ge=0, description="Highest allowed p95 latency, in ms.")
    latencyP99Ms: float | None = Field(default=None, ge=0, description="Highest allowed p99 latency, in ms.")
    errorRate: Share | None = Field(default=None, description="Highest allowed share of 5xx responses (0-1).")
    minThroughput: float | None = Field(default=None, ge=0, description="Lowest allowed requests per second.")
    cpuUtilization: Annotated[float, Field(gt=0, le=10)] | None = Field(
        default=None, description="Highest allowed CPU use as a share of the container's limit."
    )
    memoryUtilization: Share | None = Field(
        default=None, description="Highest allowed memory use as a share of the container's limit (0-1)."
    )
    gpuUtilization: Share | None = Field(default=None, description="Highest allowed GPU utilisation (0-1).")
    minRequests: int = Field(
        default=100, ge=0, description="Below this many requests in the window, SLOs report InsufficientData."
    )

    rules = (
        Rule(
            cel="!has(self.latencyP95Ms) || !has(self.latencyP99Ms) || self.latencyP95Ms <= self.latencyP99Ms",
            message="latencyP95Ms must not exceed latencyP99Ms",
            check=lambda s: within(s.latencyP95Ms, s.latencyP99Ms),
            field="latencyP95Ms",
        ),
    )


class Check(Model):
    """A PromQL query whose single value must stay within bounds, as in Flagger and Argo Rollouts."""

    name: ContainerName = Field(description="Name of the check, unique in the monitor.")
    query: str = Field(min_length=1, max_length=4096, description="PromQL returning one value.")
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")
    failureLimit: int = Field(
        default=1, ge=1, le=100, description="Consecutive failing evaluations before CheckFailed is set."
    )

    rules = (
        Rule(
            cel="has(self.min) || has(self.max)",
            message="a check needs min, max or both",
            check=lambda c: c.min is not None or c.max is not None,
        ),
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            check=lambda c: within(c.min, c.max),
            field="min",
        ),
    )
