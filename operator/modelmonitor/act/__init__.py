"""The act stage: carrying out decisions — rollback, retraining Job, autoscaler, alerts — and the
audit trail of them.

The decisions come from policy/actions.py (pure); one module here carries out each action through
the ports (act/rollback.py, retrain.py, autoscale.py, alerts.py; the sidecar's own injection is
act/sidecar.py), and this module writes what happened (Done, Failed, Skipped with the reason,
Observed in observe mode) into ``status.actions``, an Event, and the alerts configured for the
trigger. Observe mode touches nothing in the cluster: it only records and alerts.
"""

from __future__ import annotations

import datetime
from typing import Any

from modelmonitor.act import autoscale
from modelmonitor.act.experiment import Experimenter
from modelmonitor.act.outcome import ActOutcome, Note
from modelmonitor.act.retrain import Retrainer
from modelmonitor.act.rollback import roll_back, unrecorded
from modelmonitor.adapters.ports import KubernetesPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType, Phase
from modelmonitor.api.times import iso
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.policy import actions as policy
from modelmonitor.policy import experiment as ab
from modelmonitor.policy.alerts import AlertEvent, runbook_url
from modelmonitor.workload.experiment import ExperimentError, experiment_container
from modelmonitor.workload.injection import model_container

__all__ = ["ActOutcome", "Actor", "Note"]


def _event_reason(decision: policy.Decision, result: str) -> str:
    """The Event's reason: <Action><Result> (RollbackDone, RetrainSkipped...), unless the decision
    names its own (a refused retrain: RetrainNotPermitted)."""
    named = (decision.target or {}).get("event")
    if isinstance(named, str) and named:
        return named
    suffix = {"Done": "", "Observed": "Observed", "Skipped": "Skipped", "Failed": "Failed"}.get(result, "")
    return f"{decision.action.capitalize()}{suffix or 'Done'}"


class Actor:
    def __init__(self, kube: KubernetesPort, runbook_base: str) -> None:
        self.kube = kube
        self.runbook_base = runbook_base
        self.retrainer = Retrainer(kube)
        self.experimenter = Experimenter(kube)

    def act(
        self, spec: ModelMonitorSpec, *, namespace: str, monitor: str, uid: str, status: dict[str, Any],
        conditions: dict[str, str], phase: str, target: dict[str, Any], deployment: dict[str, Any],
        gitops: str | None, drift: dict[str, Any] | None, now: datetime.datetime,
    ) -> ActOutcome:  # fmt: skip
        out = ActOutcome()
        stamp = iso(now)
        state = policy.ActionState.read(status)
        rollback = spec.actions.rollback
        if target.get("since") == stamp and (status.get("target") or {}).get("podTemplateHash") != target.get(
            "podTemplateHash"
        ):
            # A new pod template (a new model version): its verdicts start afresh.
            state.streaks, state.healthySince = {}, None
        policy.update_streaks(state, conditions, {str(t) for t in rollback.when} if rollback else set())

        known = status.get("lastKnownGoodRevision")
        fresh = policy.known_good(spec, state, phase=phase, target=target, current_good=known, now=now)
        if fresh is not None:
            known = fresh
            out.status["lastKnownGoodRevision"] = fresh
            out.notes.append(Note(False, "KnownGoodRevision", f"revision {fresh['revision']} ({fresh['podTemplateHash']}) "
                                  f"healthy for {spec.window.maxAge}: recorded as last known-good"))  # fmt: skip

        decisions: list[tuple[policy.Decision, str, str]] = []  # (decision, result, message)
        missed = unrecorded(deployment, state.rollbacks, now, uid)
        if missed is not None:  # done by a run killed before its status write: recorded, not redone
            state.rollbacks = [*state.rollbacks, missed[0]][-100:]
            state.streaks, state.healthySince = {}, None
            decisions.append((missed[1], "Done", missed[1].message))
        decision = policy.decide_rollback(
            spec, state, conditions=conditions, target=target, known=known, gitops=gitops, now=now
        )
        blocked = False
        if decision is not None:
            result, message = decision.result, decision.message
            if decision.result == "Planned":
                result, message = roll_back(
                    self.kube, namespace, deployment, decision, stamp=stamp, monitor_uid=uid
                )
                if result == "Done":
                    state.rollbacks = [*state.rollbacks, stamp][-100:]
                    state.streaks = {}
                    state.healthySince = None
                    out.status["phase"] = str(Phase.ROLLED_BACK)
                elif result == "Failed":  # Skipped: the template changed meanwhile, not an API failure
                    out.failures.append("kubernetes")
            elif "managed by" in decision.message:
                blocked = True
            decisions.append((decision, result, message))
        if rollback is not None:
            kind = ConditionType.ROLLBACK_BLOCKED
            out.verdicts.append(
                Verdict(kind, "True", "ManagedByGitOps", decisions[-1][2])
                if blocked else
                Verdict(kind, "False", "NotBlocked", "a rollback, when due, can be carried out")
            )  # fmt: skip

        retrained = self.retrainer.retrain(
            spec, namespace, monitor, uid, status, conditions, target, drift, state, now, out
        )
        if retrained is not None:
            decisions.append(retrained)
        decisions += autoscale.autoscale(self.kube, spec, namespace, monitor, uid, state)
        out.status["actions"] = self._record(
            list(status.get("actions") or []), decisions, namespace, monitor, stamp, out
        )
        if missed is not None:  # its alert may have gone out before the kill: not sent twice
            out.alerts = [a for a in out.alerts if a.message != missed[1].message]
        out.status["actionState"] = state.to_status()
        return out

    def experiment(
        self, spec: ModelMonitorSpec, *, namespace: str, monitor: str, status: dict[str, Any],
        experiment: dict[str, Any], annotations: dict[str, str], champion: dict[str, Any],
        challenger: dict[str, Any] | None, history: list[dict[str, Any]], now: datetime.datetime,
    ) -> ActOutcome:  # fmt: skip
        """Carry out what the experiment's state asks (policy/experiment.py): split the traffic while
        it runs, stop the challenger once it lost or was aborted, promote it once it won (with
        ``promote: manual``, once approved). ``status.experiment`` comes back with the traffic it
        got and, after a promotion, state Promoted. Each decision is recorded once."""
        out = ActOutcome()
        exp = spec.experiment
        if exp is None or challenger is None or not experiment.get("state"):
            return out
        todo = ab.plan(spec, experiment, annotations=annotations)
        ref = exp.traffic.httpRoute
        route = (ref.name, ref.championBackend, ref.challengerBackend) if ref else None
        was = (status.get("experiment") or {}) if isinstance(status.get("experiment"), dict) else {}
        new = dict(experiment)
        state = str(new.get("state"))
        changed = was.get("state") != state or was.get("decidedAt") != new.get("decidedAt")
        decisions: list[tuple[policy.Decision, str, str]] = []
        if todo.action == "split":
            traffic = self.experimenter.split(namespace=namespace, champion=champion, challenger=challenger,
                                              share=exp.traffic.share, route=route)  # fmt: skip
            new["traffic"] = {"mode": traffic.mode, "requested": traffic.requested, "actual": traffic.actual,
                              "message": traffic.message[:1024]}  # fmt: skip
            if traffic.failed:
                out.failures.append("kubernetes")
                if (was.get("traffic") or {}).get("message") != new["traffic"]["message"]:
                    out.notes.append(Note(True, "ExperimentTrafficFailed", traffic.message))
        elif todo.action == "stop":
            result, message = self.experimenter.stop(namespace=namespace, challenger=challenger, route=route)
            if changed or result == "Failed":
                decisions.append((policy.Decision("stop", "Experiment", result, message), result, message))
            if result == "Failed":
                out.failures.append("kubernetes")
        elif todo.action == "promote":
            result, message = self._promote(spec, namespace, monitor, champion, challenger, route)
            decisions.append((policy.Decision("promote", "Experiment", result, message), result, message))
            if result == "Done":
                new.update(state=ab.PROMOTED, message=message)
                out.verdicts.append(Verdict(ConditionType.EXPERIMENT, "True", "ChallengerPromoted", message))
            else:
                out.failures.append("kubernetes")
        elif state == ab.AWAITING_APPROVAL:
            new["message"] = (
                f"{new.get('message') or 'the challenger won'}; {ab.awaiting_message(monitor, namespace)}"
            )
        elif changed and state in (ab.PROMOTING, ab.AWAITING_APPROVAL, ab.CHAMPION_KEPT, ab.ABORTED):
            action = "promote" if state == ab.PROMOTING else "stop"  # observe mode: said, not done
            decisions.append((policy.Decision(action, "Experiment", "Observed", str(new.get("message"))),
                              "Observed", f"observe mode: {new.get('message')}"))  # fmt: skip
        if decisions:
            out.status["actions"] = self._record(history, decisions, namespace, monitor, iso(now), out)
        out.status["experiment"] = new
        return out

    def _promote(
        self, spec: ModelMonitorSpec, namespace: str, monitor: str, champion: dict[str, Any],
        challenger: dict[str, Any], route: tuple[str, str, str] | None,
    ) -> tuple[str, str]:  # fmt: skip
        assert spec.experiment is not None
        try:
            ours = str(model_container(champion, spec).get("name"))
            theirs = str(
                experiment_container(challenger, spec.experiment.challenger.container, ours).get("name")
            )
        except (ExperimentError, ValueError) as exc:
            return "Failed", f"not promoted: {exc}"
        result, message = self.experimenter.promote(
            namespace=namespace, champion=champion, challenger=challenger, champion_container=ours,
            challenger_container=theirs, monitor=monitor, route=route,
        )  # fmt: skip
        if result == "Done" and spec.experiment.promote == "manual":
            self.experimenter.clear_approval(namespace, monitor)
        return result, message

    def _record(
        self, history: list[dict[str, Any]], decisions: list[tuple[policy.Decision, str, str]],
        namespace: str, monitor: str, stamp: str, out: ActOutcome,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Each decision not the same as the last recorded one: into the history, an Event, an alert.
        Every one, repeats included, into ``out.decided`` for the audit trail."""
        for decision, result, message in decisions:
            out.decided.append((decision.action, decision.reason, result, message))
            if policy.repeats_last(history, decision):
                continue
            history = policy.record(history, decision, now=stamp, result=result, message=message)
            out.status["lastAction"] = f"{decision.action} {result}"
            warning = result in ("Skipped", "Failed")
            out.notes.append(Note(warning, _event_reason(decision, result), message))
            out.alerts.append(
                AlertEvent(namespace, monitor, decision.reason, True, result, message, stamp,
                           runbook_url(self.runbook_base, decision.reason), action=decision.action)
            )  # fmt: skip
        return history

    def cleanup(self, namespace: str, monitor: str) -> None:
        """What the monitor owns goes with it (the API server's GC does it too; this is for certainty)."""
        autoscale.remove(self.kube, namespace, monitor)
