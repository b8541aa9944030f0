"""Carrying out a retrain decision: a Job from ``spec.actions.retrain``, at most one running per
monitor, only in a namespace that opted in to retraining Jobs (policy/permits.py)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from modelmonitor.act.outcome import ActOutcome, Note
from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.times import iso
from modelmonitor.policy import actions as policy
from modelmonitor.policy import permits
from modelmonitor.workload import jobs


class Retrainer:
    def __init__(self, kube: KubernetesPort) -> None:
        self.kube = kube

    def retrain(
        self, spec: ModelMonitorSpec, namespace: str, monitor: str, uid: str, status: dict[str, Any],
        conditions: dict[str, str], target: dict[str, Any], drift: dict[str, Any] | None,
        state: policy.ActionState, now: datetime.datetime, out: ActOutcome,
    ) -> tuple[policy.Decision, str, str] | None:  # fmt: skip
        """The decision taken and carried out, with its result and message; None when none is due."""
        if spec.actions.retrain is None:
            return None
        running = self._running(namespace, monitor, status, state, out)
        decision = policy.decide_retrain(spec, state, conditions=conditions, job_running=running, now=now)
        if decision is None:
            return None
        if decision.result in ("Planned", "Observed"):
            decision = self._permitted(namespace, decision)
        result, message = decision.result, decision.message
        if decision.result == "Planned":
            features = [f["name"] for f in (drift or {}).get("features") or [] if f.get("drifted")]
            env = {
                "MODELMONITOR_REASON": decision.reason,
                "MODELMONITOR_MONITOR": f"{namespace}/{monitor}",
                "MODELMONITOR_MODEL_VERSION": str(target.get("modelVersion") or ""),
                "MODELMONITOR_WINDOW_START": str(target.get("since") or ""),
                "MODELMONITOR_WINDOW_END": iso(now),
                "MODELMONITOR_DRIFTED_FEATURES": ",".join(features),
            }
            try:
                created = self.kube.create_job(
                    namespace, jobs.retrain_job(spec, monitor=monitor, uid=uid, env=env)
                )
            except KubernetesError as exc:
                result = "Failed"
                message = f"{decision.message}, but the API refused the Job: {exc.status} {exc.reason}"
                out.failures.append("kubernetes")
            else:
                name = created["metadata"]["name"]
                result, message = "Done", f"retraining Job {name} started: {decision.reason} is True"
                state.lastRetrain = iso(now)
                out.status["retrain"] = {
                    "job": name,
                    "reason": decision.reason,
                    "startedAt": iso(now),
                    "outcome": "Running",
                }
        return decision, result, message

    def _permitted(self, namespace: str, decision: policy.Decision) -> policy.Decision:
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

    def _running(
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
