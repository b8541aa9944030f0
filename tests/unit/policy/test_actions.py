"""Action decisions: when to roll back, retrain, or say why not. Pure sequences of evaluations."""

from __future__ import annotations

import datetime
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.policy.actions import (
    ActionState,
    Decision,
    decide_retrain,
    decide_rollback,
    known_good,
    record,
    repeats_last,
    update_streaks,
)

T0 = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
GOOD = {"revision": "1", "podTemplateHash": "aaaa", "since": "2026-11-23T10:00:00Z"}
CURRENT = {"revision": "2", "podTemplateHash": "bbbb"}


def spec(**actions: Any) -> ModelMonitorSpec:
    base = {"rollback": {"when": ["SLOBreached"], "consecutive": 3, "cooldown": "30m", "maxPerDay": 2}}
    return ModelMonitorSpec.model_validate({"target": {"deployment": "m"}, "actions": {**base, **actions}})


def evaluate(
    s: ModelMonitorSpec, state: ActionState, status: str, now: datetime.datetime, **kw: Any
) -> Decision | None:
    conditions = {"SLOBreached": status}
    update_streaks(state, conditions, {"SLOBreached"})
    args: dict[str, Any] = {"target": CURRENT, "known": GOOD, "gitops": None} | kw
    return decide_rollback(s, state, conditions=conditions, now=now, **args)


def test_rollback_after_consecutive_breaches_to_the_known_good_revision() -> None:
    s, state = spec(), ActionState()
    results = [evaluate(s, state, "True", T0 + datetime.timedelta(minutes=i)) for i in range(3)]
    assert results[:2] == [None, None]
    decision = results[2]
    assert decision is not None and decision.result == "Planned"
    assert decision.target == GOOD
    assert "SLOBreached held for 3 consecutive evaluations; rolling back to revision 1" in decision.message


def test_unknown_never_counts_and_false_resets() -> None:
    s, state = spec(), ActionState()
    decisions = [
        evaluate(s, state, status, T0)
        for status in ("True", "True", "Unknown", "Unknown", "False", "True", "True")
    ]
    assert state.streaks == {"SLOBreached": 2}
    assert [d.result if d else None for d in decisions] == [
        None,
        None,
        "Skipped",
        "Skipped",
        None,
        None,
        None,
    ]
    missing = decisions[2]
    assert (
        missing is not None
        and "SLOBreached is Unknown after 2 breaching evaluations: no action on missing data"
        in missing.message
    )


def test_a_flapping_condition_never_rolls_back() -> None:
    s, state = spec(), ActionState()
    decisions = [
        evaluate(s, state, "True" if i % 3 != 2 else "False", T0 + datetime.timedelta(minutes=i))
        for i in range(60)
    ]
    assert decisions == [None] * 60


def test_refusals_say_why() -> None:
    s = spec()

    def after_three(**kw: Any) -> Decision:
        state = ActionState(**kw.pop("state", {}))
        for _ in range(3):
            d = evaluate(s, state, "True", T0, **kw)
        assert d is not None
        return d

    none_known = after_three(known=None)
    assert (none_known.result, "no revision has been known-good yet" in none_known.message) == (
        "Skipped",
        True,
    )
    same = after_three(known={**GOOD, "podTemplateHash": "bbbb"})
    assert same.result == "Skipped" and "failing revision is the last known-good one" in same.message
    argo = after_three(gitops="Argo CD")
    assert argo.result == "Skipped" and "managed by Argo CD" in argo.message
    cooling = after_three(state={"rollbacks": ["2026-11-23T11:50:00Z"]})
    assert cooling.result == "Skipped" and "in cooldown for another 1200s" in cooling.message
    budget = after_three(state={"rollbacks": ["2026-11-23T01:00:00Z", "2026-11-23T05:00:00Z"]})
    assert budget.result == "Skipped" and "2 rollbacks in 24h reach maxPerDay=2" in budget.message
    old = after_three(state={"rollbacks": ["2026-11-22T01:00:00Z", "2026-11-22T05:00:00Z"]})
    assert old.result == "Planned"  # yesterday's rollbacks no longer count


def test_gitops_can_be_allowed_and_observe_mode_only_observes() -> None:
    allowed = spec(rollback={"when": ["SLOBreached"], "consecutive": 1, "allowGitOps": True})
    d = evaluate(allowed, ActionState(), "True", T0, gitops="Flux")
    assert d is not None and d.result == "Planned"
    observe = spec(mode="observe", rollback={"when": ["SLOBreached"], "consecutive": 1})
    d = evaluate(observe, ActionState(), "True", T0)
    assert d is not None and d.result == "Observed" and "would roll back to revision 1" in d.message


def test_known_good_needs_a_whole_healthy_window() -> None:
    s = ModelMonitorSpec.model_validate({"target": {"deployment": "m"}, "window": {"maxAge": "10m"}})
    state = ActionState()
    target = {"revision": "4", "podTemplateHash": "cccc"}

    def at(minutes: int, phase: str = "Healthy") -> dict[str, Any] | None:
        return known_good(
            s,
            state,
            phase=phase,
            target=target,
            current_good=GOOD,
            now=T0 + datetime.timedelta(minutes=minutes),
        )

    assert at(0) is None and at(5) is None
    assert at(8, "Breached") is None  # a break starts the clock again
    assert at(9) is None and at(15) is None
    recorded = at(19)
    assert recorded == {"revision": "4", "podTemplateHash": "cccc", "since": "2026-11-23T12:09:00Z"}
    assert (
        known_good(
            s,
            state,
            phase="Healthy",
            target=target,
            current_good=recorded,
            now=T0 + datetime.timedelta(hours=1),
        )
        is None
    )


def test_retrain_once_per_cooldown_and_one_job_at_a_time() -> None:
    s = ModelMonitorSpec.model_validate(
        {
            "target": {"deployment": "m"},
            "actions": {
                "retrain": {
                    "when": ["DataDrift"],
                    "cooldown": "6h",
                    "jobTemplate": {"spec": {}},
                    "serviceAccountName": "trainer",
                }
            },
        }
    )
    state = ActionState()
    drift = {"DataDrift": "True"}
    first = decide_retrain(s, state, conditions=drift, job_running=False, now=T0)
    assert first is not None and first.result == "Planned"
    state.lastRetrain = "2026-11-23T12:00:00Z"
    assert decide_retrain(s, state, conditions=drift, job_running=True, now=T0) is None
    later = decide_retrain(
        s, state, conditions=drift, job_running=False, now=T0 + datetime.timedelta(hours=1)
    )
    assert later is not None and later.result == "Skipped" and "cooldown" in later.message
    assert decide_retrain(s, state, conditions={"DataDrift": "Unknown"}, job_running=False, now=T0) is None
    assert (
        decide_retrain(s, state, conditions=drift, job_running=False, now=T0 + datetime.timedelta(hours=7))
        is not None
    )


def test_audit_trail_keeps_twenty_and_does_not_repeat_the_same_refusal() -> None:
    history: list[dict[str, Any]] = []
    skip = Decision("rollback", "SLOBreached", "Skipped", "SLOBreached held; in cooldown for another 100s")
    history = record(history, skip, now="t")
    assert repeats_last(
        history,
        Decision("rollback", "SLOBreached", "Skipped", "SLOBreached held; in cooldown for another 40s"),
    )
    assert not repeats_last(history, Decision("rollback", "SLOBreached", "Planned", "rolling back"))
    for i in range(30):
        history = record(history, Decision("retrain", "DataDrift", "Done", f"job {i}"), now=str(i))
    assert len(history) == 20 and history[-1]["message"] == "job 29"
