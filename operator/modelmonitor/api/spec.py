"""The ``spec`` of a ModelMonitor: every field with its type, default, bounds and description.

These models are the single source of the contract: the CRD in crds/ is generated from them
(``modelmonitor crd``), ``modelmonitor validate`` checks manifests with them, and the operator parses
every spec through them. Field names are the YAML names (camelCase) on purpose.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from modelmonitor.api.durations import DURATION_PATTERN, parse_duration
from modelmonitor.api.rules import Model, Rule

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
DNSName = Annotated[
    str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", max_length=253)
]
ContainerName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
ServiceAccountName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]
Quantity = Annotated[
    str | int,
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
            "x-kubernetes-int-or-string": True,
        }
    ),
]
FreeObject = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
]


class Protocol(StrEnum):
    AUTO = "auto"
    KSERVE_V1 = "kserve-v1"
    KSERVE_V2 = "kserve-v2"
    MLFLOW = "mlflow"
    JSON = "json"


class DriftMethod(StrEnum):
    AUTO = "auto"
    KS = "ks"
    PSI = "psi"
    WASSERSTEIN = "wasserstein"
    JENSENSHANNON = "jensenshannon"
    CHISQUARE = "chisquare"


class Correction(StrEnum):
    NONE = "none"
    BONFERRONI = "bonferroni"
    BH = "bh"


class Task(StrEnum):
    BINARY = "binary-classification"
    MULTICLASS = "multiclass-classification"
    REGRESSION = "regression"


class MetricName(StrEnum):
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    AUC = "auc"
    LOGLOSS = "logloss"
    BRIER = "brier"
    ECE = "ece"
    RMSE = "rmse"
    MAE = "mae"
    MAPE = "mape"
    R2 = "r2"
    POSITIVE_RATE = "positive_rate"


class SegmentMetric(StrEnum):
    APPROVAL_RATE = "approval_rate"
    ACCURACY = "accuracy"
    ERROR_RATE = "error_rate"
    TRUE_POSITIVE_RATE = "true_positive_rate"
    FALSE_POSITIVE_RATE = "false_positive_rate"


class Detector(StrEnum):
    ADWIN = "adwin"
    DDM = "ddm"
    PAGE_HINKLEY = "page-hinkley"


class Calibration(StrEnum):
    NONE = "none"
    PLATT = "platt"
    ISOTONIC = "isotonic"


class ActionMode(StrEnum):
    ENFORCE = "enforce"
    OBSERVE = "observe"


class Trigger(StrEnum):
    """Conditions that actions and alerts can be keyed on."""

    DATA_DRIFT = "DataDrift"
    CONCEPT_DRIFT = "ConceptDrift"
    PERFORMANCE_DEGRADED = "PerformanceDegraded"
    SLO_BREACHED = "SLOBreached"
    CHECK_FAILED = "CheckFailed"
    FAIRNESS_VIOLATED = "FairnessViolated"


class AlertFormat(StrEnum):
    ALERTMANAGER = "alertmanager"
    SLACK = "slack"
    JSON = "json"


class Promote(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


def _within(low: float | None, high: float | None) -> bool:
    return low is None or high is None or low <= high


# ---------------------------------------------------------------------------------------------- target


class Target(Model):
    """The model Deployment to watch, in the monitor's own namespace."""

    deployment: DNSName = Field(description="Name of the model's Deployment, in the monitor's namespace.")
    container: ContainerName | None = Field(
        default=None, description="The model container in the pod; default: the pod's first container."
    )
    port: Port = Field(default=8080, description="The port the model container serves predictions on.")
    protocol: Protocol = Field(
        default=Protocol.AUTO,
        description="Payload format of the model's API; `auto` sniffs KServe v1/v2, MLflow or JSON records.",
    )
    versionLabel: str = Field(
        default="app.kubernetes.io/version",
        max_length=317,
        description="Pod-template label or annotation that holds the model version shown in logs and status.",
    )


class Window(Model):
    """How much captured traffic one evaluation looks at."""

    maxRows: int = Field(
        default=10000, ge=100, le=1_000_000, description="Most recent rows kept per evaluation."
    )
    maxAge: Duration = Field(default="1h", description="Rows older than this are left out of the window.")


class ResourceRequirements(Model):
    """Kubernetes resource requests and limits for the injected sidecar."""

    requests: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, str | int](cpu="50m", memory="64Mi"),
        description="Resource requests.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, str | int](memory="256Mi"), description="Resource limits."
    )


class Sidecar(Model):
    """The capture sidecar the operator injects beside the model container."""

    inject: bool = Field(default=True, description="Inject the sidecar; false removes what was injected.")
    image: str | None = Field(
        default=None,
        max_length=512,
        description="Sidecar image; default: the operator's own. Honoured only when the chart lists it in "
        "`sidecar.allowedImages`; any other image is refused (Ready=False, ImageNotAllowed) and nothing is injected.",
    )
    listenPort: Port = Field(
        default=8480, description="Port the sidecar proxies on (the Service routes here)."
    )
    adminPort: Port = Field(
        default=8481, description="Port of the sidecar's window, feedback and metrics API."
    )
    routeService: bool = Field(
        default=True,
        description="Point Services that send traffic to the model's port at the sidecar, once every replica runs it.",
    )
    redact: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        max_length=100,
        description="Input fields removed from logs and windows (e.g. ssn).",
    )
    detectPII: bool = Field(
        default=False, description="Also redact e-mail addresses and card numbers found in values."
    )
    sampleRate: Share = Field(default=1.0, description="Share of requests captured (0-1); all are forwarded.")
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements, description="The sidecar container's resources."
    )

    rules = (
        Rule(
            cel="self.listenPort != self.adminPort",
            message="listenPort and adminPort must differ",
            check=lambda s: s.listenPort != s.adminPort,
            field="adminPort",
        ),
    )


class Prometheus(Model):
    """Where latency, error and resource figures come from."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=2048,
        description="Prometheus base URL; default: the operator's --prometheus-url setting.",
    )
    timeout: Duration = Field(default="5s", description="Timeout of one PromQL query.")


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
            check=lambda s: _within(s.latencyP95Ms, s.latencyP99Ms),
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
            check=lambda c: _within(c.min, c.max),
            field="min",
        ),
    )


# ----------------------------------------------------------------------------------------------- drift


class ConfigMapKeyRef(Model):
    name: DNSName = Field(description="ConfigMap name, in the monitor's namespace.")
    key: str = Field(
        default="profile.json", min_length=1, max_length=253, description="Key holding the profile."
    )


class Capture(Model):
    rows: int = Field(
        default=5000,
        ge=100,
        le=1_000_000,
        description="Rows captured after injection to build the reference.",
    )


class Reference(Model):
    """Where the reference profile comes from: at most one source; none means capture."""

    configMapRef: ConfigMapKeyRef | None = Field(
        default=None, description="A profile built by `modelmonitor profile`, stored in a ConfigMap."
    )
    url: str | None = Field(
        default=None, pattern=r"^https?://", max_length=2048, description="A profile URL."
    )
    capture: Capture | None = Field(
        default=None,
        description="Capture the first rows after injection (the default when no source is set).",
    )

    rules = (
        Rule(
            cel="[has(self.configMapRef), has(self.url), has(self.capture)].filter(x, x).size() <= 1",
            message="set at most one reference source: configMapRef, url or capture",
            check=lambda r: sum(x is not None for x in (r.configMapRef, r.url, r.capture)) <= 1,
        ),
    )


class Drift(Model):
    """Data drift of the inputs against a reference profile."""

    reference: Reference = Field(default_factory=Reference, description="The reference profile's source.")
    method: DriftMethod = Field(
        default=DriftMethod.AUTO,
        description="Test per feature; `auto` picks by column type and window size (see docs/drift.md).",
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="Drift threshold of the method (p-value or distance); default per method.",
    )
    correction: Correction = Field(
        default=Correction.NONE, description="Multiple-testing correction of p-values."
    )
    minEffect: float | None = Field(
        default=None, ge=0, description="Also require this effect size (distance) before a feature drifts."
    )
    driftShare: Share = Field(
        default=0.5, description="Dataset drift when this share of features drift (0-1)."
    )
    minRows: int = Field(
        default=500, ge=1, description="Below this many rows, drift reports InsufficientData."
    )
    features: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, max_length=1000, description="Features to test; default: all in the reference."
    )

    rules = (
        Rule(
            cel="!has(self.threshold) || self.method != 'auto'",
            message="threshold needs a method other than auto (auto mixes p-value tests and distances)",
            check=lambda d: d.threshold is None or d.method != DriftMethod.AUTO,
            field="threshold",
        ),
    )


# ------------------------------------------------------------------------------------------ performance


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
            check=lambda m: _within(m.min, m.max),
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


# ---------------------------------------------------------------------------------------------- actions


class Rollback(Model):
    when: list[Trigger] = Field(
        min_length=1, max_length=6, description="Conditions that roll the model back."
    )
    consecutive: int = Field(
        default=3, ge=1, le=100, description="Evaluations the condition must hold first."
    )
    cooldown: Duration = Field(default="30m", description="Least time between two rollbacks.")
    maxPerDay: int = Field(default=3, ge=0, le=100, description="Most rollbacks in any 24 hours.")
    allowGitOps: bool = Field(
        default=False, description="Roll back even when Argo CD or Flux manages the Deployment."
    )


class Retrain(Model):
    when: list[Trigger] = Field(
        min_length=1, max_length=6, description="Conditions that start a retraining Job."
    )
    jobTemplate: FreeObject = Field(
        description="A batch/v1 Job spec template (like a CronJob's jobTemplate)."
    )
    serviceAccountName: ServiceAccountName = Field(
        description="ServiceAccount the Job's pods run as, in the monitor's namespace; it overrides any "
        "serviceAccountName in jobTemplate. Jobs start only in a namespace labelled modelmonitor.io/retrain=true."
    )
    cooldown: Duration = Field(default="6h", description="Least time between two retraining Jobs.")


class SecretKeyRef(Model):
    name: DNSName = Field(description="Secret name, in the monitor's namespace.")
    key: str = Field(min_length=1, max_length=253, description="Key holding the URL.")


class UrlFrom(Model):
    secretKeyRef: SecretKeyRef = Field(
        description="The Secret key that holds the webhook URL. The operator reads only a Secret "
        'labelled modelmonitor.io/webhook: "true".'
    )


class Webhook(Model):
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048, description="Webhook URL.")
    urlFrom: UrlFrom | None = Field(
        default=None,
        description="Webhook URL read from a Secret (preferred): the Secret must carry the label "
        'modelmonitor.io/webhook: "true".',
    )

    rules = (
        Rule(
            cel="has(self.url) != has(self.urlFrom)",
            message="set exactly one of url or urlFrom",
            check=lambda w: (w.url is None) != (w.urlFrom is None),
        ),
    )


class Alert(Model):
    webhook: Webhook = Field(description="Where the alert is sent.")
    when: list[Trigger] = Field(min_length=1, max_length=6, description="Conditions whose transitions alert.")
    format: AlertFormat = Field(default=AlertFormat.ALERTMANAGER, description="Payload format.")


class Autoscale(Model):
    minReplicas: int = Field(default=1, ge=1, le=1000, description="HPA minimum replicas.")
    maxReplicas: int = Field(ge=1, le=1000, description="HPA maximum replicas.")
    targetCPUUtilization: int = Field(default=70, ge=1, le=100, description="HPA CPU target, in percent.")

    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must not exceed maxReplicas",
            check=lambda a: a.minReplicas <= a.maxReplicas,
            field="minReplicas",
        ),
    )


class Actions(Model):
    """What the operator does on a breach. Only what is configured here ever happens."""

    mode: ActionMode = Field(
        default=ActionMode.ENFORCE,
        description="`observe` decides and reports but never touches the workload.",
    )
    rollback: Rollback | None = Field(default=None, description="Roll back to the last known-good revision.")
    retrain: Retrain | None = Field(default=None, description="Start a retraining Job.")
    alerts: list[Alert] = Field(default_factory=list, max_length=20, description="Webhook alerts.")
    autoscale: Autoscale | None = Field(
        default=None, description="Keep a HorizontalPodAutoscaler for the target."
    )


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


# ------------------------------------------------------------------------------------------------- spec


_NEEDS_PERFORMANCE = {Trigger.PERFORMANCE_DEGRADED, Trigger.CONCEPT_DRIFT, Trigger.FAIRNESS_VIOLATED}


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

    rules = (
        Rule(
            cel="duration(self.interval) >= duration('5s')",
            message="interval must be at least 5s",
            check=lambda s: parse_duration(s.interval) >= 5,
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
                s.actions.rollback is None
                or parse_duration(s.actions.rollback.cooldown) >= parse_duration(s.interval)
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
