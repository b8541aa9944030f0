"""Concept drift on the error stream: detection delay on river's synthetic concept drifts, no alarm on
stationary errors, no change reported for a falling error, and a checkpoint that resumes exactly.

The drifted streams are abrupt at row 5,000: the first 5,000 rows of one concept, then the next
concept (``itertools.chain``; river 0.26's ``ConceptDriftStream(width=1)`` overflows ``math.exp``).
A fixed classifier trained on the first concept gives the 0/1 errors, whose rate jumps on the second.
"""

from __future__ import annotations

import base64
import builtins
import copy
import itertools
import json
import math
import pickle
import re
import statistics
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from river import drift
from river.datasets import synth
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from modelmonitor.quality import concept
from modelmonitor.quality.concept import KINDS, ConceptDetector

DRIFT_AT = 5000
# Median ADWIN delay (rows) over 10 seeds, measured with river 0.26 (detections come every 32 rows).
ANCHORS = {"stagger": 23, "agrawal": 23, "sea": 151}
DATASETS: dict[str, tuple[Callable[[int, int], Any], int, int, Callable[[], Any], int]] = {
    # name: (generator(concept, seed), first concept, second concept, model, rows after the drift)
    "stagger": (
        lambda f, s: synth.STAGGER(f, seed=s),
        0,
        2,
        lambda: DecisionTreeClassifier(random_state=0),
        500,
    ),
    "agrawal": (
        lambda f, s: synth.Agrawal(f, seed=s),
        0,
        2,
        lambda: DecisionTreeClassifier(random_state=0),
        500,
    ),
    "sea": (lambda f, s: synth.SEA(f, seed=s), 0, 3, GaussianNB, 1000),
}


def frame(rows: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*itertools.islice(rows, n), strict=True)
    return np.array([list(x.values()) for x in xs], dtype=float), np.array(ys)


def error_streams(name: str, seeds: range) -> list[np.ndarray]:
    """0/1 errors of one classifier, fitted on the first concept, over each seed's drifted stream."""
    make, first, second, model, after = DATASETS[name]
    fitted = model().fit(*frame(iter(make(first, 10_000)), 5000))
    streams = []
    for seed in seeds:
        rows = itertools.chain(
            itertools.islice(iter(make(first, seed)), DRIFT_AT), iter(make(second, seed + 1))
        )
        x, y = frame(rows, DRIFT_AT + after)
        streams.append((fitted.predict(x) != y).astype(int))
    return streams


def bernoulli(p0: float, p1: float, seed: int, rows: int = 8000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.where(np.arange(rows) < DRIFT_AT, p0, p1)
    return (rng.random(rows) < p).astype(int)


@pytest.mark.parametrize("name", list(ANCHORS))
def test_adwin_delay_on_abrupt_concept_drift_is_near_the_anchor(name: str) -> None:
    delays = []
    for errors in error_streams(name, range(10)):
        changes = ConceptDetector("adwin").update(errors)
        assert [c.row for c in changes if c.row < DRIFT_AT] == []  # the fixed model's errors are stationary
        assert changes, f"{name}: no change within {len(errors) - DRIFT_AT} rows of the drift"
        first = changes[0]
        assert first.error_after > first.error_before
        assert first.change_point <= first.row
        delays.append(first.row - DRIFT_AT)
    median = statistics.median(delays)
    print(f"{name}: ADWIN delays {delays}, median {median} (anchor {ANCHORS[name]})")
    assert median <= 1.5 * ANCHORS[name]


@pytest.mark.parametrize("seed", range(5))
def test_adwin_raises_no_alarm_on_100k_stationary_errors(seed: int) -> None:
    errors = bernoulli(0.2, 0.2, seed, rows=100_000)
    assert ConceptDetector("adwin").update(errors) == []
    plain = drift.ADWIN()  # and not because our filter hid it: river's own ADWIN stays quiet too
    alarms = 0
    for e in errors:
        plain.update(int(e))
        alarms += plain.drift_detected
    assert alarms == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_planted_rise_is_found_with_its_before_and_after(kind: str) -> None:
    errors = bernoulli(0.1, 0.3, seed=11)
    changes = ConceptDetector(kind).update(errors)
    after = [c for c in changes if c.row >= DRIFT_AT]
    assert after and after[0].row < DRIFT_AT + 1000
    assert all(c.error_after > c.error_before for c in changes)
    assert all(c.change_point <= c.row for c in changes)
    first = after[0]
    print(f"{kind}: {first}")
    if kind != "ddm":  # DDM is known to alarm on stationary streams; ADWIN and Page-Hinkley did not here
        assert [c for c in changes if c.row < DRIFT_AT] == []
    if kind == "ddm":  # its warning run starts near the planted change
        assert abs(first.change_point - DRIFT_AT) < 200
        assert first.error_after == pytest.approx(errors[first.change_point : first.row + 1].mean())


def test_adwin_splits_its_window_at_the_planted_rise() -> None:
    errors = bernoulli(0.05, 0.6, seed=12)
    change = ConceptDetector("adwin").update(errors)[0]
    assert change.error_before == pytest.approx(0.05, abs=0.02)
    # The kept window starts before the change (an early bound: ADWIN drops whole buckets).
    assert DRIFT_AT - 1024 <= change.change_point <= DRIFT_AT
    assert change.error_after > change.error_before + 0.05
    assert change.error_after == pytest.approx(errors[change.change_point : change.row + 1].mean())


@pytest.mark.parametrize("kind", KINDS)
def test_a_falling_error_is_not_concept_drift(kind: str) -> None:
    errors = bernoulli(0.4, 0.05, seed=13)
    assert ConceptDetector(kind).update(errors) == []
    if kind == "adwin":  # river did see the change: the rule is what drops it
        plain = drift.ADWIN()
        seen = []
        for row, e in enumerate(errors):
            plain.update(int(e))
            if plain.drift_detected:
                seen.append(row)
        assert any(row >= DRIFT_AT for row in seen)


def test_absolute_errors_of_a_regression_are_taken() -> None:
    rng = np.random.default_rng(14)
    errors = np.abs(rng.normal(0, np.where(np.arange(8000) < DRIFT_AT, 1.0, 3.0)))
    changes = ConceptDetector("adwin").update(errors)
    assert changes and changes[0].row >= DRIFT_AT and changes[0].error_after > changes[0].error_before


@pytest.mark.parametrize("kind", KINDS)
def test_a_restored_checkpoint_fires_where_an_uninterrupted_detector_does(kind: str) -> None:
    errors = bernoulli(0.1, 0.35, seed=15)
    whole = ConceptDetector(kind).update(errors)
    first = ConceptDetector(kind)
    early = first.update(errors[:3000])
    checkpoint = json.loads(json.dumps(first.to_checkpoint()))
    restored = ConceptDetector.from_checkpoint(checkpoint, kind=kind)
    assert restored.rows == 3000
    late = restored.update(errors[3000:], start_row=3000)
    assert whole and early + late == whole
    # Without start_row the rows continue from the checkpoint's count: the same numbering.
    again = ConceptDetector.from_checkpoint(checkpoint).update(errors[3000:])
    assert again == late


def test_a_checkpoint_of_another_river_or_kind_is_refused() -> None:
    checkpoint = ConceptDetector("adwin").to_checkpoint()
    assert {"river", "kind", "delta", "rows", "state"} <= set(checkpoint)
    with pytest.raises(ValueError, match=re.escape("river 0.1.0")):
        ConceptDetector.from_checkpoint(checkpoint | {"river": "0.1.0"})
    with pytest.raises(ValueError, match="kind 'adwin', expected ddm"):
        ConceptDetector.from_checkpoint(checkpoint, kind="ddm")
    with pytest.raises(ValueError, match="holds a ADWIN"):
        ConceptDetector.from_checkpoint(checkpoint | {"kind": "ddm"})


def test_ddm_refuses_errors_that_are_not_0_or_1() -> None:
    detector = ConceptDetector("ddm")
    with pytest.raises(ValueError, match=re.escape("DDM takes 0/1 errors only, got 0.5")):
        detector.update([0, 1, 0.5])
    assert detector.rows == 0
    with pytest.raises(ValueError, match="not a finite number"):
        ConceptDetector("adwin").update([0.1, float("nan")])


@pytest.mark.parametrize(("kind", "delta"), [("kswin", 0.002), ("adwin", 0.0), ("adwin", 1.5)])
def test_bad_settings_are_refused(kind: str, delta: float) -> None:
    with pytest.raises(ValueError, match="ConceptDetector"):
        ConceptDetector(kind, delta)


# A checkpoint lives in a ConfigMap that namespace users can edit: what it holds must never run.
RAN: list[str] = []


class _Payload:
    """Unpickling this would call ``RAN.append``: the test sees whether anything ran."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (RAN.append, ("unpickled",))


def checkpoint_at(kind: str, rows: int = 3000, seed: int = 15) -> dict[str, Any]:
    detector = ConceptDetector(kind)
    detector.update(bernoulli(0.1, 0.35, seed=seed, rows=rows))
    loaded: dict[str, Any] = json.loads(json.dumps(detector.to_checkpoint(), allow_nan=False))
    return loaded


def edited(checkpoint: dict[str, Any], part: str, field: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(checkpoint)
    (out if part == "top" else out["state"][part])[field] = value
    return out


def test_the_checkpoint_is_plain_json_with_its_format_and_numbers() -> None:
    checkpoint = ConceptDetector("ddm").to_checkpoint()
    text = json.dumps(checkpoint, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert checkpoint["format"] == "modelmonitor.concept/v1"
    assert {"format", "river", "kind", "delta", "rows", "state"} == set(checkpoint)
    assert json.loads(text)["state"]["river"]["_ps_min"] is None  # DDM's "no minimum yet"


@pytest.mark.parametrize("kind", KINDS)
def test_a_pickle_payload_or_a_string_for_a_number_is_refused_and_nothing_runs(kind: str) -> None:
    checkpoint = checkpoint_at(kind)
    payload = base64.b64encode(pickle.dumps(_Payload())).decode("ascii")
    number = "_p.n" if kind == "ddm" else "_x_mean.n" if kind == "page-hinkley" else "_drift_detected"
    bad = [
        edited(checkpoint, "top", "state", payload),  # the old pickle checkpoint's shape
        edited(checkpoint, "river", number, payload),
        edited(checkpoint, "river", number, "5"),
        edited(checkpoint, "river", number, [1]),
        edited(checkpoint, "ours", "total", "12.0"),
        edited(checkpoint, "ours", "n", 3000.5),
        edited(checkpoint, "ours", "warning", 0),  # a number where true/false belongs
        edited(checkpoint, "ours", "n", True),  # and true where a number belongs
        edited(checkpoint, "ours", "total", 10**400),  # an integer no float can hold
        edited(checkpoint, "top", "rows", "3000"),
        edited(checkpoint, "top", "delta", "0.002"),
        edited(checkpoint, "river", "extra", 1),
    ]
    if kind == "adwin":
        bad.append(edited(checkpoint, "river", "helper_state", payload))
        bad.append(edited(checkpoint, "river", "helper_args", [0.002, "32", 5, 5, 10]))
    for broken in bad:
        with pytest.raises(ValueError, match="ConceptDetector checkpoint"):
            ConceptDetector.from_checkpoint(json.loads(json.dumps(broken)))
    without = copy.deepcopy(checkpoint)
    del without["state"]["ours"]["point"]
    with pytest.raises(ValueError, match="expected the fields"):
        ConceptDetector.from_checkpoint(without)
    with pytest.raises(ValueError, match="a str, expected an object"):
        ConceptDetector.from_checkpoint(payload)  # type: ignore[arg-type]
    assert RAN == []


def test_malformed_adwin_window_bytes_are_refused_before_rust_reads_them() -> None:
    checkpoint = checkpoint_at("adwin")
    raw = base64.b64decode(checkpoint["state"]["river"]["helper_state"])
    width_at = 8 + 4 + 8 + 8 * 4  # after delta, clock, max_buckets, 2 settings, total and variance

    def patched(offset: int, fmt: str, value: float) -> bytes:
        out = bytearray(raw)
        struct.pack_into(fmt, out, offset, value)
        return bytes(out)

    broken = [
        raw[:10],
        raw[:-1],
        raw + b"\0",
        b"\xff" * len(raw),
        patched(width_at, "<d", 12345.0),  # a width its buckets do not hold
        patched(width_at, "<d", float("nan")),
        patched(8, "<i", 0),  # clock 0 would divide by zero in Rust
        patched(len(raw) - 28, "<d", 0.5),  # the settings at the end disagree
    ]
    for state in broken:
        bad = edited(checkpoint, "river", "helper_state", base64.b64encode(state).decode("ascii"))
        with pytest.raises(ValueError, match="helper_state"):
            ConceptDetector.from_checkpoint(bad)
    with pytest.raises(ValueError, match="not base64"):
        ConceptDetector.from_checkpoint(edited(checkpoint, "river", "helper_state", "%%%"))


def _no_code(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the checkpoint made the restore run code")


@pytest.mark.parametrize("kind", KINDS)
def test_a_checkpoint_edited_to_other_numbers_restores_and_stays_a_valid_detector(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, _no_code)
    monkeypatch.setattr(builtins, "eval", _no_code)
    monkeypatch.setattr(builtins, "exec", _no_code)
    checkpoint = checkpoint_at(kind)
    checkpoint["rows"] = 7
    checkpoint["state"]["ours"] |= {"n": 40, "total": 3.5, "point": None, "point_n": 0}
    river_state = checkpoint["state"]["river"]
    if kind == "ddm":
        river_state |= {"_p.n": 40, "_p._mean": 0.1, "_p_min": None, "_s_min": None, "_ps_min": None}
    if kind == "page-hinkley":
        river_state |= {"_x_mean.n": 40, "_x_mean._mean": 0.1, "_sum_increase": -2, "_min_increase": -3.0}
    if kind == "adwin":  # the window's sum, in river's own bytes: the buckets are left as they were
        raw = bytearray(base64.b64decode(river_state["helper_state"]))
        struct.pack_into("<d", raw, 8 + 4 + 8 + 8 * 2, 123.0)
        river_state["helper_state"] = base64.b64encode(bytes(raw)).decode("ascii")
    restored = ConceptDetector.from_checkpoint(json.loads(json.dumps(checkpoint)), kind=kind)
    assert restored.rows == 7 and restored._segment.n == 40 and restored._segment.total == 3.5
    detector = restored._detector
    if kind == "ddm":
        assert (detector._p.n, detector._p.get(), detector._p_min, detector._ps_min) == (
            40,
            0.1,
            None,
            math.inf,
        )
    if kind == "page-hinkley":
        assert (detector._x_mean.n, detector._sum_increase, detector._min_increase) == (40, -2, -3.0)
    if kind == "adwin":
        assert detector.total == 123.0
    # Still a detector: it takes more errors and finds the planted rise, with a rise's before and after.
    changes = restored.update(bernoulli(0.1, 0.35, seed=16, rows=8000), start_row=0)
    assert any(c.row >= DRIFT_AT for c in changes)
    assert all(c.error_after > c.error_before and c.change_point <= c.row for c in changes)
    assert restored.rows == 8007


def test_the_module_never_imports_pickle() -> None:
    source = Path(concept.__file__).read_text(encoding="utf-8")
    assert "import pickle" not in source
    assert re.search(r"\bpickle\.|\beval\(|\bexec\(", source) is None


def test_a_panic_in_rust_reading_the_window_comes_out_as_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = checkpoint_at("adwin")
    raw = base64.b64decode(checkpoint["state"]["river"]["helper_state"])
    monkeypatch.setattr(concept, "_check_window", lambda raw, args: None)  # let Rust read them
    bad = edited(checkpoint, "river", "helper_state", base64.b64encode(raw[:-1]).decode("ascii"))
    with pytest.raises(ValueError, match="is not ADWIN's state"):  # Rust panicked: a BaseException
        ConceptDetector.from_checkpoint(bad)


def test_an_adwin_checkpoint_grows_with_the_log_of_its_window() -> None:
    errors = bernoulli(0.2, 0.2, seed=17, rows=100_000)  # stationary: the window is never cut
    sizes = {}
    for rows in (1000, 10_000, 100_000):
        detector = ConceptDetector("adwin")
        assert detector.update(errors[:rows]) == []
        sizes[rows] = len(json.dumps(detector.to_checkpoint()))
    print(f"ADWIN checkpoint JSON bytes by rows: {sizes}")
    # ADWIN's buckets are exponential: 100 times the rows is less than twice the size.
    assert sizes[1000] < sizes[10_000] < sizes[100_000] < 2 * sizes[1000]
