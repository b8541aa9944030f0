"""Carrying out an A/B experiment's decisions: the challenger's share of the traffic, stopping it,
promoting it into the champion, and using up a promotion's approval (workload/experiment.py plans
the patches).

The share goes by replicas (one Service selects both Deployments' pods) or by an HTTPRoute's weights.
Messages name fields, never their values (env may hold secrets), the image aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.workload import experiment as plans
from modelmonitor.workload.injection import containers
from modelmonitor.workload.rollback import REVISION

Route = tuple[str, str, str]  # (HTTPRoute name, champion Service, challenger Service)


@dataclass
class Traffic:
    """What the split achieved, for ``status.experiment.traffic``."""

    mode: str  # "replicas" | "httpRoute"
    requested: float  # the challenger's share asked for, 0-1
    actual: float | None  # replicas: of the READY replicas of both; httpRoute: of the weights read back
    replicas: dict[str, int]  # {"champion": ready, "challenger": ready}
    message: str
    failed: bool = False  # the API refused, the route is missing or malformed (message says which)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _ready(deployment: dict[str, Any]) -> int:
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def _refused(exc: KubernetesError) -> str:
    return f"the API refused it: {exc.status} {exc.reason}"


class Experimenter:
    """The experiment's actor: every write through the KubernetesPort, each planned in
    workload/experiment.py and a no-op when already so."""

    def __init__(self, kube: KubernetesPort) -> None:
        self.kube = kube

    def split(
        self, *, namespace: str, champion: dict[str, Any], challenger: dict[str, Any], share: float,
        route: Route | None,
    ) -> Traffic:  # fmt: skip
        """Give the challenger ``share`` (0-1, exclusive) of the traffic. By replicas (``route``
        None): the challenger is scaled to ``challenger_replicas(champion's spec.replicas, share)``.
        By route: the weights are patched and read back, and the challenger keeps its own replicas
        (scaled to 1 when it has none)."""
        ready = {"champion": _ready(champion), "challenger": _ready(challenger)}
        mode = "replicas" if route is None else "httpRoute"
        name = _name(challenger)
        try:
            if route is None:
                wanted = plans.challenger_replicas(plans.spec_replicas(champion), share)
                self._scale(namespace, challenger, wanted)
                actual = plans.replica_share(ready["champion"], ready["challenger"])
                shown = "no ready pods yet" if actual is None else f"{actual:.1%} of the ready pods now"
                message = (f"challenger {name} at {wanted} replicas beside {plans.spec_replicas(champion)} of "
                           f"{_name(champion)} for {share:.1%} of the pods ({shown})")  # fmt: skip
                return Traffic(mode, share, actual, ready, message)
            route_name, champion_service, challenger_service = route
            found = self._weigh(namespace, route, share)
            if found is None:
                missing = (f"HTTPRoute {route_name} not found in namespace {namespace}; create it or name "
                           "the right one in spec.experiment.traffic.httpRoute.name")  # fmt: skip
                return Traffic(mode, share, None, ready, missing, failed=True)
            actual = plans.route_share(found, champion_service, challenger_service)
            self._scale(namespace, challenger, max(1, plans.spec_replicas(challenger)))
        except plans.ExperimentError as exc:
            return Traffic(mode, share, None, ready, exc.message, failed=True)
        except KubernetesError as exc:
            return Traffic(
                mode, share, None, ready, f"split for challenger {name}: {_refused(exc)}", failed=True
            )
        shown = "unknown" if actual is None else f"{actual:.1%}"
        return Traffic(mode, share, actual, ready, f"HTTPRoute {route_name} weights give Service "
                       f"{challenger_service} {shown} of the traffic (asked {share:.1%})")  # fmt: skip

    def stop(self, *, namespace: str, challenger: dict[str, Any], route: Route | None) -> tuple[str, str]:
        """The challenger gets no more traffic: weight 0 on the route (first: a backend without pods
        would answer errors for its share), then 0 replicas. (result, message): Done or Failed."""
        try:
            note = self._stop(namespace, challenger, route)
        except plans.ExperimentError as exc:
            return "Failed", f"challenger {_name(challenger)} not stopped: {exc.message}"
        except KubernetesError as exc:
            return "Failed", f"challenger {_name(challenger)} not stopped: {_refused(exc)}"
        return "Done", f"challenger {_name(challenger)} stopped: {note}"

    def promote(
        self, *, namespace: str, champion: dict[str, Any], challenger: dict[str, Any], champion_container: str,
        challenger_container: str, monitor: str, route: Route | None,
    ) -> tuple[str, str]:  # fmt: skip
        """Copy the challenger's model into the champion's model container (the containers by name),
        then stop the challenger. Idempotent: when the champion already carries it, nothing is
        written but what stopping the challenger still needs. (result, message): Done or Failed."""
        dep, source = _name(champion), _name(challenger)
        try:
            image = next(
                c.get("image") for c in containers(challenger) if c.get("name") == challenger_container
            )
        except StopIteration:
            image = None
        try:
            ops = plans.plan_promotion(champion, challenger, champion_container=champion_container,
                                       challenger_container=challenger_container, monitor=monitor)  # fmt: skip
        except plans.ExperimentError as exc:
            return "Failed", f"promotion of challenger {source}: {exc.message}"
        revision = ((champion.get("metadata") or {}).get("annotations") or {}).get(REVISION)
        if ops:
            try:
                self.kube.json_patch_deployment(namespace, dep, ops)
            except KubernetesError as exc:
                return "Failed", f"promotion of {image} from {source} into Deployment {dep}: {_refused(exc)}"
            fields = sorted(
                {op["path"].rsplit("/", 1)[1] for op in ops if "/containers/" in op["path"]} - {"name"}
            )
            done = (f"promoted {image} from {source} into Deployment {dep} (container {champion_container}: "
                    f"{', '.join(fields)}); a new revision rolls out"
                    + (f" after revision {revision}" if revision else ""))  # fmt: skip
        else:
            done = (f"already promoted: Deployment {dep} runs {image} of {source}"
                    + (f" (revision {revision})" if revision else ""))  # fmt: skip
        try:
            note = self._stop(namespace, challenger, route)
        except (plans.ExperimentError, KubernetesError) as exc:
            why = exc.message if isinstance(exc, plans.ExperimentError) else _refused(exc)
            return "Failed", f"{done}, but challenger {source} was not stopped: {why}"
        return "Done", f"{done}; challenger {note}"

    def clear_approval(self, namespace: str, monitor: str) -> None:
        """Remove the ``modelmonitor.io/promote`` annotation from the ModelMonitor, so an approval
        is used once."""
        self.kube.patch_monitor_annotations(namespace, monitor, {plans.APPROVAL_ANNOTATION: None})

    def _scale(self, namespace: str, deployment: dict[str, Any], replicas: int) -> None:
        ops = plans.plan_scale(deployment, replicas)
        if ops:
            self.kube.json_patch_deployment(namespace, _name(deployment), ops)

    def _weigh(self, namespace: str, route: Route, share: float) -> dict[str, Any] | None:
        """Patch the route's weights; the route as read back after it (None when there is none)."""
        name, champion_service, challenger_service = route
        found = self.kube.get_httproute(namespace, name)
        if found is None:
            return None
        ops = plans.plan_route_weights(
            found, champion=champion_service, challenger=challenger_service, share=share
        )
        if not ops:
            return found
        self.kube.json_patch_httproute(namespace, name, ops)
        return self.kube.get_httproute(namespace, name)

    def _stop(self, namespace: str, challenger: dict[str, Any], route: Route | None) -> str:
        """Weight 0, then 0 replicas; what was done, in words. A route that is gone sends nothing.
        The challenger is read again first: the one passed in may predate this tick's own scaling."""
        said = []
        if route is not None:
            found = self._weigh(namespace, route, 0.0)
            said.append(
                f"HTTPRoute {route[0]} not found" if found is None else f"weight 0 on HTTPRoute {route[0]}"
            )
        current = self.kube.get_deployment(namespace, _name(challenger))
        if current is None:
            return ", ".join([*said, "its Deployment is gone"])
        self._scale(namespace, current, 0)
        return ", ".join([*said, "scaled to 0 replicas"])
