"""One reconcile of one monitor, as a pipeline of stages:

    load (the spec, its target, the permits) -> put the sidecar in place -> gather -> evaluate
    -> decide (the phase; policy/) -> act -> the status patch that says so

Runs in a worker thread (the stages do blocking I/O through the ports). Each stage lives in its own
package (gather/, evaluate/, policy/, act/); this class only hands one stage's result to the next.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.act import Actor, ActOutcome, Note
from modelmonitor.act.alerts import Alerter
from modelmonitor.act.alerts import record as record_alerts
from modelmonitor.act.audit import AuditRefused, AuditStore
from modelmonitor.act.sidecar import SidecarActor
from modelmonitor.act.state import save_state
from modelmonitor.adapters.ports import KubernetesError, KubernetesPort, SidecarPort, WebhookPort
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType, Phase
from modelmonitor.evaluate import evaluate
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.gather import Gatherer
from modelmonitor.gather.prometheus import PortFactory
from modelmonitor.operator.schedule import MissingTargets, due
from modelmonitor.operator.settings import OperatorSettings
from modelmonitor.policy import audit as trail
from modelmonitor.policy import egress
from modelmonitor.policy.alerts import AlertEvent
from modelmonitor.policy.request import Request, iso, parse_iso, transitions, with_condition
from modelmonitor.policy.target import Transition, assess_target
from modelmonitor.policy.verdict import phase_of
from modelmonitor.workload import gitops
from modelmonitor.workload.injection import template_hash

__all__ = ["Outcome", "Reconciler", "Request"]


@dataclass
class Outcome:
    status_patch: dict[str, Any]
    transitions: list[Transition] = field(default_factory=list)
    evaluated: bool = False
    drift: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)  # stages that failed: prometheus, sidecar, ...
    notes: list[Note] = field(default_factory=list)  # Events about actions and alerts
    alerts: list[AlertEvent] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)  # records for the audit trail (policy/audit.py)


class Reconciler:
    def __init__(
        self, kube: KubernetesPort, settings: OperatorSettings, *, prometheus: PortFactory | None = None,
        sidecars: SidecarPort | None = None, webhooks: WebhookPort | None = None,
    ) -> None:  # fmt: skip
        from modelmonitor.adapters import prometheus as prometheus_adapter
        from modelmonitor.adapters import sidecars as sidecar_adapter
        from modelmonitor.adapters import webhooks as webhook_adapter

        def default_prometheus(url: str, timeout: float) -> prometheus_adapter.PrometheusPort:
            return prometheus_adapter.prometheus_port(url, timeout, settings.workers)

        self.kube = kube
        self.settings = settings
        self.sidecar = SidecarActor(kube, settings)
        self.gatherer = Gatherer(kube, settings, prometheus=prometheus or default_prometheus,
                                 sidecars=sidecars or sidecar_adapter.SIDECARS)  # fmt: skip
        self.actor = Actor(kube, settings.runbook_base_url)
        self.alerter = Alerter(
            kube, webhooks or webhook_adapter.SENDER, egress.parse_patterns(settings.egress_allow)
        )
        self._missing = MissingTargets()
        self.audit = AuditStore(
            kube, segments=settings.audit_segments, max_bytes=settings.audit_segment_bytes
        )

    def reconcile(self, req: Request) -> Outcome:
        if not self._missing.due(req, self.settings.retry_seconds):
            return Outcome({})  # the target was missing a moment ago: look again after --retry
        # load: the spec, its target and whether the operator may act on them
        target = (req.spec.get("target") or {}).get("deployment")
        named = isinstance(target, str) and bool(target)
        deployment = self.kube.get_deployment(req.namespace, str(target)) if named else None
        self._missing.saw(req, found=deployment is not None or not named)
        base = assess_target(
            namespace=req.namespace, spec=req.spec, generation=req.generation, status=req.status,
            deployment=deployment, now=iso(req.now), retry_seconds=self.settings.retry_seconds,
        )  # fmt: skip
        out = Outcome(dict(base.status_patch), base.transitions)
        spec = base.spec
        if spec is None or deployment is None or self._refused(spec, req, deployment, out):
            return out  # invalid, no target, not opted in, or an image it may not inject: nothing acted on
        # the sidecar in place (act), before anything can be observed
        managed = gitops.managed_by(deployment)
        injected, token = self.sidecar.ensure(spec, req, deployment, out.notes)
        self._apply(req, out, [_gitops_verdict(managed), injected])
        challenger, challenger_injected = None, None
        if spec.experiment is not None:
            challenger = self.kube.get_deployment(req.namespace, spec.experiment.challenger.deployment)
            if challenger is not None:
                challenger_injected = self.sidecar.ensure_challenger(spec, req, challenger)
        since = self._target_since(req, deployment, out)
        if self._due(spec, req, out):
            # gather -> evaluate -> decide (the phase) -> act
            gathered = self.gatherer.gather(
                spec, req, deployment, injected=injected, since=since, token=token, challenger=challenger,
                challenger_injected=challenger_injected,
            )  # fmt: skip
            if gathered.missing_pods:
                self._apply(req, out, [_missing_pods(injected, gathered.missing_pods)])
            evaluation = evaluate(spec, gathered.observations, req.status)
            out.evaluated, out.drift = True, evaluation.drift
            out.failures += gathered.failures
            out.status_patch.update(evaluation.status, lastEvaluation=iso(req.now))
            setup_failed = injected.status != "True" and injected.reason not in (
                "RolloutInProgress",
                "NotInjected",
            )
            out.status_patch["phase"] = str(Phase.ERROR if setup_failed else phase_of(evaluation.verdicts))
            self._apply(req, out, evaluation.verdicts)
            if evaluation.state:
                out.notes += save_state(self.kube, req.namespace, req.name, req.uid, evaluation.state,
                                        gathered.state_configmap)  # fmt: skip
            self._act(spec, req, deployment, managed, out)
            self._experiment(spec, req, deployment, challenger, out)
        out.transitions = transitions(req, out.status_patch["conditions"])
        if out.evaluated and spec.actions.alerts:
            self._alert(spec, req, out)
        if out.evaluated:
            self._audit(spec, req, out)
        return out

    def cleanup(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        """On delete: the HPA, the Services first, then the sidecar out of the Deployment."""
        target = (spec.get("target") or {}).get("deployment")
        if not isinstance(target, str) or not target:
            return
        self.sidecar.take_out(namespace, name, target)
        challenger = ((spec.get("experiment") or {}).get("challenger") or {}).get("deployment")
        if isinstance(challenger, str) and challenger and challenger != target:
            self.sidecar.take_out(namespace, name, challenger, routes=False)

    # ------------------------------------------------------------------------------------------ stages

    def _target_since(self, req: Request, deployment: dict[str, Any], out: Outcome) -> datetime.datetime:
        """status.target's pod template hash, and since when it runs (now, for a new template)."""
        template = template_hash(deployment)
        previous = _stored_target(req)
        since = previous.get("since") if previous.get("podTemplateHash") == template else iso(req.now)
        out.status_patch["target"] = {**(out.status_patch.get("target") or {}), "podTemplateHash": template,
                                      "since": since}  # fmt: skip
        return parse_iso(since) or req.now

    def _due(self, spec: ModelMonitorSpec, req: Request, out: Outcome) -> bool:
        """At the monitor's interval, and at once for a new spec or a new pod template."""
        stored = _stored_target(req)
        fresh = stored.get("podTemplateHash") != out.status_patch["target"]["podTemplateHash"]
        return due(parse_duration(spec.interval), req) or fresh

    def _act(self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], managed: str | None,
             out: Outcome) -> None:  # fmt: skip
        acted = self.actor.act(
            spec, namespace=req.namespace, monitor=req.name, uid=req.uid, status=req.status,
            conditions={c["type"]: c["status"] for c in out.status_patch["conditions"]},
            phase=out.status_patch["phase"], target=out.status_patch["target"], deployment=deployment,
            gitops=managed, drift=out.drift, now=req.now,
        )  # fmt: skip
        self._merge(req, out, acted)

    def _experiment(self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any],
                    challenger: dict[str, Any] | None, out: Outcome) -> None:  # fmt: skip
        experiment = out.status_patch.get("experiment")
        if spec.experiment is None or not isinstance(experiment, dict):
            return
        acted = self.actor.experiment(
            spec, namespace=req.namespace, monitor=req.name, status=req.status, experiment=experiment,
            annotations=req.annotations, champion=deployment, challenger=challenger,
            history=list(out.status_patch.get("actions") or req.status.get("actions") or []), now=req.now,
        )  # fmt: skip
        self._merge(req, out, acted)

    def _merge(self, req: Request, out: Outcome, acted: ActOutcome) -> None:
        """What an act stage did, into the outcome: status fields, Events, alerts, failures, conditions."""
        out.status_patch.update(acted.status)
        out.audit += [trail.decision(*d, generation=req.generation, now=iso(req.now)) for d in acted.decided]
        out.notes += acted.notes
        out.alerts += acted.alerts
        out.failures += acted.failures
        self._apply(req, out, acted.verdicts)

    def _apply(self, req: Request, out: Outcome, verdicts: list[Verdict]) -> None:
        conditions = out.status_patch["conditions"]
        for v in verdicts:
            conditions = with_condition(conditions, req, v.type, v.status, v.reason, v.message)
        out.status_patch["conditions"] = conditions

    def _alert(self, spec: ModelMonitorSpec, req: Request, out: Outcome) -> None:
        sent = self.alerter.alert(spec, req, out.status_patch["conditions"], out.alerts,
                                  changed={t.type for t in out.transitions}, runbook_base=self.settings.runbook_base_url)  # fmt: skip
        out.notes.extend(sent)
        out.status_patch["actions"] = record_alerts(
            list(out.status_patch.get("actions") or []), sent, iso(req.now)
        )
        out.audit += [trail.decision("alert", n.condition or "Alert", "Skipped" if n.reason == "AlertNotSent" else "Failed",
                                     n.message, generation=req.generation, now=iso(req.now))
                      for n in sent if n.reason in ("AlertNotSent", "AlertFailed")]  # fmt: skip

    def _audit(self, spec: ModelMonitorSpec, req: Request, out: Outcome) -> None:
        """This evaluation's actions and decisions not to act (and not to act on missing data) into
        the audit trail; records past ``spec.retention`` dropped. A failure is an Event, not an error."""
        conditions = {c["type"]: c for c in out.status_patch["conditions"]}
        out.audit += trail.blind(spec, conditions, {r["action"] for r in out.audit}, generation=req.generation,
                                 now=iso(req.now))  # fmt: skip
        try:
            self.audit.record(req.namespace, req.name, req.uid, out.audit,
                              retention_seconds=parse_duration(spec.retention), now=req.now)  # fmt: skip
        except (KubernetesError, AuditRefused) as exc:
            out.notes.append(Note(True, "AuditNotSaved", f"audit trail of {req.namespace}/{req.name}: {exc}"))

    def _refused(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], out: Outcome
    ) -> bool:
        """Is this a monitor the operator may not act on (policy/permits.py)? Then ``out`` says why,
        and the act stage has undone what the monitor put in when consent was withdrawn."""
        refusal = self.sidecar.permit(spec, req, deployment)
        if refusal is None:
            return False
        self._missing.saw(req, found=False)  # refused: look again once per --retry, as for a missing target
        self._apply(
            req,
            out,
            self.sidecar.refuse(spec, req, deployment, refusal, retry_seconds=self.settings.retry_seconds),
        )
        out.status_patch["phase"] = str(Phase.ERROR)
        out.transitions = transitions(req, out.status_patch["conditions"])
        return True


def _gitops_verdict(managed: str | None) -> Verdict:
    if managed:
        return Verdict(ConditionType.GITOPS_MANAGED, "True", "ManagedByGitOps", f"managed by {managed}: the "
                       f"injected sidecar shows as drift or is reverted; {gitops.HOW_TO_IGNORE[managed]}")  # fmt: skip
    return Verdict(ConditionType.GITOPS_MANAGED, "False", "NotManaged", "no Argo CD or Flux markers found")


def _missing_pods(injected: Verdict, missing: dict[str, str]) -> Verdict:
    """SidecarInjected, still True, naming the pods whose sidecar could not be read this time."""
    named = "; ".join(f"{pod}: {why}" for pod, why in sorted(missing.items()))
    message = (f"{injected.message}; {len(missing)} pod(s) left out of this evaluation, their sidecar "
               f"could not be read: {named}")  # fmt: skip
    return Verdict(injected.type, injected.status, injected.reason, message[:4000])


def _stored_target(req: Request) -> dict[str, Any]:
    stored = req.status.get("target")
    return stored if isinstance(stored, dict) else {}
