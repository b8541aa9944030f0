"""The report page: one HTML document, its CSS inline, its charts inline SVG, and no script at all.

A Content-Security-Policy in the document forbids every script and every external load, so even a
value that slipped past escaping could not run or call out; every text of the monitor, its status
and its data goes through ``svg.esc`` and every number through ``svg.num``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelmonitor.report.svg import esc, num

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0 auto;
max-width:1100px;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;
margin-top:28px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#6e7781;font-style:italic}.note{color:#57606a}
.True{color:#cf222e;font-weight:600}.False{color:#1a7f37}.Unknown{color:#9a6700}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:8px 16px}
figure{margin:0}figcaption{font-size:13px;font-weight:600}
svg.chart{width:100%;height:auto;font-size:11px;font-family:inherit}
svg .axis{stroke:#57606a}svg .grid{stroke:#eaeef2}svg .diagonal{stroke:#9aa5b1;stroke-dasharray:4 3}
svg polyline{stroke-width:1.6}
section>svg.chart{max-width:760px}.scroll{overflow-x:auto}
"""


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "") -> str:
    """A table; a float cell is a right-aligned figure, any other cell escaped text."""
    out = [f'<table class="{esc(cls)}">']
    if any(head):  # a table of facts (name, value) has no header row
        out += ["<thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead>"]
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, bool) or cell is None:
                out.append(f"<td>{'-' if cell is None else esc(str(cell).lower())}</td>")
            elif isinstance(cell, int | float):
                out.append(f'<td class="n">{esc(num(float(cell)) if isinstance(cell, float) else cell)}</td>')
            else:
                out.append(f"<td>{esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def missing(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def section(ident: str, title: str, body: Sequence[str]) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{"".join(body)}</section>'


def document(title: str, sections: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{''.join(sections)}</body></html>\n"
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def header(monitor: dict[str, Any], notes: Sequence[str]) -> str:
    meta, spec, status = (
        _dict(monitor.get("metadata")),
        _dict(monitor.get("spec")),
        _dict(monitor.get("status")),
    )
    target = _dict(spec.get("target"))
    name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    where = _dict(status.get("target"))
    facts = [
        ("monitor", name),
        ("target", f"Deployment {target.get('deployment', '-')}"),
        ("model version", where.get("modelVersion") or "-"),
        ("revision", where.get("revision") or "-"),
        ("phase", status.get("phase") or "(no status yet)"),
        ("last evaluation", status.get("lastEvaluation") or "-"),
        ("last action", status.get("lastAction") or "-"),
    ]
    body = [f"<h1>ModelMonitor {esc(name)}</h1>", table(["", ""], facts, cls="facts")]
    conditions = [c for c in _list(status.get("conditions")) if isinstance(c, dict)]
    body.append("<h3>Conditions</h3>")
    if conditions:
        body.append(_conditions(conditions))
    else:
        body.append(missing("no conditions: the operator has not evaluated this monitor yet"))
    if notes:
        body.append(
            "<h3>What could not be read</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
        )
    return section("header", "Summary", body)


def _conditions(conditions: list[dict[str, Any]]) -> str:
    """The conditions table; the status cell is coloured by its value (True is the alarming one)."""
    out = ["<table><thead><tr><th>type</th><th>status</th><th>reason</th><th>message</th><th>since</th></tr>"
           "</thead><tbody>"]  # fmt: skip
    for c in conditions:
        value = str(c.get("status"))
        cls = value if value in ("True", "False", "Unknown") else ""
        cells = "".join(f"<td>{esc(c.get(k, ''))}</td>" for k in ("reason", "message", "lastTransitionTime"))
        out.append(f'<tr><td>{esc(c.get("type"))}</td><td class="{cls}">{esc(value)}</td>{cells}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def experiment(status: dict[str, Any]) -> str:
    exp = _dict(status.get("experiment"))
    if not exp:
        return section(
            "experiment",
            "Experiment",
            [missing("no A/B experiment in status (spec.experiment unset, or not begun)")],
        )
    interval = _list(exp.get("interval"))
    shown = " .. ".join(num(v) for v in interval) if len(interval) == 2 else "-"
    facts = [
        ("state", exp.get("state")), ("decision", exp.get("decision")), ("winner", exp.get("winner")),
        ("metric", exp.get("metric")), ("statistic", exp.get("statistic")),
        ("effect (challenger - champion)", exp.get("effect")), ("always-valid interval", shown),
        ("p-value (mSPRT)", exp.get("pValue")), ("confidence", exp.get("confidence")),
        ("looks", exp.get("looks")), ("rows still needed per variant", exp.get("samplesNeeded")),
        ("started", exp.get("startedAt")), ("decided", exp.get("decidedAt")), ("message", exp.get("message")),
    ]  # fmt: skip
    body = [table(["", ""], [f for f in facts if f[1] is not None], cls="facts")]
    keys = (
        "deployment",
        "rows",
        "value",
        "readyReplicas",
        "requests",
        "errorRate",
        "latencyP95Ms",
        "business",
    )
    variants = [(v, _dict(exp.get(v))) for v in ("champion", "challenger") if exp.get(v)]
    if variants:
        body += [
            "<h3>Variants</h3>",
            table(["variant", *keys], [(v, *(d.get(k) for k in keys)) for v, d in variants]),
        ]
    traffic = _dict(exp.get("traffic"))
    if traffic:
        body += ["<h3>Traffic</h3>", table(["mode", "requested", "actual", "message"],
                 [(traffic.get("mode"), traffic.get("requested"), traffic.get("actual"), traffic.get("message"))])]  # fmt: skip
    return section("experiment", "Experiment", body)


def actions(status: dict[str, Any]) -> str:
    records = [a for a in _list(status.get("actions")) if isinstance(a, dict)]
    if not records:
        return section("actions", "Actions", [missing("no action taken or refused yet")])
    rows = [
        (a.get("time"), a.get("action"), a.get("reason"), a.get("result"), a.get("message")) for a in records
    ]
    return section(
        "actions", "Actions", [table(["time", "action", "reason", "result", "message"], rows[::-1])]
    )
