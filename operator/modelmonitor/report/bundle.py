"""What a report is made from: the ModelMonitor object, its captured window and its reference.

A bundle is plain data, read by ``modelmonitor report`` from a cluster or from a directory; any of
its pieces may be missing (``notes`` says what could not be read, and why), and each section of the
page then says what it lacks rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ValidationError

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift.profile import Profile

WINDOW_COLUMNS = ("__id", "__ts", "__prediction", "__probabilities", "__label", "__label_ts")


@dataclass
class Bundle:
    """``monitor`` is the ModelMonitor object (``metadata``, ``spec``, ``status``); ``window`` the
    captured rows (features plus the ``__`` columns of ``adapters.sidecars.Window.frame``);
    ``reference`` the profile the window is compared with; ``notes`` what could not be read."""

    monitor: dict[str, Any]
    window: pd.DataFrame | None = None
    reference: Profile | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str((self.monitor.get("metadata") or {}).get("name") or "(unnamed)")

    @property
    def namespace(self) -> str | None:
        value = (self.monitor.get("metadata") or {}).get("namespace")
        return None if value is None else str(value)

    @property
    def status(self) -> dict[str, Any]:
        status = self.monitor.get("status")
        return status if isinstance(status, dict) else {}

    def spec(self) -> tuple[ModelMonitorSpec | None, str | None]:
        """The parsed spec, or None and why it could not be parsed (the report then uses the
        defaults of the drift engine and shows no performance figures)."""
        raw = self.monitor.get("spec")
        if not isinstance(raw, dict):
            return None, "the monitor has no spec"
        try:
            return ModelMonitorSpec.model_validate(raw), None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return None, f"spec.{where}: {first.get('msg', 'invalid')}"

    def ordered_window(self) -> pd.DataFrame | None:
        """The window sorted by prediction time (``__ts``; stable), indexed 0..n-1; None when absent."""
        if self.window is None:
            return None
        frame = self.window
        if "__ts" in frame.columns and len(frame):
            ts = pd.to_numeric(frame["__ts"], errors="coerce")
            frame = frame.assign(__ts=ts).sort_values("__ts", kind="stable")
        return frame.reset_index(drop=True)
