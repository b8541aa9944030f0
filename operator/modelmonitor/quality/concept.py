"""Concept drift on the error stream: river's change detectors over per-prediction errors.

The input is one error per labelled prediction, in order: 0/1 (wrong/right) for classification, the
absolute error for regression. A detector's alarm is kept only when the error RISES — the mean error
after the estimated change point is higher than before it. A falling error (a retrain, a model
warming up) is a change too, but not concept drift, and nothing should act on it.

The rule, per detector:

- ``adwin`` (``river.drift.ADWIN(delta=...)``): on an alarm ADWIN drops the older part of its window
  and keeps the part that agrees with the newest data. "Before" is the mean of the dropped part,
  "after" the mean of the kept window, and the change point is the first row of the kept window. That
  is an early bound: ADWIN drops whole buckets, so the kept window may still hold rows of the old
  concept, and "after" is then diluted towards "before" (the sign, which decides, is not changed).
- ``ddm`` (``river.drift.binary.DDM()``, river's defaults): the change point is the first row of the
  warning run that led to the alarm (the alarm's row when there was none); "before" is the mean error
  from the detector's last reset to the change point, "after" from the change point to the alarm.
  DDM models the errors as Bernoulli trials: it takes 0/1 only, and other values raise ValueError.
- ``page-hinkley`` (``river.drift.PageHinkley(mode="up")``, river's other defaults: only a rise
  matters): the change point is the row where the cumulative sum of the test was last at its
  minimum (Page's estimate), read from river's state; "before" and "after" as for DDM.

``delta`` is ADWIN's significance; DDM has none, and Page-Hinkley's ``delta`` is a magnitude in the
error's units, not a probability, so the two others keep river's defaults.

A checkpoint is a pickle of river's detector: restore one only from the operator's own store (an
unpickled object can run code), and only with the river version that wrote it.
"""

from __future__ import annotations

import base64
import math
import pickle
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from river import drift
from river.__version__ import __version__ as RIVER_VERSION

KINDS = ("adwin", "ddm", "page-hinkley")


@dataclass(frozen=True)
class Change:
    """A rise of the error: where it was detected and where it is estimated to have begun (rows)."""

    row: int
    change_point: int
    error_before: float
    error_after: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_before"] = round(self.error_before, 6)
        out["error_after"] = round(self.error_after, 6)
        return out


@dataclass
class _Segment:
    """Our running sums since the detector's last reset, and at the candidate change point."""

    n: int = 0
    total: float = 0.0
    point: int | None = None
    point_n: int = 0
    point_total: float = 0.0

    def mark(self, row: int) -> None:
        """The change point candidate is ``row``: the sums so far are the "before" part."""
        self.point, self.point_n, self.point_total = row, self.n, self.total


class ConceptDetector:
    """One river detector over an error stream, keeping only the alarms where the error rises.

    ``kind`` is one of ``KINDS``; ``delta`` is ADWIN's significance (0 to 1; ignored by the others).
    Rows are counted across calls to ``update``: ``rows`` is how many errors were fed so far.
    """

    def __init__(self, kind: str = "adwin", delta: float = 0.002) -> None:
        if kind not in KINDS:
            raise ValueError(f"ConceptDetector: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not 0 < delta < 1:
            raise ValueError(f"ConceptDetector: delta {delta} must be between 0 and 1 (ADWIN's significance)")
        self.kind = kind
        self.delta = delta
        self.rows = 0
        self._detector: Any = _build(kind, delta)
        self._segment = _Segment()
        self._warning = False

    def update(self, errors: Iterable[float], start_row: int | None = None) -> list[Change]:
        """Feed ``errors`` in order; the rises of the error detected among them.

        ``start_row`` is the row index of the first error (default: continue from ``rows``); rows
        in the returned changes are on that numbering. The whole batch is checked before any of it
        is fed, so a refused batch leaves the detector as it was.
        """
        values = [float(e) for e in errors]
        bad = next((v for v in values if not math.isfinite(v)), None)
        if bad is not None:
            raise ValueError(f"ConceptDetector.update: error {bad} is not a finite number")
        if self.kind == "ddm":
            bad = next((v for v in values if v not in (0.0, 1.0)), None)
            if bad is not None:
                raise ValueError(
                    f"ConceptDetector.update: DDM takes 0/1 errors only, got {bad}; "
                    "use adwin or page-hinkley for absolute (regression) errors"
                )
        shift = 0 if start_row is None else start_row - self.rows
        changes = []
        for offset, x in enumerate(values):
            change = self._feed(self.rows + offset, x)
            if change is not None:
                changes.append(
                    replace(change, row=change.row + shift, change_point=change.change_point + shift)
                )
        self.rows += len(values)
        return changes

    def _feed(self, row: int, x: float) -> Change | None:
        """One error at our own row ``row`` (0 = the first error ever fed)."""
        det, seg = self._detector, self._segment
        width, total = (int(det.width), float(det.total)) if self.kind == "adwin" else (0, 0.0)
        det.update(x)
        if self.kind == "ddm" and not det.drift_detected:  # a warning run marks where a rise began
            if det.warning_detected and not self._warning:
                seg.mark(row)
            elif not det.warning_detected:
                seg.point = None
            self._warning = bool(det.warning_detected)
        seg.n += 1
        seg.total += x
        if self.kind == "page-hinkley" and det._sum_increase <= det._min_increase:
            seg.mark(row + 1)  # the test's sum is at its minimum after this row: a rise starts next
        if not det.drift_detected:
            return None
        before: float | None
        if self.kind == "adwin":
            kept, kept_total = int(det.width), float(det.total)
            dropped = width + 1 - kept
            before = (total + x - kept_total) / dropped if dropped > 0 else None
            point, after = row - kept + 1, kept_total / kept
        else:
            if seg.point is None:  # no warning run (DDM) or minimum (Page-Hinkley): it began here
                seg.point, seg.point_n, seg.point_total = row, seg.n - 1, seg.total - x
            point = seg.point
            before = seg.point_total / seg.point_n if seg.point_n > 0 else None
            after = (seg.total - seg.point_total) / (seg.n - seg.point_n)
        self._segment = _Segment()  # river resets the detector on its next update: so do we
        self._warning = False
        if before is None or after <= before:
            return None
        return Change(row, point, before, after)

    def to_checkpoint(self) -> dict[str, Any]:
        """The detector and our state, to resume on another process with the same river version."""
        state = pickle.dumps((self._detector, self._segment, self._warning))
        return {
            "river": RIVER_VERSION,
            "kind": self.kind,
            "delta": self.delta,
            "rows": self.rows,
            "state": base64.b64encode(state).decode("ascii"),
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], kind: str | None = None) -> ConceptDetector:
        """A detector resumed from ``to_checkpoint``; refuses another river version, or another ``kind``
        when one is asked for (the state of one detector means nothing to another)."""
        written = checkpoint.get("river")
        if written != RIVER_VERSION:
            raise ValueError(
                f"ConceptDetector checkpoint: written with river {written}, this is river "
                f"{RIVER_VERSION}; start a new detector (its state does not carry over)"
            )
        found = checkpoint.get("kind")
        if found not in KINDS or (kind is not None and found != kind):
            raise ValueError(
                f"ConceptDetector checkpoint: kind {found!r}, expected {kind or ' or '.join(KINDS)}"
            )
        restored = cls(str(found), float(checkpoint["delta"]))
        detector, segment, warning = pickle.loads(base64.b64decode(checkpoint["state"]))
        if type(detector) is not type(restored._detector):
            raise ValueError(f"ConceptDetector checkpoint: holds a {type(detector).__name__}, not {found}")
        restored._detector, restored._segment, restored._warning = detector, segment, warning
        restored.rows = int(checkpoint["rows"])
        return restored


def _build(kind: str, delta: float) -> Any:
    if kind == "adwin":
        return drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
    if kind == "ddm":
        return drift.binary.DDM()
    return drift.PageHinkley(mode="up")
