"""``modelmonitor experiment replay`` through the real CLI entry point, on CSV and Parquet files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmonitor.cli import main

KEYS = {"decision", "winner", "decided_at_row", "looks", "rows", "effect", "interval", "p_value"}


def classified(n: int, accuracy: dict[str, float], seed: int, scored: bool = False) -> pd.DataFrame:
    """``n`` requests in time order, each sent to a variant at random, right at that variant's rate."""
    rng = np.random.default_rng(seed)
    variant = rng.choice(["champion", "challenger"], n)
    label = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(variant == "challenger", accuracy["challenger"], accuracy["champion"])
    frame = pd.DataFrame(
        {"variant": variant, "prediction": np.where(right, label, 1 - label), "label": label}
    )
    if scored:
        frame["score"] = np.clip(np.where(right, label, 1 - label) * 0.6 + rng.random(n) * 0.4, 0, 1)
    return frame


def replay(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["experiment", "replay", str(path), "--format", "json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def test_a_better_challenger_is_promoted_at_the_first_look_that_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ab.csv"
    classified(30_000, {"champion": 0.80, "challenger": 0.84}, seed=1).to_csv(path, index=False)
    code, report = replay(capsys, path, "--metric", "accuracy", "--every", "500")
    assert code == 0 and set(report) >= KEYS
    assert (report["decision"], report["winner"]) == ("promote", "challenger")
    at = report["decided_at_row"]
    assert at % 500 == 0 and report["looks"] == at // 500
    assert report["rows"]["champion"] + report["rows"]["challenger"] == at
    low, high = report["interval"]
    assert 0 < low < report["effect"] < high and report["p_value"] < 0.05
    # One interval fewer is not yet enough: the replay stopped at the first decision, not a later one.
    shorter = tmp_path / "shorter.csv"
    pd.read_csv(path).iloc[: at - 500].to_csv(shorter, index=False)
    code, before = replay(capsys, shorter, "--metric", "accuracy", "--every", "500")
    assert (code, before["decision"], before["decided_at_row"]) == (0, "continue", None)
    assert before["looks"] == report["looks"] - 1


def test_a_worse_challenger_is_kept_and_the_table_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ab.parquet"
    classified(30_000, {"champion": 0.84, "challenger": 0.80}, seed=2).to_parquet(path)
    code, report = replay(capsys, path, "--metric", "accuracy")
    assert (code, report["decision"], report["winner"]) == (0, "keep", "champion")
    assert main(["experiment", "replay", str(path), "--metric", "accuracy"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith(f"decision: keep (the champion is better) at row {report['decided_at_row']:,}")
    assert table[1].startswith("accuracy: champion ")
    assert all(len(line) < 100 for line in table) and "p " in table[-1] + table[-2]


def test_outcomes_lower_is_better_and_an_even_race_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    variant = rng.choice(["champion", "challenger"], n)
    churned = rng.random(n) < np.where(variant == "challenger", 0.08, 0.10)
    path = tmp_path / "churn.csv"
    pd.DataFrame({"variant": variant, "outcome": churned}).to_csv(path, index=False)  # true / false
    code, report = replay(capsys, path, "--metric", "outcome", "--better", "lower", "--every", "2000")
    assert (code, report["decision"], report["winner"]) == (0, "promote", "challenger")
    assert report["effect"] < 0 and report["statistic"] == "mean outcome"
    even = tmp_path / "even.csv"
    pd.DataFrame({"variant": variant[:6000], "outcome": rng.random(6000) < 0.1}).to_csv(even, index=False)
    code, report = replay(capsys, even, "--metric", "outcome", "--every", "1000")
    assert (code, report["decision"], report["winner"], report["decided_at_row"]) == (
        0,
        "continue",
        None,
        None,
    )
    assert report["looks"] == 6 and sum(report["rows"].values()) == 6000
    assert report["interval"][0] < 0 < report["interval"][1]


def test_auc_from_a_score_column_and_abort_when_a_variant_gives_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = classified(20_000, {"champion": 0.75, "challenger": 0.85}, seed=4, scored=True)
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False)
    code, report = replay(capsys, path, "--metric", "auc", "--batch", "200")
    assert (code, report["decision"]) == (0, "promote")
    assert report["statistic"] == "mean auc of batches of 200 rows"
    assert report["observations"]["champion"] == report["rows"]["champion"] // 200
    frame.loc[frame["variant"] == "challenger", "label"] = 0  # every challenger batch has one class
    frame.to_csv(path, index=False)
    code, report = replay(capsys, path, "--metric", "auc", "--min-rows", "500")
    assert (code, report["decision"], report["winner"]) == (0, "abort", None)
    assert report["dropped"]["batches"]["challenger"] == report["rows"]["challenger"] // 100
    assert report["reason"].startswith("the challenger gave 0 usable auc observations")


@pytest.mark.parametrize(
    ("change", "argv", "message"),
    [
        (lambda f: f.drop(columns="label"), ["--metric", "accuracy"], "no column 'label'"),
        (lambda f: f.drop(columns="variant"), ["--metric", "accuracy"], "no column 'variant'"),
        (lambda f: f[["variant"]].assign(outcome=1), ["--metric", "f1"], "no column 'prediction'"),
        (lambda f: f.replace({"variant": {"challenger": "canary"}}), ["--metric", "accuracy"], "canary"),
        (lambda f: f[f["variant"] == "champion"], ["--metric", "accuracy"], "no challenger rows"),
        (lambda f: f, ["--metric", "auc"], "needs the positive class's score"),
        (lambda f: f, ["--metric", "rmse"], "no row has a label and a prediction usable for regression"),
        (lambda f: f.assign(outcome="n/a"), ["--metric", "outcome"], "no outcome is a number"),
        (lambda f: f, ["--metric", "positive_rate"], "no better direction"),
        (lambda f: f, ["--metric", "accuracy", "--every", "0"], "--every 0"),
        (lambda f: f, ["--metric", "accuracy", "--confidence", "1"], "--confidence 1.0"),
        (lambda f: f, ["--metric", "accuracy", "--confidence", "0.5"], "--confidence 0.5"),
        (lambda f: f, ["--metric", "accuracy", "--better", "lower"], "higher accuracy is better"),
        (lambda f: f.iloc[:0], ["--metric", "accuracy"], "no rows"),
    ],
)
def test_bad_input_exits_2_with_a_message_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, argv: list[str], message: str
) -> None:
    path = tmp_path / "input.csv"
    base = classified(300, {"champion": 0.8, "challenger": 0.8}, seed=5)
    base["label"] = base["label"].map({0: "no", 1: "yes"}) if "rmse" in argv else base["label"]
    change(base).to_csv(path, index=False)
    code = main(["experiment", "replay", str(path), *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("modelmonitor: error: ") and message in captured.err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "replay", str(tmp_path / "none.csv"), "--metric", "accuracy"]) == 2
    assert "no such file" in capsys.readouterr().err
