"""The drift engine: pure numpy/scipy statistics comparing a current window with a reference.

Public surface::

    build_profile(reference) -> Profile              # compact reference, JSON, fits a ConfigMap
    detect(reference, current, ...) -> DriftReport   # reference: DataFrame or Profile
    METHODS, DEFAULT_THRESHOLDS                      # the defaults table (docs/drift.md)

Names load lazily so that ``modelmonitor.commands.drift`` (imported by every CLI start) does not pay
for pandas and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmonitor.drift.compare import detect
    from modelmonitor.drift.defaults import (
        AUTO_PVALUE_MAX_N,
        DEFAULT_THRESHOLDS,
        DRIFT_SHARE,
        METHOD_NAMES,
        METHODS,
        MIN_ROWS,
        PSI_EPSILON,
        MethodInfo,
    )
    from modelmonitor.drift.profile import Profile, build_profile
    from modelmonitor.drift.report import DriftReport, FeatureResult, IntegrityReport

_HOME = {
    "AUTO_PVALUE_MAX_N": "defaults",
    "DEFAULT_THRESHOLDS": "defaults",
    "DRIFT_SHARE": "defaults",
    "METHOD_NAMES": "defaults",
    "METHODS": "defaults",
    "MIN_ROWS": "defaults",
    "PSI_EPSILON": "defaults",
    "MethodInfo": "defaults",
    "detect": "compare",
    "Profile": "profile",
    "build_profile": "profile",
    "DriftReport": "report",
    "FeatureResult": "report",
    "IntegrityReport": "report",
}

__all__ = [
    "AUTO_PVALUE_MAX_N",
    "DEFAULT_THRESHOLDS",
    "DRIFT_SHARE",
    "METHODS",
    "METHOD_NAMES",
    "MIN_ROWS",
    "PSI_EPSILON",
    "DriftReport",
    "FeatureResult",
    "IntegrityReport",
    "MethodInfo",
    "Profile",
    "build_profile",
    "detect",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"modelmonitor.drift.{_HOME[name]}"), name)
    raise AttributeError(f"module 'modelmonitor.drift' has no attribute {name!r}")
