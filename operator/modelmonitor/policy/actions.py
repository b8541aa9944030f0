"""Deciding what to do about a verdict: rollback, retrain, autoscale — or why not.

Pure. The decision is taken from the conditions just written and the state kept in status (streaks,
the last known-good revision, past rollbacks and retrains), so it survives an operator restart and is
the same whoever runs it. Every decision, including each refusal (observe mode, cooldown, daily
budget, no known-good revision, GitOps, missing data), comes back with a reason to be recorded,
raised as an Event and alerted. A rollback loop is impossible by construction: a rollback needs
``consecutive`` evaluations of the trigger on the current revision, never targets the revision that
is failing, and is bounded by a cooldown and a daily budget.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ActionMode, ModelMonitorSpec
from modelmonitor.api.times import iso as _iso

DAY = 86400.0
HISTORY = 20


@dataclass(frozen=True)
class Decision:
    """One decision. ``result``: Planned (to be carried out), Observed (observe mode), Skipped."""

    action: str  # rollback | retrain | autoscale
    reason: str  # the trigger (a condition type) or what the decision is about
    result: str
    message: str
    target: dict[str, Any] | None = None  # rollback: the known-good revision; retrain: trigger details


@dataclass
class ActionState:
    """What status keeps between evaluations for the actions (``status.actionState``)."""

    streaks: dict[str, int] = field(default_factory=dict)
    healthySince: str | None = None
    rollbacks: list[str] = field(default_factory=list)  # times of rollbacks in the last 24 h
    lastRetrain: str | None = None
    autoscaler: str | None = None  # the HPA this monitor created, if any

    @classmethod
    def read(cls, status: dict[str, Any]) -> ActionState:
        raw = status.get("actionState") or {}
        return cls(
            streaks={str(k): int(v) for k, v in (raw.get("streaks") or {}).items()},
            healthySince=raw.get("healthySince"),
            rollbacks=[str(t) for t in raw.get("rollbacks") or []],
            lastRetrain=raw.get("lastRetrain"),
            autoscaler=raw.get("autoscaler"),
        )

    def to_status(self) -> dict[str, Any]:
        return {
            "streaks": dict(self.streaks),
            "healthySince": self.healthySince,
            "rollbacks": list(self.rollbacks),
            "lastRetrain": self.lastRetrain,
            "autoscaler": self.autoscaler,
        }


def _t(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def update_streaks(state: ActionState, conditions: dict[str, str], triggers: set[str]) -> None:
    """True adds one, False resets, Unknown keeps the streak as it was (missing data is no evidence)."""
    for trigger in triggers:
        status = conditions.get(trigger)
        if status == "True":
            state.streaks[trigger] = state.streaks.get(trigger, 0) + 1
        elif status == "False" or status is None:
            state.streaks[trigger] = 0
    for stale in set(state.streaks) - triggers:
        del state.streaks[stale]


def known_good(
    spec: ModelMonitorSpec,
    state: ActionState,
    *,
    phase: str,
    target: dict[str, Any],
    current_good: dict[str, Any] | None,
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The revision to record as last known-good, or None to keep the current record.

    A revision is known-good once it has been Healthy for a whole window (``spec.window.maxAge``)
    without a break.
    """
    if phase != "Healthy":
        state.healthySince = None
        return None
    since = _t(state.healthySince)
    if since is None:
        state.healthySince = _iso(now)
        return None
    if (now - since).total_seconds() < parse_duration(spec.window.maxAge):
        return None
    record = {
        "revision": target.get("revision"),
        "podTemplateHash": target.get("podTemplateHash"),
        "since": _iso(since),
    }
    if current_good and current_good.get("podTemplateHash") == record["podTemplateHash"]:
        return None
    return record


def decide_rollback(
    spec: ModelMonitorSpec,
    state: ActionState,
    *,
    conditions: dict[str, str],
    target: dict[str, Any],
    known: dict[str, Any] | None,
    gitops: str | None,
    now: datetime.datetime,
) -> Decision | None:
    """Roll back? None when no trigger has held long enough (nothing to say)."""
    policy = spec.actions.rollback
    if policy is None:
        return None
    held = [t for t in policy.when if state.streaks.get(t, 0) >= policy.consecutive]
    if not held:
        blind = [t for t in policy.when if conditions.get(t) == "Unknown" and state.streaks.get(t, 0) > 0]
        if blind:
            trigger = str(blind[0])
            return Decision(
                "rollback", trigger, "Skipped",
                f"{trigger} is Unknown after {state.streaks[trigger]} breaching evaluations: "
                "no action on missing data",
            )  # fmt: skip
        return None
    trigger = str(held[0])
    streak = state.streaks[trigger]
    why = f"{trigger} held for {streak} consecutive evaluations"
    if known is None or not known.get("podTemplateHash"):
        return Decision("rollback", trigger, "Skipped", f"{why}, but no revision has been known-good yet")
    if known.get("podTemplateHash") == target.get("podTemplateHash"):
        return Decision(
            "rollback", trigger, "Skipped",
            f"{why}, but the failing revision is the last known-good one: nothing older to roll back to",
        )  # fmt: skip
    goal = f"revision {known.get('revision') or '?'} (template {known['podTemplateHash']})"
    if gitops and not policy.allowGitOps:
        return Decision(
            "rollback", trigger, "Skipped",
            f"{why}; the Deployment is managed by {gitops}, which would revert a rollback to {goal}: "
            "roll back in Git, or set spec.actions.rollback.allowGitOps",
            known,
        )  # fmt: skip
    recent = [
        t for t in (_t(x) for x in state.rollbacks) if t is not None and (now - t).total_seconds() < DAY
    ]
    cooldown = parse_duration(policy.cooldown)
    if recent and (now - max(recent)).total_seconds() < cooldown:
        left = cooldown - (now - max(recent)).total_seconds()
        return Decision("rollback", trigger, "Skipped", f"{why}; in cooldown for another {left:.0f}s", known)
    if len(recent) >= policy.maxPerDay:
        return Decision(
            "rollback",
            trigger,
            "Skipped",
            f"{why}; {len(recent)} rollbacks in 24h reach maxPerDay={policy.maxPerDay}",
            known,
        )
    if spec.actions.mode == ActionMode.OBSERVE:
        return Decision(
            "rollback", trigger, "Observed", f"{why}; would roll back to {goal} (observe mode)", known
        )
    return Decision("rollback", trigger, "Planned", f"{why}; rolling back to {goal}", known)


def decide_retrain(
    spec: ModelMonitorSpec,
    state: ActionState,
    *,
    conditions: dict[str, str],
    job_running: bool,
    now: datetime.datetime,
) -> Decision | None:
    """Start a retraining Job? One at a time, and not within the cooldown."""
    policy = spec.actions.retrain
    if policy is None:
        return None
    fired = [t for t in policy.when if conditions.get(t) == "True"]
    if not fired:
        return None
    trigger = str(fired[0])
    if job_running:
        return None  # the running Job is the answer to this trigger: nothing new to say
    last = _t(state.lastRetrain)
    cooldown = parse_duration(policy.cooldown)
    if last is not None and (now - last).total_seconds() < cooldown:
        left = cooldown - (now - last).total_seconds()
        return Decision(
            "retrain",
            trigger,
            "Skipped",
            f"{trigger} is True; retraining in cooldown for another {left:.0f}s",
        )
    if spec.actions.mode == ActionMode.OBSERVE:
        return Decision(
            "retrain", trigger, "Observed", f"{trigger} is True; would start a retraining Job (observe mode)"
        )
    return Decision("retrain", trigger, "Planned", f"{trigger} is True; starting a retraining Job")


def record(
    history: list[dict[str, Any]],
    decision: Decision,
    *,
    now: str,
    result: str | None = None,
    message: str | None = None,
) -> list[dict[str, Any]]:
    """The audit trail with this decision appended, the newest ``HISTORY`` kept."""
    entry = {
        "time": now,
        "action": decision.action,
        "reason": decision.reason,
        "result": result or decision.result,
        "message": (message or decision.message)[:1024],
    }
    return [*history, entry][-HISTORY:]


def repeats_last(history: list[dict[str, Any]], decision: Decision) -> bool:
    """True when the newest entry says the same skip for the same reason (do not flood the trail)."""
    if not history or decision.result != "Skipped":
        return False
    last = history[-1]
    same_kind = last.get("action") == decision.action and last.get("reason") == decision.reason
    return (
        same_kind
        and last.get("result") == "Skipped"
        and _skip_kind(last.get("message", "")) == _skip_kind(decision.message)
    )


def _skip_kind(message: str) -> str:
    for marker in ("cooldown", "maxPerDay", "known-good", "managed by", "last known-good", "missing data"):
        if marker in message:
            return marker
    return message
