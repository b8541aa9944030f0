"""Why a ModelMonitor is in its phase, in words: ``modelmonitor status NAME``. Pure.

``explain`` reads the monitor as the API server returns it (spec and status) and says which
conditions make the phase (in policy/verdict.py's order), each one's figures against their bounds
from status and spec, what the operator did or refused to do and why (``status.actions``, the
streaks and cooldowns of ``status.actionState``, ``status.retry``), the A/B test's state, and where
to look next (the runbook of each condition, a kubectl command). It imports no Kubernetes client,
so it is judged on status dicts alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType as C
from modelmonitor.api.status import Phase
from modelmonitor.evaluate.findings import fmt
from modelmonitor.policy.alerts import runbook_url
from modelmonitor.policy.figures import Context, details, parse_time, span
from modelmonitor.policy.verdict import _BAD_PHASE, WAITING

# Conditions in the order they are explained: the evaluators' (policy/verdict.py's), then the act
# stage's and the setup's.
ORDER: tuple[str, ...] = (C.SLO_BREACHED, C.CHECK_FAILED, C.DATA_DRIFT, C.DATA_INTEGRITY, C.PERFORMANCE_DEGRADED,
         C.LABELS_STALE, C.FAIRNESS_VIOLATED, C.CONCEPT_DRIFT, C.EXPERIMENT, C.ROLLBACK_BLOCKED,
         C.READY, C.SIDECAR_INJECTED, C.GITOPS_MANAGED)  # fmt: skip
# Conditions an evaluation sets (the others come from the setup and the act stage).
EVALUATED = set(ORDER[:9])
RESULTS = {
    "Done": "carried out",
    "Skipped": "refused",
    "Failed": "tried, but the API server refused it",
    "Observed": "decided but not carried out (observe mode)",
}


@dataclass(frozen=True)
class ConditionExplanation:
    type: str
    status: str
    reason: str
    message: str
    since: str | None
    makes_phase: bool  # one of the conditions that make the phase what it is
    details: list[str] = field(default_factory=list)  # its figures against their bounds
    runbook: str = ""
    commands: list[str] = field(default_factory=list)  # kubectl commands to look further


@dataclass(frozen=True)
class ActionExplanation:
    time: str
    action: str
    reason: str
    result: str
    message: str
    meaning: str  # what the result means, in words


@dataclass(frozen=True)
class Explanation:
    namespace: str
    name: str
    phase: str
    healthy: bool
    why: str  # one sentence: why the phase is what it is
    conditions: list[ConditionExplanation] = field(default_factory=list)
    actions: list[ActionExplanation] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # streaks, cooldowns, known-good, retry, mode
    experiment: list[str] = field(default_factory=list)
    next: list[str] = field(default_factory=list)  # runbook links and commands, most relevant first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(monitor: dict[str, Any], *, runbook_base: str = "docs/runbooks") -> Explanation:
    """Why ``monitor`` (a ModelMonitor as the API returns it) is in its phase; ``runbook_base`` is
    where the runbook links point (the operator's ``--runbook-base-url``)."""
    meta, status = monitor.get("metadata") or {}, monitor.get("status") or {}
    raw = monitor.get("spec") or {}
    try:
        spec: ModelMonitorSpec | None = ModelMonitorSpec.model_validate(raw)
    except ValidationError:
        spec = None
    ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "?")
    phase = str(status.get("phase") or Phase.PENDING)
    conds = {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    why, makers = _why(phase, conds, status)
    target = raw.get("target")
    target = target if isinstance(target, dict) else {}
    ctx = Context(spec, status, ns, name, str(target.get("deployment") or "TARGET"))
    explained = [
        _condition(conds[t], t in makers, ctx, runbook_base)
        for t in sorted(conds, key=lambda t: (t not in makers, _rank(t)))
    ]
    actions = [
        ActionExplanation(str(a.get("time")), str(a.get("action")), str(a.get("reason")),
                          str(a.get("result")), str(a.get("message") or ""),
                          RESULTS.get(str(a.get("result")), str(a.get("result"))))
        for a in reversed(status.get("actions") or []) if isinstance(a, dict)
    ]  # fmt: skip
    # Ready and SidecarInjected are good news when True; every other True condition is worth a look.
    steps = [f"{c.type}: {c.runbook}" for c in explained
             if c.makes_phase or (c.status == "True" and c.type not in (C.READY, C.SIDECAR_INJECTED))]  # fmt: skip
    steps += [cmd for c in explained if c.makes_phase for cmd in c.commands]
    steps.append(f"kubectl describe mm -n {ns} {name}   # conditions and Events")
    return Explanation(ns, name, phase, phase == Phase.HEALTHY, why, explained, actions,
                       _decisions(spec, status, ctx), _experiment(status), list(dict.fromkeys(steps)))  # fmt: skip


def _rank(kind: str) -> int:
    return ORDER.index(kind) if kind in ORDER else len(ORDER)


def _why(phase: str, conds: dict[str, dict[str, Any]], status: dict[str, Any]) -> tuple[str, set[str]]:
    """The sentence, and the conditions that make the phase (policy/verdict.py's order)."""

    def listed(types: list[str]) -> str:
        return ", ".join(f"{t} is {conds[t].get('status')} ({conds[t].get('reason')})" for t in types)

    true = {t for t, c in conds.items() if c.get("status") == "True"}
    for types, bad in _BAD_PHASE:
        held = [t for t in ORDER if t in types and t in true]
        if phase == bad and held:
            return f"{phase} because {listed(held)}", set(held)
    setup = [str(t) for t in (C.READY, C.SIDECAR_INJECTED) if t in conds and conds[t].get("status") != "True"]
    if phase == Phase.ROLLED_BACK:
        done = next((a for a in reversed(status.get("actions") or [])
                     if a.get("action") == "rollback" and a.get("result") == "Done"), None)  # fmt: skip
        said = f" at {done.get('time')}: {done.get('message')}" if done else ""
        trigger = {str(done.get("reason"))} & set(conds) if done else set()
        return f"RolledBack: the operator rolled the target back{said}", trigger
    if phase in (Phase.ERROR, Phase.UNKNOWN, Phase.PENDING) and setup:
        return f"{phase} because {listed(setup)}", set(setup)
    unknown = [
        t
        for t in ORDER
        if t in EVALUATED and t != C.EXPERIMENT and conds.get(t, {}).get("status") == "Unknown"
    ]
    failing = [t for t in unknown if conds[t].get("reason") not in WAITING]
    if phase == Phase.UNKNOWN and failing:
        return f"Unknown because data could not be had: {listed(failing)}", set(failing)
    if phase == Phase.PENDING and not status.get("lastEvaluation"):
        return "Pending: not evaluated yet", set()
    if phase == Phase.PENDING and unknown:
        return f"Pending while data is awaited: {listed(unknown)}", set(unknown)
    if phase == Phase.HEALTHY:
        judged = [t for t in ORDER if t in EVALUATED and t in conds and t != C.EXPERIMENT]
        return f"Healthy: {len(judged)} conditions judged, none True, none Unknown", set()
    return f"{phase}", set()


def _condition(c: dict[str, Any], makes: bool, ctx: Context, base: str) -> ConditionExplanation:
    kind = str(c.get("type"))
    lines, commands = details(c, ctx)
    return ConditionExplanation(kind, str(c.get("status")), str(c.get("reason")), str(c.get("message") or ""),
                                c.get("lastTransitionTime"), makes, lines, runbook_url(base, kind), commands)  # fmt: skip


def _decisions(spec: ModelMonitorSpec | None, status: dict[str, Any], ctx: Context) -> list[str]:
    """What the operator remembers between evaluations, and so what it will decide next."""
    state, out = status.get("actionState") or {}, []
    now = parse_time(status.get("lastEvaluation"))
    if spec is not None and str(spec.actions.mode) == "observe":
        out.append(
            "spec.actions.mode is observe: the operator decides and reports, but never touches the workload"
        )
    rollback = spec.actions.rollback if spec else None
    if rollback is not None:
        for trigger in rollback.when:
            streak = int((state.get("streaks") or {}).get(str(trigger), 0))
            out.append(f"rollback on {trigger}: {streak} of {rollback.consecutive} consecutive True evaluations "
                       "(spec.actions.rollback.consecutive)")  # fmt: skip
        recent = [
            t
            for t in (parse_time(x) for x in state.get("rollbacks") or [])
            if t and now and (now - t).days < 1
        ]
        out.append(f"{len(recent)} rollbacks in the last 24 h of maxPerDay={rollback.maxPerDay}")
        if recent and now is not None:
            left = parse_duration(rollback.cooldown) - (now - max(recent)).total_seconds()
            if left > 0:
                out.append(f"rollback cooldown ({rollback.cooldown}) for another {span(left)}")
    good = status.get("lastKnownGoodRevision") or {}
    if rollback is not None:
        out.append(f"last known-good revision: {good.get('revision')} (template {good.get('podTemplateHash')}, "
                   f"healthy since {good.get('since')})" if good.get("podTemplateHash") else
                   "no revision known-good yet: a rollback has nothing to go back to (a revision must be "
                   f"Healthy for spec.window.maxAge={spec.window.maxAge if spec else '?'})")  # fmt: skip
    retrain, job = spec.actions.retrain if spec else None, status.get("retrain") or {}
    if retrain is not None:
        last = parse_time(state.get("lastRetrain"))
        left = parse_duration(retrain.cooldown) - (now - last).total_seconds() if last and now else 0.0
        out.append(
            f"retrain on {', '.join(map(str, retrain.when))}; "
            + (
                f"in cooldown ({retrain.cooldown}) for another {span(left)}"
                if left > 0
                else "no cooldown running"
            )
        )
    if job.get("job"):
        out.append(f"retraining Job {job['job']} ({job.get('reason')}), started {job.get('startedAt')}: "
                   f"{job.get('outcome')}")  # fmt: skip
        ctx_cmd = f"kubectl logs -n {ctx.namespace} job/{job['job']}"
        out.append(f"its logs: {ctx_cmd}")
    retry = status.get("retry") or {}
    if retry:
        out.append(f"the last {retry.get('failures')} evaluations failed ({retry.get('reason')}) since "
                   f"{retry.get('since')}; next attempt at {retry.get('nextAttempt')}")  # fmt: skip
    return out


def _experiment(status: dict[str, Any]) -> list[str]:
    e = status.get("experiment") or {}
    if not e:
        return []
    out = [
        f"state {e.get('state')}, decision {e.get('decision')}"
        + (f", winner {e['winner']}" if e.get("winner") else "")
    ]
    if e.get("effect") is not None:
        low, high = ([*(e.get("interval") or []), None, None])[:2]
        out.append(f"{e.get('metric')}: effect {fmt(e.get('effect'))} (challenger - champion, {e.get('statistic')}), "
                   f"interval [{fmt(low)}, {fmt(high)}], p-value {fmt(e.get('pValue'))} after {e.get('looks')} looks")  # fmt: skip
    for variant in ("champion", "challenger"):
        v = e.get(variant) or {}
        if v:
            out.append(f"{variant} {v.get('deployment')}: {fmt(v.get('value'))} on {fmt(v.get('rows'))} rows")
    traffic = e.get("traffic") or {}
    if traffic:
        out.append(f"traffic ({traffic.get('mode')}): challenger share {fmt(traffic.get('actual'))} of "
                   f"{fmt(traffic.get('requested'))} requested" + (f"; {traffic['message']}" if traffic.get("message") else ""))  # fmt: skip
    if e.get("message"):
        out.append(str(e["message"]))
    return out
