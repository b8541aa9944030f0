"""What the operator does on a breach: rollback, retraining, alerts and autoscaling."""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import (
    ActionMode,
    AlertFormat,
    DNSName,
    Duration,
    FreeObject,
    ServiceAccountName,
    Trigger,
)


class Rollback(Model):
    when: list[Trigger] = Field(
        min_length=1, max_length=7, description="Conditions that roll the model back."
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
        min_length=1, max_length=7, description="Conditions that start a retraining Job."
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
    when: list[Trigger] = Field(min_length=1, max_length=7, description="Conditions whose transitions alert.")
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
