"""The gather stage: what one evaluation observes, from every source, into plain ``Observations``.

One gatherer per source — Prometheus (gather/prometheus.py), the sidecars' windows and the reference
(gather/sidecars.py, gather/reference.py) — reading through the ports only. A source that fails
leaves a reason in the Observations, never an exception, so the evaluators can say Unknown.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.adapters.ports import KubernetesPort, SidecarPort
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.observations import Observations
from modelmonitor.gather import experiment
from modelmonitor.gather.prometheus import PortFactory, gather_prometheus
from modelmonitor.gather.sidecars import gather_window
from modelmonitor.gather.state import gather_state
from modelmonitor.policy import egress
from modelmonitor.policy.queries import Selector
from modelmonitor.policy.request import Request
from modelmonitor.workload.injection import model_container, template_hash
from modelmonitor.workload.selection import owned_replicasets, template_hashes

MIN_LOOKBACK = 60.0  # seconds: rate() needs a few scrapes, even right after a new revision


@dataclass
class Gathered:
    observations: Observations
    failures: list[str] = field(default_factory=list)  # sources that failed: prometheus, sidecar, reference
    state_configmap: dict[str, Any] | None = None  # where the evaluators' state was read from
    missing_pods: dict[str, str] = field(default_factory=dict)  # {pod: why} its window was not read


class Gatherer:
    def __init__(
        self, kube: KubernetesPort, settings: Any, *, prometheus: PortFactory, sidecars: SidecarPort
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.prometheus = prometheus
        self.sidecars = sidecars
        self.egress = egress.parse_patterns(settings.egress_allow)

    def gather(
        self, spec: ModelMonitorSpec, req: Request, deployment: dict[str, Any], *, injected: Verdict,
        since: datetime.datetime, token: str | None, challenger: dict[str, Any] | None = None,
        challenger_injected: Verdict | None = None,
    ) -> Gathered:  # fmt: skip
        """Everything observed since ``since`` (the current pod template's start), over at most
        ``spec.window.maxAge``; with ``spec.experiment``, its ``challenger`` Deployment too."""
        lookback = min(
            parse_duration(spec.window.maxAge), max((req.now - since).total_seconds(), MIN_LOOKBACK)
        )
        out = Gathered(Observations(lookback_seconds=round(lookback), now=req.now.timestamp()))
        # Selectors overlap (a challenger's pods match its champion's selector): ownership decides.
        selector = (deployment.get("spec") or {}).get("selector") or {}
        replicasets = owned_replicasets(self.kube.list_replicasets(req.namespace, selector), deployment)
        model = model_container(deployment, spec)
        hashes = tuple(template_hashes(replicasets, deployment))
        url = spec.prometheus.url or self.settings.prometheus_url
        field = "spec.prometheus.url" if spec.prometheus.url else "the operator's --prometheus-url"
        sel = Selector(req.namespace, spec.target.deployment, str(model.get("name")), hashes)
        ok = gather_prometheus(spec, out.observations, url=url, field=field, allow=self.egress,
                               port=self.prometheus, model=model, selector=sel)  # fmt: skip
        found = None
        if spec.experiment is not None:
            found = experiment.find_challenger(
                self.kube, spec, req, deployment, challenger=challenger, injected=challenger_injected
            )
            out.observations.experiment = found.observations
        out.failures += gather_window(
            self.kube, self.sidecars, spec, req, out.observations, deployment=deployment,
            replicasets=replicasets, injected=injected, started=since, token=token, allow=self.egress,
            max_bytes=self.settings.reference_max_bytes, also=found.endpoints if found else None,
            also_since=experiment.since_of(found) if found else None,
            into=found.observations.challenger_obs if found else None, missing=out.missing_pods,
        )  # fmt: skip
        if found is not None:
            ok = experiment.gather_figures(spec, out.observations, found, champion=sel, url=url, field=field,
                                           allow=self.egress, port=self.prometheus, lookback=lookback) and ok  # fmt: skip
        if not ok:
            out.failures.append("prometheus")
        perf = spec.performance
        if spec.experiment is not None or (
            perf is not None
            and (perf.conceptDrift is not None or perf.calibration != "none" or not perf.metrics)
        ):
            # Only the experiment, the concept-drift detector, the calibrator and the quality baseline keep state.
            out.observations.state, out.state_configmap = gather_state(
                self.kube, req.namespace, req.name, req.uid
            )
        out.observations.revision, out.observations.name = template_hash(deployment), req.name
        return out
