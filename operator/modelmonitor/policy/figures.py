"""Each condition's figures against their bounds, in words, for ``modelmonitor status``. Pure.

policy/explain.py says why the phase is what it is; this module says, for one condition, what the
status holds about it (``status.slo``, ``status.drift``, ``status.performance``...) against the spec's
bounds, and which kubectl command shows more.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import ConditionType as C
from modelmonitor.evaluate.findings import fmt

_SLO_FIGURES = (  # spec.slos field, status.slo figure, words, unit, bound kind
    ("latencyP95Ms", "latencyP95Ms", "latency p95", " ms", "max"),
    ("latencyP99Ms", "latencyP99Ms", "latency p99", " ms", "max"),
    ("errorRate", "errorRate", "error rate", "", "max"),
    ("minThroughput", "throughputRps", "throughput", " req/s", "min"),
    ("cpuUtilization", "cpuUtilization", "CPU utilization", "", "max"),
    ("memoryUtilization", "memoryUtilization", "memory utilization", "", "max"),
    ("gpuUtilization", "gpuUtilization", "GPU utilization", "", "max"),
)


@dataclass(frozen=True)
class Context:
    """What a condition's figures are read from: the parsed spec (None when invalid) and the status."""

    spec: ModelMonitorSpec | None
    status: dict[str, Any]
    namespace: str
    name: str
    target: str

    def lookback(self) -> str:
        """The SLO window, as gather/ takes it: since the pod template started, at most maxAge."""
        target = self.status.get("target") or {}
        since, at = parse_time(target.get("since")), parse_time(self.status.get("lastEvaluation"))
        max_age = parse_duration(self.spec.window.maxAge) if self.spec else 3600.0
        if since is None or at is None:
            return f"at most the last {span(max_age)}"
        return f"over the last {span(min(max_age, max((at - since).total_seconds(), 60.0)))}"

    def jsonpath(self, path: str) -> str:
        return f"kubectl get mm -n {self.namespace} {self.name} -o jsonpath='{{{path}}}'"


def _slo(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    slo, out = ctx.status.get("slo") or {}, []
    if ctx.spec is not None:
        for name, figure, words, unit, how in _SLO_FIGURES:
            bound = getattr(ctx.spec.slos, name)
            if bound is None:
                continue
            value = slo.get(figure)
            if value is None:
                out.append(f"{words}: no figure (spec.slos.{name} {bound:g}{unit})")
                continue
            bad = value > bound if how == "max" else value < bound
            sign = (">" if how == "max" else "<") if bad else ("<=" if how == "max" else ">=")
            out.append(
                f"{words} {fmt(value)}{unit} {sign} {bound:g}{unit} (spec.slos.{name}) {ctx.lookback()}"
            )
        requests = slo.get("requests")
        out.append(f"{fmt(requests)} requests {ctx.lookback()} (judged from spec.slos.minRequests="
                   f"{ctx.spec.slos.minRequests} on)")  # fmt: skip
    if c.get("reason") == "PrometheusUnavailable":
        out.append(
            "Prometheus gave no figures: check spec.prometheus.url (or the operator's --prometheus-url)"
        )
    return out, [ctx.jsonpath(".status.slo")]


def _checks(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    specs = {k.name: k for k in (ctx.spec.checks if ctx.spec else [])}
    out = []
    for i, check in enumerate(ctx.status.get("checks") or []):
        wanted = specs.get(str(check.get("name")))
        bounds = " and ".join(b for b in (
            f">= {wanted.min:g}" if wanted and wanted.min is not None else "",
            f"<= {wanted.max:g}" if wanted and wanted.max is not None else "") if b)  # fmt: skip
        limit = f", failureLimit {wanted.failureLimit}" if wanted else ""
        if check.get("value") is None:
            out.append(f"{check.get('name')}: no value ({check.get('reason') or 'no sample'})")
        else:
            verdict = "passes" if check.get("passed") else f"fails ({check.get('failures')} in a row{limit})"
            out.append(f"{check.get('name')} = {fmt(check.get('value'))}, wanted {bounds or '?'} "
                       f"(spec.checks[{i}]): {verdict}")  # fmt: skip
    return out, [ctx.jsonpath(".status.checks")]


def _drift(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    d = ctx.status.get("drift") or {}
    features = [f for f in d.get("features") or [] if isinstance(f, dict)]
    drifted = [f for f in features if f.get("drifted")]
    counted = re.search(r"(\d+) of (\d+) features", str(c.get("message") or ""))
    share, bound = d.get("share"), ctx.spec.drift.driftShare if ctx.spec else None
    out = []
    if share is not None:
        n, total = (counted.group(1), counted.group(2)) if counted else (str(len(drifted)), "?")
        sign = ">=" if bound is not None and share >= bound else "<"
        shown = f" {sign} {bound:g}, spec.drift.driftShare" if bound is not None else ""
        named = ", ".join(f"{f['name']} ({f.get('method')} {fmt(f.get('score'))})" for f in drifted[:5])
        out.append(
            f"{n} of {total} features drifted (share {share:.2f}{shown})" + (f": {named}" if named else "")
        )
        out.append(f"{fmt(d.get('rows'))} rows in the window against {fmt(d.get('referenceRows'))} "
                   f"reference rows, method {d.get('method')}")  # fmt: skip
    elif c.get("status") == "Unknown":
        out.append(_unknown_words(c, ctx))
    return out, [ctx.jsonpath(".status.drift")]


def _integrity(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    broken = (ctx.status.get("drift") or {}).get("brokenFeatures") or []
    out = [f"{b.get('name')}: {b.get('problem')}" for b in broken]
    if c.get("status") == "Unknown":
        out.append(_unknown_words(c, ctx))
    return out, [ctx.jsonpath(".status.drift.brokenFeatures")]


def _performance(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    p, perf = ctx.status.get("performance") or {}, ctx.spec.performance if ctx.spec else None
    metrics, bands, rows = p.get("metrics") or {}, p.get("bands") or {}, p.get("labelledRows")
    out = []
    for m in perf.metrics if perf else []:
        value = metrics.get(str(m.name))
        if value is None:
            out.append(f"{m.name}: undefined on these labels")
            continue
        low, high = m.min is not None and value < m.min, m.max is not None and value > m.max
        bound = (
            f"< {m.min:g} (min)"
            if low
            else f"> {m.max:g} (max)"
            if high
            else "within "
            + " and ".join(
                b
                for b in (
                    f">= {m.min:g}" if m.min is not None else "",
                    f"<= {m.max:g}" if m.max is not None else "",
                )
                if b
            )
        )
        out.append(f"{m.name} {fmt(value)} {bound} on {fmt(rows)} labelled rows (spec.performance.metrics)")
    for name, (low, high) in bands.items() if not (perf and perf.metrics) else ():
        out.append(
            f"{name} {fmt(metrics.get(name))}, band [{fmt(low)}, {fmt(high)}] from the baseline's chunks"
        )
    if perf is not None:
        out.append(f"{fmt(rows)} labelled of {fmt(p.get('rows'))} captured rows (spec.performance.minLabels="
                   f"{perf.minLabels}); label coverage {fmt(p.get('labelCoverage'))}")  # fmt: skip
    if p.get("estimated"):
        shown = ", ".join(f"{k} {fmt(v)}" for k, v in p["estimated"].items())
        out.append(f"estimated for {fmt(p.get('estimatedRows'))} unlabelled rows (not judged): {shown}")
    return out, [ctx.jsonpath(".status.performance")]


def _labels(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    p, perf = ctx.status.get("performance") or {}, ctx.spec.performance if ctx.spec else None
    delay = perf.labelDelay if perf else None
    return [f"label coverage {fmt(p.get('labelCoverage'))}, median label delay "
            f"{fmt(p.get('labelDelaySeconds'))} s (spec.performance.labelDelay {delay}); "
            f"{fmt(p.get('labelsWaiting'))} labels waiting for their prediction"], []  # fmt: skip


def _fairness(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    perf = ctx.spec.performance if ctx.spec else None
    ratios = {(s.feature, str(s.metric)): s for s in (perf.segments if perf else [])}
    out = []
    for s in (ctx.status.get("performance") or {}).get("segments") or []:
        seg = ratios.get((str(s.get("feature")), str(s.get("metric"))))
        bound = f" {'<' if s.get('passed') is False else '>='} {seg.minRatio:g}" if seg else ""
        if s.get("passed") is None:
            out.append(f"{s.get('metric')} by {s.get('feature')}: not judged, {fmt(s.get('judgedGroups'))} of "
                       f"{fmt(s.get('groups'))} groups with minRows={seg.minRows if seg else '?'} rows")  # fmt: skip
            continue
        f = s.get("feature")
        out.append(f"{s.get('metric')} of {f}={s.get('worstGroup')} is {fmt(s.get('worstValue'))} vs "
                   f"{fmt(s.get('bestValue'))} for {s.get('bestGroup')} (ratio {fmt(s.get('ratio'))}{bound}; "
                   f"{fmt(s.get('rows'))} rows)")  # fmt: skip
    return out, [ctx.jsonpath(".status.performance.segments")]


def _concept(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    k = (ctx.status.get("performance") or {}).get("concept") or {}
    out = [f"{fmt(k.get('rows'))} labelled predictions fed to the {k.get('detector')} detector"] if k else []
    if k.get("detectedAt"):
        out.append(f"error rose from {fmt(k.get('errorBefore'))} to {fmt(k.get('errorAfter'))}: detected at "
                   f"{k['detectedAt']}, estimated start {k.get('changeAt') or '?'}")  # fmt: skip
    return out, []


def _ready(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    reason = c.get("reason")
    if reason == "TargetNotFound":
        return [], [f"kubectl get deployment -n {ctx.namespace} {ctx.target}"]
    if reason in ("Forbidden", "Unauthorized"):
        return [], [
            f"kubectl auth can-i --list -n {ctx.namespace} --as system:serviceaccount:OPERATOR_NAMESPACE:modelmonitor"
        ]
    if reason == "InvalidSpec":
        return [], [f"kubectl get mm -n {ctx.namespace} {ctx.name} -o yaml | modelmonitor validate -"]
    return [], []


def _sidecar(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    return [], [f"kubectl rollout status deployment/{ctx.target} -n {ctx.namespace}"]


def _blocked(c: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    return [], [f"kubectl rollout history deployment/{ctx.target} -n {ctx.namespace}"]


Details = Callable[[dict[str, Any], Context], tuple[list[str], list[str]]]
DETAILS: dict[str, Details] = {C.SLO_BREACHED: _slo, C.CHECK_FAILED: _checks, C.DATA_DRIFT: _drift, C.DATA_INTEGRITY: _integrity,
            C.PERFORMANCE_DEGRADED: _performance, C.LABELS_STALE: _labels, C.FAIRNESS_VIOLATED: _fairness,
            C.CONCEPT_DRIFT: _concept, C.READY: _ready, C.SIDECAR_INJECTED: _sidecar,
            C.ROLLBACK_BLOCKED: _blocked}  # fmt: skip


def _unknown_words(c: dict[str, Any], ctx: Context) -> str:
    reason = str(c.get("reason"))
    words = {
        "InsufficientData": "too few rows yet to judge",
        "CapturingReference": "the reference is still being captured from the first rows",
        "AwaitingTraffic": "no captured traffic yet",
        "RolloutInProgress": "the target is rolling out",
        "SidecarUnreachable": "the sidecars could not be read",
        "ReferenceUnavailable": "the reference profile could not be read (spec.drift.reference)",
    }.get(reason, "no data")
    return f"Unknown ({reason}): {words}"


def parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def span(seconds: float) -> str:
    """``90 s``, ``5 min``, ``2.5 h``: how long, in words a reader takes in at once."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def details(condition: dict[str, Any], ctx: Context) -> tuple[list[str], list[str]]:
    """A condition's figures against their bounds, and kubectl commands that show more."""
    found = DETAILS.get(str(condition.get("type")))
    return found(condition, ctx) if found is not None else ([], [])
