"""Inline SVG charts: grouped bars, lines over chunks with an optional band, a reliability diagram.

Every chart is a self-contained ``<svg>`` element with a ``viewBox`` (it scales with the page), a
``<title>`` for screen readers, and no script, no external reference and no font file. Text goes
through :func:`esc`; coordinates are written with one decimal, so a chart stays a few KiB whatever
the data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 22, 40
REFERENCE_COLOUR = "#9aa5b1"
CURRENT_COLOUR = "#1f6feb"
BAND_COLOUR = "#d9f2e3"
PALETTE = (
    "#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df",
    "#bf3989", "#0a7ea4", "#6e7781", "#fb8500", "#3d405b",
)  # fmt: skip


def esc(value: object) -> str:
    """Text for HTML or SVG: ``&``, ``<``, ``>`` and both quotes escaped."""
    return html.escape(str(value), quote=True)


def num(value: float | None, digits: int = 4) -> str:
    """A figure for people: ``digits`` significant digits, ``-`` when undefined."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def _c(value: float) -> str:
    return f"{value:.1f}"


def _frame(title: str, body: list[str], *, kind: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart {esc(kind)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>{"".join(body)}</svg>'
    )


def _axis(low: float, high: float, height: int = HEIGHT) -> tuple[list[str], float, float]:
    """The y axis from ``low`` to ``high`` (three ticks) and the plot's top and bottom pixel rows."""
    top, bottom = float(TOP), float(height - BOTTOM)
    out = [f'<line x1="{LEFT}" y1="{_c(bottom)}" x2="{WIDTH - RIGHT}" y2="{_c(bottom)}" class="axis"/>']
    for i in range(3):
        value = low + (high - low) * i / 2
        y = bottom - (bottom - top) * i / 2
        out.append(f'<line x1="{LEFT}" y1="{_c(y)}" x2="{WIDTH - RIGHT}" y2="{_c(y)}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{_c(y + 4)}" text-anchor="end">{esc(num(value, 3))}</text>')
    return out, top, bottom


def _legend(names: Sequence[str], colours: Sequence[str]) -> list[str]:
    out, x = [], float(LEFT)
    for name, colour in zip(names, colours, strict=True):
        label = name if len(name) <= 28 else name[:27] + "…"
        out.append(f'<rect x="{_c(x)}" y="4" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{_c(x + 14)}" y="13">{esc(label)}</text>')
        x += 24 + 7 * len(label)
    return out


def _scale(values: Sequence[float | None], floor: float | None = 0.0) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low = min(finite, default=0.0) if floor is None else min(floor, *finite) if finite else floor
    high = max(finite, default=1.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    return low, high


def _x_labels(labels: Sequence[str], xs: Sequence[float], height: int) -> list[str]:
    """At most 6 labels under the x axis, evenly picked."""
    step = max(1, math.ceil(len(labels) / 6))
    out = []
    for i in range(0, len(labels), step):
        text = labels[i] if len(labels[i]) <= 16 else labels[i][:15] + "…"
        out.append(
            f'<text x="{_c(xs[i])}" y="{height - BOTTOM + 14}" text-anchor="middle">{esc(text)}</text>'
        )
    return out


def bars(
    title: str, labels: Sequence[str], groups: Mapping[str, Sequence[float]], *, colours: Sequence[str] = ()
) -> str:
    """Grouped bars: one group of bars per label, one bar per series of ``groups`` (e.g. reference and
    current shares, 0-1), with a legend."""
    names = list(groups)
    colours = list(colours) or [REFERENCE_COLOUR, CURRENT_COLOUR, *PALETTE][: len(names)]
    low, high = _scale([v for series in groups.values() for v in series])
    body, top, bottom = _axis(low, high)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    width = max(1.0, slot * 0.8 / max(1, len(names)))
    centres = []
    for i in range(len(labels)):
        x0 = LEFT + i * slot + slot * 0.1
        centres.append(x0 + slot * 0.4)
        for j, name in enumerate(names):
            value = float(groups[name][i])
            y = bottom - (bottom - top) * (value - low) / (high - low)
            body.append(
                f'<rect x="{_c(x0 + j * width)}" y="{_c(y)}" width="{_c(width)}" height="{_c(bottom - y)}" '
                f'fill="{colours[j]}"><title>{esc(labels[i])}: {esc(name)} {esc(num(value))}</title></rect>'
            )
    body += _x_labels(labels, centres, HEIGHT) + _legend(names, colours)
    return _frame(title, body, kind="bars")


def lines(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    band: tuple[float | None, float | None] | None = None,
    floor: float | None = 0.0,
) -> str:
    """One line per series over the chunks (``labels``), a gap where a value is undefined; ``band``
    (low, high; an open end is None) is shaded behind them."""
    names = list(series)
    values = [v for s in series.values() for v in s]
    if band is not None:
        values += [b for b in band if b is not None]
    low, high = _scale(values, floor)
    body, top, bottom = _axis(low, high)
    span = WIDTH - LEFT - RIGHT
    xs = [LEFT + span * (i + 0.5) / max(1, len(labels)) for i in range(len(labels))]

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    if band is not None:
        b_low = y(band[0]) if band[0] is not None else bottom
        b_high = y(band[1]) if band[1] is not None else top
        body.append(
            f'<rect class="band" x="{LEFT}" y="{_c(b_high)}" width="{span}" height="{_c(b_low - b_high)}" '
            f'fill="{BAND_COLOUR}"><title>band {esc(num(band[0]))} .. {esc(num(band[1]))}</title></rect>'
        )
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    for name, colour in zip(names, colours, strict=True):
        runs: list[list[str]] = [[]]
        for x, value in zip(xs, series[name], strict=True):
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            runs[-1].append(f"{_c(x)},{_c(y(value))}")
            body.append(
                f'<circle cx="{_c(x)}" cy="{_c(y(value))}" r="2.5" fill="{colour}">'
                f"<title>{esc(name)}: {esc(num(value))}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}"/>')
    body += _x_labels(labels, xs, HEIGHT) + _legend(names, colours)
    return _frame(title, body, kind="lines")


def reliability(title: str, points: Sequence[tuple[float, float, int]]) -> str:
    """A reliability diagram: fraction positive (y) against the mean predicted probability (x) per
    bin (``(mean predicted, fraction positive, rows)``), with the diagonal of a calibrated model."""
    size = 300
    body, top, bottom = _axis(0.0, 1.0, size)
    right = WIDTH - RIGHT

    def x(value: float) -> float:
        return LEFT + (right - LEFT) * value

    def y(value: float) -> float:
        return bottom - (bottom - top) * value

    body.append(f'<line x1="{_c(x(0))}" y1="{_c(y(0))}" x2="{_c(x(1))}" y2="{_c(y(1))}" class="diagonal"/>')
    path = []
    for predicted, observed, rows in points:
        path.append(f"{_c(x(predicted))},{_c(y(observed))}")
        body.append(
            f'<circle cx="{_c(x(predicted))}" cy="{_c(y(observed))}" r="3" fill="{CURRENT_COLOUR}"><title>'
            f"predicted {esc(num(predicted))}, observed {esc(num(observed))}, {int(rows)} rows</title></circle>"
        )
    if len(path) > 1:
        body.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="{CURRENT_COLOUR}"/>')
    ticks = [0.0, 0.5, 1.0]
    body += [
        f'<text x="{_c(x(t))}" y="{size - BOTTOM + 14}" text-anchor="middle">{esc(num(t))}</text>'
        for t in ticks
    ]
    body.append(
        f'<text x="{_c(x(0.5))}" y="{size - 8}" text-anchor="middle">mean predicted probability</text>'
    )
    return _frame(title, body, kind="reliability", height=size)
