"""``modelmonitor profile`` and ``modelmonitor drift`` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelmonitor.cli import main

from .conftest import make_frame


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    ref = tmp_path / "ref.csv"
    make_frame(3_000, seed=31).to_csv(ref, index=False)
    same = tmp_path / "same.parquet"
    make_frame(2_000, seed=32).to_parquet(same)
    shifted = tmp_path / "shifted.csv"
    make_frame(2_000, seed=33, shift=1.0, scale=2.0, city_shares=[0.1, 0.1, 0.4, 0.4]).to_csv(
        shifted, index=False
    )
    return {"ref": ref, "same": same, "shifted": shifted}


def test_profile_then_drift_json(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "profile.json"
    assert main(["profile", str(files["ref"]), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["rows"] == 3_000
    assert main(["drift", str(out), str(files["shifted"]), "--drift-share", "0.4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset_drift"] is True
    assert {f["name"] for f in report["features"] if f["drifted"]} == {"x0", "x1", "city"}
    assert main(["drift", str(out), str(files["same"]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset_drift"] is False


def test_drift_from_raw_files_as_table_and_fail_on_drift(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--format", "table", "--fail-on-drift", "--drift-share", "0.4"]
    assert main(["drift", str(files["ref"]), str(files["shifted"]), *args]) == 1
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("feature") and "dataset: DRIFT" in table
    assert main(["drift", str(files["ref"]), str(files["same"]), "--fail-on-drift"]) == 0


def test_bad_input_exits_2_naming_the_file(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["drift", str(files["ref"]), str(missing)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    assert main(["profile", str(odd)]) == 2
    assert "unknown format" in capsys.readouterr().err
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert main(["drift", str(files["ref"]), str(broken)]) == 2
    assert str(broken) in capsys.readouterr().err
    notprofile = tmp_path / "other.json"
    notprofile.write_text('{"hello": 1}')
    assert main(["drift", str(notprofile), str(files["same"])]) == 2
    assert "not a drift profile" in capsys.readouterr().err
    assert main(["drift", str(files["ref"]), str(files["same"]), "--threshold", "0.2"]) == 2
    assert "explicit method" in capsys.readouterr().err


def test_installed_entry_point(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    exe = Path(sys.executable).with_name("modelmonitor")
    done = subprocess.run(
        [str(exe), "profile", str(files["ref"]), "-o", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [
            str(exe),
            "drift",
            str(out),
            str(files["shifted"]),
            "--method",
            "ks",
            "--fail-on-drift",
            "--drift-share",
            "0.4",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert {f["method"] for f in json.loads(done.stdout)["features"]} == {"ks", "chisquare"}
