"""The ModelMonitor contract: spec and status models, the generated CRD, offline validation.

Pure code: imports no Kubernetes, Kopf, HTTP or Prometheus client.
"""

from modelmonitor.api.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION, build_crd, render_crd
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import Condition, ConditionStatus, ConditionType, ModelMonitorStatus, Phase
from modelmonitor.api.validation import Problem, spec_problems, validate_manifest

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ModelMonitorSpec",
    "ModelMonitorStatus",
    "Phase",
    "Problem",
    "build_crd",
    "parse_duration",
    "render_crd",
    "spec_problems",
    "validate_manifest",
]
