"""``modelmonitor backtest`` through the CLI entry point: captured traffic replayed through a monitor's
evaluators and action policy, on the sidecar's audit lines and on a CSV table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from modelmonitor.cli import main
from modelmonitor.drift import build_profile

T0 = 1_795_435_200.0  # 2026-11-23T12:00:00Z
SHIFT = T0 + 1200  # 20 minutes in


def write_monitor(tmp_path: Path, **spec: Any) -> Path:
    path = tmp_path / "monitor.yaml"
    body = {
        "target": {"deployment": "credit"},
        "interval": "60s",
        "window": {"maxAge": "5m", "maxRows": 1000},
    }
    path.write_text(yaml.safe_dump({"apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor",
                                    "metadata": {"name": "credit", "namespace": "ml"}, "spec": {**body, **spec}}))  # fmt: skip
    return path


def audit_lines(path: Path, *, shift: float, seconds: int = 2400, seed: int = 3) -> Path:
    """One request a second, as the sidecar logs it with --log-payloads true; after SHIFT both
    features move by ``shift`` standard deviations. A few lines carry no row (a 503, a capture failure)."""
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        for i in range(seconds):
            ts = T0 + i
            moved = shift if ts >= SHIFT else 0.0
            features = {
                "income": float(rng.normal(50 + 10 * moved, 10)),
                "debt_ratio": float(rng.normal(0.3 + 0.1 * moved, 0.1)),
            }
            line: dict[str, Any] = {"time": "", "ts": ts, "level": "info", "msg": "request", "request_id": f"r{i}",
                                    "model": "credit", "version": "v1", "status": 200, "latency_ms": 1.2}  # fmt: skip
            if i % 500 == 7:
                line.update(status=503, level="error")  # no payload: not a captured row
            else:
                line.update(inputs=[features], outputs={"predictions": [int(features["income"] > 55)]})
            f.write(json.dumps(line) + "\n")
    return path


def reference(tmp_path: Path, seed: int = 11) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"income": rng.normal(50, 10, 3000), "debt_ratio": rng.normal(0.3, 0.1, 3000)})
    path = tmp_path / "profile.json"
    path.write_text(build_profile(frame).to_json())
    return path


DRIFT_SPEC: dict[str, Any] = {
    "drift": {"minRows": 200, "driftShare": 1.0},
    "actions": {"retrain": {"when": ["DataDrift"], "cooldown": "6h", "serviceAccountName": "trainer",
                            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}}},
                "alerts": [{"webhook": {"url": "https://hooks.example/x"}, "when": ["DataDrift"], "format": "slack"}]},
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["backtest", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_a_shift_in_the_middle_drifts_and_retrains_after_it_and_never_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = audit_lines(tmp_path / "audit-20261118T080000-1-0001.jsonl", shift=2.0)
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(
        "".join(json.dumps({"id": f"r{i}", "label": 1, "ts": T0 + i + 30}) + "\n" for i in range(50))
    )
    code, report, err = run(capsys, str(capture), "--monitor", str(write_monitor(tmp_path, **DRIFT_SPEC)),
                            "--reference", str(reference(tmp_path)), "--labels", str(feedback))  # fmt: skip
    assert (code, err) == (0, "")
    # r7 was a 503: its label has no row to join.
    assert report["rows"] == 2400 - 5 and report["skippedLines"] == 5 and report["labelledRows"] == 49
    assert report["evaluations"] == 40  # one a minute from the first row's minute on, the last at the end
    drifted = [
        (s["time"], c)
        for s in report["timeline"]
        for c in s["changes"]
        if c["type"] == "DataDrift" and c["status"] == "True"
    ]
    assert drifted, report["timeline"]
    first_drift = pd.Timestamp(drifted[0][0]).timestamp()
    assert SHIFT < first_drift <= SHIFT + 300  # within one window (maxAge 5m) of the shift
    assert "2 of 2 features drift" in drifted[0][1]["message"]
    retrains = [
        (s["time"], d) for s in report["timeline"] for d in s["decisions"] if d["action"] == "retrain"
    ]
    # Started at the first drifting evaluation; the next one refuses for the 6h cooldown, said once.
    assert [d["result"] for _, d in retrains] == ["Done", "Skipped"]
    assert pd.Timestamp(retrains[0][0]).timestamp() == first_drift
    assert "retraining in cooldown for another 21540s" in retrains[1][1]["message"]
    assert report["actions"] == {"retrain Done": 1, "retrain Skipped": 1}
    # The receiver hears the transition and each decision once (Slack: no re-sends while firing).
    assert report["alerts"] == {
        "ModelMonitorDataDrift": 1,
        "ModelMonitorRetrainDone": 1,
        "ModelMonitorRetrainSkipped": 1,
    }
    assert report["phases"]["Drifting"] > 0.3 and report["phases"]["Healthy"] > 0.3
    assert report["true_share"]["DataDrift"] == report["phases"]["Drifting"]


def test_a_clean_capture_takes_no_action_and_the_table_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = audit_lines(tmp_path / "audit.jsonl", shift=0.0)
    argv = [
        str(capture),
        "--monitor",
        str(write_monitor(tmp_path, **DRIFT_SPEC)),
        "--reference",
        str(reference(tmp_path)),
    ]
    code, report, _ = run(capsys, *argv)
    assert code == 0
    assert report["actions"] == {} and report["alerts"] == {}
    assert "DataDrift" not in report["true_share"]
    # Until the window holds drift.minRows rows the verdict waits (Pending); then Healthy throughout.
    assert set(report["phases"]) == {"Pending", "Healthy"} and report["phases"]["Healthy"] > 0.9
    assert main(["backtest", *argv]) == 0
    table = capsys.readouterr().out
    assert table.startswith("ml/credit: 40 evaluations every 60s from 2026-11-23T12:00:00Z")
    assert "actions: none" in table and "alerts: none" in table and "phases: Healthy" in table
    assert all(len(line) <= 100 for line in table.splitlines())


def test_a_worse_version_in_a_csv_is_rolled_back_to_the_known_good_one_then_the_cooldown_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    n = 2400
    ts = T0 + np.arange(n)
    version = np.where(ts < SHIFT, "v1", "v2")
    label = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(version == "v1", 0.92, 0.55)
    frame = pd.DataFrame({
        "ts": pd.to_datetime(ts, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "income": rng.normal(50, 10, n), "version": version,
        "prediction": np.where(right, label, 1 - label), "label": label,
    })  # fmt: skip
    frame.to_csv(tmp_path / "capture.csv", index=False)
    spec = {
        "drift": {"minRows": 100, "reference": {"capture": {"rows": 100}}},
        "performance": {"task": "binary-classification", "metrics": [{"name": "accuracy", "min": 0.8}], "minLabels": 100},
        "actions": {"rollback": {"when": ["PerformanceDegraded"], "consecutive": 2, "cooldown": "30m"}},
    }  # fmt: skip
    code, report, _ = run(
        capsys, str(tmp_path / "capture.csv"), "--monitor", str(write_monitor(tmp_path, **spec))
    )
    assert code == 0 and report["labelledRows"] == n
    decisions = [(s["time"], d) for s in report["timeline"] for d in s["decisions"]]
    assert [d["result"] for _, d in decisions] == ["Done", "Skipped"]
    done_at = pd.Timestamp(decisions[0][0]).timestamp()
    assert SHIFT < done_at <= SHIFT + 300
    assert "rolling back to revision v1" in decisions[0][1]["message"]
    assert "in cooldown" in decisions[1][1]["message"]  # said once, not at every evaluation after
    assert report["actions"] == {"rollback Done": 1, "rollback Skipped": 1}
    assert report["phases"]["RolledBack"] == pytest.approx(1 / report["evaluations"], abs=1e-4)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: pd.DataFrame({"income": [1.0], "prediction": [1]}).to_csv(p / "c.csv", index=False),
         "c.csv: no column 'ts' (or '__ts'): the time of each prediction; the columns are: income, prediction"),
        (lambda p: (p / "c.jsonl").write_text('{"ts": 1, "msg": "request", "status": 200}\n'),
         "no captured row (audit lines carry rows only when the sidecar runs with --log-payloads true; 1 lines held none)"),
        (lambda p: (p / "c.jsonl").write_text("{not json\n"), "c.jsonl:1: not a JSON line"),
        (lambda p: None, "c.csv: no such file"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_file_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, said: str
) -> None:
    make(tmp_path)
    name = "c.jsonl" if (tmp_path / "c.jsonl").exists() else "c.csv"
    code = main(["backtest", str(tmp_path / name), "--monitor", str(write_monitor(tmp_path))])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err.startswith("modelmonitor backtest: ") and said in captured.err
    assert len(captured.err.splitlines()) == 1


def test_an_invalid_monitor_or_every_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = audit_lines(tmp_path / "audit.jsonl", shift=0.0, seconds=10)
    bad = write_monitor(tmp_path, interval="1s")
    assert main(["backtest", str(capture), "--monitor", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"modelmonitor backtest: --monitor {bad}: invalid spec: spec: interval must be at least 5s\n"
    )
    assert main(["backtest", str(capture), "--monitor", str(write_monitor(tmp_path)), "--every", "soon"]) == 2
    assert "--every: not a duration: 'soon'" in capsys.readouterr().err
    named = write_monitor(tmp_path, drift={"reference": {"configMapRef": {"name": "credit-profile"}}})
    assert main(["backtest", str(capture), "--monitor", str(named)]) == 2
    assert "pass that profile as --reference FILE" in capsys.readouterr().err
