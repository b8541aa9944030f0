"""The ``status`` of a ModelMonitor: the verdict, in the Kubernetes conventions.

Everything the operator writes is declared here, so the CRD's status schema carries it and the API
server does not prune it. Conditions follow the Kubernetes convention: type, status
True/False/Unknown, CamelCase reason, message, lastTransitionTime (changed only when the status
changes) and observedGeneration. ``phase`` is a one-word summary for the printer column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from modelmonitor.api.rules import Model


class Phase(StrEnum):
    PENDING = "Pending"
    HEALTHY = "Healthy"
    DRIFTING = "Drifting"
    DEGRADED = "Degraded"
    BREACHED = "Breached"
    ROLLED_BACK = "RolledBack"
    UNKNOWN = "Unknown"
    ERROR = "Error"


class ConditionType(StrEnum):
    READY = "Ready"
    SIDECAR_INJECTED = "SidecarInjected"
    DATA_DRIFT = "DataDrift"
    DATA_INTEGRITY = "DataIntegrity"
    CONCEPT_DRIFT = "ConceptDrift"
    PERFORMANCE_DEGRADED = "PerformanceDegraded"
    LABELS_STALE = "LabelsStale"
    SLO_BREACHED = "SLOBreached"
    CHECK_FAILED = "CheckFailed"
    FAIRNESS_VIOLATED = "FairnessViolated"
    GITOPS_MANAGED = "GitOpsManaged"
    EXPERIMENT = "Experiment"
    ROLLBACK_BLOCKED = "RollbackBlocked"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CamelCase = Annotated[str, Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]


class Condition(Model):
    type: Annotated[str, Field(max_length=316)] = Field(description="Condition type, e.g. DataDrift.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: CamelCase = Field(description="Machine-readable CamelCase reason.")
    message: Annotated[str, Field(max_length=32768)] = Field(default="", description="Human-readable detail.")
    lastTransitionTime: str = Field(description="When status last changed (RFC 3339).")
    observedGeneration: int | None = Field(default=None, ge=0, description="Spec generation it was set from.")


class TargetStatus(Model):
    deployment: str | None = None
    revision: str | None = Field(default=None, description="deployment.kubernetes.io/revision of the target.")
    podTemplateHash: str | None = Field(
        default=None, description="Hash of the pod template without the sidecar: changes with the model."
    )
    since: str | None = Field(
        default=None, description="When this pod template was first seen (its window starts)."
    )
    modelVersion: str | None = Field(
        default=None, description="Model version read from spec.target.versionLabel."
    )
    readyReplicas: int | None = None


class SLOStatus(Model):
    requests: float | None = Field(default=None, description="Requests in the window.")
    throughputRps: float | None = None
    latencyP50Ms: float | None = None
    latencyP95Ms: float | None = None
    latencyP99Ms: float | None = None
    errorRate: float | None = None
    cpuUtilization: float | None = None
    memoryUtilization: float | None = None
    gpuUtilization: float | None = None


class CheckStatus(Model):
    name: str
    value: float | None = None
    passed: bool | None = None
    failures: int = Field(default=0, description="Consecutive failing evaluations.")
    reason: str | None = None


class FeatureDrift(Model):
    name: str
    method: str | None = None
    score: float | None = Field(default=None, description="Statistic or distance of the method.")
    pValue: float | None = None
    drifted: bool = False
    reason: str | None = None


class BrokenFeature(Model):
    name: str
    problem: str = Field(description="missing, all null, or type changed from <reference> to <current>.")


class FeatureAttribution(Model):
    name: str
    meanAttribution: float = Field(
        description="Mean attribution over the explanations: its part of the shift."
    )


class DriftAttribution(Model):
    """Which features moved the predictions, from the sidecars' explanations (docs/explanations.md)."""

    explanations: int = Field(description="Explanations averaged (the last 1,000 of each pod at most).")
    output: str | None = Field(default=None, description="What is explained: probabilities[k] or prediction.")
    reference: float | None = Field(default=None, description="Mean prediction over the background.")
    recent: float | None = Field(default=None, description="Mean prediction of the explained requests.")
    shift: float | None = Field(
        default=None, description="recent - reference: the attributions add up to it."
    )
    features: list[FeatureAttribution] = Field(
        default_factory=list,
        max_length=10,
        description="The largest mean attributions (by size), largest first.",
    )


class DriftStatus(Model):
    datasetDrift: bool | None = None
    share: float | None = Field(default=None, description="Share of features that drift (0-1).")
    method: str | None = None
    rows: int | None = None
    referenceRows: int | None = None
    features: list[FeatureDrift] = Field(
        default_factory=list,
        max_length=50,
        description="Top features by score, then those whose data integrity is broken (50 at most).",
    )
    brokenFeatures: list[BrokenFeature] = Field(
        default_factory=list,
        max_length=50,
        description="Features missing from the window, all null, or of another type than in the reference.",
    )
    attribution: DriftAttribution | None = Field(
        default=None,
        description="The drift attribution while spec.explain is on: each feature's part of the shift.",
    )


class SegmentStatus(Model):
    feature: str
    metric: str
    ratio: float | None = Field(default=None, description="Lowest judged group's metric / highest group's.")
    worstGroup: str | None = None
    worstValue: float | None = None
    bestGroup: str | None = None
    bestValue: float | None = None
    groups: int | None = Field(default=None, description="Groups seen.")
    judgedGroups: int | None = Field(default=None, description="Groups with at least minRows rows.")
    rows: int | None = Field(default=None, description="Rows the groups were formed from.")
    passed: bool | None = None


class ConceptStatus(Model):
    detector: str | None = None
    rows: int | None = Field(default=None, description="Labelled predictions fed to the detector so far.")
    detectedAt: str | None = Field(
        default=None, description="Prediction time at which the last rise was detected."
    )
    changeAt: str | None = Field(default=None, description="Estimated start of the last rise.")
    row: int | None = Field(default=None, description="Detector row of the estimated start.")
    errorBefore: float | None = None
    errorAfter: float | None = None


class CalibrationStatus(Model):
    method: str | None = None
    ece: float | None = Field(
        default=None, description="Expected calibration error of the raw scores (held out)."
    )
    brier: float | None = None
    ecePlatt: float | None = Field(default=None, description="ECE after Platt scaling (held out).")
    eceIsotonic: float | None = Field(default=None, description="ECE after isotonic regression (held out).")
    heldOutRows: int | None = None
    fitRows: int | None = Field(
        default=None, description="Labelled rows the published calibrator is fitted on."
    )
    configMap: str | None = Field(default=None, description="Where the fitted calibrator is (ConfigMap/key).")
    reason: str | None = Field(default=None, description="Why nothing was fitted this time.")


class PerformanceStatus(Model):
    task: str | None = None
    summary: str | None = Field(default=None, description="The headline figure, for the printer column.")
    rows: int | None = Field(default=None, description="Captured rows in the window.")
    labelledRows: int | None = None
    labelCoverage: float | None = Field(
        default=None,
        description="Share of rows older than labelDelay (all rows without it) that have a label.",
    )
    labelDelaySeconds: float | None = Field(default=None, description="Median observed delay of the labels.")
    labelsWaiting: int | None = Field(
        default=None, description="Labels whose prediction is in no window yet."
    )
    metrics: dict[str, float] = Field(default_factory=dict, description="Realized metrics on labelled rows.")
    estimated: dict[str, float] = Field(
        default_factory=dict,
        description="CBPE's estimate for the predictions without a label yet (not judged).",
    )
    estimatedRows: int | None = Field(default=None, description="Predictions the estimate is for.")
    bands: dict[str, list[float | None]] = Field(
        default_factory=dict,
        description="Without bounds: each metric's alert band [low, high] from the baseline's chunks.",
    )
    segments: list[SegmentStatus] = Field(default_factory=list, max_length=50)
    concept: ConceptStatus | None = None
    calibration: CalibrationStatus | None = None


class VariantStatus(Model):
    """One variant of an A/B test, as the experiment saw it."""

    deployment: str | None = None
    podTemplateHash: str | None = Field(default=None, description="The pod template being tested.")
    rows: int | None = Field(default=None, description="Rows counted (labelled, or with an outcome).")
    value: float | None = Field(default=None, description="The metric on those rows.")
    readyReplicas: int | None = None
    requests: float | None = Field(default=None, description="Requests served since the experiment began.")
    errorRate: float | None = Field(default=None, description="Errors / requests since the experiment began.")
    latencyP95Ms: float | None = None
    business: float | None = Field(default=None, description="spec.experiment.businessMetric's value.")


class TrafficStatus(Model):
    mode: str | None = Field(default=None, description="replicas or httpRoute.")
    requested: float | None = Field(default=None, description="The challenger's requested share (0-1).")
    actual: float | None = Field(
        default=None, description="The share it got: of the ready pods, or of the route's weights."
    )
    message: str | None = None


class ExperimentStatus(Model):
    """The A/B test: figures per variant, the always-valid effect, its interval and p-value, the decision."""

    state: str | None = Field(
        default=None, description="Running, AwaitingApproval, Promoted, ChampionKept or Aborted."
    )
    decision: str | None = Field(default=None, description="continue, promote, keep or abort.")
    winner: str | None = Field(default=None, description="champion or challenger, once decided.")
    metric: str | None = None
    statistic: str | None = Field(
        default=None, description="What the test compares, e.g. mean squared error."
    )
    effect: float | None = Field(
        default=None, description="Challenger minus champion, in the statistic's units."
    )
    interval: list[float | None] = Field(
        default_factory=list, max_length=2, description="Always-valid confidence interval of the effect."
    )
    pValue: float | None = Field(default=None, description="Always-valid p-value (mSPRT).")
    confidence: float | None = None
    looks: int | None = Field(default=None, description="Evaluations that looked at the test so far.")
    samplesNeeded: int | None = Field(
        default=None, description="Rows per variant still needed, if the effect and variance so far hold."
    )
    startedAt: str | None = None
    decidedAt: str | None = None
    message: str | None = None
    champion: VariantStatus | None = None
    challenger: VariantStatus | None = None
    traffic: TrafficStatus | None = None


class Revision(Model):
    revision: str | None = None
    podTemplateHash: str | None = None
    since: str | None = None


class ActionRecord(Model):
    time: str
    action: str = Field(description="rollback, retrain, alert, autoscale, promote or none.")
    reason: str = Field(description="The condition or check that triggered it.")
    result: str = Field(description="Done, Skipped, Failed or Observed (observe mode).")
    message: str = ""


class ActionStateStatus(Model):
    """What the actions remember between evaluations (so a restart changes no decision)."""

    streaks: dict[str, int] = Field(
        default_factory=dict, description="Consecutive True evaluations per trigger."
    )
    healthySince: str | None = Field(
        default=None, description="Since when the current revision has been Healthy."
    )
    rollbacks: list[str] = Field(
        default_factory=list, max_length=100, description="Rollback times in the last 24h."
    )
    lastRetrain: str | None = Field(default=None, description="When the last retraining Job was started.")
    autoscaler: str | None = Field(
        default=None, description="The HorizontalPodAutoscaler this monitor created."
    )


class RetrainStatus(Model):
    job: str | None = Field(default=None, description="The last retraining Job's name.")
    reason: str | None = None
    startedAt: str | None = None
    outcome: str | None = Field(default=None, description="Running, Succeeded or Failed.")


class RetryStatus(Model):
    """An evaluation that failed (the API server refused a call, or the operator itself failed): when
    the next attempt is due. Cleared by the next evaluation that succeeds."""

    reason: str = Field(description="Why the last attempt failed (e.g. Forbidden, Conflict, APIServerError).")
    failures: int = Field(default=1, ge=1, description="Consecutive failed attempts.")
    since: str = Field(description="When the first of them failed (RFC 3339).")
    nextAttempt: str = Field(description="When the next attempt is due (RFC 3339); doubles up to a cap.")


class ModelMonitorStatus(Model):
    observedGeneration: int | None = None
    phase: Phase | None = None
    conditions: list[Condition] = Field(default_factory=list)
    lastEvaluation: str | None = None
    lastAction: str | None = Field(
        default=None, description="Summary of the last action for the printer column."
    )
    target: TargetStatus | None = None
    slo: SLOStatus | None = None
    checks: list[CheckStatus] = Field(default_factory=list)
    drift: DriftStatus | None = None
    performance: PerformanceStatus | None = None
    experiment: ExperimentStatus | None = None
    lastKnownGoodRevision: Revision | None = None
    actions: list[ActionRecord] = Field(
        default_factory=list, max_length=20, description="The last 20 actions and refusals to act."
    )
    actionState: ActionStateStatus | None = None
    retrain: RetrainStatus | None = None
    retry: RetryStatus | None = None


def set_condition(
    conditions: Sequence[Condition] | Iterable[dict[str, object]],
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: str,
    generation: int | None,
) -> list[Condition]:
    """Return the conditions with ``type`` set; lastTransitionTime moves only when status changes."""
    parsed = [c if isinstance(c, Condition) else Condition.model_validate(c) for c in conditions]
    out: list[Condition] = []
    found = False
    for cond in parsed:
        if cond.type == type:
            found = True
            since = cond.lastTransitionTime if cond.status == status else now
            cond = Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                lastTransitionTime=since,
                observedGeneration=generation,
            )
        out.append(cond)
    if not found:
        out.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                lastTransitionTime=now,
                observedGeneration=generation,
            )
        )
    return out
