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

A checkpoint is plain JSON, kept in a ConfigMap that the monitor's namespace users can edit, so it is
restored without pickle or eval: each detector is rebuilt from its kind and settings, then given its
state field by field, and only numbers (or true/false) are taken where numbers are kept. ADWIN's
window lives in river's Rust code; its state is river's own serialisation of it (bincode bytes,
base64 in the JSON), which is checked field by field here, since Rust panics on bytes it cannot
read, before Rust reads it. A checkpoint is taken only by the river version that wrote it.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from river import drift
from river.__version__ import __version__ as RIVER_VERSION
from river._river_rust.drift import AdaptiveWindowing

from modelmonitor.quality import DETECTORS as KINDS


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
        """The detector and our state as plain JSON numbers, to resume with the same river version."""
        seg = self._segment
        ours = {name: getattr(seg, name) for name in _OURS if name != "warning"} | {"warning": self._warning}
        detector: dict[str, Any] = {name: _number(_get(self._detector, name)) for name in _FIELDS[self.kind]}
        if self.kind == "adwin":
            helper = self._detector._helper
            detector["helper_args"] = list(helper.__getnewargs__())
            detector["helper_state"] = base64.b64encode(helper.__getstate__()).decode("ascii")
        return {
            "format": FORMAT,
            "river": RIVER_VERSION,
            "kind": self.kind,
            "delta": self.delta,
            "rows": self.rows,
            "state": {"detector": type(self._detector).__name__, "river": detector, "ours": ours},
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], kind: str | None = None) -> ConceptDetector:
        """A detector resumed from ``to_checkpoint``; refuses another river version or format, another
        ``kind`` when one is asked for (the state of one detector means nothing to another), and any
        field missing, unknown or of another type than a number where a number belongs."""
        if not isinstance(checkpoint, dict):
            raise ValueError(f"{_WHERE}: a {type(checkpoint).__name__}, expected an object")
        if checkpoint.get("format") != FORMAT:
            raise ValueError(f"{_WHERE}: format {checkpoint.get('format')!r}, expected {FORMAT!r}")
        written = checkpoint.get("river")
        if written != RIVER_VERSION:
            raise ValueError(
                f"{_WHERE}: written with river {written}, this is river "
                f"{RIVER_VERSION}; start a new detector (its state does not carry over)"
            )
        found = checkpoint.get("kind")
        if found not in KINDS or (kind is not None and found != kind):
            raise ValueError(f"{_WHERE}: kind {found!r}, expected {kind or ' or '.join(KINDS)}")
        restored = cls(str(found), _typed(checkpoint, "delta", float))
        restored.rows = _typed(checkpoint, "rows", int, low=0)
        state = _mapping(checkpoint, "state", {"detector", "river", "ours"})
        held = state["detector"]
        if held != type(restored._detector).__name__:
            raise ValueError(f"{_WHERE}: holds a {held}, not {found}")
        restored._segment, restored._warning = _restore_segment(_mapping(state, "ours", set(_OURS)))
        extra = {"helper_args", "helper_state"} if found == "adwin" else set()
        fields = _mapping(state, "river", set(_FIELDS[str(found)]) | extra)
        _restore_detector(restored._detector, str(found), fields)
        return restored


FORMAT = "modelmonitor.concept/v1"
_WHERE = "ConceptDetector checkpoint"
# The state of each river detector, as attributes (a dot reaches into river's running Mean), and what
# each holds: "bool", "count" (a number >= 0), "number", "unit" (a number in 0..1), or "sentinel" (a
# number, or null for the value a fresh detector holds there: None or infinity, "no minimum yet").
_FIELDS: dict[str, dict[str, str]] = {
    "adwin": {"_drift_detected": "bool"},
    "ddm": {
        "_drift_detected": "bool",
        "_warning_detected": "bool",
        "_p.n": "count",
        "_p._mean": "unit",
        "_p_min": "sentinel",
        "_s_min": "sentinel",
        "_ps_min": "sentinel",
    },
    "page-hinkley": {
        "_drift_detected": "bool",
        "_x_mean.n": "count",
        "_x_mean._mean": "number",
        "_sum_increase": "number",
        "_sum_decrease": "number",
        "_min_increase": "sentinel",
        "_max_decrease": "number",
    },
}
_OURS = ("n", "total", "point", "point_n", "point_total", "warning")
_ADWIN_SETTINGS = ("delta", "clock", "max_buckets", "min_window_length", "grace_period")


def _build(kind: str, delta: float) -> Any:
    if kind == "adwin":
        return drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
    if kind == "ddm":
        return drift.binary.DDM()
    return drift.PageHinkley(mode="up")


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _set(obj: Any, path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        obj = getattr(obj, parent)
    setattr(obj, name, value)


def _number(value: Any) -> Any:
    """``value`` for JSON: None and infinities (a fresh detector's "nothing yet") become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_number(value: Any) -> bool:
    """A finite int or float (bool is an int to Python, not a number here; nor is an int past float)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _typed(holder: dict[str, Any], key: str, kind: type, low: float | None = None) -> Any:
    """``holder[key]`` if it is of ``kind`` (a float field takes an int too), at least ``low``."""
    value: Any = holder.get(key)
    fits = isinstance(value, bool) if kind is bool else _is_number(value)
    if kind is int and not isinstance(value, int):
        fits = False
    if not fits or (low is not None and value < low):
        need = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        floor = f" >= {low}" if low is not None and kind is not bool else ""
        raise ValueError(f"{_WHERE}: {key} is {value!r}, expected {need}{floor}")
    return float(value) if kind is float else value


def _mapping(holder: dict[str, Any], key: str, keys: set[str]) -> dict[str, Any]:
    """``holder[key]``, an object with exactly ``keys``."""
    value = holder.get(key)
    if not isinstance(value, dict) or set(value) != keys:
        found = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValueError(f"{_WHERE}: {key} holds {found}, expected the fields {sorted(keys)}")
    return value


def _restore_segment(ours: dict[str, Any]) -> tuple[_Segment, bool]:
    seg = _Segment(n=_typed(ours, "n", int, low=0), total=_typed(ours, "total", float))
    seg.point = None if ours["point"] is None else _typed(ours, "point", int, low=0)
    seg.point_n = _typed(ours, "point_n", int, low=0)
    seg.point_total = _typed(ours, "point_total", float)
    if seg.point_n > seg.n:
        raise ValueError(f"{_WHERE}: ours.point_n {seg.point_n} is more than ours.n {seg.n}")
    return seg, _typed(ours, "warning", bool)


def _restore_detector(detector: Any, kind: str, fields: dict[str, Any]) -> None:
    """Set the state in ``fields`` on a fresh ``detector`` of ``kind``, after checking every value."""
    values: dict[str, Any] = {}
    for name, held in _FIELDS[kind].items():
        if held == "sentinel" and fields[name] is None:
            values[name] = _get(detector, name)  # the fresh detector's None or infinity
        elif held == "bool":
            values[name] = _typed(fields, name, bool)
        else:
            low = 0.0 if held in ("count", "unit") else None
            values[name] = _typed(fields, name, float, low=low)
            if held == "unit" and values[name] > 1:
                raise ValueError(f"{_WHERE}: {name} is {values[name]}, expected a number in 0..1")
    minima = [values[name] for name in ("_p_min", "_s_min", "_ps_min")] if kind == "ddm" else []
    if len({m is None or math.isinf(m) for m in minima}) > 1:  # DDM sets its three minima together
        raise ValueError(f"{_WHERE}: _p_min, _s_min and _ps_min must be all null or all numbers")
    if kind == "adwin":
        detector._helper = _adwin_helper(detector, fields["helper_args"], fields["helper_state"])
    for name, value in values.items():
        _set(detector, name, value)


def _adwin_helper(detector: Any, args: Any, state: Any) -> Any:
    """river's Rust window from its constructor arguments and its serialised state (bincode bytes).

    The bytes are checked here before Rust reads them: a malformed state makes Rust panic (a
    ``BaseException`` that prints a backtrace), and an inconsistent one would panic later, on update.
    """
    expected = [getattr(detector, name) for name in _ADWIN_SETTINGS]
    if (
        not isinstance(args, list)
        or len(args) != len(expected)
        or not all(
            _is_number(a) and a == e and type(a) is type(e) for a, e in zip(args, expected, strict=False)
        )
    ):
        raise ValueError(f"{_WHERE}: helper_args {args!r}, expected {expected} (this detector's settings)")
    if not isinstance(state, str):
        raise ValueError(f"{_WHERE}: helper_state is a {type(state).__name__}, expected base64 text")
    try:
        raw = base64.b64decode(state, validate=True)
    except ValueError as error:
        raise ValueError(f"{_WHERE}: helper_state is not base64 ({error})") from error
    _check_window(raw, expected)
    helper = AdaptiveWindowing(*expected)
    try:
        helper.__setstate__(raw)
    except BaseException as error:  # Rust's panic is a BaseException; let interrupts through
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        raise ValueError(f"{_WHERE}: helper_state is not ADWIN's state ({error})") from error
    return helper


def _check_window(raw: bytes, args: list[Any]) -> None:
    """ADWIN's state bytes (river 0.26's bincode layout) are complete, finite and consistent."""
    delta, clock, max_buckets, min_window, grace = args
    head = struct.Struct("<diQdddddd iiii Q")
    if len(raw) < head.size:
        raise ValueError(f"{_WHERE}: helper_state holds {len(raw)} bytes, too few for ADWIN's state")
    fields = head.unpack_from(raw)
    settings, sums, n_lists = fields[:5], fields[5:9], fields[13]  # then 4 counters, not checked
    if settings != (delta, clock, max_buckets, float(min_window), float(grace)):
        raise ValueError(f"{_WHERE}: helper_state holds the settings {settings}, not {tuple(args)}")
    width, total_width = sums[2], sums[3]
    if not all(map(math.isfinite, sums)) or width < 0 or total_width < 0:
        raise ValueError(f"{_WHERE}: helper_state holds the sums {sums}: not a window")
    if not 1 <= n_lists <= 63:
        raise ValueError(f"{_WHERE}: helper_state holds {n_lists} bucket lists, expected 1 to 63")
    offset, rows = head.size, 0
    bucket = struct.Struct(f"<QQQ{max_buckets + 1}dQ{max_buckets + 1}d")
    for level in range(n_lists):
        if offset + bucket.size > len(raw):
            raise ValueError(f"{_WHERE}: helper_state ends inside bucket list {level}")
        size, used, n_totals, *values = bucket.unpack_from(raw, offset)
        if (size, n_totals, values[max_buckets + 1]) != (max_buckets, max_buckets + 1, max_buckets + 1):
            raise ValueError(f"{_WHERE}: helper_state bucket list {level} is not {max_buckets + 1} long")
        # River keeps every list but the first non-empty; an empty one would panic when ADWIN drops it.
        if not (level == 0 or used > 0) or used > max_buckets or not all(map(math.isfinite, values)):
            raise ValueError(f"{_WHERE}: helper_state bucket list {level} holds {used} buckets or a NaN")
        rows += used << level
        offset += bucket.size
    if rows != width:
        raise ValueError(f"{_WHERE}: helper_state's buckets hold {rows} rows, its width is {width}")
    tail = struct.Struct("<diQii")
    if len(raw) - offset != tail.size or tail.unpack_from(raw, offset) != tuple(args):
        raise ValueError(f"{_WHERE}: helper_state does not end with the settings {tuple(args)}")
