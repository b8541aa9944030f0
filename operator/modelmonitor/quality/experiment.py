"""A champion against a challenger on one metric, judged after every interval (``sequential``'s mSPRT).

The operator and ``modelmonitor experiment replay`` both feed an ``ExperimentRun`` the NEW rows of
each variant every interval, look, and keep ``to_state()`` (small, plain JSON) until the next one.
What is tested is a mean over observations:

- per-row metrics, one observation a labelled request: ``accuracy`` (correct, 0/1), ``mae``
  (|error|), ``rmse`` (the squared error: the test and the effect are on the mean squared error, the
  value reported per variant is its square root), ``brier`` and ``logloss`` (binary, on the positive
  class's score), ``mape`` (|error| / |truth|; a zero truth is dropped) and ``outcome`` (what the
  request led to, as sent back: a click 0/1, a conversion, revenue);
- batch metrics, not a mean over rows (``auc``, ``f1``, ``precision``, ``recall``, ``r2``, ``ece``):
  ``metrics.realized`` on each batch of ``batch`` consecutive rows of a variant, the batch values
  tested. A batch where the metric is undefined (AUC with one class) is dropped and counted; up to
  ``batch - 1`` rows wait in the state for the next interval.

``positive_rate`` has no better direction, so it cannot pick a winner: it is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from modelmonitor.quality import BINARY, MULTICLASS, REGRESSION, TASKS
from modelmonitor.quality.labels import Labelled, labelled
from modelmonitor.quality.metrics import HIGHER_IS_BETTER, realized
from modelmonitor.quality.sequential import Arm, SequentialTest, pooled_sd, samples_needed

VARIANTS = ("champion", "challenger")
ROW_METRICS = ("accuracy", "mae", "rmse", "brier", "logloss", "mape", "outcome")
BATCH_METRICS = ("auc", "f1", "precision", "recall", "r2", "ece")
METRICS = (*ROW_METRICS, *BATCH_METRICS)
STATE_FORMAT = "modelmonitor.experiment/v1"
_REGRESSION = ("mae", "rmse", "mape", "r2")
SCORED = ("brier", "logloss", "auc", "ece")  # need the positive class's score: binary only
_STATISTIC = {
    "accuracy": "share of correct predictions", "mae": "mean absolute error", "rmse": "mean squared error",
    "brier": "mean Brier score", "logloss": "mean log loss", "mape": "mean absolute percentage error",
    "outcome": "mean outcome",
}  # fmt: skip


def task_for(metric: str, task: str | None = None) -> str:
    """The task ``metric`` needs: regression for mae, rmse, mape and r2; else binary classification
    unless ``task`` names multiclass (accuracy, f1, precision, recall only). ValueError on a clash."""
    if metric == "positive_rate":
        raise ValueError(
            "metric positive_rate has no better direction, so it cannot pick a winner; "
            f"compare on one of {', '.join(METRICS)}"
        )
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is unknown for an experiment; use one of {', '.join(METRICS)}")
    if task is not None and task not in TASKS:
        raise ValueError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")
    if metric == "outcome":
        return task or BINARY  # the outcome is a number as sent: no task coerces it
    if metric in _REGRESSION:
        if task not in (None, REGRESSION):
            raise ValueError(f"metric {metric} measures a regression; pass task {REGRESSION} or none")
        return REGRESSION
    if task == REGRESSION:
        raise ValueError(f"metric {metric} measures a classifier; use mae, rmse, mape or r2 for a regression")
    if task == MULTICLASS and metric in SCORED:
        raise ValueError(f"metric {metric} needs the positive class's score: binary classification only")
    return task or BINARY


def _higher(metric: str, better: str | None) -> bool:
    if better not in (None, "higher", "lower"):
        raise ValueError(f"better {better!r}: pass 'higher' or 'lower'")
    if metric == "outcome":
        return better != "lower"
    if better is not None and (better == "higher") != HIGHER_IS_BETTER[metric]:
        own = "higher" if HIGHER_IS_BETTER[metric] else "lower"
        raise ValueError(f"better {better!r}: {own} {metric} is better; 'better' is for the outcome metric")
    return HIGHER_IS_BETTER[metric]


def outcome_values(values: ArrayLike) -> tuple[NDArray[np.float64], int]:
    """Outcomes as numbers (true/false as 1/0, numeric text parsed) and how many were not numbers."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        out: NDArray[np.float64] = series.to_numpy(dtype=np.float64, na_value=math.nan)
    else:
        out = np.array([_outcome(v) for v in series.tolist()], dtype=np.float64)
    ok = np.isfinite(out)
    return out[ok], int((~ok).sum())


def _outcome(value: Any) -> float:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    try:
        return float(value)  # bools are 1/0; numeric text parses
    except (TypeError, ValueError):
        return math.nan


def _row_values(metric: str, data: Labelled) -> NDArray[np.float64]:
    """One value per row of ``data`` for a per-row metric; NaN where it has none."""
    t, p = data.y_true, data.y_pred
    if metric == "accuracy":
        return np.asarray(t == p, dtype=np.float64)
    if metric in ("mae", "rmse", "mape"):
        truth, error = t.astype(np.float64), p.astype(np.float64) - t.astype(np.float64)
        if metric == "mape":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(truth == 0.0, math.nan, np.abs(error / truth))
        return np.abs(error) if metric == "mae" else error * error
    if data.score is None:
        return np.full(len(t), math.nan)
    y, s = t.astype(np.float64), data.score.astype(np.float64)
    s = np.where((s >= 0.0) & (s <= 1.0), s, math.nan)  # a margin or logit is no probability
    if metric == "brier":
        return np.square(s - y)
    c = np.clip(s, np.finfo(np.float64).eps, 1.0 - np.finfo(np.float64).eps)  # as scikit-learn clips
    return -(y * np.log(c) + (1.0 - y) * np.log1p(-c))


@dataclass
class _Variant:
    """What one variant has given so far: its arm, the rows of a batch not yet full, the counts."""

    arm: Arm = field(default_factory=Arm)
    rows: int = 0  # usable rows fed (those of dropped batches included)
    dropped_rows: int = 0  # rows without a value: no score, a zero truth for mape, not a number
    dropped_batches: int = 0
    partial: dict[str, list[Any]] = field(default_factory=lambda: {"y_true": [], "y_pred": [], "score": []})

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "arm": self.arm.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Variant:
        counts = (int(data["rows"]), int(data["dropped_rows"]), int(data["dropped_batches"]))
        return cls(Arm.from_json(data["arm"]), *counts, {k: list(v) for k, v in data["partial"].items()})


@dataclass(frozen=True)
class Result:
    """One look. ``effect`` is challenger - champion on ``statistic`` (for rmse the mean squared
    error, for a batch metric the mean of the batch values), ``interval`` its always-valid interval
    (None before a verdict can be made), ``values`` the metric per variant, ``rows`` the usable rows
    fed per variant, ``observations`` what was tested (rows, or batches), ``dropped`` the rows and
    batches without a value, ``samples_needed`` the further rows per variant the interval would need
    to leave 0 were the effect and variances to hold (None when no estimate can be made)."""

    metric: str
    statistic: str
    decision: str  # promote | keep | continue
    winner: str | None
    effect: float | None
    interval: tuple[float | None, float | None]
    p_value: float
    alpha: float
    rows: dict[str, int]
    observations: dict[str, int]
    dropped: dict[str, dict[str, int]]  # {"rows": {variant: n}, "batches": {variant: n}}
    values: dict[str, float | None]
    samples_needed: dict[str, int] | None
    looks: int
    reason: str
    at: float | None = None  # unix seconds of the look, when given

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "interval": list(self.interval)}


class ExperimentRun:
    """The accumulated evidence of one experiment; see the module docstring for what is tested.

    ``confidence`` is 1 - alpha; ``min_rows`` the usable rows both variants need before any verdict;
    ``batch`` the rows a batch of a batch metric; ``mixing`` the mixture's tau as a share of the
    pooled standard deviation (``sequential``); ``better`` "higher" or "lower" for ``outcome``;
    ``positive`` the positive class (binary). ``state`` is an earlier ``to_state()`` to go on from.
    """

    def __init__(
        self,
        metric: str,
        *,
        task: str | None,
        confidence: float = 0.95,
        min_rows: int = 1000,
        batch: int = 100,
        mixing: float = 0.1,
        better: str | None = None,
        positive: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.task = task_for(metric, task)
        if not 0.5 < confidence < 1.0:
            raise ValueError(f"confidence {confidence}: pass a share between 0.5 and 1, such as 0.95")
        if min_rows < 1 or batch < 2:
            raise ValueError(f"min_rows {min_rows}, batch {batch}: pass at least 1 row and 2 rows a batch")
        self.metric, self.higher, self.positive = metric, _higher(metric, better), positive
        self.confidence, self.min_rows, self.batch, self.mixing = confidence, min_rows, batch, mixing
        self.batched = metric in BATCH_METRICS
        self._variants = {v: _Variant() for v in VARIANTS}
        self._test = SequentialTest(alpha=round(1.0 - confidence, 12), mixing=mixing)
        self._looks = 0
        if state is not None:
            self._restore(state)

    def add(self, variant: str, data: Labelled) -> None:
        """Fold in NEW labelled rows of ``variant`` ("champion" or "challenger")."""
        tally = self._variant(variant)
        if self.metric == "outcome":
            raise ValueError("metric outcome: feed the outcomes with add_outcomes, not labelled rows")
        if not self.batched:
            values = _row_values(self.metric, data)
            ok = np.isfinite(values)
            tally.arm.add(values[ok])
            tally.rows, tally.dropped_rows = tally.rows + int(ok.sum()), tally.dropped_rows + int((~ok).sum())
            return
        keep = np.ones(len(data), dtype=bool)
        if self.task == REGRESSION:
            keep = np.isfinite(data.y_true.astype(float)) & np.isfinite(data.y_pred.astype(float))
        if self.metric in SCORED:
            keep &= np.isfinite(data.score) if data.score is not None else False
        tally.rows, tally.dropped_rows = tally.rows + int(keep.sum()), tally.dropped_rows + int((~keep).sum())
        tally.partial["y_true"] += data.y_true[keep].tolist()
        tally.partial["y_pred"] += data.y_pred[keep].tolist()
        if self.metric in SCORED and data.score is not None:
            tally.partial["score"] += data.score[keep].tolist()
        while len(tally.partial["y_true"]) >= self.batch:
            batch = {k: v[: self.batch] for k, v in tally.partial.items()}
            tally.partial = {k: v[self.batch :] for k, v in tally.partial.items()}
            value = realized(
                self.task,
                np.array(batch["y_true"]),
                np.array(batch["y_pred"]),
                score=np.array(batch["score"], dtype=np.float64) if self.metric in SCORED else None,
                metrics=[self.metric],
                positive=1,  # labelled() has made the positive class 1 already
            )[self.metric]
            if value is None:
                tally.dropped_batches += 1
            else:
                tally.arm.add([value])

    def add_outcomes(self, variant: str, values: ArrayLike) -> None:
        """Fold in NEW outcomes of ``variant`` (metric ``outcome``); non-numbers dropped and counted."""
        tally = self._variant(variant)
        if self.metric != "outcome":
            raise ValueError(f"metric {self.metric}: feed labelled rows with add, not outcomes")
        numbers, dropped = outcome_values(values)
        tally.arm.add(numbers)
        tally.rows, tally.dropped_rows = tally.rows + len(numbers), tally.dropped_rows + dropped

    def add_frame(self, variant: str, frame: pd.DataFrame) -> None:
        """Fold in NEW captured rows (``__label``, ``__prediction``, ``__probabilities``, ``__ts``):
        coerced by ``labels.labelled`` for the task, or the labels as outcomes. Unlabelled rows are
        left out (feed them again once labelled)."""
        if self.metric != "outcome":
            self.add(variant, labelled(frame, self.task, positive=self.positive))
        elif "__label" in frame.columns:
            self.add_outcomes(variant, frame["__label"][frame["__label"].notna().to_numpy()])
        else:
            self._variant(variant)  # nothing to add, but a wrong name is still an error

    def _variant(self, variant: str) -> _Variant:
        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r} is unknown; use champion or challenger")
        return self._variants[variant]

    def look(self, now: float | None = None) -> Result:
        """Judge the evidence so far. A verdict only once both variants have ``min_rows`` usable rows:
        promote when the interval leaves 0 on the challenger's better side, keep on the champion's."""
        self._looks += 1
        a, b = self._variants["champion"].arm, self._variants["challenger"].arm
        ready = min(t.rows for t in self._variants.values()) >= self.min_rows and min(a.n, b.n) >= 2
        interval: tuple[float | None, float | None] = (None, None)
        p_value, decision, winner = 1.0, "continue", None
        if ready:
            look = self._test.look(a, b)
            interval, p_value = look.interval, look.p_value
            low, high = interval
            side = 0.0 if low is None or high is None else low + high  # its sign, once 0 is left
            if p_value <= self._test.alpha and side != 0.0:
                winner = "challenger" if (side > 0.0) == self.higher else "champion"
                decision = "promote" if winner == "challenger" else "keep"
        result = Result(
            metric=self.metric,
            statistic=self.statistic,
            decision=decision,
            winner=winner,
            effect=b.mean - a.mean if a.n and b.n else None,
            interval=interval,
            p_value=p_value,
            alpha=self._test.alpha,
            rows={v: t.rows for v, t in self._variants.items()},
            observations={v: t.arm.n for v, t in self._variants.items()},
            dropped={
                "rows": {v: t.dropped_rows for v, t in self._variants.items()},
                "batches": {v: t.dropped_batches for v, t in self._variants.items()},
            },
            values={v: self._value(t.arm) for v, t in self._variants.items()},
            samples_needed=dict.fromkeys(VARIANTS, 0) if winner else self._needed(),
            looks=self._looks,
            reason="",
            at=now,
        )
        return replace(result, reason=self._reason(ready, result))

    @property
    def statistic(self) -> str:
        """What the test is on, in words."""
        if self.batched:
            return f"mean {self.metric} of batches of {self.batch} rows"
        return _STATISTIC[self.metric]

    def _value(self, arm: Arm) -> float | None:
        if not arm.n:
            return None
        return math.sqrt(arm.mean) if self.metric == "rmse" else arm.mean

    def _needed(self) -> dict[str, int] | None:
        a, b = self._variants["champion"].arm, self._variants["challenger"].arm
        if min(a.n, b.n) < 2:
            return None
        tau2 = self._test.tau2 if self._test.tau2 is not None else (self.mixing * pooled_sd(a, b)) ** 2
        more = samples_needed(a, b, tau2, self._test.alpha)
        if more is None:
            return None
        scale, rows = (self.batch if self.batched else 1), [self._variants[v].rows for v in VARIANTS]
        return {v: max(m * scale, self.min_rows - r) for v, m, r in zip(VARIANTS, more, rows, strict=True)}

    def _reason(self, ready: bool, r: Result) -> str:
        rows, obs = r.rows, r.observations
        if not ready:  # too few rows, or (a batch metric) too few batches with a value
            short = min(rows.values()) < self.min_rows
            what, have = (f"{self.min_rows:,} rows", rows) if short else (f"2 {self.metric} batches", obs)
            return (
                f"fewer than {what} in a variant (champion {have['champion']:,}, "
                f"challenger {have['challenger']:,}): no verdict yet"
            )
        each = f"{rows['champion']:,} rows each"
        if rows["champion"] != rows["challenger"]:
            each = f"{rows['champion']:,} champion and {rows['challenger']:,} challenger rows"
        if self.batched:
            each += f" ({obs['champion']} and {obs['challenger']} batches of {self.batch})"
        on = "mean squared error " if self.metric == "rmse" else ""
        head = (
            f"challenger {_g(r.values['challenger'])} vs champion {_g(r.values['champion'])} "
            f"{self.metric}, {on}{_g(r.effect, '+')} [{_g(r.interval[0], '+')}, {_g(r.interval[1], '+')}]"
        )
        if r.decision != "continue":
            return f"{head}, p {r.p_value:.2g} < {r.alpha:.3g} after {each}"
        more = max((r.samples_needed or {}).values(), default=0)
        tail = f"; about {more:,} more rows a variant would settle it if the effect held" if more else ""
        return f"{head} still contains 0 (p {r.p_value:.2g} >= {r.alpha:.3g}) after {each}{tail}"

    def _settings(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "task": self.task, "confidence": self.confidence,
            "min_rows": self.min_rows, "batch": self.batch, "mixing": self.mixing,
            "higher": self.higher, "positive": self.positive,
        }  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        """Everything the next look needs, as plain JSON: the settings, per variant its arm, its
        partial batch (fewer than ``batch`` rows) and counts, the sequential test, the looks."""
        return {
            "format": STATE_FORMAT,
            "settings": self._settings(),
            "variants": {v: t.to_json() for v, t in self._variants.items()},
            "test": self._test.to_json(),
            "looks": self._looks,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"state: not an experiment state (expected format {STATE_FORMAT!r})")
        theirs = state.get("settings", {})
        changed = [
            f"{k} {theirs.get(k)!r} -> {v!r}" for k, v in self._settings().items() if theirs.get(k) != v
        ]
        if changed:
            raise ValueError(
                f"state: the experiment was run with other settings ({'; '.join(changed)}); "
                "its evidence does not carry over: start from an empty state"
            )
        self._variants = {v: _Variant.from_json(state["variants"][v]) for v in VARIANTS}
        self._test = SequentialTest.from_json(state["test"])
        self._looks = int(state["looks"])


def _g(x: float | None, sign: str = "") -> str:
    return "-" if x is None else f"{x:{sign}.3g}"


__all__ = ["BATCH_METRICS", "METRICS", "ROW_METRICS", "STATE_FORMAT", "VARIANTS", "ExperimentRun", "Result"]
__all__ += ["SCORED", "outcome_values", "task_for"]
