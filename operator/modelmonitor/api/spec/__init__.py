"""The ``spec`` of a ModelMonitor: every field with its type, default, bounds and description.

These models are the single source of the contract: the CRD in crds/ is generated from them
(``modelmonitor crd``), ``modelmonitor validate`` checks manifests with them, and the operator parses
every spec through them. Field names are the YAML names (camelCase) on purpose.

One module per section of the spec; every name is re-exported here.
"""

from modelmonitor.api.spec.actions import (
    Actions,
    Alert,
    Autoscale,
    Retrain,
    Rollback,
    SecretKeyRef,
    UrlFrom,
    Webhook,
)
from modelmonitor.api.spec.drift import Capture, ConfigMapKeyRef, Drift, Reference
from modelmonitor.api.spec.experiment import Challenger, Experiment
from modelmonitor.api.spec.explain import Explain
from modelmonitor.api.spec.monitor import ModelMonitorSpec
from modelmonitor.api.spec.observability import Check, Prometheus, SLOs
from modelmonitor.api.spec.performance import ConceptDrift, Metric, Performance, Segment
from modelmonitor.api.spec.target import ResourceRequirements, Sidecar, SidecarAudit, Target, Window
from modelmonitor.api.spec.types import (
    ActionMode,
    AlertFormat,
    Calibration,
    ContainerName,
    Correction,
    Detector,
    DNSName,
    DriftMethod,
    Duration,
    FreeObject,
    MetricName,
    Port,
    Promote,
    Protocol,
    Quantity,
    SegmentMetric,
    ServiceAccountName,
    Share,
    Task,
    Trigger,
)

__all__ = [
    "ActionMode",
    "Actions",
    "Alert",
    "AlertFormat",
    "Autoscale",
    "Calibration",
    "Capture",
    "Challenger",
    "Check",
    "ConceptDrift",
    "ConfigMapKeyRef",
    "ContainerName",
    "Correction",
    "DNSName",
    "Detector",
    "Drift",
    "DriftMethod",
    "Duration",
    "Experiment",
    "Explain",
    "FreeObject",
    "Metric",
    "MetricName",
    "ModelMonitorSpec",
    "Performance",
    "Port",
    "Prometheus",
    "Promote",
    "Protocol",
    "Quantity",
    "Reference",
    "ResourceRequirements",
    "Retrain",
    "Rollback",
    "SLOs",
    "SecretKeyRef",
    "Segment",
    "SegmentMetric",
    "ServiceAccountName",
    "Share",
    "Sidecar",
    "SidecarAudit",
    "Target",
    "Task",
    "Trigger",
    "UrlFrom",
    "Webhook",
    "Window",
]
