"""``modelmonitor report --from DIR``: the page's sections, its figures, its escaping, its size, and
what it says when a piece is missing."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from modelmonitor.cli import main
from modelmonitor.commands.report import read_dir, save_dir
from modelmonitor.quality.labels import labelled
from modelmonitor.report import render
from modelmonitor.report.drift_figures import figures as drift_figures
from modelmonitor.report.drift_figures import time_chunks
from modelmonitor.report.quality_figures import figures as quality_figures
from tests.unit.report.fixtures import EVIL, write_dir

SECTIONS = ("header", "drift", "performance", "segments", "experiment", "actions")


def report(tmp_path: Path, **kwargs: object) -> str:
    folder = write_dir(tmp_path / "in", **kwargs)  # type: ignore[arg-type]
    out = tmp_path / "report.html"
    assert main(["report", "--from", str(folder), "-o", str(out)]) == 0
    return out.read_text()


def section(page: str, ident: str) -> str:
    found = re.search(rf'<section id="{ident}">(.*?)</section>', page, re.S)
    assert found, f"no section {ident}"
    return found.group(1)


def test_every_section_is_there_with_its_figures(tmp_path: Path) -> None:
    page = report(tmp_path)
    for ident in SECTIONS:
        section(page, ident)
    head = section(page, "header")
    assert "risk/credit" in head and "Drifting" in head and "FeaturesDrifted" in head and "WithinBand" in head
    drift = section(page, "drift")
    assert drift.count('<svg class="chart bars"') >= 2  # income and the other drifted feature
    assert 'class="chart lines"' in drift and "Drift over time" in drift
    perf = section(page, "performance")
    assert perf.count('class="chart lines"') >= 5 and 'class="band"' in perf  # the band from status
    assert "estimated (CBPE)" in perf and 'class="chart reliability"' in perf
    segments = section(page, "segments")
    assert "0.42" in segments and "approval_rate by group" in segments and "95% low" in segments
    experiment = section(page, "experiment")
    assert "credit-challenger" in experiment and "-0.05 .. 0.008" in experiment and "0.31" in experiment
    assert "posted to the webhook" in section(page, "actions")


def test_no_script_runs_and_every_text_is_escaped(tmp_path: Path) -> None:
    page = report(tmp_path)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the feature name, the message, the action
    assert "Content-Security-Policy" in page and "default-src 'none'" in html.unescape(page)
    assert not re.search(r"\s(src|href)=", page)  # nothing loaded from anywhere


def test_a_hundred_features_stay_under_2_mb(tmp_path: Path) -> None:
    page = report(tmp_path, features=100, rows=5000)
    size = len(page.encode())
    assert size < 2 * 1024 * 1024, size
    assert section(page, "drift").count('<svg class="chart bars"') <= 10  # at most the top 10 drawn


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_windows_read_like_json_lines(tmp_path: Path, fmt: str) -> None:
    page = report(tmp_path / fmt, window=fmt)
    json_lines = report(tmp_path / "jsonl")
    # The scores came back as lists: CBPE and the reliability diagram need them.
    assert "estimated (CBPE)" in page and 'class="chart reliability"' in page
    assert section(page, "segments") == section(json_lines, "segments")


def test_missing_pieces_are_said_not_raised(tmp_path: Path) -> None:
    page = report(tmp_path / "a", window=None, reference=False)
    assert "no reference profile" in section(page, "drift")
    assert "no captured window" in section(page, "performance")
    assert "What could not be read" in section(page, "header")
    bare = report(tmp_path / "b", window=None, reference=False, monitor_json=False)
    assert "no monitor.json" in bare and "no conditions" in section(bare, "header")
    for ident in ("experiment", "actions", "segments"):
        assert 'class="missing"' in section(bare, ident)
    no_ref = report(tmp_path / "c", reference=False)
    assert "no reference profile" in section(no_ref, "drift")
    assert 'class="chart lines"' in section(no_ref, "performance")  # the window still gives metrics


def test_a_damaged_piece_is_a_note(tmp_path: Path) -> None:
    folder = write_dir(tmp_path / "in")
    (folder / "reference.json").write_text('{"format": "something else"}')
    (folder / "window.jsonl").write_text("{not json\n")
    bundle = read_dir(folder)
    assert bundle.reference is None and bundle.window is None
    assert any("not a drift profile" in n for n in bundle.notes)
    assert any("window.jsonl: cannot read" in n for n in bundle.notes)
    assert '<section id="drift">' in render(bundle)


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-o", str(tmp_path / "x.html")]) == 2
    assert main(["report", "credit", "--from", str(tmp_path)]) == 2
    assert main(["report", "--from", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_saved_bundle_reads_back_to_the_same_page(tmp_path: Path) -> None:
    bundle = read_dir(write_dir(tmp_path / "in", window="parquet"))
    save_dir(bundle, tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [
        "monitor.json",
        "reference.json",
        "window.jsonl",
    ]
    assert render(read_dir(tmp_path / "saved")) == render(bundle)


def test_drift_rises_over_time_and_the_shares_are_distributions(tmp_path: Path) -> None:
    bundle = read_dir(write_dir(tmp_path / "in"))
    frame = bundle.ordered_window()
    assert bundle.reference is not None and frame is not None
    fig = drift_figures(bundle.reference, frame, bundle.spec()[0])
    assert {f.name for f in fig.shown} >= {"income", EVIL} and all(f.drifted for f in fig.shown)
    income = fig.over_time["income"]
    assert len(income) == len(time_chunks(len(frame))) == 10
    assert income[-1] is not None and income[0] is not None and income[-1] > income[0] + 0.2
    for dist in fig.distributions.values():
        assert sum(dist.reference) == pytest.approx(1.0, abs=0.01)
        assert sum(dist.current) == pytest.approx(1.0, abs=1e-9)
    groups = fig.distributions.get("applicant_group")
    assert groups is None or set(groups.labels) <= {"A", "B", "C", "(other)"}


def test_realized_accuracy_per_chunk_is_the_labelled_rows_accuracy(tmp_path: Path) -> None:
    bundle = read_dir(write_dir(tmp_path / "in"))
    frame, (spec, _) = bundle.ordered_window(), bundle.spec()
    assert frame is not None and spec is not None
    fig = quality_figures(frame, spec)
    assert fig.estimator == "CBPE" and len(fig.chunks) == 10
    for (start, stop), chunk in zip(time_chunks(len(frame)), fig.chunks, strict=True):
        part = labelled(frame.iloc[start:stop], "binary-classification")
        assert chunk.labelled == len(part) == (stop - start) // 2
        assert chunk.realized["accuracy"] == pytest.approx(accuracy_score(part.y_true, part.y_pred))
        assert abs((chunk.estimated["accuracy"] or 0) - 0.85) < 0.08  # the labels are right 85% of the time
    assert fig.calibration and all(0 <= p <= 1 and 0 <= o <= 1 for p, o, _ in fig.calibration)
    assert np.isfinite(fig.ece or np.nan)
