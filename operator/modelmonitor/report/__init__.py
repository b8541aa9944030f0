"""``modelmonitor report``'s page: a monitor, its window and its reference as one HTML file.

Pure data in, text out: a :class:`Bundle` (the ModelMonitor object, the captured window, the
reference profile, notes on what could not be read) becomes one self-contained HTML document with
inline SVG charts, inline CSS and no script (``render``). The figures are the project's own: drift
from ``modelmonitor.drift.detect``, metrics from ``modelmonitor.quality``. Reading a cluster or a
directory is the command's (``modelmonitor.commands.report``).
"""

from modelmonitor.report.bundle import Bundle
from modelmonitor.report.sections import render

__all__ = ["Bundle", "render"]
