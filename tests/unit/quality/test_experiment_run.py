"""ExperimentRun on captured frames, as the operator feeds it: verdicts, directions, batches, state."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, root_mean_squared_error

from modelmonitor.quality.experiment import ExperimentRun, Result, task_for

_clock = iter(range(10**9))


def captured(labels: Any, predictions: Any, probabilities: Any = None) -> pd.DataFrame:
    """A window as the sidecar captures it: one row per request, in prediction-time order."""
    labels, predictions = list(labels), list(predictions)
    n = len(labels)
    return pd.DataFrame({
        "__ts": [float(next(_clock)) for _ in range(n)], "__label": labels, "__prediction": predictions,
        "__probabilities": list(probabilities) if probabilities is not None else [None] * n,
        "__label_ts": [0.0] * n,
    })  # fmt: skip


def classifier(rng: np.random.Generator, n: int, accuracy: float) -> pd.DataFrame:
    y = rng.integers(0, 2, n)
    right = rng.random(n) < accuracy
    return captured(y.tolist(), np.where(right, y, 1 - y).tolist())


def scored(
    rng: np.random.Generator, n: int, separation: float
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-(separation * (2 * y - 1) + rng.normal(0, 1, n))))
    return captured(y.tolist(), (score >= 0.5).astype(int).tolist(), score.tolist()), y, score


def run_until_verdict(run: ExperimentRun, feed: Any, intervals: int = 40) -> list[Result]:
    results = []
    for _ in range(intervals):
        for variant in ("champion", "challenger"):
            run.add_frame(variant, feed(variant))
        results.append(run.look())
        if results[-1].decision != "continue":
            break
    return results


def test_a_better_challenger_is_promoted_and_a_worse_one_kept() -> None:
    rng = np.random.default_rng(11)
    rates = {"champion": 0.80, "challenger": 0.85}
    promoted = run_until_verdict(
        ExperimentRun("accuracy", task=None), lambda v: classifier(rng, 500, rates[v])
    )
    first, last = promoted[0], promoted[-1]
    assert first.decision == "continue" and first.interval == (None, None) and first.p_value == 1.0
    assert first.reason == "fewer than 1,000 rows in a variant (champion 500, challenger 500): no verdict yet"
    assert (last.decision, last.winner) == ("promote", "challenger")
    low, high = last.interval
    assert low is not None and high is not None and 0 < low < last.effect < high  # type: ignore[operator]
    assert last.p_value <= 0.05 and last.rows == dict.fromkeys(
        ("champion", "challenger"), 500 * len(promoted)
    )
    assert last.values["challenger"] == pytest.approx(0.85, abs=0.03)
    assert last.reason.startswith(f"challenger {last.values['challenger']:.3g} vs champion ")
    assert "rows each" in last.reason and "< 0.05" in last.reason
    assert last.samples_needed == {"champion": 0, "challenger": 0}
    assert last.looks == len(promoted) and json.loads(json.dumps(last.to_dict(), allow_nan=False))

    rates = {"champion": 0.85, "challenger": 0.80}
    kept = run_until_verdict(ExperimentRun("accuracy", task=None), lambda v: classifier(rng, 500, rates[v]))
    assert (kept[-1].decision, kept[-1].winner) == ("keep", "champion")


def test_below_min_rows_it_always_continues_however_large_the_difference() -> None:
    rng = np.random.default_rng(3)
    run = ExperimentRun("accuracy", task=None, min_rows=1000)
    rates = {"champion": 0.5, "challenger": 1.0}
    results = run_until_verdict(run, lambda v: classifier(rng, 300, rates[v]), intervals=3)
    assert [r.decision for r in results] == ["continue"] * 3
    assert results[-1].effect == pytest.approx(0.5, abs=0.1) and results[-1].winner is None
    assert results[-1].samples_needed is not None and results[-1].samples_needed["champion"] == 100


def test_a_close_race_continues_and_says_why() -> None:
    rng = np.random.default_rng(5)
    run = ExperimentRun("accuracy", task=None, min_rows=500)
    results = run_until_verdict(run, lambda v: classifier(rng, 1000, 0.8), intervals=3)
    last = results[-1]
    assert last.decision == "continue" and last.p_value > 0.05
    low, high = last.interval
    assert low is not None and high is not None and low < 0 < high
    assert "still contains 0" in last.reason and "3,000 rows each" in last.reason


def test_rmse_is_tested_on_the_squared_error_and_lower_is_better() -> None:
    rng = np.random.default_rng(8)
    truth: dict[str, list[np.ndarray]] = {"champion": [], "challenger": []}
    preds: dict[str, list[np.ndarray]] = {"champion": [], "challenger": []}
    noise = {"champion": 1.0, "challenger": 0.8}

    def feed(variant: str) -> pd.DataFrame:
        y = rng.normal(10, 3, 400)
        p = y + rng.normal(0, noise[variant], 400)
        truth[variant].append(y)
        preds[variant].append(p)
        return captured(y.tolist(), p.tolist())

    results = run_until_verdict(ExperimentRun("rmse", task=None, min_rows=400), feed)
    last = results[-1]
    assert (last.decision, last.winner, last.statistic) == ("promote", "challenger", "mean squared error")
    for variant in ("champion", "challenger"):
        y, p = np.concatenate(truth[variant]), np.concatenate(preds[variant])
        assert last.values[variant] == pytest.approx(root_mean_squared_error(y, p), rel=1e-9)
    assert last.effect == pytest.approx(last.values["challenger"] ** 2 - last.values["champion"] ** 2)
    assert "mean squared error -" in last.reason and last.effect is not None and last.effect < 0


def test_outcomes_as_sent_and_which_way_is_better() -> None:
    def conversions(seed: int, better: str | None) -> list[Result]:
        rng = np.random.default_rng(seed)
        rates = {"champion": 0.10, "challenger": 0.13}
        run = ExperimentRun("outcome", task=None, min_rows=1000, better=better)
        yes, no = [True, 1, "1", " TRUE", 1.0], [False, 0, "0", "false"]  # as feedback sends them

        def feed(variant: str) -> pd.DataFrame:
            converted = rng.random(2000) < rates[variant]
            labels: list[Any] = [yes[i % 5] if c else no[i % 4] for i, c in enumerate(converted)]
            labels[:2] = ["n/a", None]  # not a number (dropped, counted); not labelled yet (left out)
            return captured(labels, [0] * len(labels))

        return run_until_verdict(run, feed)

    higher = conversions(1, None)[-1]
    assert (higher.decision, higher.winner, higher.statistic) == ("promote", "challenger", "mean outcome")
    assert (
        higher.dropped["rows"]["champion"] == higher.looks and higher.rows["champion"] == 1998 * higher.looks
    )
    assert higher.values["challenger"] == pytest.approx(0.13, abs=0.02)
    lower = conversions(1, "lower")[-1]  # the same data, when fewer is better (a churn)
    assert (lower.decision, lower.winner) == ("keep", "champion")


def test_auc_in_batches_drops_one_class_batches_and_counts_them() -> None:
    rng = np.random.default_rng(21)
    run = ExperimentRun("auc", task=None, min_rows=300, batch=100)
    frame, y, score = scored(rng, 1000, 1.0)
    y[300:400], score[300:400] = 0, rng.random(100) * 0.5  # one batch has negatives only
    frame = captured(y.tolist(), (score >= 0.5).astype(int).tolist(), score.tolist())
    run.add_frame("champion", frame)
    run.add_frame("challenger", scored(rng, 1050, 1.5)[0])
    result = run.look()
    assert result.dropped["batches"] == {"champion": 1, "challenger": 0}
    assert result.observations == {"champion": 9, "challenger": 10}  # 50 challenger rows wait
    assert result.rows == {"champion": 1000, "challenger": 1050}
    expected = [roc_auc_score(y[i : i + 100], score[i : i + 100]) for i in range(0, 1000, 100) if i != 300]
    assert result.values["champion"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert result.statistic == "mean auc of batches of 100 rows" and "batches of 100" in result.reason
    no_scores = ExperimentRun("auc", task=None, min_rows=100)
    no_scores.add_frame("champion", classifier(rng, 300, 0.8))
    assert no_scores.look().dropped["rows"]["champion"] == 300  # AUC needs a score per row


def test_the_state_round_trips_and_gives_the_same_next_results() -> None:
    def stream(seed: int) -> list[dict[str, pd.DataFrame]]:
        rng = np.random.default_rng(seed)
        return [
            {"champion": scored(rng, 250, 1.0)[0], "challenger": scored(rng, 230, 1.3)[0]} for _ in range(12)
        ]

    intervals = stream(4)
    settings: dict[str, Any] = {"task": None, "min_rows": 500, "batch": 100, "confidence": 0.9}
    straight = ExperimentRun("auc", **settings)
    state: dict[str, Any] | None = None
    for frames in intervals:
        restarted = ExperimentRun("auc", **settings, state=state)
        for variant, frame in frames.items():
            straight.add_frame(variant, frame)
            restarted.add_frame(variant, frame)
        expected, got = straight.look(now=1.0), restarted.look(now=1.0)
        assert got == expected
        text = json.dumps(restarted.to_state(), allow_nan=False)  # what the ConfigMap holds
        state = json.loads(text)
        assert all(len(v["partial"]["y_true"]) < 100 for v in state["variants"].values())
        assert len(text) < 8000
    assert expected.decision == "promote" and expected.looks == 12
    with pytest.raises(ValueError, match="other settings"):
        ExperimentRun("auc", **{**settings, "confidence": 0.95}, state=state)
    with pytest.raises(ValueError, match="other settings"):
        ExperimentRun("f1", **settings, state=state)


def test_what_a_run_refuses() -> None:
    with pytest.raises(ValueError, match="positive_rate has no better direction"):
        ExperimentRun("positive_rate", task=None)
    with pytest.raises(ValueError, match="unknown"):
        ExperimentRun("speed", task=None)
    with pytest.raises(ValueError, match="confidence"):
        ExperimentRun("accuracy", task=None, confidence=0.4)
    with pytest.raises(ValueError, match="lower rmse is better"):
        ExperimentRun("rmse", task=None, better="higher")
    run = ExperimentRun("accuracy", task=None)
    with pytest.raises(ValueError, match="variant 'canary'"):
        run.add_frame("canary", classifier(np.random.default_rng(0), 10, 0.8))
    with pytest.raises(ValueError, match="add_outcomes"):
        ExperimentRun("outcome", task=None).add("champion", None)  # type: ignore[arg-type]
    assert task_for("rmse") == "regression" and task_for("f1") == "binary-classification"
    assert task_for("f1", "multiclass-classification") == "multiclass-classification"
    with pytest.raises(ValueError, match="binary classification only"):
        task_for("auc", "multiclass-classification")
    with pytest.raises(ValueError, match="measures a regression"):
        task_for("mae", "binary-classification")


def test_multiclass_accuracy_and_logloss_on_scores() -> None:
    rng = np.random.default_rng(9)
    run = ExperimentRun("accuracy", task="multiclass-classification", min_rows=10)
    classes = np.array(["cat", "dog", "bird"])
    y = classes[rng.integers(0, 3, 60)]
    run.add_frame("champion", captured(y.tolist(), y.tolist()))
    run.add_frame("challenger", captured(y.tolist(), np.roll(y, 1).tolist()))
    result = run.look()
    assert result.values["champion"] == 1.0
    assert result.values["challenger"] == pytest.approx(float(np.mean(y == np.roll(y, 1))))
    loss = ExperimentRun("logloss", task=None, min_rows=10)
    # a score of 3.5 is no probability: that row has no log loss
    loss.add_frame("champion", captured([1, 0, 1, 0], [1, 0, 1, 1], [0.9, 0.2, 3.5, 0.6]))
    expected = -np.mean([math.log(0.9), math.log(0.8), math.log(0.4)])
    assert loss.look().values["champion"] == pytest.approx(expected)
    assert loss.look().dropped["rows"]["champion"] == 1
