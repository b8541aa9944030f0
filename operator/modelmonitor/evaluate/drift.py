"""DataDrift: the drift report of the captured window against the reference, judged by ``spec.drift``.

Pure: takes the report ``observations.compare`` made; owns ``status.drift`` (the top features, every
broken feature listed too, so none is cut by the top list).
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict, fmt
from modelmonitor.evaluate.observations import Observations, broken_features

TOP_FEATURES = 10
MAX_STATUS_FEATURES = 50  # the CRD's maxItems of status.drift.features and brokenFeatures


def judge_drift(spec: ModelMonitorSpec, obs: Observations) -> Verdict:
    kind = ConditionType.DATA_DRIFT
    if obs.drift_reason is not None:
        return Verdict(kind, "Unknown", *obs.drift_reason)
    report = obs.drift or {}
    features = report.get("features") or []
    evaluated = [f for f in features if not f.get("reason")]
    if not evaluated:
        return Verdict(kind, "Unknown", "InsufficientData", "no feature could be evaluated")
    drifted = [f for f in evaluated if f.get("drifted")]
    share = float(report.get("drift_share") or 0.0)
    top = ", ".join(f"{f['name']} ({f['method']} {fmt(f.get('statistic'))})" for f in drifted[:3])
    if report.get("dataset_drift"):
        message = f"{len(drifted)} of {len(evaluated)} features drift (share {share:.2f} >= {spec.drift.driftShare:g})"
        return Verdict(kind, "True", "DriftDetected", message + (f": {top}" if top else ""))
    message = (
        f"{len(drifted)} of {len(evaluated)} features drift (share {share:.2f} < {spec.drift.driftShare:g})"
    )
    return Verdict(kind, "False", "NoDatasetDrift", message + (f": {top}" if top else ""))


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    drift = drift_status(obs, spec)
    if obs.drift_attribution:  # spec.explain on: which features moved the predictions
        drift["attribution"] = obs.drift_attribution
    return Finding([judge_drift(spec, obs)], {"drift": drift})


def drift_status(obs: Observations, spec: ModelMonitorSpec) -> dict[str, Any]:
    if obs.drift is None:
        return {
            "datasetDrift": None,
            "share": None,
            "method": str(spec.drift.method),
            "rows": None,
            "features": [],
            "brokenFeatures": [],
        }
    report = obs.drift
    broken = broken_features(report)[:MAX_STATUS_FEATURES]
    top = report["features"][:TOP_FEATURES]
    # A broken feature is listed even when it ranks below the top ones: it cannot be judged for drift.
    below = {b["name"] for b in broken} - {f["name"] for f in top}
    top = [*top, *(f for f in report["features"] if f["name"] in below)]
    features = [
        {
            "name": f["name"],
            "method": f.get("method"),
            "score": f.get("statistic"),
            "pValue": f.get("p_value"),
            "drifted": bool(f.get("drifted")),
            "reason": f.get("reason"),
        }
        for f in top[:MAX_STATUS_FEATURES]
    ]
    return {
        "datasetDrift": bool(report["dataset_drift"]),
        "share": round(float(report["drift_share"]), 4),
        "method": str(spec.drift.method),
        "rows": int(report["rows"]["current"]),
        "referenceRows": int(report["rows"]["reference"]),
        "features": [{k: v for k, v in f.items() if v is not None} for f in features],
        "brokenFeatures": broken,
    }
