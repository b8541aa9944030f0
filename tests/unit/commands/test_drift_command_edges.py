"""``modelmonitor drift`` and ``modelmonitor profile`` at their edges, through the real CLI entry point:
integrity failures under ``--fail-on-drift``, arguments out of range, empty files, a profile given
where data is expected, and the table's integrity section."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelmonitor.cli import main
from modelmonitor.drift.defaults import NULL_RATE_TOLERANCE


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
        }
    )


@pytest.fixture()
def ref(tmp_path: Path) -> Path:
    path = tmp_path / "ref.csv"
    _frame(600, seed=1).to_csv(path, index=False)
    return path


def _window(tmp_path: Path, frame: pd.DataFrame, name: str = "cur.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _drift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["drift", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_clean_window_passes_fail_on_drift_silently(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = _window(tmp_path, _frame(400, seed=2))
    code, out, err = _drift(capsys, str(ref), str(cur), "--fail-on-drift")
    assert (code, err) == (0, "")
    assert json.loads(out)["integrity"]["ok"] is True


def test_a_missing_column_fails_fail_on_drift(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = _window(tmp_path, _frame(400, seed=2).drop(columns=["b"]))
    code, out, err = _drift(capsys, str(ref), str(cur), "--fail-on-drift")
    assert code == 1
    assert json.loads(out)["dataset_drift"] is False  # it is integrity, not drift, that fails
    assert err == "modelmonitor drift: integrity: missing from the current window: b\n"
    # Without the flag the same window is reported and the exit code stays 0.
    assert _drift(capsys, str(ref), str(cur))[0] == 0


def test_a_changed_type_fails_fail_on_drift(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _frame(400, seed=2)
    frame["a"] = "v" + frame["a"].round(2).astype(str)
    code, _, err = _drift(capsys, str(ref), str(_window(tmp_path, frame)), "--fail-on-drift")
    assert code == 1
    assert err == "modelmonitor drift: integrity: type changed: a (number -> string)\n"


@pytest.mark.parametrize(
    ("share", "fails"), [(1 / 3, True), (NULL_RATE_TOLERANCE + 0.02, True), (0.02, False)]
)
def test_a_missing_share_above_the_engines_tolerance_fails(
    share: float, fails: bool, ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _frame(600, seed=2)
    frame.loc[: round(share * len(frame)) - 1, "b"] = np.nan
    code, _, err = _drift(capsys, str(ref), str(_window(tmp_path, frame)), "--fail-on-drift")
    if fails:
        assert code == 1
        assert err.startswith(
            f"modelmonitor drift: integrity: missing share up by more than {NULL_RATE_TOLERANCE:g}: b 0.0% -> "
        )
    else:
        assert (code, err) == (0, "")


def test_a_window_with_nothing_to_evaluate_fails(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _frame(10, seed=2)  # fewer rows than --min-rows: every feature is insufficient data
    code, out, err = _drift(capsys, str(ref), str(_window(tmp_path, frame)), "--fail-on-drift")
    assert code == 1
    assert json.loads(out)["n_evaluated"] == 0
    assert "integrity: no feature could be evaluated in 10 rows (" in err
    assert "insufficient data: 10 non-missing values in current (minimum 30)" in err


def test_dataset_drift_is_named_on_stderr(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _frame(400, seed=2)
    frame["a"] += 2.0
    frame["b"] *= 3.0
    code, _, err = _drift(capsys, str(ref), str(_window(tmp_path, frame)), "--fail-on-drift")
    assert code == 1
    assert err.startswith(
        "modelmonitor drift: dataset drift: 2 of 3 evaluated features drifted (share 0.667 >= 0.5): "
    )
    assert set(err.strip().rsplit(": ", 1)[1].split(", ")) == {"a", "b"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "7"], "--threshold 7 needs an explicit method"),
        (
            ["--method", "ks", "--threshold", "7"],
            "--threshold 7 is out of range for --method ks: it takes a significance level in (0, 1)",
        ),
        (
            ["--method", "chisquare", "--threshold", "1"],
            "--threshold 1 is out of range for --method chisquare",
        ),
        (
            ["--method", "psi", "--threshold", "0"],
            "--threshold 0 is out of range for --method psi: it takes a distance > 0",
        ),
        (["--method", "jensenshannon", "--threshold", "1.5"], "it takes a distance in (0, 1]"),
        (["--threshold", "-1"], "--threshold -1 fits no method"),
        (["--threshold", "ks=0.01,wasserstein=-2"], "--threshold wasserstein=-2 is out of range"),
        (["--threshold", "ks=0.01,kl=2"], "--threshold names kl: the methods are"),
        (["--min-rows", "-3"], "--min-rows -3: must be a whole number of rows >= 1"),
        (["--min-rows", "0"], "--min-rows 0: must be a whole number of rows >= 1"),
        (["--drift-share", "0"], "--drift-share 0: must be a share of features in (0, 1]"),
        (["--drift-share", "1.5"], "--drift-share 1.5: must be a share of features in (0, 1]"),
        (["--min-effect", "2"], "--min-effect 2: must be a Jensen-Shannon distance in [0, 1]"),
    ],
)
def test_arguments_out_of_range_exit_2_naming_the_flag(
    args: list[str], message: str, ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _drift(capsys, str(ref), str(ref), *args)
    assert (code, out) == (2, "")
    assert err.startswith("modelmonitor: error: ") and message in err


@pytest.mark.parametrize(
    "args", [["--method", "jensenshannon", "--threshold", "1"], ["--drift-share", "1"], ["--min-rows", "1"]]
)
def test_the_ends_of_each_range_are_accepted(
    args: list[str], ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _drift(capsys, str(ref), str(ref), *args)[0] == 0


def test_a_threshold_that_is_not_a_number_is_an_argparse_error(
    ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["drift", str(ref), str(ref), "--threshold", "strict"])
    assert exc.value.code == 2
    assert "'strict' is neither a number nor METHOD=NUMBER pairs" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0.1", "0.01", "7"])
def test_the_suggestion_for_a_threshold_with_auto_is_accepted_as_given(
    value: str, ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = _window(tmp_path, _frame(400, seed=2))
    code, _, err = _drift(capsys, str(ref), str(cur), "--threshold", value)
    assert code == 2
    suggested = re.findall(r"(--method \S+ --threshold \S+)", err)
    suggested += re.findall(r"(--threshold (?:\w+=[\d.]+,?)+)", err)
    assert len(suggested) >= 2
    for option in suggested:
        code, out, err = _drift(capsys, str(ref), str(cur), *shlex.split(option.rstrip(",")))
        assert (code, err) == (0, ""), option
        report = json.loads(out)
        if option.startswith("--method"):
            method = option.split()[1]
            used = {f["threshold"] for f in report["features"] if f["method"] == method}
            assert used == {float(value)}


def test_a_per_method_threshold_applies_to_that_method_only(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = _window(tmp_path, _frame(400, seed=2))
    code, out, _ = _drift(capsys, str(ref), str(cur), "--threshold", "ks=0.01")
    assert code == 0
    thresholds = {f["method"]: f["threshold"] for f in json.loads(out)["features"]}
    assert thresholds == {"ks": 0.01, "chisquare": 0.05}


def test_the_table_prints_integrity_readably(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _frame(400, seed=2).drop(columns=["b"])
    frame["extra"] = 1
    frame.loc[:199, "a"] = np.nan
    frame.loc[:9, "city"] = "rome"
    code, out, _ = _drift(capsys, str(ref), str(_window(tmp_path, frame)), "--format", "table")
    assert code == 0
    assert "{" not in out and "'" not in out
    tail = out[out.index("integrity:") :].splitlines()
    assert tail == [
        "integrity: problems found",
        "  missing from the window: b",
        "  new in the window (not compared): extra",
        "  missing share: a: 0.0% -> 50.0% (+50.0%)",
        "  unseen categories: city: rome",
        "  rows with an unseen category: 2.5%",
    ]


def test_the_table_of_a_clean_window_has_no_integrity_section(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _drift(capsys, str(ref), str(_window(tmp_path, _frame(400, seed=2))), "--format", "table")[1]
    assert "integrity" not in out and out.rstrip().splitlines()[-1].startswith("dataset: no drift")


@pytest.mark.parametrize("side", ["reference", "current"])
def test_a_csv_with_only_a_header_is_an_input_error(
    side: str, ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _window(tmp_path, _frame(5, seed=2).iloc[:0], "header.csv")
    assert empty.read_text().strip() == "a,b,city"
    args = [str(empty), str(ref)] if side == "reference" else [str(ref), str(empty)]
    code, out, err = _drift(capsys, *args)
    assert (code, out) == (2, "")
    assert (
        err
        == f"modelmonitor: error: {empty}: no data: the file has a header and no rows; give at least one row to profile or compare\n"
    )


def test_an_empty_parquet_window_is_an_input_error(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.parquet"
    _frame(5, seed=2).iloc[:0].to_parquet(empty)
    code, _, err = _drift(capsys, str(ref), str(empty))
    assert code == 2
    assert f"{empty}: no data: the file has no rows" in err


def test_profile_of_a_csv_with_only_a_header_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _window(tmp_path, _frame(5, seed=2).iloc[:0], "header.csv")
    out_file = tmp_path / "profile.json"
    assert main(["profile", str(empty), "-o", str(out_file)]) == 2
    assert f"{empty}: no data: the file has a header and no rows" in capsys.readouterr().err
    assert not out_file.exists()


def test_a_profile_given_as_the_current_window_is_refused_consistently(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile.json"
    assert main(["profile", str(ref), "-o", str(profile)]) == 0
    code, _, err = _drift(capsys, str(ref), str(profile))
    assert code == 2
    assert err == (
        f"modelmonitor: error: {profile}: a profile (.json) stands only for a reference, the first argument "
        "of `modelmonitor drift`; data to compare must be .csv, .tsv or .parquet\n"
    )
    # The profile is accepted where the message says: as the reference.
    assert _drift(capsys, str(profile), str(ref))[0] == 0


def test_unknown_extensions_list_what_each_side_accepts(
    ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    assert _drift(capsys, str(odd), str(ref))[2].endswith(
        "unknown format; use .csv, .tsv, .parquet or a profile .json\n"
    )
    assert _drift(capsys, str(ref), str(odd))[2].endswith("unknown format; use .csv, .tsv or .parquet\n")


def test_correction_defaults_to_bh(ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cur = _window(tmp_path, _frame(400, seed=2))
    report = json.loads(_drift(capsys, str(ref), str(cur))[1])
    assert report["correction"] == "bh"
    tested = [f for f in report["features"] if f["p_value"] is not None]
    assert len(tested) == 3
    ordered = sorted(tested, key=lambda f: f["p_value"])
    # Benjamini-Hochberg: the largest p-value is unchanged, none adjusted below its raw value.
    assert ordered[-1]["p_value_adjusted"] == pytest.approx(ordered[-1]["p_value"])
    assert all(f["p_value_adjusted"] >= f["p_value"] - 1e-12 for f in tested)
    assert any(f["p_value_adjusted"] > f["p_value"] + 1e-9 for f in tested)
