"""The experiment gatherer: the challenger of ``spec.experiment`` — its Deployment, its own pods (by
owning ReplicaSet, never by labels, since a challenger behind the champion's Service matches the
champion's selector), its captured rows, its Prometheus figures — and both variants' request and
error counts since the experiment began, into ``Observations.experiment``.

The challenger's rows are read in the same pass as the champion's (gather/sidecars.py), so a label
sent to a pod of the other variant is joined too.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.adapters.ports import KubernetesPort
from modelmonitor.adapters.prometheus import PrometheusError
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.observations import ExperimentObservations, Observations, Variant
from modelmonitor.gather.prometheus import PortFactory, gather_prometheus
from modelmonitor.gather.sidecars import endpoints
from modelmonitor.policy import egress
from modelmonitor.policy.experiment import challenger_spec, same_experiment
from modelmonitor.policy.queries import Selector, count_queries, per_variant
from modelmonitor.policy.request import Request, parse_iso
from modelmonitor.workload.experiment import ExperimentError, experiment_container, promoted
from modelmonitor.workload.injection import InjectionError, model_container, template_hash
from modelmonitor.workload.selection import owned_pods, owned_replicasets, template_hashes

MIN_LOOKBACK = 60.0


@dataclass
class Challenger:
    """What the experiment gatherer found before the windows are read: the challenger's sidecars to
    read with the champion's (``endpoints``), and since when."""

    observations: ExperimentObservations
    endpoints: dict[str, str] = field(default_factory=dict)
    selector: Selector | None = None
    model: dict[str, Any] = field(default_factory=dict)


def find_challenger(
    kube: KubernetesPort, spec: ModelMonitorSpec, req: Request, champion: dict[str, Any], *,
    challenger: dict[str, Any] | None, injected: Verdict | None,
) -> Challenger:  # fmt: skip
    """The challenger and its ready sidecars, or the reason the experiment cannot be observed."""
    exp = spec.experiment
    assert exp is not None
    name = exp.challenger.deployment
    champ = Variant(spec.target.deployment, template_hash(champion), _ready(champion))
    stored: dict[str, Any] = (
        req.status["experiment"] if isinstance(req.status.get("experiment"), dict) else {}
    )
    if challenger is None:
        seen = ExperimentObservations(req.now.timestamp(), champ, Variant(name), reason=(
            "ChallengerNotFound", f"Deployment {req.namespace}/{name} (spec.experiment.challenger.deployment) "
            "does not exist: create it, or correct the name"))  # fmt: skip
        return Challenger(seen)
    chall = Variant(name, template_hash(challenger), _ready(challenger))
    same = same_experiment(stored, champ.template, chall.template)
    began = parse_iso(stored.get("startedAt")) if same else None
    seen = ExperimentObservations((began or req.now).timestamp(), champ, chall)
    try:
        champion_model = str(model_container(champion, spec).get("name") or "")
        model = experiment_container(challenger, exp.challenger.container, champion_model or None)
        seen.promoted = promoted(champion, challenger, champion_model, str(model.get("name") or ""))
    except (ExperimentError, InjectionError) as exc:
        seen.reason = (exc.reason, exc.message)
        return Challenger(seen)
    if injected is not None and injected.status != "True":
        seen.reason = (injected.reason, f"challenger {name}: {injected.message}")
        return Challenger(seen)
    selector = (challenger.get("spec") or {}).get("selector") or {}
    replicasets = owned_replicasets(kube.list_replicasets(req.namespace, selector), challenger)
    pods = owned_pods(kube.list_pods(req.namespace, selector), replicasets, challenger)
    cspec = challenger_spec(spec)
    seen.challenger_obs = Observations(lookback_seconds=0.0, now=req.now.timestamp(), name=req.name,
                                       revision=chall.template)  # fmt: skip
    found = endpoints(cspec, pods)
    if not found:
        seen.challenger_obs.capture_reason = (
            "AwaitingTraffic",
            f"no ready pod of {name} with the sidecar yet",
        )
    model_name = str(model.get("name") or "")
    return Challenger(seen, found, Selector(req.namespace, name, model_name,
                                            tuple(template_hashes(replicasets, challenger))), model)  # fmt: skip


def gather_figures(
    spec: ModelMonitorSpec, obs: Observations, found: Challenger, *, champion: Selector, url: str, field: str,
    allow: tuple[egress.Pattern, ...], port: PortFactory, lookback: float,
) -> bool:  # fmt: skip
    """The challenger's SLO figures (over ``lookback`` s, as the champion's), and both variants'
    counts and business metric since the experiment began; False when Prometheus failed."""
    seen = found.observations
    if seen.reason is not None or seen.challenger_obs is None or found.selector is None:
        return True
    exp = spec.experiment
    assert exp is not None
    own = seen.challenger_obs
    own.lookback_seconds = lookback
    ok = gather_prometheus(challenger_spec(spec), own, url=url, field=field, allow=allow, port=port,
                           selector=found.selector, model=found.model)  # fmt: skip
    if own.slo_error:
        seen.prometheus_error = own.slo_error
        return ok
    since = max(obs.now - seen.started, MIN_LOOKBACK)
    prom = port(url, parse_duration(spec.prometheus.timeout))
    variants = (("champion", seen.champion, champion), ("challenger", seen.challenger, found.selector))
    try:
        # Both variants' counts in one round trip; the business metric is the user's PromQL, alone.
        counts = prom.query_figures(
            {f"{role}.{k}": q for role, _, sel in variants for k, q in count_queries(sel, since).items()}
        )
        for role, variant, sel in variants:
            variant.requests, variant.errors = counts[f"{role}.requests"], counts[f"{role}.errors"]
            if exp.businessMetric is not None:
                variant.business = prom.query(per_variant(exp.businessMetric.query, sel))
    except PrometheusError as exc:
        seen.prometheus_error = str(exc)
        return False
    return ok


def since_of(found: Challenger) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(found.observations.started, tz=datetime.UTC)


def _ready(deployment: dict[str, Any]) -> int:
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)
