"""The spec's field types and enumerations, shared by its sections."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from modelmonitor.api.durations import DURATION_PATTERN

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
    DATA_INTEGRITY = "DataIntegrity"
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


class ExperimentMetric(StrEnum):
    """What variants of an A/B test are compared on: a quality metric from joined labels, or the
    per-request outcome sent as feedback (a click, a conversion, revenue)."""

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
    OUTCOME = "outcome"


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


def within(low: float | None, high: float | None) -> bool:
    return low is None or high is None or low <= high
