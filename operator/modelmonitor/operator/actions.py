"""Carrying out decisions: rollback, retraining Job, autoscaler, alerts — and the audit trail.

The decisions come from policy/actions.py (pure); this module does the I/O through the adapters and
writes what happened (Done, Failed, Skipped with the reason, Observed in observe mode) into
``status.actions``, an Event, and the alerts configured for the trigger. Observe mode touches
nothing in the cluster: it only records and alerts.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelmonitor.adapters.kubernetes import KubernetesPort, SecretRefused
from modelmonitor.adapters.webhooks import SENDER, WebhookError
from modelmonitor.api.spec import ActionMode, AlertFormat, ModelMonitorSpec
from modelmonitor.api.status import ConditionType, Phase
from modelmonitor.policy import actions as policy
from modelmonitor.policy import egress, permits
from modelmonitor.policy.alerts import AlertEvent, payload, runbook_url
from modelmonitor.workload import jobs
from modelmonitor.workload.rollback import find_revision, plan_rollback

log = logging.getLogger(__name__)


@dataclass
class Note:
    """An Event to raise (and, with ``alert``, an alert to send for the trigger)."""

    warning: bool
    reason: str
    message: str
    condition: str = ""  # the condition an alert note is about (status.actions[].reason)


@dataclass
class ActOutcome:
    status: dict[str, Any] = field(default_factory=dict)  # status fields to merge
    notes: list[Note] = field(default_factory=list)
    verdicts: list[tuple[str, str, str, str]] = field(default_factory=list)  # extra conditions
    alerts: list[AlertEvent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _event_reason(decision: policy.Decision, result: str) -> str:
    """The Event's reason: <Action><Result> (RollbackDone, RetrainSkipped...), unless the decision
    names its own (a refused retrain: RetrainNotPermitted)."""
    named = (decision.target or {}).get("event")
    if isinstance(named, str) and named:
        return named
    suffix = {"Done": "", "Observed": "Observed", "Skipped": "Skipped", "Failed": "Failed"}.get(result, "")
    return f"{decision.action.capitalize()}{suffix or 'Done'}"


class Actor:
    def __init__(
        self, kube: KubernetesPort, runbook_base: str, *, egress_allow: tuple[str, ...] = ()
    ) -> None:
        self.kube = kube
        self.runbook_base = runbook_base
        self.egress = egress.parse_patterns(egress_allow)

    def act(
        self,
        spec: ModelMonitorSpec,
        *,
        namespace: str,
        monitor: str,
        uid: str,
        status: dict[str, Any],
        conditions: dict[str, str],
        phase: str,
        target: dict[str, Any],
        deployment: dict[str, Any],
        gitops: str | None,
        drift: dict[str, Any] | None,
        now: datetime.datetime,
    ) -> ActOutcome:
        out = ActOutcome()
        stamp = policy._iso(now)
        state = policy.ActionState.read(status)
        history = list(status.get("actions") or [])
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
        decision = policy.decide_rollback(
            spec, state, conditions=conditions, target=target, known=known, gitops=gitops, now=now
        )
        blocked = False
        if decision is not None:
            result, message = decision.result, decision.message
            if decision.result == "Planned":
                result, message = self._rollback(namespace, deployment, decision)
                if result == "Done":
                    state.rollbacks = [*state.rollbacks, stamp][-100:]
                    state.streaks = {}
                    state.healthySince = None
                    out.status["phase"] = str(Phase.ROLLED_BACK)
                else:
                    out.failures.append("kubernetes")
            elif "managed by" in decision.message:
                blocked = True
            decisions.append((decision, result, message))
        if rollback is not None:
            out.verdicts.append(
                (ConditionType.ROLLBACK_BLOCKED, "True", "ManagedByGitOps", decisions[-1][2])
                if blocked else
                (ConditionType.ROLLBACK_BLOCKED, "False", "NotBlocked", "a rollback, when due, can be carried out")
            )  # fmt: skip

        self._retrain(
            spec, namespace, monitor, uid, status, conditions, target, drift, state, now, decisions, out
        )
        self._autoscale(spec, namespace, monitor, uid, state, decisions, out)

        for decision, result, message in decisions:
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
        out.status["actions"] = history
        out.status["actionState"] = state.to_status()
        return out

    # ---------------------------------------------------------------------------------------- rollback

    def _rollback(
        self, namespace: str, deployment: dict[str, Any], decision: policy.Decision
    ) -> tuple[str, str]:
        known = decision.target or {}
        selector = (deployment.get("spec") or {}).get("selector") or {}
        try:
            replicasets = self.kube.list_replicasets(namespace, selector)
            rs = find_revision(replicasets, deployment, str(known.get("podTemplateHash")))
            if rs is None:
                return "Failed", (
                    f"{decision.message}, but no ReplicaSet of the Deployment has that template any more "
                    "(revisionHistoryLimit may have pruned it)"
                )
            ops = plan_rollback(deployment, rs, reason=decision.reason)
            self.kube.json_patch_deployment(namespace, deployment["metadata"]["name"], ops)
        except ApiException as exc:
            return "Failed", f"{decision.message}, but the API refused it: {exc.status} {exc.reason}"
        revision = ((rs.get("metadata") or {}).get("annotations") or {}).get(
            "deployment.kubernetes.io/revision"
        )
        return (
            "Done",
            f"rolled back to revision {revision} ({known.get('podTemplateHash')}): {decision.message.split(';')[0]}",
        )

    # ----------------------------------------------------------------------------------------- retrain

    def _retrain(
        self, spec: ModelMonitorSpec, namespace: str, monitor: str, uid: str, status: dict[str, Any],
        conditions: dict[str, str], target: dict[str, Any], drift: dict[str, Any] | None,
        state: policy.ActionState, now: datetime.datetime, decisions: list[Any], out: ActOutcome,
    ) -> None:  # fmt: skip
        if spec.actions.retrain is None:
            return
        running = self._retrain_running(namespace, monitor, status, state, out)
        decision = policy.decide_retrain(spec, state, conditions=conditions, job_running=running, now=now)
        if decision is None:
            return
        if decision.result in ("Planned", "Observed"):
            decision = self._retrain_permitted(namespace, decision)
        result, message = decision.result, decision.message
        if decision.result == "Planned":
            features = [f["name"] for f in (drift or {}).get("features") or [] if f.get("drifted")]
            env = {
                "MODELMONITOR_REASON": decision.reason,
                "MODELMONITOR_MONITOR": f"{namespace}/{monitor}",
                "MODELMONITOR_MODEL_VERSION": str(target.get("modelVersion") or ""),
                "MODELMONITOR_WINDOW_START": str(target.get("since") or ""),
                "MODELMONITOR_WINDOW_END": policy._iso(now),
                "MODELMONITOR_DRIFTED_FEATURES": ",".join(features),
            }
            try:
                created = self.kube.create_job(
                    namespace, jobs.retrain_job(spec, monitor=monitor, uid=uid, env=env)
                )
            except ApiException as exc:
                result, message = (
                    "Failed",
                    f"{decision.message}, but the API refused the Job: {exc.status} {exc.reason}",
                )
                out.failures.append("kubernetes")
            else:
                name = created["metadata"]["name"]
                result, message = "Done", f"retraining Job {name} started: {decision.reason} is True"
                state.lastRetrain = policy._iso(now)
                out.status["retrain"] = {
                    "job": name,
                    "reason": decision.reason,
                    "startedAt": policy._iso(now),
                    "outcome": "Running",
                }
        decisions.append((decision, result, message))

    def _retrain_permitted(self, namespace: str, decision: policy.Decision) -> policy.Decision:
        """The decision, refused (Skipped, Event RetrainNotPermitted) when the namespace has not opted
        in to retraining Jobs; in observe mode it says it would be. Reads the namespace's labels only
        when a Job is due, so a monitor that never retrains costs no call."""
        refusal = permits.check_retrain(namespace, self.kube.get_namespace_labels(namespace))
        if refusal is None:
            return decision
        if decision.result == "Observed":
            return dataclasses.replace(decision, message=f"{decision.message}, but {refusal.message}")
        return dataclasses.replace(
            decision,
            result="Skipped",
            message=f"{decision.reason} is True; not starting a retraining Job: {refusal.message}",
            target={"event": refusal.reason},
        )

    def _retrain_running(
        self, namespace: str, monitor: str, status: dict[str, Any], state: policy.ActionState, out: ActOutcome
    ) -> bool:
        """Is a retraining Job of this monitor running? Any unfinished Job with the monitor's label
        counts, not only the one named in status: when the status write after a create is lost, the
        Job still runs, and starting another would train twice."""
        current = dict(status.get("retrain") or {})
        labelled = self.kube.list_jobs(namespace, {"modelmonitor.io/monitor": monitor})
        if current.get("job"):
            found = [j for j in labelled if j["metadata"]["name"] == current["job"]]
            outcome = jobs.job_outcome(found[0]) if found else "Deleted"
            if outcome != current.get("outcome"):
                current["outcome"] = outcome
                out.status["retrain"] = current
                if outcome in ("Succeeded", "Failed"):
                    message = f"retraining Job {current['job']} {outcome.lower()}"
                    out.notes.append(Note(outcome == "Failed", f"Retrain{outcome}", message))
        active = [j for j in labelled if jobs.job_outcome(j) == "Running"]
        if active and not any(j["metadata"]["name"] == current.get("job") for j in active):
            job = max(active, key=lambda j: str(j["metadata"].get("creationTimestamp") or ""))
            out.status["retrain"] = jobs.running_job_status(job)
            started = out.status["retrain"].get("startedAt")
            if started and (state.lastRetrain is None or started > state.lastRetrain):
                state.lastRetrain = started  # its cooldown runs from when it started
        return bool(active)

    # --------------------------------------------------------------------------------------- autoscale

    def _autoscale(
        self,
        spec: ModelMonitorSpec,
        namespace: str,
        monitor: str,
        uid: str,
        state: policy.ActionState,
        decisions: list[Any],
        out: ActOutcome,
    ) -> None:
        name = jobs.hpa_name(monitor)
        if spec.actions.autoscale is None and state.autoscaler is None:
            return  # nothing configured and nothing created: no API call
        existing = self.kube.get_hpa(namespace, name)
        ours = (
            existing is not None
            and (existing["metadata"].get("labels") or {}).get("modelmonitor.io/monitor") == monitor
        )
        state.autoscaler = name if ours else None
        if spec.actions.autoscale is None:
            if ours and spec.actions.mode != ActionMode.OBSERVE:
                self.kube.delete_hpa(namespace, name)
                state.autoscaler = None
                decisions.append(
                    (
                        policy.Decision("autoscale", "Configured", "Done", ""),
                        "Done",
                        f"HorizontalPodAutoscaler {name} removed",
                    )
                )
            return
        desired = jobs.autoscaler(spec, monitor=monitor, uid=uid)
        if existing is not None and not ours:
            decisions.append((policy.Decision("autoscale", "Configured", "Skipped", ""), "Skipped",
                              f"a HorizontalPodAutoscaler {name} exists and is not ours: left alone"))  # fmt: skip
            return
        if existing is not None and existing.get("spec") == desired["spec"]:
            return
        verb = "created" if existing is None else "updated"
        if spec.actions.mode == ActionMode.OBSERVE:
            decisions.append((policy.Decision("autoscale", "Configured", "Observed", ""), "Observed",
                              f"would have {verb} HorizontalPodAutoscaler {name} (observe mode)"))  # fmt: skip
            return
        if existing is None:
            self.kube.create_hpa(namespace, desired)
            state.autoscaler = name
        else:
            self.kube.patch_hpa(namespace, name, {"spec": desired["spec"]})
        scale = spec.actions.autoscale
        decisions.append((policy.Decision("autoscale", "Configured", "Done", ""), "Done",
                          f"HorizontalPodAutoscaler {name} {verb}: {scale.minReplicas}-{scale.maxReplicas} replicas "
                          f"at {scale.targetCPUUtilization}% CPU"))  # fmt: skip

    def cleanup(self, namespace: str, monitor: str) -> None:
        """What the monitor owns goes with it (the API server's GC does it too; this is for certainty)."""
        existing = self.kube.get_hpa(namespace, jobs.hpa_name(monitor))
        if (
            existing is not None
            and (existing["metadata"].get("labels") or {}).get("modelmonitor.io/monitor") == monitor
        ):
            self.kube.delete_hpa(namespace, jobs.hpa_name(monitor))

    # ------------------------------------------------------------------------------------------ alerts

    def send_alerts(self, spec: ModelMonitorSpec, namespace: str, events: list[AlertEvent]) -> list[Note]:
        """Send each event to the alerts whose ``when`` lists its condition; notes for failures.

        A URL from a Secret is read only from a Secret labelled ``modelmonitor.io/webhook: "true"``
        and must be an http(s) URL; every URL must pass the egress allowlist. Otherwise the alert is
        not sent and an AlertNotSent note names the field and why. No note shows more of a URL than
        scheme://host[:port], nor any of a Secret's value.
        """
        notes: list[Note] = []
        for index, alert in enumerate(spec.actions.alerts):
            wanted = {str(t) for t in alert.when}
            relevant = [e for e in events if e.condition in wanted]
            if not relevant:
                continue
            condition = relevant[0].condition
            where = f"spec.actions.alerts[{index}].webhook"
            url = alert.webhook.url
            field_name = f"{where}.url"
            if url is None and alert.webhook.urlFrom is not None:
                ref = alert.webhook.urlFrom.secretKeyRef
                field_name = f"{where}.urlFrom.secretKeyRef"
                try:
                    url = self.kube.get_secret_value(namespace, ref.name, ref.key)
                except SecretRefused as exc:
                    notes.append(Note(True, "AlertNotSent", f"{field_name}: {exc}; the alert is not sent",
                                      condition=condition))  # fmt: skip
                    continue
                except ApiException as exc:
                    notes.append(Note(True, "AlertFailed", f"{field_name}: cannot read Secret "
                                      f"{namespace}/{ref.name}: {exc.status} {exc.reason}", condition=condition))  # fmt: skip
                    continue
                try:
                    egress.endpoint(url)
                except egress.URLRefused as exc:
                    notes.append(Note(True, "AlertNotSent", f"{field_name}: the key {ref.key!r} of Secret "
                                      f"{namespace}/{ref.name} holds no usable webhook URL: {exc}; the alert is "
                                      "not sent", condition=condition))  # fmt: skip
                    continue
            assert url is not None
            refusal = egress.refusal(url, self.egress, field=field_name)
            if refusal is not None:
                notes.append(
                    Note(True, "AlertNotSent", f"{refusal}; the alert is not sent", condition=condition)
                )
                continue
            for event in relevant:
                # Alertmanager hears a firing alert on every evaluation (it resolves what is not
                # re-sent); the others once per transition, deduplicated.
                resend = alert.format == AlertFormat.ALERTMANAGER and event.ends_at is not None
                if event.repeat and not resend:
                    continue
                if not resend and SENDER.duplicate((url, *event.fingerprint), time.monotonic()):
                    continue
                try:
                    SENDER.post(url, payload(event, alert.format))
                except WebhookError as exc:
                    notes.append(Note(True, "AlertFailed", f"{event.name}: {exc}", condition=event.condition))
        return notes

    def record_alerts(
        self, history: list[dict[str, Any]], notes: list[Note], now: str
    ) -> list[dict[str, Any]]:
        """``status.actions`` with the alerts that were not sent or failed (action ``alert``), so the
        status says it too; the same message as the newest alert entry is not repeated."""
        for note in notes:
            if note.reason not in ("AlertNotSent", "AlertFailed"):
                continue
            result = "Skipped" if note.reason == "AlertNotSent" else "Failed"
            last = next((h for h in reversed(history) if h.get("action") == "alert"), None)
            said = (result, note.message[:1024])
            if last is not None and (last.get("result"), last.get("message")) == said:
                continue
            decision = policy.Decision("alert", note.condition or "Alert", result, note.message)
            history = policy.record(history, decision, now=now)
        return history
