"""Putting the sidecar in place, and taking it out: the injection, the monitor's admin Secret and
NetworkPolicy, and the Service routes. I/O through the Kubernetes port; the patches come from the
pure planners in workload/."""

from __future__ import annotations

import logging
import threading
from typing import Any

from modelmonitor.act import autoscale, outcome
from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.policy import permits
from modelmonitor.policy.experiment import challenger_spec
from modelmonitor.policy.request import Request
from modelmonitor.workload import admin, netpol
from modelmonitor.workload.injection import (
    InjectionError,
    model_container,
    plan_injection,
    plan_removal,
    rollout_complete,
    rollout_failure,
)
from modelmonitor.workload.routing import plan_unroute, route, selects

log = logging.getLogger(__name__)
KIND = ConditionType.SIDECAR_INJECTED
FRESH_READS = 5  # tries of a removal before its error is raised (and Kopf retries the handler)


def rolled_out(deployment: dict[str, Any]) -> bool:
    """Every replica runs the current pod template (the controller has seen it and updated them
    all), whether or not each is available now."""
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    return (
        int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) >= wanted
        and int(status.get("replicas") or 0) <= wanted
    )


class SidecarActor:
    def __init__(self, kube: KubernetesPort, settings: Any) -> None:
        self.kube = kube
        self.settings = settings
        self._said_no_policy = threading.Event()

    def ensure(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], notes: list[outcome.Note]
    ) -> tuple[Verdict, str | None]:
        """The SidecarInjected verdict, and the admin token to read the sidecars with (None when
        there is no sidecar of ours to read). The admin Secret and the NetworkPolicy are in place
        before the sidecar goes into the pod template."""
        name = spec.target.deployment
        if not spec.sidecar.inject:
            self.unroute(req.namespace, req.name)
            if self.remove(req.namespace, name, deployment, req.name):
                return Verdict(
                    KIND, "False", "NotInjected", "sidecar removed (spec.sidecar.inject is false)"
                ), None
            return Verdict(KIND, "False", "NotInjected", "spec.sidecar.inject is false"), None
        try:
            ops = plan_injection(deployment, spec, monitor=req.name, image=self.settings.sidecar_image)
        except InjectionError as exc:
            return Verdict(KIND, "False", exc.reason, exc.message), None
        access = self._admin_access(spec, req, deployment)
        if isinstance(access, Verdict):
            return access, None
        token = access
        if ops:
            self.kube.json_patch_deployment(req.namespace, name, ops)
            return Verdict(KIND, "False", "RolloutInProgress",
                           "sidecar added to the pod template; waiting for the rollout"), token  # fmt: skip
        if not rollout_complete(deployment):
            failure = rollout_failure(deployment)
            if failure is not None:
                return Verdict(KIND, "False", "RolloutFailed", f"the rollout with the sidecar is stuck: {failure} "
                               "(kubectl describe the new pods: an image pull or a crash?)"), token  # fmt: skip
            if not rolled_out(deployment):
                return Verdict(
                    KIND, "False", "RolloutInProgress", "waiting for every replica to run the sidecar"
                ), token
            # Every replica runs the template with the sidecar, some are unavailable (a crash, a lost
            # node): still injected, and the ready pods are read (the unready ones are named then).
        routes = self._route(spec, req, deployment, notes)
        return Verdict(KIND, "True", "Injected", f"sidecar runs in every replica{routes}"), token

    def ensure_challenger(self, spec: ModelMonitorSpec, req: Request, challenger: dict[str, Any]) -> Verdict:
        """The same sidecar in an A/B test's challenger, read with the monitor's admin token and guarded
        by a NetworkPolicy of its own. No Service is routed: the target's routed Services select both
        variants' pods, and an HTTPRoute's backends are the user's. The verdict says whether its rows
        can be read (status True), or why not."""
        cspec = challenger_spec(spec)
        name = cspec.target.deployment
        refusal = self.permit(cspec, req, challenger)
        if refusal is not None:
            return Verdict(KIND, "False", refusal.reason, f"nothing was changed in it: {refusal.message}")
        if not spec.sidecar.inject:
            return Verdict(KIND, "False", "NotInjected", "spec.sidecar.inject is false: no rows to compare")
        try:
            ops = plan_injection(challenger, cspec, monitor=req.name, image=self.settings.sidecar_image)
        except InjectionError as exc:
            return Verdict(KIND, "False", exc.reason, exc.message)
        refused = self._network_policy(
            cspec, req, challenger, name=admin.admin_name(f"{req.name}-challenger")
        )
        if refused is not None:
            return refused
        if ops:
            self.kube.json_patch_deployment(req.namespace, name, ops)
            return Verdict(KIND, "False", "RolloutInProgress", "sidecar added to its pod template")
        if not rollout_complete(challenger) and int((challenger.get("spec") or {}).get("replicas") or 0):
            return Verdict(KIND, "False", "RolloutInProgress", "waiting for its replicas to run the sidecar")
        return Verdict(KIND, "True", "Injected", "the sidecar runs in its replicas")

    def permit(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any]
    ) -> permits.Refusal | None:
        """Why the operator may not act on ``deployment`` for this spec (policy/permits.py), or None.
        A model container the spec names but the pod template lacks is refused here too: nothing
        can be injected beside it or measured of it."""
        try:
            model_container(deployment, spec)
        except InjectionError as exc:
            return permits.Refusal(exc.reason, exc.message)
        labels = self.kube.get_namespace_labels(req.namespace) if self.settings.require_opt_in else {}
        return permits.check_target(
            spec, namespace=req.namespace, namespace_labels=labels,
            deployment_labels=(deployment.get("metadata") or {}).get("labels") or {},
            require_opt_in=self.settings.require_opt_in, default_image=self.settings.sidecar_image,
            allowed_images=self.settings.sidecar_images,
        )  # fmt: skip

    def refuse(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], refusal: permits.Refusal,
        *, retry_seconds: float,
    ) -> list[Verdict]:  # fmt: skip
        """The Ready and SidecarInjected verdicts of a refused monitor. Consent withdrawn (the opt-in
        label removed) takes out what this monitor put in — the Service routes, the sidecar and its
        HPA, as a delete of the monitor would — once when first seen, and whenever the sidecar is
        back. A refused image changes nothing: the sidecar already there, if any, is one the
        operator was allowed to inject."""
        said = "nothing was changed"
        newly = req.condition("Ready").get("reason") != refusal.reason
        withdraw = refusal.reason == permits.NOT_OPTED_IN and (newly or self.injected(deployment, req.name))
        if withdraw and self.withdraw(req.namespace, req.name, spec.target.deployment, deployment):
            said = "the sidecar this monitor injected was removed and its Services restored"
        said += f"; looking again every {retry_seconds:g}s"
        return [
            Verdict(ConditionType.READY, "False", refusal.reason, f"{refusal.message}; {said}"),
            Verdict(KIND, "False", refusal.reason, f"not injected: {refusal.reason}"),
        ]

    def injected(self, deployment: dict[str, Any], monitor: str) -> bool:
        """Is this monitor's sidecar in the Deployment's pod template?"""
        return bool(plan_removal(deployment, monitor=monitor))

    def remove(self, namespace: str, target: str, deployment: dict[str, Any], monitor: str) -> bool:
        """Take this monitor's sidecar out of the Deployment; False when it was not in."""
        ops = plan_removal(deployment, monitor=monitor)
        if ops:
            self.kube.json_patch_deployment(namespace, target, ops)
        return bool(ops)

    def withdraw(self, namespace: str, monitor: str, target: str, deployment: dict[str, Any]) -> bool:
        """Take out all this monitor put in — its HPA, the Service routes, then the sidecar — as on
        a delete; False when the sidecar was not in the pod template."""
        autoscale.remove(self.kube, namespace, monitor)
        self.unroute(namespace, monitor)
        return self.remove(namespace, target, deployment, monitor)

    def take_out(self, namespace: str, monitor: str, target: str, *, routes: bool = True) -> bool:
        """On delete: withdraw (the sidecar only, without ``routes``) on fresh reads. A write a
        controller made meanwhile fails the patch's ``test`` ops (422), and an object gone meanwhile
        answers 404 (a namespace's teardown does both): each is planned again on a new read, a few
        times, before the error is raised. False when the sidecar was not in (or the Deployment is gone)."""
        if routes:
            autoscale.remove(self.kube, namespace, monitor)
        for attempt in range(FRESH_READS):
            try:
                if routes:
                    self.unroute(namespace, monitor)
                deployment = self.kube.get_deployment(namespace, target)
                return deployment is not None and self.remove(namespace, target, deployment, monitor)
            except KubernetesError as exc:
                if exc.status not in (404, 422) or attempt == FRESH_READS - 1:
                    raise
                log.info("Taking %s's sidecar out of %s/%s again on a fresh read: %s", monitor, namespace,
                         target, exc)  # fmt: skip
        return False

    def unroute(self, namespace: str, monitor: str) -> None:
        """Restore every Service this monitor routed through its sidecar."""
        for service in self.kube.list_services(namespace):
            ops = plan_unroute(service, monitor=monitor)
            if ops:
                self.kube.json_patch_service(namespace, service["metadata"]["name"], ops)

    # ------------------------------------------------------------------------------------ admin access

    def _admin_access(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any]
    ) -> Verdict | str:
        """The monitor's admin Secret, created when missing and used only when it is the monitor's
        own, and its NetworkPolicy: the admin token, or the verdict that stops the injection. No
        message shows anything of a Secret's data."""
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
                return Verdict(KIND, "False", "AdminSecretMissing",
                               f"Secret {name!r} was created and is gone again; trying again at the next evaluation")  # fmt: skip
        problem = admin.conflict(secret, req.name, req.uid)
        if problem is not None:
            return Verdict(KIND, "False", "AdminSecretConflict", problem)
        token = admin.token(secret)
        if token is None:
            return Verdict(KIND, "False", "AdminSecretInvalid", f"Secret {name!r} has no usable key "
                           f"{admin.TOKEN_KEY!r}: delete it, and the operator creates a new one")  # fmt: skip
        refused = self._network_policy(spec, req, deployment)
        return refused if refused is not None else token

    def _network_policy(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], *, name: str | None = None
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
        name = name or admin.admin_name(req.name)
        desired = netpol.network_policy(
            deployment, monitor=req.name, uid=req.uid, admin_port=spec.sidecar.adminPort,
            operator_namespace=settings.operator_namespace, operator_labels=settings.operator_pod_labels,
            prometheus=settings.network_policy_prometheus, name=name,
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
            return Verdict(KIND, "False", "NetworkPolicyConflict", problem)
        ops = netpol.plan_update(stored, desired)
        if ops:
            self.kube.json_patch_network_policy(req.namespace, name, ops)
        return None

    # ------------------------------------------------------------------------------------------ routes

    def _route(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], notes: list[outcome.Note]
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
                notes.append(outcome.Note(True, "RouteRestored", plan.remarks(name)[0]))
        if routed:
            where = f"; Services routed through it: {', '.join(routed)}"
        else:
            where = "; no Service routed" + ("" if said else " (none selects the pods' model port)")
        return where + "".join(f"; {s}" for s in said)
