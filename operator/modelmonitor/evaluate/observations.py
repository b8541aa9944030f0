"""What one evaluation gathered, as plain data, and the one derivation several evaluators share.

The gather stage (gather/) fills an ``Observations``; ``compare`` then turns the captured window and
the reference into the drift report once, which the drift and integrity evaluators both judge.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift import Profile, detect
from modelmonitor.quality.labels import Labelled, labelled, predicted_positive


@dataclass
class Variant:
    """One variant of an A/B test as gathered: its Deployment, pod template and Prometheus figures
    since the experiment began (``None`` when Prometheus had none)."""

    deployment: str
    template: str = ""  # pod template hash without the sidecar
    ready: int | None = None
    requests: float | None = None
    errors: float | None = None
    business: float | None = None


@dataclass
class ExperimentObservations:
    """What the experiment evaluator judges. The champion's rows are the monitor's own captured rows
    since ``started``; the challenger's are in ``challenger_obs`` (the same Observations as the
    champion's, for the challenger's pods: its SLO figures and captured rows), which the guard-rail
    evaluators also judge (``guards``, set by evaluate())."""

    started: float  # unix s
    champion: Variant
    challenger: Variant
    challenger_obs: Observations | None = None
    reason: tuple[str, str] | None = None  # why the experiment could not be observed at all
    prometheus_error: str | None = None
    promoted: bool = False  # the champion already runs the challenger's model
    guards: list[Any] = field(default_factory=list)  # the guard evaluators' verdicts on the challenger


@dataclass
class Observations:
    """``None`` figures were not available; ``*_error`` and ``drift_reason`` say why."""

    lookback_seconds: float
    now: float = 0.0  # when the evaluation runs (unix s)
    name: str = ""  # the monitor's name
    revision: str = ""  # the pod template hash evaluated (a new one starts the detectors afresh)
    state: dict[str, Any] = field(default_factory=dict)  # what the evaluators kept last time
    slo: dict[str, float | None] = field(default_factory=dict)
    slo_error: str | None = None
    slo_basis: dict[str, tuple[str, str]] = field(default_factory=dict)
    """(reason, message) for a utilization figure not judged against a limit: ``NoLimit`` (against
    the request) or ``NoLimitOrRequest`` (not at all)."""
    checks: dict[str, float | None] = field(default_factory=dict)
    check_errors: dict[str, str] = field(default_factory=dict)
    captured: Any = None  # every captured row: a DataFrame of features and __id, __ts, __label...
    capture_reason: tuple[str, str] | None = None  # (reason, message) when no row could be read
    labels_waiting: int = 0  # labels whose prediction is in no pod's window yet
    window: Any = None  # the captured features (a DataFrame, redacted columns dropped), when read
    window_since: str = ""  # when the window starts (ISO), for messages
    reference: Profile | None = None
    drift: dict[str, Any] | None = None  # DriftReport.to_dict(), set by compare()
    drift_reason: tuple[str, str] | None = None  # (reason, message) when drift was not evaluated
    drift_attribution: dict[str, Any] | None = None  # status.drift.attribution (gather/sidecars.py)
    experiment: ExperimentObservations | None = None
    _derived: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def labels(self, task: str, positive: str | None) -> Labelled:
        """The labelled rows of ``captured``, coerced for ``task`` once per evaluation (performance,
        fairness, concept drift and calibration all judge them)."""
        key = ("labels", task, positive)
        if key not in self._derived:
            self._derived[key] = labelled(self.captured, task, positive=positive)
        found: Labelled = self._derived[key]
        return found

    def predicted(self, positive: str | None) -> tuple[Any, Any]:
        """Binary predictions (0/1) of every captured row that has one, and their rows; once."""
        key = ("predicted", positive)
        if key not in self._derived:
            self._derived[key] = predicted_positive(self.captured, positive=positive)
        found: tuple[Any, Any] = self._derived[key]
        return found


def compare(spec: ModelMonitorSpec, obs: Observations) -> None:
    """The drift report of the window against the reference (``obs.drift``), or why there is none
    (``obs.drift_reason``: fewer rows than ``spec.drift.minRows``)."""
    if obs.drift_reason is not None or obs.window is None or obs.reference is None:
        return
    current = obs.window
    if len(current) < spec.drift.minRows:
        obs.drift_reason = (
            "InsufficientData",
            f"{len(current)} rows since {obs.window_since}, fewer than spec.drift.minRows={spec.drift.minRows}",
        )
        return
    report = detect(
        obs.reference, current, method=str(spec.drift.method), threshold=spec.drift.threshold,
        drift_share=spec.drift.driftShare,
        correction=None if spec.drift.correction == "none" else str(spec.drift.correction),
        features=spec.drift.features, min_effect=spec.drift.minEffect,
    )  # fmt: skip
    obs.drift = report.to_dict()


def broken_features(report: dict[str, Any]) -> list[dict[str, str]]:
    """Each broken feature of a ``DriftReport.to_dict()``, in the report's order, with its problem:
    ``missing``, ``all null`` or ``type changed from <reference> to <current>``."""
    integrity = report.get("integrity") or {}
    missing = [str(n) for n in integrity.get("missing_columns") or []]
    changed = {
        str(c["name"]): f"type changed from {c.get('reference')} to {c.get('current')}"
        for c in integrity.get("type_changes") or []
    }
    out: dict[str, str] = {}
    for feature in report.get("features") or []:
        name = str(feature["name"])
        share = feature.get("missing_share") or {}
        reference, current = share.get("reference"), share.get("current")
        if name in missing:
            out[name] = "missing"
        elif name in changed:
            out[name] = changed[name]
        elif current is not None and current >= 1.0 and (reference is None or reference < 1.0):
            out[name] = "all null"
    for name in missing:
        out.setdefault(name, "missing")
    for name, problem in changed.items():
        out.setdefault(name, problem)
    return [{"name": name, "problem": problem} for name, problem in out.items()]
