"""A monitor replayed over captured traffic: what it would have said and done. Pure.

Every ``every`` seconds of the capture's time, the window the operator would have had is built (the
rows since the model version started, within ``spec.window.maxAge``, the newest
``spec.window.maxRows``; a label only once it has arrived), and the SAME stages run on it: the
evaluators (``evaluate.evaluate``), the phase (``verdict.phase_of``), the action decisions
(policy/actions.py, driven as act/__init__.py drives them: streaks, known-good revisions,
cooldowns, daily budget) and the alerts (policy/alerts.py), carrying status and the evaluators'
state from one step to the next as the operator does. Nothing is touched: a rollback or a
retraining Job that would have been started counts as done, for its cooldown.

A capture holds no Prometheus figures: SLOBreached and CheckFailed stay Unknown and are left out
of the phase (said in ``notes``). Not replayed: the A/B test (``modelmonitor experiment replay``
does), the autoscaler, GitOps (taken as absent) and the namespace's retrain opt-in (taken as given).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ActionMode, ModelMonitorSpec
from modelmonitor.api.status import ConditionType, Phase
from modelmonitor.api.times import iso_ts as _iso
from modelmonitor.drift import Profile, build_profile
from modelmonitor.drift.schema import redacted_columns
from modelmonitor.evaluate import evaluate
from modelmonitor.evaluate.observations import Observations
from modelmonitor.policy import actions as policy
from modelmonitor.policy.alerts import condition_alerts
from modelmonitor.policy.request import Request, iso, transitions, with_condition
from modelmonitor.policy.verdict import phase_of

NO_PROMETHEUS = "a backtest has no Prometheus figures: only the captured rows are replayed"
PROMETHEUS_ONLY = {ConditionType.SLO_BREACHED, ConditionType.CHECK_FAILED}


@dataclass
class Step:
    """One evaluation that had something to say: conditions that changed, decisions, alerts."""

    time: str
    phase: str
    rows: int
    changes: list[dict[str, str]] = field(default_factory=list)  # type, status, reason, message, was
    decisions: list[dict[str, str]] = field(default_factory=list)  # action, reason, result, message
    alerts: list[str] = field(default_factory=list)  # alert names that would have been sent


@dataclass
class Backtest:
    evaluations: int = 0
    start: str = ""
    end: str = ""
    every_seconds: float = 0.0
    mode: str = "enforce"
    timeline: list[Step] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # share of evaluations per phase (0-1)
    actions: dict[str, int] = field(default_factory=dict)  # "retrain Done": count
    alerts: dict[str, int] = field(default_factory=dict)  # alert name: times sent
    true_share: dict[str, float] = field(default_factory=dict)  # share of evaluations a condition was True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest(
    spec: ModelMonitorSpec, captured: Any, reference: Profile | None, *, every: float | None = None,
    name: str = "backtest", namespace: str = "default", mode: str = "enforce",
) -> Backtest:  # fmt: skip
    """Replay ``captured`` (the sidecar's rows: features and ``__id``, ``__ts``, ``__version``,
    ``__prediction``, ``__probabilities``, ``__label``, ``__label_ts``; times in unix seconds) through
    ``spec``, one evaluation every ``every`` seconds (default ``spec.interval``). Without a
    ``reference``, it is captured from the first ``spec.drift.reference.capture.rows`` rows, as the
    operator does. ``mode``: enforce (what would have been done) or observe."""
    actions = spec.actions.model_copy(update={"mode": ActionMode(mode)})
    spec = spec.model_copy(update={"actions": actions, "experiment": None})
    step = every or parse_duration(spec.interval)
    frame = captured.sort_values("__ts", kind="stable").reset_index(drop=True)
    ts = frame["__ts"].to_numpy(dtype=float)
    label_ts = frame["__label_ts"].to_numpy(dtype=float)
    versions = frame["__version"].astype(str).to_numpy()
    max_age, max_rows = parse_duration(spec.window.maxAge), spec.window.maxRows
    out = Backtest(start=_iso(ts[0]), end=_iso(ts[-1]), every_seconds=step, mode=mode, notes=_notes(spec))
    run = _Run(spec, name, namespace, reference)
    firsts = {v: float(ts[np.argmax(versions == v)]) for v in dict.fromkeys(versions)}
    counts: dict[str, int] = {}
    now = ts[0] + step
    while True:
        upto = int(np.searchsorted(ts, now, side="right"))
        version = str(versions[upto - 1])
        since = firsts[version]
        rows = np.arange(upto)[(ts[:upto] >= max(since, now - max_age))][-max_rows:]
        window = frame.iloc[rows].reset_index(drop=True)
        late = label_ts[rows] > now  # a label that has not arrived yet is not in the window
        if late.any():
            window["__label"] = window["__label"].astype(object)
            window.loc[late, "__label"] = None
            window.loc[late, "__label_ts"] = np.nan
        taken = run.step(window, now=now, version=version, since=since)
        out.evaluations += 1
        counts[taken.phase] = counts.get(taken.phase, 0) + 1
        for kind, status in run.conditions().items():
            out.true_share[kind] = out.true_share.get(kind, 0) + (status == "True")
        for d in taken.decisions:
            key = f"{d['action']} {d['result']}"
            out.actions[key] = out.actions.get(key, 0) + 1
        for alert in taken.alerts:
            out.alerts[alert] = out.alerts.get(alert, 0) + 1
        if taken.changes or taken.decisions or taken.alerts:
            out.timeline.append(taken)
        if now >= ts[-1]:
            break
        now += step
    out.phases = {p: round(n / out.evaluations, 4) for p, n in sorted(counts.items(), key=lambda x: -x[1])}
    out.true_share = {k: round(v / out.evaluations, 4) for k, v in out.true_share.items() if v}
    return out


class _Run:
    """The status and state one monitor carries between evaluations, and one evaluation of it."""

    def __init__(self, spec: ModelMonitorSpec, name: str, namespace: str, reference: Profile | None) -> None:
        self.spec, self.name, self.namespace, self.reference = spec, name, namespace, reference
        self.status: dict[str, Any] = {}
        self.kept: dict[str, Any] = {}  # the evaluators' state (the operator's state ConfigMap)

    def conditions(self) -> dict[str, str]:
        return {c["type"]: c["status"] for c in self.status.get("conditions") or []}

    def step(self, window: Any, *, now: float, version: str, since: float) -> Step:
        spec, moment = self.spec, datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
        req = Request(self.namespace, self.name, "", 1, {}, self.status, moment)
        obs = self._observe(window, now=now, version=version, since=since)
        evaluation = evaluate(spec, obs, self.status)
        if evaluation.state:
            self.kept = json.loads(json.dumps(evaluation.state, default=str))  # as the ConfigMap keeps it
        patch: dict[str, Any] = {**evaluation.status, "lastEvaluation": iso(moment)}
        conditions = list(self.status.get("conditions") or [])
        for v in evaluation.verdicts:
            conditions = with_condition(conditions, req, v.type, v.status, v.reason, v.message)
        judged = [
            v for v in evaluation.verdicts if not (v.type in PROMETHEUS_ONLY and v.message == NO_PROMETHEUS)
        ]
        phase = str(phase_of(judged))
        target = {"revision": version, "podTemplateHash": version, "since": _iso(since)}
        decisions, conditions, phase = self._act(patch, conditions, phase, target, moment)
        changed = transitions(req, conditions)
        alerts = self._alerts(conditions, {t.type for t in changed}, decisions, moment)
        was = self.conditions()
        self.status = {**self.status, **patch, "conditions": conditions, "phase": phase, "target": target}
        return Step(iso(moment), phase, len(window),
                    [{"type": t.type, "status": t.status, "reason": t.reason, "message": t.message,
                      "was": was.get(t.type, "")} for t in changed],
                    decisions, alerts)  # fmt: skip

    def _observe(self, window: Any, *, now: float, version: str, since: float) -> Observations:
        """The Observations gather/ would have made of this window (no Prometheus)."""
        spec = self.spec
        lookback = min(parse_duration(spec.window.maxAge), max(now - since, 60.0))
        obs = Observations(lookback_seconds=round(lookback), now=now, name=self.name, revision=version,
                           state=json.loads(json.dumps(self.kept)))  # fmt: skip
        obs.slo_error = NO_PROMETHEUS
        obs.check_errors = {c.name: NO_PROMETHEUS for c in spec.checks}
        if not len(window):
            obs.drift_reason = obs.capture_reason = ("AwaitingTraffic", "no captured row in the window yet")
            return obs
        obs.captured = window
        current = window[[c for c in window.columns if not str(c).startswith("__")]]
        current = current.drop(columns=redacted_columns(current.columns, spec.sidecar.redact))
        if self.reference is None:
            wanted = spec.drift.reference.capture.rows if spec.drift.reference.capture else 5000
            if len(current) < wanted:
                obs.drift_reason = (
                    "CapturingReference",
                    f"{len(current)}/{wanted} rows captured for the reference",
                )
                return obs
            self.reference = build_profile(current.head(wanted))
        obs.window, obs.reference, obs.window_since = current, self.reference, _iso(since)
        return obs

    def _act(
        self, patch: dict[str, Any], conditions: list[dict[str, Any]], phase: str, target: dict[str, Any],
        now: datetime.datetime,
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]], str]:  # fmt: skip
        """act/__init__.py's Actor.act without the cluster: what would have been decided and done."""
        spec, status = self.spec, self.status
        state, stamp = policy.ActionState.read(status), iso(now)
        held = {c["type"]: c["status"] for c in conditions}
        rollback = spec.actions.rollback
        if (status.get("target") or {}).get("podTemplateHash") != target["podTemplateHash"]:
            state.streaks, state.healthySince = {}, None  # a new model version starts afresh
        policy.update_streaks(state, held, {str(t) for t in rollback.when} if rollback else set())
        known = status.get("lastKnownGoodRevision")
        fresh = policy.known_good(spec, state, phase=phase, target=target, current_good=known, now=now)
        if fresh is not None:
            known = patch["lastKnownGoodRevision"] = fresh
        taken: list[tuple[policy.Decision, str]] = []
        decision = policy.decide_rollback(spec, state, conditions=held, target=target, known=known, gitops=None,
                                          now=now)  # fmt: skip
        if decision is not None:
            result = "Done" if decision.result == "Planned" else decision.result
            if result == "Done":
                state.rollbacks, state.streaks, state.healthySince = (
                    [*state.rollbacks, stamp][-100:],
                    {},
                    None,
                )
                phase = str(Phase.ROLLED_BACK)
            taken.append((decision, result))
        if rollback is not None:
            req = Request(self.namespace, self.name, "", 1, {}, status, now)
            conditions = with_condition(conditions, req, ConditionType.ROLLBACK_BLOCKED, "False", "NotBlocked",
                                        "a rollback, when due, can be carried out")  # fmt: skip
        retrain = policy.decide_retrain(spec, state, conditions=held, job_running=False, now=now)
        if retrain is not None:
            result = "Done" if retrain.result == "Planned" else retrain.result
            if result == "Done":
                state.lastRetrain = stamp
            taken.append((retrain, result))
        history, said = list(status.get("actions") or []), []
        for d, result in taken:
            if policy.repeats_last(history, d):
                continue
            history = policy.record(history, d, now=stamp, result=result)
            said.append({"action": d.action, "reason": d.reason, "result": result, "message": d.message})
        patch["actions"], patch["actionState"] = history, state.to_status()
        return said, conditions, phase

    def _alerts(
        self, conditions: list[dict[str, Any]], changed: set[str], decisions: list[dict[str, str]],
        now: datetime.datetime,
    ) -> list[str]:  # fmt: skip
        """The alerts ``spec.actions.alerts`` would have sent: condition transitions (not the
        re-sends of a condition still firing) and every decision recorded."""
        before = self.conditions()
        events = condition_alerts(self.namespace, self.name, before=before, conditions=conditions, changed=changed,
                                  now=now, interval=parse_duration(self.spec.interval), runbook_base="")  # fmt: skip
        named = [(e.condition, e.name) for e in events if not e.repeat]
        named += [(d["reason"], f"ModelMonitor{d['action'].capitalize()}{d['result']}") for d in decisions]
        wanted = {str(t) for alert in self.spec.actions.alerts for t in alert.when}
        return [n for condition, n in named if condition in wanted]


def _notes(spec: ModelMonitorSpec) -> list[str]:
    notes = ["Done: what would have been carried out (nothing was touched)"]
    if spec.slos.model_dump(exclude_none=True, exclude={"minRequests"}) or spec.checks:
        notes.append("SLOBreached and CheckFailed: Unknown throughout (a capture holds no Prometheus figures); "
                     "left out of the phase")  # fmt: skip
    if spec.actions.rollback is not None:
        notes.append("rollbacks: the capture goes on as recorded after one (what the rolled-back model "
                     "would have served is not known); GitOps taken as absent")  # fmt: skip
    if spec.actions.retrain is not None:
        notes.append("retraining Jobs: taken as finished by the next evaluation; the namespace as opted in")
    if not spec.actions.alerts:
        notes.append("no spec.actions.alerts: nothing would have been sent")
    return notes
