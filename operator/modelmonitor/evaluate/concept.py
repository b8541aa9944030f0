"""ConceptDrift: a rise of the model's error over its predictions in time order, by river's detectors
(ADWIN, DDM, Page-Hinkley; quality/concept.py), kept from one evaluation to the next.

Pure. Each evaluation feeds the detector the errors of the labelled predictions made since the last
one fed (a cursor on prediction time), up to ``labelDelay`` ago when it is set — so a prediction is
fed once, after its label has had time to arrive; a label later than that is not fed. The errors are
0/1 for classification, the absolute error for regression (DDM takes 0/1 only). Only a rise counts:
a falling error (after a retrain, a warm-up) is not concept drift. ConceptDrift stays True while the
last rise is younger than ``spec.window.maxAge``. The detector's checkpoint (plain JSON) lives in the
monitor's state, so an operator restart resumes it where it was; a new pod template starts afresh.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec, Task
from modelmonitor.api.status import ConditionType
from modelmonitor.api.times import iso_ts as _iso
from modelmonitor.api.times import parse_iso
from modelmonitor.evaluate.findings import Finding, Verdict
from modelmonitor.evaluate.observations import Observations
from modelmonitor.quality.concept import ConceptDetector

KIND = ConditionType.CONCEPT_DRIFT


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    perf = spec.performance
    if perf is None or perf.conceptDrift is None:
        return Finding()
    cfg = perf.conceptDrift
    kept = obs.state.get("concept") if isinstance(obs.state.get("concept"), dict) else None
    if obs.captured is None:  # nothing new seen: the state stays as it is
        reason = obs.capture_reason or ("AwaitingTraffic", "no captured rows yet")
        return Finding([Verdict(KIND, "Unknown", *reason)], state={"concept": kept} if kept else {})
    if cfg.detector == "ddm" and perf.task == Task.REGRESSION:
        return Finding([Verdict(KIND, "Unknown", "NotApplicable",
                                "the ddm detector takes 0/1 errors: use adwin or page-hinkley for a regression")])  # fmt: skip
    detector, cursor, last, note = _restore(kept, obs.revision, str(cfg.detector), cfg.delta)
    data = obs.labels(str(perf.task), perf.positiveLabel)
    horizon = obs.now - (parse_duration(str(perf.labelDelay)) if perf.labelDelay else 0.0)
    fresh = (data.ts > cursor) & (data.ts <= horizon)
    if perf.task == Task.REGRESSION:
        errors = np.abs(data.y_true[fresh].astype(float) - data.y_pred[fresh].astype(float))
    else:
        errors = (data.y_true[fresh] != data.y_pred[fresh]).astype(float)
    start = detector.rows
    times = data.ts[fresh]
    for change in detector.update(errors.tolist()):
        # The detector's own "after" mean is diluted by the older rows its window still holds: the
        # rows of this batch from the detection on say better what the error is now.
        since = errors[change.row - start :]
        after = float(since.mean()) if len(since) >= 30 else change.error_after
        last = {"detectedAt": _iso(float(times[change.row - start])), "row": change.change_point,
                "errorBefore": round(change.error_before, 6), "errorAfter": round(after, 6)}  # fmt: skip
        if change.change_point >= start:
            last["changeAt"] = _iso(float(times[change.change_point - start]))
    if len(times):
        cursor = float(times.max())
    state = {"concept": {"revision": obs.revision, "cursor": cursor, "detector": detector.to_checkpoint(),
                         **({"lastChange": last} if last else {})}}  # fmt: skip
    figures = {"detector": str(cfg.detector), "rows": detector.rows, **(last or {})}
    return Finding([_judge(spec, detector.rows, last, obs.now, note)],
                   {"performance": {"concept": figures}}, state)  # fmt: skip


def _restore(
    kept: dict[str, Any] | None, revision: str, kind: str, delta: float
) -> tuple[ConceptDetector, float, dict[str, Any] | None, str]:
    """The detector kept for this revision (or a new one), the prediction-time cursor, the last rise,
    and what to say when a kept checkpoint could not be used."""
    if not kept or kept.get("revision") != revision:
        return ConceptDetector(kind, delta), 0.0, None, ""
    try:
        detector = ConceptDetector.from_checkpoint(kept["detector"], kind=kind)
        if detector.delta != delta:
            return (
                ConceptDetector(kind, delta),
                0.0,
                None,
                "; restarted: spec.performance.conceptDrift changed",
            )
        last = kept.get("lastChange") if isinstance(kept.get("lastChange"), dict) else None
        return detector, float(kept.get("cursor") or 0.0), last, ""
    except (ValueError, KeyError, TypeError) as exc:
        return (
            ConceptDetector(kind, delta),
            0.0,
            None,
            f"; restarted: the kept checkpoint was not usable ({str(exc)[:200]})",
        )


def _judge(spec: ModelMonitorSpec, rows: int, last: dict[str, Any] | None, now: float, note: str) -> Verdict:
    perf = spec.performance
    assert perf is not None and perf.conceptDrift is not None
    how = f"{perf.conceptDrift.detector}" + (
        f", delta {perf.conceptDrift.delta:g}" if perf.conceptDrift.detector == "adwin" else ""
    )
    if rows < perf.minLabels:
        return Verdict(KIND, "Unknown", "InsufficientData", f"{rows} labelled predictions fed to the detector ({how}), "
                       f"fewer than spec.performance.minLabels={perf.minLabels}{note}")  # fmt: skip
    recent = last is not None and _ts(last.get("detectedAt")) >= now - parse_duration(spec.window.maxAge)
    if last is not None and recent:
        return Verdict(KIND, "True", "ErrorRateRose",
                       f"the error rose from {last['errorBefore']:.4g} to {last['errorAfter']:.4g} ({how}): detected "
                       f"at the prediction of {last['detectedAt']}, begun about " +
                       (last.get("changeAt") or f"detector row {last.get('row')}") + note)  # fmt: skip
    return Verdict(
        KIND, "False", "Stable", f"no rise of the error in {rows} labelled predictions ({how}){note}"
    )


def _ts(text: Any) -> float:
    moment = parse_iso(str(text))
    return moment.timestamp() if moment else 0.0
