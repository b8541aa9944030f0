"""Calibration of the model's scores on the labelled rows, and a recalibrator a model server can load.

Pure. With ``spec.performance.calibration`` set to ``platt`` or ``isotonic`` (binary classification
with probability scores), the labelled rows are split (stratified, seeded), Platt scaling and — from
1,000 fit rows, where it no longer overfits — isotonic regression are fitted on one part, and the
expected calibration error (equal-count bins) and Brier score before and after are measured on the
held-out part (quality/calibration.py). The chosen method is then fitted on every labelled row and
kept in the monitor's state ConfigMap under the key ``calibrator.json`` (format
``modelmonitor.calibrator/v1``, docs/user-guide.md), which a model server can mount. Reported in
``status.performance.calibration``; no condition: calibration is a figure, not a breach.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelmonitor.api.spec import ModelMonitorSpec, Task
from modelmonitor.evaluate.findings import Finding
from modelmonitor.evaluate.observations import Observations
from modelmonitor.quality import calibration
from modelmonitor.workload.state import state_name


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    perf = spec.performance
    if perf is None or perf.calibration == "none":
        return Finding()
    method = str(perf.calibration)
    kept = obs.state.get("calibrator") if isinstance(obs.state.get("calibrator"), dict) else None
    out: dict[str, Any] = {"method": method}

    def unchanged(reason: str) -> Finding:  # the calibrator published before, if any, stays
        return Finding(status={"performance": {"calibration": {**out, "reason": reason}}},
                       state={"calibrator": kept} if kept else {})  # fmt: skip

    if perf.task != Task.BINARY:
        return unchanged("recalibration is fitted for binary-classification scores only")
    if obs.captured is None:
        return unchanged("no captured rows yet")
    data = obs.labels(str(perf.task), perf.positiveLabel)
    if len(data) < perf.minLabels:
        return unchanged(f"{len(data)} labelled rows, fewer than spec.performance.minLabels={perf.minLabels}")
    score = data.score
    if score is None or score.ndim != 1 or not bool(np.all((score >= 0) & (score <= 1))):
        return unchanged("the captured scores are not probabilities of the positive class")
    try:
        figures = calibration.assess(data.y_true, score)
        fitted = calibration.fit_calibrator(method, data.y_true, score)
    except ValueError as exc:
        return unchanged(str(exc)[:500])
    out |= {
        "ece": figures.get("ece"), "brier": figures.get("brier"), "ecePlatt": figures.get("ece_platt"),
        "eceIsotonic": figures.get("ece_isotonic"), "heldOutRows": figures.get("rows"), "fitRows": len(data),
        "configMap": f"{state_name(obs.name)}/calibrator.json" if obs.name else None,
    }  # fmt: skip
    clean = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items() if v is not None}
    return Finding(status={"performance": {"calibration": clean}}, state={"calibrator": fitted.to_json()})
