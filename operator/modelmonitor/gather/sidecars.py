"""The sidecar gatherer: the captured window of every ready pod the Deployment owns, and the
reference it is compared with (gather/reference.py), into the Observations.

A window that cannot be had is never a verdict: ``drift_reason`` says why (the rollout is under way,
no traffic yet, the sidecars unreachable, the reference still being captured), and the drift and
integrity evaluators make their conditions Unknown with it.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np

from modelmonitor.adapters.ports import KubernetesPort, SidecarPort
from modelmonitor.adapters.sidecars import Window
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift.schema import redacted_columns
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.observations import Observations
from modelmonitor.gather import reference as references
from modelmonitor.policy import egress
from modelmonitor.policy.request import Request, iso
from modelmonitor.workload.injection import SIDECAR_NAME
from modelmonitor.workload.selection import owned_pods


def endpoints(spec: ModelMonitorSpec, pods: list[dict[str, Any]]) -> dict[str, str]:
    """``{pod: admin URL}`` of the pods that are ready and run the sidecar."""
    out = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        running = any(c.get("name") == SIDECAR_NAME for c in (pod.get("spec") or {}).get("containers") or [])
        if ip and running and _ready(pod):
            out[pod["metadata"]["name"]] = f"http://{ip}:{spec.sidecar.adminPort}"
    return out


def unready(pods: list[dict[str, Any]]) -> dict[str, str]:
    """``{pod: why}`` of the pods that run the sidecar but are not ready (and not being deleted):
    their window cannot be read, and the status says so rather than evaluating fewer pods silently."""
    out = {}
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        runs = any(c.get("name") == SIDECAR_NAME for c in spec.get("containers") or [])
        if not runs or meta.get("deletionTimestamp") or _ready(pod):
            continue
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        state = next((s.get("state") or {} for s in statuses if s.get("name") == SIDECAR_NAME), {})
        if "terminated" in state:
            ended = state["terminated"]
            why = f"container {SIDECAR_NAME} terminated ({ended.get('reason')}, exit code {ended.get('exitCode')})"
        elif "waiting" in state:
            why = f"container {SIDECAR_NAME} waiting ({state['waiting'].get('reason')})"
        else:
            why = "pod not ready"
        out[str(meta.get("name"))] = why
    return out


def gather_window(
    kube: KubernetesPort, sidecars: SidecarPort, spec: ModelMonitorSpec, req: Request, obs: Observations, *,
    deployment: dict[str, Any], replicasets: list[dict[str, Any]], injected: Verdict,
    started: datetime.datetime, token: str | None, allow: tuple[egress.Pattern, ...], max_bytes: int,
    also: dict[str, str] | None = None, also_since: datetime.datetime | None = None,
    into: Observations | None = None, missing: dict[str, str] | None = None,
) -> list[str]:  # fmt: skip
    """Fill ``obs.window`` and ``obs.reference`` (or ``obs.drift_reason``); the stages that failed.

    ``also`` are an A/B test's challenger sidecars (``{pod: admin URL}``), read in the same pass so
    labels sent to a pod of either variant join; their rows since ``also_since`` go to
    ``into.captured``, never into the monitor's own window. ``missing`` gets ``{pod: why}`` of the monitor's pods
    whose window could not be read (not ready, or the read failed)."""
    if injected.status != "True":
        obs.capture_reason = (
            "RolloutInProgress" if injected.reason == "RolloutInProgress" else "SidecarNotInjected",
            f"no captured traffic: {injected.message}",
        )
        obs.drift_reason = obs.capture_reason
        return []
    selector = (deployment.get("spec") or {}).get("selector") or {}
    pods = owned_pods(kube.list_pods(req.namespace, selector), replicasets, deployment)
    found = endpoints(spec, pods)
    if missing is not None:
        missing.update(unready(pods))
    if not found:
        obs.drift_reason = obs.capture_reason = ("AwaitingTraffic", "no ready pod with the sidecar yet")
        return []
    timeout = parse_duration(spec.prometheus.timeout)
    extra = also or {}
    since = min(started, also_since) if extra and also_since else started
    window = sidecars.read_window(
        {**found, **extra}, timeout=timeout, max_rows=spec.window.maxRows * (2 if extra else 1),
        since_ts=since.timestamp(), token=token,
    )  # fmt: skip
    if extra:
        window = _split(window, extra, started, into)
    if missing is not None:
        missing.update(window.pods_failed)
    if not window.pods_read:
        obs.capture_reason = ("SidecarUnreachable", "; ".join(window.pods_failed.values())[:2000])
        obs.drift_reason = obs.capture_reason
        return ["sidecar"]
    failures = ["sidecar"] if window.pods_failed else []
    obs.captured, obs.labels_waiting = window.frame, window.labels_waiting
    obs.drift_attribution = drift_attribution(sidecars, spec, found, timeout=timeout, token=token)
    current = window.frame[[c for c in window.frame.columns if not str(c).startswith("__")]]
    # Redacted fields are salted hashes: unique per value, meaningless to compare.
    current = current.drop(columns=redacted_columns(current.columns, spec.sidecar.redact))
    ref = references.load_reference(
        kube, spec, namespace=req.namespace, monitor=req.name, timeout=timeout, egress_allow=allow,
        max_bytes=max_bytes,
    )  # fmt: skip
    if ref.profile is None and ref.reason and ref.reason[0] == "CapturingReference":
        wanted = spec.drift.reference.capture.rows if spec.drift.reference.capture else 5000
        if len(current) < wanted:
            obs.drift_reason = (
                "CapturingReference",
                f"{len(current)}/{wanted} rows captured for the reference",
            )
            return failures
        ref = references.capture_reference(
            kube, current, namespace=req.namespace, monitor=req.name, uid=req.uid, rows=wanted
        )
    if ref.profile is None:
        obs.drift_reason = ref.reason or ("ReferenceUnavailable", "no reference")
        return [*failures, "reference"]
    obs.window, obs.reference, obs.window_since = current, ref.profile, iso(started)
    return failures


def _split(
    window: Window, extra: dict[str, str], started: datetime.datetime, into: Observations | None
) -> Window:
    """The champion's part of a window read with the challenger's pods; the challenger's rows (and
    why there are none) into ``into``."""
    frame = window.frame
    theirs = (
        frame["__pod"].isin(list(extra)).to_numpy()
        if "__pod" in frame.columns
        else np.zeros(len(frame), bool)
    )
    if into is not None:
        into.captured = frame[theirs].reset_index(drop=True)
        failed = [window.pods_failed[p] for p in extra if p in window.pods_failed]
        if failed and not any(p in window.pods_read for p in extra):
            into.capture_reason = ("SidecarUnreachable", "; ".join(failed)[:2000])
    mine = frame[~theirs]
    mine = mine[mine["__ts"].astype(float) >= started.timestamp()] if len(mine) else mine
    return Window(frame=mine.reset_index(drop=True), labels_waiting=window.labels_waiting,
                  pods_read=[p for p in window.pods_read if p not in extra],
                  pods_failed={p: m for p, m in window.pods_failed.items() if p not in extra},
                  labels_joined_across=window.labels_joined_across)  # fmt: skip


TOP_ATTRIBUTION = 10  # the CRD's maxItems of status.drift.attribution.features


def drift_attribution(
    sidecars: SidecarPort, spec: ModelMonitorSpec, found: dict[str, str], *, timeout: float, token: str | None
) -> dict[str, Any] | None:
    """``status.drift.attribution`` from the sidecars' explanations (``{pod: admin URL}`` in ``found``):
    the top features' mean attribution, or None while ``spec.explain`` is off or nothing is explained
    yet."""
    if spec.explain.sampleRate <= 0 or not found:
        return None
    merged = sidecars.read_explanations(found, timeout=timeout, token=token)
    if not merged:
        return None
    top = list(merged["attribution"].items())[:TOP_ATTRIBUTION]
    return {
        "explanations": int(merged["explanations"]),
        "output": merged.get("output"),
        **{k: round(float(merged[k]), 6) for k in ("reference", "recent", "shift")},
        "features": [{"name": name, "meanAttribution": round(value, 6)} for name, value in top],
    }


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
