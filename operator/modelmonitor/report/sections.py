"""The sections computed from the data: drift, performance and segments; and the whole page.

Each section works with what the bundle has: the status alone gives the operator's last figures,
the window and the reference add the distributions and the figures over time. What is missing is
said in the section (``page.missing``), never raised.
"""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.report import drift_figures, page, quality_figures, svg
from modelmonitor.report.bundle import Bundle
from modelmonitor.report.page import missing, note, section, table


def render(bundle: Bundle) -> str:
    """The report of ``bundle`` as one HTML document (text)."""
    spec, problem = bundle.spec()
    notes = list(bundle.notes) + (
        [f"spec not read ({problem}): drift uses the engine's defaults"] if problem else []
    )
    frame = bundle.ordered_window()
    status = bundle.status
    return page.document(
        f"ModelMonitor {bundle.name} report",
        [
            page.header(bundle.monitor, notes),
            drift(bundle, spec, frame),
            performance(status, spec, frame),
            segments(status, spec, frame),
            page.experiment(status),
            page.actions(status),
        ],
    )


def _window_note(frame: Any) -> str:
    if frame is None:
        return "no captured window: the figures below are the operator's last, from status"
    return f"window: {len(frame)} captured rows"


def drift(bundle: Bundle, spec: ModelMonitorSpec | None, frame: Any) -> str:
    status = bundle.status
    body = []
    d: dict[str, Any] = status["drift"] if isinstance(status.get("drift"), dict) else {}
    if d.get("datasetDrift") is not None:  # evaluated (a new revision's first evaluations have no figures)
        body.append(
            note(
                f"operator's verdict: dataset drift {d.get('datasetDrift')}, share {svg.num(d.get('share'))} "
                f"of features, method {d.get('method')}, {d.get('rows')} rows against {d.get('referenceRows')}"
            )
        )
    rows = [
        (f.get("name"), f.get("method"), f.get("score"), f.get("pValue"), f.get("drifted"), f.get("reason"))
        for f in drift_figures.status_features(status)
    ]
    if rows:
        body += [
            "<h3>Features in status</h3>",
            table(["feature", "method", "score", "p-value", "drifted", "reason"], rows),
        ]
    else:
        body.append(missing("no drift figures in status yet"))
    body += _attribution(d.get("attribution"))
    if bundle.reference is None:
        body.append(missing("no reference profile: no distributions and no drift over time"))
    elif frame is None or not len(frame):
        body.append(missing(_window_note(frame) + "; no distributions and no drift over time"))
    else:
        body += _drift_now(bundle, spec, frame)
    return section("drift", "Drift", body)


def _attribution(found: Any) -> list[str]:
    """``status.drift.attribution``: which features moved the predictions (docs/explanations.md)."""
    if not isinstance(found, dict) or not found.get("features"):
        return []
    head = (f"from {found.get('explanations')} explanations: mean {found.get('output')} "
            f"{svg.num(found.get('recent'))} against {svg.num(found.get('reference'))} over the reference, a "
            f"shift of {svg.num(found.get('shift'))}; each feature's mean attribution is its part of the shift")  # fmt: skip
    rows = [(f.get("name"), f.get("meanAttribution")) for f in found["features"] if isinstance(f, dict)]
    return ["<h3>Drift attribution</h3>", note(head), table(["feature", "mean attribution"], rows)]


def _drift_now(bundle: Bundle, spec: ModelMonitorSpec | None, frame: Any) -> list[str]:
    assert bundle.reference is not None
    fig = drift_figures.figures(bundle.reference, frame, spec)
    report = fig.report
    drifted = [f for f in fig.shown if f.drifted]
    body = [
        note(
            f"{_window_note(frame)} against a reference of {report.rows[0]} rows: "
            f"{len(report.drifted_features)} of {sum(1 for f in report.features if f.reason is None)} "
            f"features drift (share {svg.num(report.drift_share)})"
        )
    ]
    if not fig.shown:
        return [*body, missing("no feature could be compared (see status for why)")]
    title = "Drifted features" if drifted else "No feature drifts; the highest effects"
    charts = []
    for f in fig.shown:
        dist = fig.distributions.get(f.name)
        if dist is None:
            continue
        caption = f"{f.name} — {f.method} {svg.num(f.statistic)}, effect {svg.num(f.effect)}"
        chart = svg.bars(f"{f.name}: reference vs current", dist.labels,
                         {"reference": dist.reference, "current": dist.current})  # fmt: skip
        charts.append(f"<figure><figcaption>{svg.esc(caption)}</figcaption>{chart}</figure>")
    body += [f"<h3>{svg.esc(title)}</h3>", '<div class="charts">', *charts, "</div>"]
    if fig.over_time:
        body += [
            "<h3>Drift over time</h3>",
            note(
                "each time chunk of the window against the reference: effect (Jensen-Shannon distance, 0-1)"
            ),
            svg.lines("drift effect per time chunk", fig.chunk_labels, fig.over_time),
        ]
    else:
        body.append(missing("the window is too small to cut into time chunks"))
    return body


def performance(status: dict[str, Any], spec: ModelMonitorSpec | None, frame: Any) -> str:
    perf: dict[str, Any] = status["performance"] if isinstance(status.get("performance"), dict) else {}
    body = []
    if perf:
        facts = [(k, perf.get(k)) for k in ("task", "summary", "rows", "labelledRows", "labelCoverage",
                 "labelDelaySeconds", "labelsWaiting", "estimatedRows") if perf.get(k) is not None]  # fmt: skip
        body.append(table(["", ""], facts, cls="facts"))
        metrics, estimated = perf.get("metrics") or {}, perf.get("estimated") or {}
        bands = perf.get("bands") or {}
        names = list(dict.fromkeys([*metrics, *estimated, *bands]))
        if names:
            rows = [(n, metrics.get(n), estimated.get(n), *_band(bands.get(n))) for n in names]
            body.append(table(["metric", "realized", "estimated", "band low", "band high"], rows))
        cal = perf.get("calibration")
        if isinstance(cal, dict) and cal:
            body += ["<h3>Calibration in status</h3>", table(["", ""], list(cal.items()), cls="facts")]
    else:
        body.append(missing("no performance figures in status"))
    if spec is None or spec.performance is None:
        body.append(missing("spec.performance is not set: no task to compute metrics per chunk for"))
    elif frame is None or not len(frame):
        body.append(missing(_window_note(frame) + "; no metrics per chunk"))
    else:
        body += _per_chunk(quality_figures.figures(frame, spec), perf.get("bands") or {})
    return section("performance", "Performance", body)


def _band(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, list) and len(value) == 2 else (None, None)


def _per_chunk(fig: quality_figures.QualityFigures, bands: dict[str, Any]) -> list[str]:
    body = [f"<h3>Per time chunk ({svg.esc(fig.task)})</h3>", *(note(n) for n in fig.notes)]
    labels = [c.label for c in fig.chunks]
    charts = []
    for name in fig.metrics:
        series = {"realized": [c.realized.get(name) for c in fig.chunks]}
        if fig.estimator and any(name in c.estimated for c in fig.chunks):
            series[f"estimated ({fig.estimator})"] = [c.estimated.get(name) for c in fig.chunks]
        if all(v is None for s in series.values() for v in s):
            continue
        low, high = _band(bands.get(name))
        band = None if low is None and high is None else (low, high)
        chart = svg.lines(f"{name} per time chunk", labels, series, band=band, floor=None)
        caption = name + (" (band from status)" if band else "")
        charts.append(f"<figure><figcaption>{svg.esc(caption)}</figcaption>{chart}</figure>")
    body += (
        ['<div class="charts">', *charts, "</div>"]
        if charts
        else [missing("no metric is defined on any chunk")]
    )
    head = ["chunk", "until", "rows", "labelled", *(f"{m}" for m in fig.metrics)]
    if fig.estimator:
        head += [f"{m} est." for m in fig.metrics]
    rows = [
        (i, c.label, c.rows, c.labelled, *(c.realized.get(m) for m in fig.metrics),
         *((c.estimated.get(m) for m in fig.metrics) if fig.estimator else ()))
        for i, c in enumerate(fig.chunks)
    ]  # fmt: skip
    body.append(f'<div class="scroll">{table(head, rows)}</div>')
    if fig.calibration:
        body += [
            f"<h3>Calibration (ECE {svg.esc(svg.num(fig.ece))})</h3>",
            svg.reliability("reliability diagram of the labelled rows", fig.calibration),
        ]
    return body


def segments(status: dict[str, Any], spec: ModelMonitorSpec | None, frame: Any) -> str:
    perf: dict[str, Any] = status["performance"] if isinstance(status.get("performance"), dict) else {}
    found = [s for s in perf.get("segments") or [] if isinstance(s, dict)]
    keys = ("feature", "metric", "ratio", "worstGroup", "worstValue", "bestGroup", "bestValue", "groups",
            "judgedGroups", "rows", "passed")  # fmt: skip
    body = (
        [table(keys, [tuple(s.get(k) for k in keys) for s in found])]
        if found
        else [missing("no segments in status (spec.performance.segments unset, or not evaluated yet)")]
    )
    if spec is not None and frame is not None and len(frame):
        for feature, report in quality_figures.segments(frame, spec).items():
            metric = report["metric"]
            rows = [
                (g["value"], g["rows"], g["judged"], g.get(metric), *_band(g.get(f"{metric}_ci")))
                for g in report["groups"]
            ]
            body += [
                f"<h3>{svg.esc(feature)}: {svg.esc(metric)} by group (window)</h3>",
                note(f"ratio {svg.num(report['disparate_impact'])}, min {report['min_ratio']}, "
                     f"violated {report['violated']}" + (f"; {report['reason']}" if report["reason"] else "")),
                table(["group", "rows", "judged", metric, "95% low", "95% high"], rows),
            ]  # fmt: skip
    return section("segments", "Segments", body)
