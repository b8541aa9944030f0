"""One reconcile of one monitor: inject, gather, evaluate, and the status patch that says so.

Runs in a worker thread (it does blocking I/O through the adapters); the verdicts come from pure
code in policy/ and drift/. Nothing here acts on the workload beyond the sidecar and the Service
route: rollbacks and other actions belong to the actions layer.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.adapters import sidecars
from modelmonitor.adapters.kubernetes import KubernetesPort
from modelmonitor.adapters.prometheus import PrometheusError, prometheus_port
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionStatus, ConditionType, Phase, set_condition
from modelmonitor.drift import detect
from modelmonitor.drift.schema import redacted_columns
from modelmonitor.operator import reference as references
from modelmonitor.operator.actions import Actor, Note
from modelmonitor.operator.settings import OperatorSettings
from modelmonitor.policy import egress, permits
from modelmonitor.policy.alerts import AlertEvent, condition_alerts
from modelmonitor.policy.integrity import broken_features, judge_integrity
from modelmonitor.policy.queries import Selector, resource_queries, slo_queries, utilization_basis
from modelmonitor.policy.target import Transition, assess_target
from modelmonitor.policy.unbuilt import judge_unbuilt
from modelmonitor.policy.verdict import Observations, Verdict, judge_checks, judge_drift, judge_slos, phase_of
from modelmonitor.workload import admin, gitops, netpol
from modelmonitor.workload.injection import (
    SIDECAR_NAME,
    InjectionError,
    model_container,
    plan_injection,
    plan_removal,
    rollout_complete,
    rollout_failure,
    template_hash,
)
from modelmonitor.workload.routing import plan_unroute, route, selects
from modelmonitor.workload.selection import owned_pods, owned_replicasets, template_hashes

log = logging.getLogger(__name__)

MIN_LOOKBACK = 60.0  # seconds: rate() needs a few scrapes, even right after a new revision
TOP_FEATURES = 10
MAX_STATUS_FEATURES = 50  # the CRD's maxItems of status.drift.features and brokenFeatures
MAX_MISSING = 10_000  # monitors remembered as having a missing target


@dataclass
class Request:
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: dict[str, Any]
    status: dict[str, Any]
    now: datetime.datetime
    deleting: bool = False


@dataclass
class Outcome:
    status_patch: dict[str, Any]
    transitions: list[Transition] = field(default_factory=list)
    evaluated: bool = False
    drift: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)  # stages that failed: prometheus, sidecar, ...
    notes: list[Note] = field(default_factory=list)  # Events about actions and alerts
    alerts: list[AlertEvent] = field(default_factory=list)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def due(interval: float, req: Request) -> bool:
    """Is an evaluation due? At once for a new monitor or a changed spec; then once per ``interval``
    seconds, in a slot of the interval fixed by the monitor's uid, so that monitors created together
    do not all evaluate on the same tick (which would queue them behind the worker threads)."""
    last = parse_iso(req.status.get("lastEvaluation"))
    if last is None or req.status.get("observedGeneration") != req.generation:
        return True
    if (req.now - last).total_seconds() >= 2 * interval:
        return True  # overdue (the operator was down): no need to wait for the slot
    offset = zlib.crc32(req.uid.encode()) % max(int(interval), 1)
    return math.floor((req.now.timestamp() - offset) / interval) > math.floor(
        (last.timestamp() - offset) / interval
    )


class MissingTargets:
    """When each monitor last found its target Deployment missing, so that it looks again once per
    ``--retry`` rather than on every tick. In memory on purpose: after a restart, looking at once
    is right."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str, str], tuple[int | None, datetime.datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, req: Request, retry_seconds: float) -> bool:
        """Look up the target now? Yes unless it was missing less than ``retry_seconds`` ago, for
        the same generation (a changed spec looks at once), and status still says so."""
        with self._lock:
            seen = self._seen.get((req.namespace, req.name, req.uid))
        if seen is None or seen[0] != req.generation:
            return True
        ready: dict[str, Any] = next(
            (c for c in req.status.get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        waiting = ready.get("reason") == "TargetNotFound" or ready.get("reason") in permits.REFUSALS
        return not waiting or (req.now - seen[1]).total_seconds() >= retry_seconds

    def saw(self, req: Request, *, found: bool) -> None:
        key = (req.namespace, req.name, req.uid)
        with self._lock:
            self._seen.pop(key, None)
            if not found:
                self._seen[key] = (req.generation, req.now)
                while len(self._seen) > MAX_MISSING:  # monitors deleted while their target was missing
                    self._seen.popitem(last=False)


class Reconciler:
    def __init__(self, kube: KubernetesPort, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.actor = Actor(kube, settings.runbook_base_url, egress_allow=settings.egress_allow)
        self.egress = egress.parse_patterns(settings.egress_allow)
        self._missing = MissingTargets()
        self._said_no_policy = threading.Event()

    # ------------------------------------------------------------------------------------------ entry

    def reconcile(self, req: Request) -> Outcome:
        if not self._missing.due(req, self.settings.retry_seconds):
            return Outcome({})  # the target was missing a moment ago: look again after --retry
        target = (req.spec.get("target") or {}).get("deployment")
        deployment = (
            self.kube.get_deployment(req.namespace, target) if isinstance(target, str) and target else None
        )
        self._missing.saw(req, found=deployment is not None or not (isinstance(target, str) and target))
        now = iso(req.now)
        base = assess_target(
            namespace=req.namespace,
            spec=req.spec,
            generation=req.generation,
            status=req.status,
            deployment=deployment,
            now=now,
            retry_seconds=self.settings.retry_seconds,
        )
        patch = dict(base.status_patch)
        conditions = patch["conditions"]
        if base.spec is None or deployment is None:
            return Outcome(patch, base.transitions)
        spec = base.spec
        refused = self._refused(spec, req, deployment, patch)
        if refused is not None:
            return refused  # not opted in, or an image the operator may not inject: nothing acted on

        verdicts: list[Verdict] = []
        managed = gitops.managed_by(deployment)
        verdicts.append(
            Verdict(ConditionType.GITOPS_MANAGED, "True", "ManagedByGitOps", f"managed by {managed}: "
                    f"the injected sidecar shows as drift or is reverted; {gitops.HOW_TO_IGNORE[managed]}")
            if managed else
            Verdict(ConditionType.GITOPS_MANAGED, "False", "NotManaged", "no Argo CD or Flux markers found")
        )  # fmt: skip
        notes: list[Note] = []
        injected, token = self._inject(spec, req, deployment, notes)
        verdicts.append(injected)

        outcome = Outcome(patch, notes=notes)
        target_status = dict(patch.get("target") or {})
        template = template_hash(deployment)
        previous = (req.status.get("target") or {}) if isinstance(req.status.get("target"), dict) else {}
        since = previous.get("since") if previous.get("podTemplateHash") == template else now
        target_status.update({"podTemplateHash": template, "since": since})
        patch["target"] = target_status

        if due(parse_duration(spec.interval), req) or previous.get("podTemplateHash") != template:
            verdicts.extend(
                self._evaluate(spec, req, deployment, injected, since or now, outcome, token=token)
            )
            patch["lastEvaluation"] = now
            outcome.evaluated = True

        for v in verdicts:
            conditions = with_condition(conditions, req, v.type, v.status, v.reason, v.message)
        patch["conditions"] = conditions
        if outcome.evaluated:
            judged = [
                v
                for v in verdicts
                if v.type not in (ConditionType.GITOPS_MANAGED, ConditionType.SIDECAR_INJECTED)
            ]
            if injected.status != "True" and injected.reason not in ("RolloutInProgress", "NotInjected"):
                patch["phase"] = str(Phase.ERROR)
            else:
                patch["phase"] = str(phase_of(judged))
        if outcome.evaluated:
            conditions = self._act(spec, req, deployment, managed, patch, conditions, outcome)
            patch["conditions"] = conditions
        outcome.transitions = transitions(req, conditions)
        outcome.status_patch = patch
        if outcome.evaluated and spec.actions.alerts:
            alerts = [*outcome.alerts, *condition_alerts(
                req.namespace, req.name, before={c["type"]: c["status"] for c in req.status.get("conditions") or []},
                conditions=conditions, changed={t.type for t in outcome.transitions}, now=req.now,
                interval=parse_duration(spec.interval), runbook_base=self.settings.runbook_base_url,
            )]  # fmt: skip
            sent = self.actor.send_alerts(spec, req.namespace, alerts)
            outcome.notes.extend(sent)
            patch["actions"] = self.actor.record_alerts(list(patch.get("actions") or []), sent, now)
        return outcome

    def _act(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], managed: str | None,
        patch: dict[str, Any], conditions: list[dict[str, Any]], outcome: Outcome,
    ) -> list[dict[str, Any]]:  # fmt: skip
        acted = self.actor.act(
            spec, namespace=req.namespace, monitor=req.name, uid=req.uid, status=req.status,
            conditions={c["type"]: c["status"] for c in conditions}, phase=patch["phase"],
            target=patch["target"], deployment=deployment, gitops=managed, drift=outcome.drift, now=req.now,
        )  # fmt: skip
        patch.update(acted.status)
        outcome.notes.extend(acted.notes)
        outcome.alerts.extend(acted.alerts)
        outcome.failures.extend(acted.failures)
        for kind, status, reason, message in acted.verdicts:
            conditions = with_condition(conditions, req, kind, status, reason, message)
        return conditions

    def cleanup(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        """On delete: restore the Services first, then take the sidecar out of the Deployment."""
        target = (spec.get("target") or {}).get("deployment")
        if not isinstance(target, str) or not target:
            return
        deployment = self.kube.get_deployment(namespace, target)
        if deployment is None:
            return
        self.actor.cleanup(namespace, name)
        self._unroute(namespace, name)
        ops = plan_removal(deployment, monitor=name)
        if ops:
            self.kube.json_patch_deployment(namespace, target, ops)

    # -------------------------------------------------------------------------------------- injection

    def _inject(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], notes: list[Note]
    ) -> tuple[Verdict, str | None]:
        """The SidecarInjected verdict, and the admin token to read the sidecars with (None when
        there is no sidecar of ours to read). The admin Secret and the NetworkPolicy are in place
        before the sidecar goes into the pod template."""
        kind = ConditionType.SIDECAR_INJECTED
        name = spec.target.deployment
        if not spec.sidecar.inject:
            self._unroute(req.namespace, req.name)
            ops = plan_removal(deployment, monitor=req.name)
            if ops:
                self.kube.json_patch_deployment(req.namespace, name, ops)
                return Verdict(
                    kind, "False", "NotInjected", "sidecar removed (spec.sidecar.inject is false)"
                ), None
            return Verdict(kind, "False", "NotInjected", "spec.sidecar.inject is false"), None
        try:
            ops = plan_injection(deployment, spec, monitor=req.name, image=self.settings.sidecar_image)
        except InjectionError as exc:
            return Verdict(kind, "False", exc.reason, exc.message), None
        access = self._admin_access(spec, req, deployment)
        if isinstance(access, Verdict):
            return access, None
        token = access
        if ops:
            self.kube.json_patch_deployment(req.namespace, name, ops)
            return Verdict(
                kind,
                "False",
                "RolloutInProgress",
                "sidecar added to the pod template; waiting for the rollout",
            ), token
        if not rollout_complete(deployment):
            failure = rollout_failure(deployment)
            if failure is not None:
                return Verdict(kind, "False", "RolloutFailed", f"the rollout with the sidecar is stuck: {failure} "
                               "(kubectl describe the new pods: an image pull or a crash?)"), token  # fmt: skip
            return Verdict(
                kind, "False", "RolloutInProgress", "waiting for every replica to run the sidecar"
            ), token
        routes = self._route(spec, req, deployment, notes)
        return Verdict(kind, "True", "Injected", f"sidecar runs in every replica{routes}"), token

    def _admin_access(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any]
    ) -> Verdict | str:
        """The monitor's admin Secret, created when missing and used only when it is the monitor's
        own, and its NetworkPolicy: the admin token, or the verdict that stops the injection. No
        message shows anything of a Secret's data."""
        kind = ConditionType.SIDECAR_INJECTED
        name = admin.admin_name(req.name)
        secret = self.kube.get_secret(req.namespace, name)
        if secret is None:
            body = admin.admin_secret(req.name, req.uid)
            # 409: another replica (or an earlier, interrupted evaluation) made it first: read that one.
            secret = (
                body
                if self.kube.create_secret(req.namespace, body)
                else self.kube.get_secret(req.namespace, name)
            )
            if secret is None:
                return Verdict(kind, "False", "AdminSecretMissing",
                               f"Secret {name!r} was created and is gone again; trying again at the next evaluation")  # fmt: skip
        problem = admin.conflict(secret, req.name, req.uid)
        if problem is not None:
            return Verdict(kind, "False", "AdminSecretConflict", problem)
        token = admin.token(secret)
        if token is None:
            return Verdict(kind, "False", "AdminSecretInvalid", f"Secret {name!r} has no usable key "
                           f"{admin.TOKEN_KEY!r}: delete it, and the operator creates a new one")  # fmt: skip
        refused = self._network_policy(spec, req, deployment)
        return refused if refused is not None else token

    def _network_policy(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any]
    ) -> Verdict | None:
        """Create or correct the NetworkPolicy of the sidecars' admin port (workload/netpol.py); the
        verdict when a NetworkPolicy of that name is not the monitor's own, else None. Off with the
        network_policy setting: then none is made (one made before stays until the monitor goes)."""
        settings = self.settings
        if not settings.network_policy:
            return None
        if not settings.operator_namespace or not settings.operator_pod_labels:
            # An operator-wide setting, not the monitor's fault: said once in the log, not in status.
            if not self._said_no_policy.is_set():
                self._said_no_policy.set()
                log.warning("no NetworkPolicy guards the sidecars' admin ports: the operator's namespace and "
                            "pod labels are not set (MODELMONITOR_OPERATOR_NAMESPACE, "
                            "MODELMONITOR_OPERATOR_POD_LABELS); the bearer token is the only guard")  # fmt: skip
            return None
        name = admin.admin_name(req.name)
        desired = netpol.network_policy(
            deployment, monitor=req.name, uid=req.uid, admin_port=spec.sidecar.adminPort,
            operator_namespace=settings.operator_namespace, operator_labels=settings.operator_pod_labels,
            prometheus=settings.network_policy_prometheus,
        )  # fmt: skip
        stored = self.kube.get_network_policy(req.namespace, name)
        if stored is None:
            if self.kube.create_network_policy(req.namespace, desired):
                return None
            stored = self.kube.get_network_policy(req.namespace, name)  # 409: made meanwhile
            if stored is None:
                return None  # made and gone again: the next evaluation makes it
        problem = netpol.conflict(stored, req.name, req.uid)
        if problem is not None:
            return Verdict(ConditionType.SIDECAR_INJECTED, "False", "NetworkPolicyConflict", problem)
        ops = netpol.plan_update(stored, desired)
        if ops:
            self.kube.json_patch_network_policy(req.namespace, name, ops)
        return None

    def _route(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], notes: list[Note]
    ) -> str:
        """Route (and re-route) the Services to the sidecar; what to add to the SidecarInjected message."""
        if not spec.sidecar.routeService:
            return ""
        labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        model = model_container(deployment, spec)
        names = {
            p["name"]
            for p in model.get("ports") or []
            if p.get("containerPort") == spec.target.port and p.get("name")
        }
        routed, said = [], []
        for service in self.kube.list_services(req.namespace):
            if not selects(service, labels):
                continue
            name = service["metadata"]["name"]
            plan = route(
                service, model_port=spec.target.port, model_port_names=names,
                proxy_port=spec.sidecar.listenPort, monitor=req.name,
            )  # fmt: skip
            if plan.ops:
                self.kube.json_patch_service(req.namespace, name, plan.ops)
            if plan.routed:
                routed.append(name)
            said += plan.remarks(name)
            if plan.restored:
                notes.append(Note(True, "RouteRestored", plan.remarks(name)[0]))
        if routed:
            where = f"; Services routed through it: {', '.join(routed)}"
        else:
            where = "; no Service routed" + ("" if said else " (none selects the pods' model port)")
        return where + "".join(f"; {s}" for s in said)

    def _unroute(self, namespace: str, monitor: str) -> None:
        for service in self.kube.list_services(namespace):
            ops = plan_unroute(service, monitor=monitor)
            if ops:
                self.kube.json_patch_service(namespace, service["metadata"]["name"], ops)

    # ------------------------------------------------------------------------------------- evaluation

    def _evaluate(
        self,
        spec: ModelMonitorSpec,
        req: Request,
        deployment: dict[str, Any],
        injected: Verdict,
        since: str,
        out: Outcome,
        *,
        token: str | None = None,
    ) -> list[Verdict]:
        started = parse_iso(since) or req.now
        lookback = min(
            parse_duration(spec.window.maxAge), max((req.now - started).total_seconds(), MIN_LOOKBACK)
        )
        obs = Observations(lookback_seconds=round(lookback))
        # Selectors overlap (a challenger's pods match its champion's selector): ownership decides.
        selector = (deployment.get("spec") or {}).get("selector") or {}
        replicasets = owned_replicasets(self.kube.list_replicasets(req.namespace, selector), deployment)
        self._gather_prometheus(spec, req, deployment, replicasets, obs, out)
        self._gather_drift(spec, req, deployment, replicasets, injected, started, obs, out, token=token)

        verdicts = [judge_slos(spec, obs)]
        previous = {c.get("name"): int(c.get("failures") or 0) for c in req.status.get("checks") or []}
        check_verdict, check_states = judge_checks(spec, obs, previous)
        if check_verdict is not None:
            verdicts.append(check_verdict)
        verdicts.append(judge_drift(spec, obs))
        verdicts.append(judge_integrity(spec, obs))
        verdicts.extend(judge_unbuilt(spec))
        out.status_patch["slo"] = {k: (round(v, 6) if v is not None else None) for k, v in obs.slo.items()}
        out.status_patch["checks"] = check_states
        out.status_patch["drift"] = _drift_status(obs, spec)
        return verdicts

    def _gather_prometheus(
        self,
        spec: ModelMonitorSpec,
        req: Request,
        deployment: dict[str, Any],
        replicasets: list[dict[str, Any]],
        obs: Observations,
        out: Outcome,
    ) -> None:
        url = spec.prometheus.url or self.settings.prometheus_url
        if not url:
            obs.slo_error = "no Prometheus URL: set spec.prometheus.url or the operator's --prometheus-url"
            obs.check_errors = {c.name: obs.slo_error for c in spec.checks}
            return
        field_name = "spec.prometheus.url" if spec.prometheus.url else "the operator's --prometheus-url"
        refusal = egress.refusal(url, self.egress, field=field_name)
        if refusal is not None:
            obs.slo_error = f"not querying Prometheus: {refusal}"
            obs.check_errors = {c.name: obs.slo_error for c in spec.checks}
            out.failures.append("prometheus")
            return
        prom = prometheus_port(url, parse_duration(spec.prometheus.timeout), self.settings.workers)
        model = model_container(deployment, spec)
        hashes = tuple(template_hashes(replicasets, deployment))
        sel = Selector(req.namespace, spec.target.deployment, str(model.get("name")), hashes)
        try:
            for name, promql in slo_queries(sel, obs.lookback_seconds).items():
                obs.slo[name] = prom.query(promql)
            figures = {k: prom.query(q) for k, q in resource_queries(sel, obs.lookback_seconds).items()}
            for figure, resource, used in (("cpuUtilization", "cpu", figures["cpuCores"]),
                                           ("memoryUtilization", "memory", figures["memoryBytes"])):  # fmt: skip
                basis = utilization_basis(model, resource)
                obs.slo[figure] = used / basis.quantity if used is not None and basis.quantity else None
                if basis.reason:
                    obs.slo_basis[figure] = (basis.reason, basis.message)
            obs.slo["gpuUtilization"] = figures["gpuUtilization"]
        except PrometheusError as exc:
            obs.slo_error = str(exc)
            obs.slo = {}
            out.failures.append("prometheus")
        for check in spec.checks:
            if obs.slo_error:
                obs.check_errors[check.name] = obs.slo_error
                continue
            try:
                obs.checks[check.name] = prom.query(check.query)
            except PrometheusError as exc:
                obs.check_errors[check.name] = str(exc)
                out.failures.append("prometheus")

    def _gather_drift(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any],
        replicasets: list[dict[str, Any]], injected: Verdict, started: datetime.datetime,
        obs: Observations, out: Outcome, *, token: str | None = None,
    ) -> None:  # fmt: skip
        if injected.status != "True":
            obs.drift_reason = (
                "RolloutInProgress" if injected.reason == "RolloutInProgress" else "SidecarNotInjected",
                f"no captured traffic: {injected.message}",
            )
            return
        selector = (deployment.get("spec") or {}).get("selector") or {}
        endpoints = {}
        for pod in owned_pods(self.kube.list_pods(req.namespace, selector), replicasets, deployment):
            ip = (pod.get("status") or {}).get("podIP")
            running = any(
                c.get("name") == SIDECAR_NAME for c in (pod.get("spec") or {}).get("containers") or []
            )
            if ip and running and _ready(pod):
                endpoints[pod["metadata"]["name"]] = f"http://{ip}:{spec.sidecar.adminPort}"
        if not endpoints:
            obs.drift_reason = ("AwaitingTraffic", "no ready pod with the sidecar yet")
            return
        window = sidecars.read_window(
            endpoints, timeout=parse_duration(spec.prometheus.timeout), max_rows=spec.window.maxRows,
            since_ts=started.timestamp(), token=token,
        )  # fmt: skip
        if not window.pods_read:
            out.failures.append("sidecar")
            obs.drift_reason = ("SidecarUnreachable", "; ".join(window.pods_failed.values())[:2000])
            return
        current = sidecars.features(window)
        # Redacted fields are salted hashes: unique per value, meaningless to compare.
        current = current.drop(columns=redacted_columns(current.columns, spec.sidecar.redact))
        ref = references.load_reference(
            self.kube,
            spec,
            namespace=req.namespace,
            monitor=req.name,
            timeout=parse_duration(spec.prometheus.timeout),
            egress_allow=self.egress,
            max_bytes=self.settings.reference_max_bytes,
        )
        if ref.profile is None and ref.reason and ref.reason[0] == "CapturingReference":
            wanted = spec.drift.reference.capture.rows if spec.drift.reference.capture else 5000
            if len(current) < wanted:
                obs.drift_reason = (
                    "CapturingReference",
                    f"{len(current)}/{wanted} rows captured for the reference",
                )
                return
            ref = references.capture_reference(
                self.kube, current, namespace=req.namespace, monitor=req.name, uid=req.uid, rows=wanted
            )
        if ref.profile is None:
            out.failures.append("reference")
            obs.drift_reason = ref.reason or ("ReferenceUnavailable", "no reference")
            return
        if len(current) < spec.drift.minRows:
            obs.drift_reason = (
                "InsufficientData",
                f"{len(current)} rows since {iso(started)}, fewer than spec.drift.minRows={spec.drift.minRows}",
            )
            return
        report = detect(
            ref.profile, current, method=str(spec.drift.method), threshold=spec.drift.threshold,
            drift_share=spec.drift.driftShare,
            correction=None if spec.drift.correction == "none" else str(spec.drift.correction),
            features=spec.drift.features, min_effect=spec.drift.minEffect,
        )  # fmt: skip
        obs.drift = report.to_dict()
        out.drift = obs.drift
        if window.pods_failed:
            out.failures.append("sidecar")

    # ---------------------------------------------------------------------------------------- permits

    def _refused(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], patch: dict[str, Any]
    ) -> Outcome | None:
        """The outcome of a monitor the operator may not act on (policy/permits.py), else None.

        Consent withdrawn (the opt-in label removed) takes out what this monitor put in: the Service
        routes, the sidecar and its HPA, as a delete of the monitor would. A refused image changes
        nothing: the sidecar already there, if any, is one the operator was allowed to inject."""
        refusal = permits.check_target(
            spec, namespace=req.namespace,
            namespace_labels=self.kube.get_namespace_labels(req.namespace) if self.settings.require_opt_in else {},
            deployment_labels=(deployment.get("metadata") or {}).get("labels") or {},
            require_opt_in=self.settings.require_opt_in, default_image=self.settings.sidecar_image,
            allowed_images=self.settings.sidecar_images,
        )  # fmt: skip
        if refusal is None:
            return None
        self._missing.saw(req, found=False)  # refused: look again once per --retry, as for a missing target
        said = "nothing was changed"
        ops = plan_removal(deployment, monitor=req.name) if refusal.reason == permits.NOT_OPTED_IN else []
        before: dict[str, Any] = next(
            (c for c in req.status.get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        if ops or (refusal.reason == permits.NOT_OPTED_IN and before.get("reason") != refusal.reason):
            self.actor.cleanup(req.namespace, req.name)
            self._unroute(req.namespace, req.name)
        if ops:
            self.kube.json_patch_deployment(req.namespace, spec.target.deployment, ops)
            said = "the sidecar this monitor injected was removed and its Services restored"
        said += f"; looking again every {self.settings.retry_seconds:g}s"
        conditions = patch["conditions"]
        for kind, message in ((ConditionType.READY, f"{refusal.message}; {said}"),
                              (ConditionType.SIDECAR_INJECTED, f"not injected: {refusal.reason}")):  # fmt: skip
            conditions = with_condition(conditions, req, kind, ConditionStatus.FALSE, refusal.reason, message)
        patch["conditions"] = conditions
        patch["phase"] = str(Phase.ERROR)
        return Outcome(patch, transitions(req, conditions))


def with_condition(
    conditions: list[dict[str, Any]], req: Request, kind: str, status: str, reason: str, message: str
) -> list[dict[str, Any]]:
    """``conditions`` with one set (lastTransitionTime moves only on a change), as status JSON."""
    return [
        c.model_dump(mode="json", exclude_none=True)
        for c in set_condition(
            conditions, type=kind, status=ConditionStatus(status), reason=reason,
            message=message[:32000], now=iso(req.now), generation=req.generation,
        )
    ]  # fmt: skip


def transitions(req: Request, conditions: list[dict[str, Any]]) -> list[Transition]:
    """The conditions whose status or reason differ from the stored status: one Event each."""
    old = {c["type"]: (c["status"], c["reason"]) for c in req.status.get("conditions") or []}
    return [
        Transition(type=c["type"], status=c["status"], reason=c["reason"], message=c.get("message", ""))
        for c in conditions
        if old.get(c["type"]) != (c["status"], c["reason"])
    ]


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _drift_status(obs: Observations, spec: ModelMonitorSpec) -> dict[str, Any]:
    if obs.drift is None:
        return {
            "datasetDrift": None,
            "share": None,
            "method": str(spec.drift.method),
            "rows": None,
            "features": [],
            "brokenFeatures": [],
        }
    report = obs.drift
    broken = broken_features(report)[:MAX_STATUS_FEATURES]
    top = report["features"][:TOP_FEATURES]
    # A broken feature is listed even when it ranks below the top ones: it cannot be judged for drift.
    below = {b["name"] for b in broken} - {f["name"] for f in top}
    top = [*top, *(f for f in report["features"] if f["name"] in below)]
    features = [
        {
            "name": f["name"],
            "method": f.get("method"),
            "score": f.get("statistic"),
            "pValue": f.get("p_value"),
            "drifted": bool(f.get("drifted")),
            "reason": f.get("reason"),
        }
        for f in top[:MAX_STATUS_FEATURES]
    ]
    return {
        "datasetDrift": bool(report["dataset_drift"]),
        "share": round(float(report["drift_share"]), 4),
        "method": str(spec.drift.method),
        "rows": int(report["rows"]["current"]),
        "referenceRows": int(report["rows"]["reference"]),
        "features": [{k: v for k, v in f.items() if v is not None} for f in features],
        "brokenFeatures": broken,
    }
