"""``modelmonitor quality`` through the real CLI entry point, on CSV and Parquet files.

The data are tests/unit/quality/synthetic.py's: a 50,000-row labelled reference and ten 5,000-row
analysis sets, the last five with ``x1``'s mean moved (a pure covariate shift). Chunks of 2,500 rows
give the reference 20 chunks to draw its bands from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from modelmonitor.cli import main
from tests.unit.quality import synthetic

CHUNK = "2500"
BINARY = ["--task", "binary-classification", "--chunk-size", CHUNK]
SHIFTED = set(range(10, 20))  # chunks of 2,500 rows from the five shifted analysis sets


def _frame(data: synthetic.Classification, labels: bool = True) -> pd.DataFrame:
    frame = data.features.copy()
    frame["score"] = data.score
    frame["prediction"] = (data.score >= 0.5).astype(int)
    if labels:
        frame["target"] = data.y_true
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("quality")
    reference, sets = synthetic.classification_chunks()
    paths = {name: root / name for name in ("ref.csv", "cur.parquet", "nolabels.parquet", "steady.csv")}
    _frame(reference).to_csv(paths["ref.csv"], index=False)
    current = pd.concat([_frame(s) for s in sets], ignore_index=True)
    current["ts"] = np.arange(len(current)) * 60  # one prediction a minute
    # Shuffled in the file: the command must put the rows back in prediction-time order.
    current.sample(frac=1.0, random_state=0).to_parquet(paths["cur.parquet"])
    current.drop(columns=["target", "ts"]).to_parquet(paths["nolabels.parquet"])
    steady = current.iloc[:25_000].drop(columns="ts").copy()
    rng = np.random.default_rng(5)
    steady["region"] = rng.choice(["north", "south"], size=len(steady))
    steady["group"] = rng.choice(["A", "B"], size=len(steady))
    steady.to_csv(paths["steady.csv"], index=False)
    lowered = steady.copy()
    approved_b = np.flatnonzero((lowered["group"] == "B") & (lowered["prediction"] == 1))
    lowered.loc[approved_b[::2], "prediction"] = 0  # half of group B's approvals withdrawn
    paths["lowered.csv"] = root / "lowered.csv"
    lowered.to_csv(paths["lowered.csv"], index=False)
    paths["current"] = root / "current.pkl"
    current.to_pickle(paths["current"])
    return paths


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["quality", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_json_shape_and_realized_metrics_equal_scikit_learns(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json(
        capsys, str(files["ref.csv"]), str(files["cur.parquet"]), *BINARY, "--timestamp", "ts"
    )
    assert code == 0
    assert set(report) == {"reference", "chunks", "calibration", "segments", "concept_drift"}
    assert set(report["reference"]) == {"realized", "bands"}
    metrics = ["accuracy", "precision", "recall", "f1", "auc", "logloss", "brier", "positive_rate"]
    assert list(report["reference"]["bands"]) == metrics
    assert all(low <= high for low, high in report["reference"]["bands"].values())
    assert len(report["chunks"]) == 20
    chunk = report["chunks"][3]
    assert set(chunk) == {
        *("index", "start", "end", "start_time", "end_time", "rows", "labelled"),
        *("realized", "estimated", "alerts", "estimated_alerts"),
    }
    assert (chunk["start"], chunk["end"], chunk["rows"], chunk["labelled"]) == (7500, 9999, 2500, 2500)
    assert (chunk["start_time"], chunk["end_time"]) == (7500 * 60, 9999 * 60)
    rows = pd.read_pickle(files["current"]).iloc[7500:10_000]  # the same rows in time order
    truth, predicted, score = rows["target"], rows["prediction"], rows["score"]
    expected = {
        "accuracy": accuracy_score(truth, predicted),
        "f1": f1_score(truth, predicted),
        "auc": roc_auc_score(truth, score),
        "logloss": log_loss(truth, score),
        "positive_rate": predicted.mean(),
    }
    for name, value in expected.items():
        assert chunk["realized"][name] == pytest.approx(value, abs=1e-6), name
    assert set(chunk["estimated"]) == {"accuracy", "precision", "recall", "f1", "auc", "positive_rate"}
    assert abs(chunk["estimated"]["accuracy"] - expected["accuracy"]) < 0.02
    assert report["calibration"]["source"] == "current"
    assert {"ece", "brier", "ece_platt", "ece_isotonic"} <= set(report["calibration"])
    assert report["concept_drift"]["detector"] == "adwin"
    assert all(25_000 <= row < 50_000 for row in report["concept_drift"]["changes"])  # the shifted half


def test_covariate_shift_without_labels_alerts_estimates_on_the_shifted_chunks_only(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json(capsys, str(files["ref.csv"]), str(files["nolabels.parquet"]), *BINARY)
    assert code == 0
    chunks = report["chunks"]
    assert all(c["realized"] is None and c["labelled"] == 0 and c["alerts"] == [] for c in chunks)
    assert {c["index"] for c in chunks if c["estimated_alerts"]} == SHIFTED
    # Not only the decision rate: the estimated accuracy itself leaves its band.
    assert {c["index"] for c in chunks if "accuracy" in c["estimated_alerts"]} == SHIFTED
    assert report["calibration"]["source"] == "reference"
    assert report["concept_drift"]["changes"] == []
    assert (
        main(["quality", str(files["ref.csv"]), str(files["nolabels.parquet"]), *BINARY, "--fail-on-alert"])
        == 1
    )
    capsys.readouterr()


def test_a_segment_with_lowered_approvals_is_flagged_and_fails_the_run(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        str(files["ref.csv"]),
        str(files["lowered.csv"]),
        *BINARY,
        "--segment",
        "group",
        "--segment",
        "region",
    ]
    code, report = _json(capsys, *argv, "--fail-on-alert")
    assert code == 1
    group, region = report["segments"]
    assert (group["feature"], group["violated"], group["lowest_group"]) == ("group", True, "B")
    assert group["disparate_impact"] == pytest.approx(0.5, abs=0.05)
    assert {g["value"] for g in group["groups"]} == {"A", "B"}
    assert group["groups"][0]["accuracy"] is not None  # every row labelled: the label rates too
    assert (region["feature"], region["violated"]) == ("region", False)
    assert region["disparate_impact"] > 0.9


def test_fail_on_alert_exits_0_when_nothing_alerts(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        str(files["ref.csv"]),
        str(files["steady.csv"]),
        *BINARY,
        "--segment",
        "region",
        "--fail-on-alert",
    ]
    code, report = _json(capsys, *argv)
    assert not any(c["alerts"] or c["estimated_alerts"] for c in report["chunks"])
    assert report["segments"][0]["violated"] is False and report["concept_drift"]["changes"] == []
    assert code == 0


def test_regression_estimates_the_error_rising_with_the_shift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, sets = synthetic.regression_chunks(reference_rows=6_000, chunk_rows=1_000)

    def frame(data: synthetic.Regression) -> pd.DataFrame:
        return data.features.assign(prediction=data.y_pred, target=data.y_true)

    frame(reference).to_parquet(tmp_path / "ref.parquet")
    current = pd.concat([frame(s).drop(columns="target") for s in sets], ignore_index=True)
    current.to_csv(tmp_path / "cur.csv", index=False)
    with threadpool_limits(limits=1):  # HistGradientBoosting's threads spin on a shared CPU
        code, report = _json(
            capsys, str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"), "--task", "regression",
            "--chunk-size", "1000",
        )  # fmt: skip
    assert code == 0
    assert list(report["reference"]["bands"]) == ["mae", "rmse", "mape", "r2"]
    estimated = [c["estimated"]["mae"] for c in report["chunks"]]
    realized = [float(np.mean(np.abs(s.y_true - s.y_pred))) for s in sets]
    assert max(abs(e - r) for e, r in zip(estimated, realized, strict=True)) < 0.1, (estimated, realized)
    assert report["chunks"][0]["estimated_alerts"] == [] and "mae" in report["chunks"][-1]["estimated_alerts"]


def test_bad_input_exits_2_with_one_line_naming_what(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = str(files["ref.csv"]), str(files["nolabels.parquet"])

    def error(*argv: str) -> str:
        assert main(["quality", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        return err

    missing = error(ref, cur, *BINARY, "--target", "label")
    assert "'label' (--target)" in missing and "x1, x2, x3, x4, score, prediction, target" in missing
    assert "'group' (--segment)" in error(ref, cur, *BINARY, "--segment", "group")
    assert f"{cur}: no column 'ts'" in error(ref, cur, *BINARY, "--timestamp", "ts")
    assert "--task 'ranking' is unknown" in error(ref, cur, "--task", "ranking")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert str(broken) in error(ref, str(broken), *BINARY)
    few = tmp_path / "few.csv"
    pd.read_csv(ref, nrows=60).to_csv(few, index=False)
    assert "60 labelled rows; CBPE needs at least 100" in error(str(few), cur, *BINARY)
    assert "--positive 'yes'" in error(ref, cur, *BINARY, "--positive", "yes")


def test_table_output_from_the_module_entry_point(files: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelmonitor.cli", "quality", str(files["ref.csv"]),
         str(files["lowered.csv"]), *BINARY, "--segment", "group"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) < 100
    assert sum(line.lstrip().split(" ")[0].isdigit() for line in lines) == 10  # one line per chunk
    assert any(line.startswith("calibration (current") for line in lines)
    assert any(line.startswith("segment group: VIOLATED") for line in lines)
    assert any(line.startswith("concept drift (adwin)") for line in lines)


def test_too_few_reference_chunks_are_noted_as_giving_narrow_bands(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(files["ref.csv"]), str(files["steady.csv"]), "--task", "binary-classification"]
    assert main(["quality", *argv, "--chunk-size", "10000"]) == 0
    out = capsys.readouterr().out
    assert "note: the reference makes 5 chunks of 10000 rows" in out and "false alarms" in out
    assert main(["quality", *argv, "--chunk-size", CHUNK]) == 0  # 20 chunks: no such note
    assert "false alarms" not in capsys.readouterr().out
