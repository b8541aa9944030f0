"""FairnessViolated: a metric per group of a feature (``spec.performance.segments``), the lowest
judged group against the highest.

Pure. Approval rates need no ground truth and are taken over every captured row; accuracy, error
rate, TPR and FPR over the labelled rows (quality/fairness.py computes them, with Wilson intervals).
Groups under ``minRows`` are reported, not judged; with fewer than two judged groups the verdict is
InsufficientData. The bound (``minRatio``, 0.8 by default after the US four-fifths screening rule)
is the user's to set: docs/user-guide.md says when that rule does and does not apply. Owns
``status.performance.segments``.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec, Task
from modelmonitor.api.spec.performance import Segment
from modelmonitor.api.status import ConditionType
from modelmonitor.evaluate.findings import Finding, Verdict, fmt
from modelmonitor.evaluate.observations import Observations
from modelmonitor.quality.fairness import SegmentReport, segment

KIND = ConditionType.FAIRNESS_VIOLATED


def evaluate(spec: ModelMonitorSpec, obs: Observations, status: dict[str, Any]) -> Finding:
    perf = spec.performance
    if perf is None or not perf.segments:
        return Finding()
    if obs.captured is None:
        return Finding(
            [Verdict(KIND, "Unknown", *(obs.capture_reason or ("AwaitingTraffic", "no captured rows yet")))]
        )
    frame = obs.captured
    if perf.task == Task.REGRESSION:
        return Finding(
            [Verdict(KIND, "Unknown", "NotApplicable", "segment rates need a classification task")]
        )
    reports: list[tuple[Segment, SegmentReport | None, str]] = []
    for seg in perf.segments:
        if seg.feature not in frame.columns:
            reports.append((seg, None, f"{seg.feature}: not a captured feature"))
            continue
        if seg.metric == "approval_rate":
            y_pred, rows = obs.predicted(perf.positiveLabel)
            report = segment(frame.loc[rows, seg.feature].tolist(), y_pred=y_pred, positive=1, metric=str(seg.metric),
                             min_rows=seg.minRows, min_ratio=seg.minRatio, feature=seg.feature)  # fmt: skip
        else:
            data = obs.labels(str(perf.task), perf.positiveLabel)
            # Binary labels are coerced to 0/1; a multiclass TPR/FPR is one-vs-rest on positiveLabel.
            positive = 1 if perf.task == Task.BINARY else (perf.positiveLabel or "").strip().lower()
            report = segment(frame.loc[data.index, seg.feature].tolist(), y_pred=data.y_pred, y_true=data.y_true,
                             positive=positive, metric=str(seg.metric), min_rows=seg.minRows,
                             min_ratio=seg.minRatio, feature=seg.feature)  # fmt: skip
        reports.append((seg, report, ""))
    return Finding(
        [judge_fairness(reports)], {"performance": {"segments": [_status(s, r) for s, r, _ in reports]}}
    )


def judge_fairness(reports: list[tuple[Segment, SegmentReport | None, str]]) -> Verdict:
    violated, unjudged, fine = [], [], []
    for seg, report, problem in reports:
        if report is None:
            unjudged.append(problem)
        elif report.violated:
            low = next(g for g in report.groups if g.value == report.lowest_group)
            high = next(g for g in report.groups if g.value == report.highest_group)
            violated.append(
                f"{seg.metric} of {seg.feature}={report.lowest_group} is {fmt(low.rate(str(seg.metric)))}, against "
                f"{fmt(high.rate(str(seg.metric)))} for {seg.feature}={report.highest_group} (ratio "
                f"{fmt(report.disparate_impact)} < {seg.minRatio:g}; {low.rows} and {high.rows} rows)"
            )
        elif report.violated is None:
            unjudged.append(f"{seg.feature}: {report.reason or 'not judged'}")
        else:
            fine.append(f"{seg.feature} {seg.metric} ratio {fmt(report.disparate_impact)}")
    if violated:
        return Verdict(KIND, "True", "GroupBelowRatio", "; ".join(violated + unjudged))
    if unjudged:
        return Verdict(KIND, "Unknown", "InsufficientData", "; ".join(unjudged))
    return Verdict(KIND, "False", "WithinRatio", "; ".join(fine))


def _status(seg: Segment, report: SegmentReport | None) -> dict[str, Any]:
    out: dict[str, Any] = {"feature": seg.feature, "metric": str(seg.metric)}
    if report is None:
        return out
    metric = str(seg.metric)
    low = next((g for g in report.groups if g.value == report.lowest_group), None)
    high = next((g for g in report.groups if g.value == report.highest_group), None)
    figures = {
        "ratio": report.disparate_impact,
        "worstGroup": None if low is None else str(low.value),
        "worstValue": None if low is None else low.rate(metric),
        "bestGroup": None if high is None else str(high.value),
        "bestValue": None if high is None else high.rate(metric),
        "groups": len(report.groups),
        "judgedGroups": sum(1 for g in report.groups if g.judged),
        "rows": sum(g.rows for g in report.groups),
        "passed": None if report.violated is None else not report.violated,
    }
    return out | {
        k: (round(v, 6) if isinstance(v, float) else v) for k, v in figures.items() if v is not None
    }
