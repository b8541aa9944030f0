"""Experiment: the A/B test of the target (champion) against ``spec.experiment.challenger``.

Pure. Each evaluation feeds the rows that settled since the last look — a label joined, or an
outcome's wait (``experiment.outcome.after``) over — to the always-valid test of quality/experiment.py,
which the ``modelmonitor experiment replay`` command runs the same way; the test's state is kept in
the monitor's state ConfigMap, so a restart changes no decision. A row counts once: at its settle
time, which each variant's watermark remembers.

Guard rails stop the challenger whatever the test says: its SLOs or its fairness segments breached
(the slo and fairness evaluators judging the challenger's own observations, in ``guards``), more
errors than the champion's (the same always-valid test on the error counts), its business metric
under its bound. Missing data is never a verdict: no promotion while a guard is Unknown.
The lifecycle (what starts, ends and restarts an experiment) is policy/experiment.py's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.spec.types import ExperimentMetric, Promote
from modelmonitor.api.status import ConditionType
from modelmonitor.api.times import iso_ts as _iso
from modelmonitor.api.times import parse_iso
from modelmonitor.evaluate.findings import Finding, Verdict, fmt
from modelmonitor.evaluate.observations import ExperimentObservations, Observations, Variant
from modelmonitor.quality.experiment import ExperimentRun, Result, task_for
from modelmonitor.quality.labels import labelled
from modelmonitor.quality.sequential import Arm, SequentialTest

KIND = ConditionType.EXPERIMENT
VARIANTS = ("champion", "challenger")
# The experiment's states (status.experiment.state); policy/experiment.py acts on them.
RUNNING, AWAITING_APPROVAL, PROMOTING, PROMOTED, CHAMPION_KEPT, ABORTED = (
    "Running", "AwaitingApproval", "Promoting", "Promoted", "ChampionKept", "Aborted",
)  # fmt: skip
CONCLUDED = (PROMOTED, CHAMPION_KEPT, ABORTED)
# The error guard's mSPRT: its mixing sd is fixed at one percentage point of error rate, not taken
# from the data (errors are rare: the first look often sees none, and a mixing sd frozen at zero
# would never reject), and it looks once both variants served this many requests.
ERROR_TAU = 0.01
ERROR_MIN_REQUESTS = 100


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    exp = spec.experiment
    if exp is None:
        return Finding()
    stored: dict[str, Any] = status["experiment"] if isinstance(status.get("experiment"), dict) else {}
    seen = obs.experiment
    if seen is None or seen.reason is not None:
        reason, message = (seen.reason if seen else None) or (
            "AwaitingTraffic",
            "the experiment is not observed yet",
        )
        return Finding([Verdict(KIND, "Unknown", reason, message)], {"experiment": {**stored, "message": message}},
                       {"experiment": obs.state.get("experiment") or {}})  # fmt: skip
    same = same_experiment(stored, seen.champion.template, seen.challenger.template)
    kept = obs.state.get("experiment") if same else None
    kept = kept if isinstance(kept, dict) else {}
    now = _iso(obs.now)
    base: dict[str, Any] = {
        "metric": str(exp.metric), "confidence": exp.confidence,
        "startedAt": stored.get("startedAt") if same and stored.get("startedAt") else now,
        "champion": _variant(seen.champion, obs), "challenger": _variant(seen.challenger, seen.challenger_obs),
    }  # fmt: skip
    if same and stored.get("state") in CONCLUDED:
        kept_status = {k: v for k, v in stored.items() if k not in ("champion", "challenger")}
        out = {**kept_status, "champion": {**(stored.get("champion") or {}), **_live(seen.champion)},
               "challenger": {**(stored.get("challenger") or {}), **_live(seen.challenger)}}  # fmt: skip
        return Finding([_concluded(out)], {"experiment": out}, {"experiment": kept})
    if seen.promoted:
        out = {**{k: v for k, v in stored.items() if same}, **base, "state": PROMOTED, "decision": "promote",
               "winner": "challenger", "decidedAt": stored.get("decidedAt") or now,
               "message": f"{seen.champion.deployment} runs {seen.challenger.deployment}'s model: promoted"}  # fmt: skip
        return Finding([_concluded(out)], {"experiment": out}, {"experiment": kept})

    try:
        run = _run(spec, kept.get("run"))
    except ValueError:  # the test's settings changed (confidence, mixing, ...): its evidence starts afresh
        run, kept, base["startedAt"] = _run(spec, None), {}, now
    marks = dict(kept.get("watermarks") or {})
    frames = {
        "champion": obs.captured,
        "challenger": seen.challenger_obs.captured if seen.challenger_obs else None,
    }
    started = _ts(base["startedAt"], obs.now)
    for variant in VARIANTS:
        marks[variant] = _feed(
            run, spec, variant, frames[variant], started, float(marks.get(variant) or 0.0), obs.now
        )
    result = run.look()
    errors = SequentialTest.from_json(kept["errors"]) if kept.get("errors") else SequentialTest(
        alpha=1 - exp.confidence, mixing=exp.mixing, tau2=ERROR_TAU**2
    )  # fmt: skip
    stop, unknown = _guards(spec, seen, errors)
    state_out = {"run": run.to_state(), "watermarks": marks, "errors": errors.to_json()}
    figures = _figures(result)
    base["champion"]["rows"], base["challenger"]["rows"] = (
        result.rows.get("champion"),
        result.rows.get("challenger"),
    )
    base["champion"]["value"], base["challenger"]["value"] = (
        result.values.get("champion"),
        result.values.get("challenger"),
    )
    if stop:
        out = {**base, **figures, "state": ABORTED, "decision": "abort", "winner": "champion", "decidedAt": now,
               "message": "challenger stopped: " + "; ".join(stop)}  # fmt: skip
        return Finding([Verdict(KIND, "True", "ChallengerAborted", out["message"])], {"experiment": out},
                       {"experiment": state_out})  # fmt: skip
    decision = result.decision
    if decision == "promote" and unknown:
        message = f"{result.reason}; not promoting while {'; '.join(unknown)}"
        out = {**base, **figures, "state": RUNNING, "decision": "continue", "message": message}
        return Finding([Verdict(KIND, "Unknown", "GuardRailUnknown", message)], {"experiment": out},
                       {"experiment": state_out})  # fmt: skip
    if decision == "promote":
        manual = exp.promote != Promote.AUTO
        message = result.reason + (
            f"; waiting for approval: kubectl annotate mm {obs.name} modelmonitor.io/promote=approved"
            if manual
            else ""
        )
        out = {**base, **figures, "state": AWAITING_APPROVAL if manual else PROMOTING, "decision": "promote",
               "winner": "challenger", "decidedAt": stored.get("decidedAt") if same and stored.get("decidedAt")
               else now, "message": message}  # fmt: skip
        return Finding([Verdict(KIND, "True", "AwaitingApproval" if manual else "ChallengerWon", message)],
                       {"experiment": out}, {"experiment": state_out})  # fmt: skip
    if decision == "keep":
        out = {**base, **figures, "state": CHAMPION_KEPT, "decision": "keep", "winner": "champion", "decidedAt": now,
               "message": result.reason}  # fmt: skip
        return Finding([Verdict(KIND, "True", "ChampionKept", result.reason)], {"experiment": out},
                       {"experiment": state_out})  # fmt: skip
    out = {**base, **figures, "state": RUNNING, "decision": "continue", "message": result.reason}
    return Finding(
        [Verdict(KIND, "False", "Running", result.reason)], {"experiment": out}, {"experiment": state_out}
    )


# ------------------------------------------------------------------------------------------- rows


def _feed(run: ExperimentRun, spec: ModelMonitorSpec, variant: str, frame: Any, started: float, mark: float,
          now: float) -> float:  # fmt: skip
    """Feed the rows of ``frame`` that settled after ``mark`` (unix s); the new watermark."""
    exp = spec.experiment
    assert exp is not None
    if frame is None or not len(frame) or "__ts" not in frame.columns:
        return mark
    ts = pd.to_numeric(frame["__ts"], errors="coerce").to_numpy(dtype=float)
    has_label = (
        frame["__label"].notna().to_numpy() if "__label" in frame.columns else np.zeros(len(frame), bool)
    )
    label_ts = (
        pd.to_numeric(frame["__label_ts"], errors="coerce").to_numpy(dtype=float)
        if "__label_ts" in frame.columns else np.full(len(frame), np.nan)
    )  # fmt: skip
    label_ts = np.where(has_label & np.isnan(label_ts), ts, label_ts)
    settle = np.where(has_label, label_ts, np.inf)
    missing = exp.outcome.missing if exp.metric == ExperimentMetric.OUTCOME and exp.outcome else None
    late = ~has_label
    if missing is not None:
        # Every request settles when its wait is over, clicked or not: counting the clicks as they
        # come and the others later would bias the rate up.
        settle = ts + parse_duration(exp.outcome.after if exp.outcome else "10m")
        late = ~has_label | (label_ts > settle)
    fresh = (ts >= started) & (settle > mark) & (settle <= now)
    if not fresh.any():
        return mark
    rows = frame.loc[fresh]
    if exp.metric == ExperimentMetric.OUTCOME:
        values = rows["__label"].where(~late[fresh], missing) if missing is not None else rows["__label"]
        run.add_outcomes(variant, values.tolist())
    else:
        run.add(
            variant,
            labelled(
                rows, _task(spec), positive=spec.performance.positiveLabel if spec.performance else None
            ),
        )
    return float(settle[fresh].max())


def _run(spec: ModelMonitorSpec, state: dict[str, Any] | None) -> ExperimentRun:
    exp = spec.experiment
    assert exp is not None
    return ExperimentRun(
        str(exp.metric), task=_task(spec), confidence=exp.confidence, min_rows=exp.minRows, batch=exp.batch,
        mixing=exp.mixing, better=str(exp.outcome.better) if exp.outcome else None,
        positive=spec.performance.positiveLabel if spec.performance else None, state=state,
    )  # fmt: skip


def _task(spec: ModelMonitorSpec) -> str:
    assert spec.experiment is not None
    return task_for(str(spec.experiment.metric), str(spec.performance.task) if spec.performance else None)


# ------------------------------------------------------------------------------------- guard rails


def _guards(
    spec: ModelMonitorSpec, seen: ExperimentObservations, errors: SequentialTest
) -> tuple[list[str], list[str]]:
    """(why the challenger must stop, which guards are Unknown)."""
    exp = spec.experiment
    assert exp is not None
    stop, unknown = [], []
    for v in seen.guards:
        if v.status == "True":
            stop.append(f"its {v.type} is True ({v.reason}: {v.message})")
        elif v.status == "Unknown" and v.reason not in ("NoObjectives",):
            unknown.append(f"its {v.type} is Unknown ({v.reason})")
    if seen.prometheus_error:
        unknown.append(f"Prometheus is unavailable ({seen.prometheus_error[:200]})")
    champ, chall = seen.champion, seen.challenger
    if None in (champ.requests, champ.errors, chall.requests, chall.errors):
        if not seen.prometheus_error:
            unknown.append("the error counts are not in Prometheus")
    elif min(champ.requests or 0, chall.requests or 0) >= ERROR_MIN_REQUESTS:
        look = errors.look(Arm.from_counts(int(champ.requests or 0), int(champ.errors or 0)),
                           Arm.from_counts(int(chall.requests or 0), int(chall.errors or 0)))  # fmt: skip
        low = look.interval[0]
        if low is not None and low > 0:
            stop.append(
                f"it errors more: {fmt(_rate(chall))} against the champion's {fmt(_rate(champ))} "
                f"(difference {fmt(look.effect)}, interval [{fmt(look.interval[0])}, {fmt(look.interval[1])}], "
                f"p {fmt(look.p_value)})"
            )
    bound = exp.businessMetric.min if exp.businessMetric else None
    if bound is not None:
        if chall.business is None:
            unknown.append("its business metric has no value")
        elif chall.business < bound:
            stop.append(f"its business metric {fmt(chall.business)} < {bound:g}")
    return stop, unknown


# ------------------------------------------------------------------------------------------- status


def same_experiment(stored: dict[str, Any], champion: str, challenger: str) -> bool:
    """Is (champion, challenger) — their pod template hashes — the experiment ``stored`` (status.experiment)
    is about? A new challenger template is a new experiment; a new champion template restarts a
    running one, and leaves a decided one decided (a promotion put the challenger's model in it)."""
    had_champion = (stored.get("champion") or {}).get("podTemplateHash")
    had_challenger = (stored.get("challenger") or {}).get("podTemplateHash")
    if not had_challenger or had_challenger != challenger:
        return False
    return stored.get("state") in CONCLUDED or had_champion == champion


def _concluded(out: dict[str, Any]) -> Verdict:
    state = out.get("state")
    reason = {PROMOTED: "ChallengerPromoted", CHAMPION_KEPT: "ChampionKept", ABORTED: "ChallengerAborted"}[
        str(state)
    ]
    return Verdict(KIND, "True", reason, str(out.get("message") or state))


def _figures(result: Result) -> dict[str, Any]:
    low, high = (_round(x) for x in result.interval)
    # Both ends, or none: the status schema holds numbers in lists, never null.
    interval = [low, high] if low is not None and high is not None else []
    return {"statistic": result.statistic, "effect": _round(result.effect), "interval": interval,
            "pValue": float(f"{result.p_value:.4g}"), "looks": result.looks,
            "samplesNeeded": max(result.samples_needed.values()) if result.samples_needed else None}  # fmt: skip


def _variant(v: Variant, own: Observations | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"deployment": v.deployment, "podTemplateHash": v.template or None, **_live(v)}
    if own is not None and own.slo.get("latencyP95Ms") is not None:
        out["latencyP95Ms"] = _round(own.slo["latencyP95Ms"])
    return out


def _live(v: Variant) -> dict[str, Any]:
    return {"readyReplicas": v.ready, "requests": _round(v.requests), "errorRate": _round(_rate(v)),
            "business": _round(v.business)}  # fmt: skip


def _rate(v: Variant) -> float | None:
    return None if not v.requests or v.errors is None else v.errors / v.requests


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _ts(text: str, default: float) -> float:
    moment = parse_iso(text)
    return moment.timestamp() if moment else default
