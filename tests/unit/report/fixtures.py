"""A monitor as the operator leaves it, its captured window and its reference, written as a
``modelmonitor report --from`` directory. The status is checked against the API's status model, so
the fixture has the shape the operator writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.status import ModelMonitorStatus
from modelmonitor.drift.profile import build_profile

T0 = 1_795_435_000.0
EVIL = "<script>alert(1)</script>"


def status() -> dict[str, Any]:
    out = {
        "observedGeneration": 2,
        "phase": "Drifting",
        "lastEvaluation": "2026-11-20T10:00:00Z",
        "lastAction": "alert DataDrift",
        "target": {"deployment": "credit", "revision": "3", "modelVersion": "v7", "readyReplicas": 2},
        "conditions": [
            {"type": "DataDrift", "status": "True", "reason": "FeaturesDrifted",
             "message": f"2 of 4 features drift: income, {EVIL}", "lastTransitionTime": "2026-11-20T09:00:00Z",
             "observedGeneration": 2},
            {"type": "PerformanceDegraded", "status": "False", "reason": "WithinBand",
             "message": "accuracy 0.86", "lastTransitionTime": "2026-11-19T09:00:00Z", "observedGeneration": 2},
        ],
        "drift": {"datasetDrift": True, "share": 0.5, "method": "auto", "rows": 4000, "referenceRows": 4000,
                  "features": [{"name": "income", "method": "ks", "score": 0.31, "pValue": 1e-12, "drifted": True},
                               {"name": EVIL, "method": "ks", "score": 0.2, "pValue": 1e-6, "drifted": True}]},
        "performance": {
            "task": "binary-classification", "summary": "accuracy 0.86", "rows": 4000, "labelledRows": 2000,
            "labelCoverage": 0.5, "metrics": {"accuracy": 0.86, "auc": 0.9},
            "estimated": {"accuracy": 0.85}, "estimatedRows": 2000,
            "bands": {"accuracy": [0.8, 0.92], "auc": [0.85, None]},
            "segments": [{"feature": "applicant_group", "metric": "approval_rate", "ratio": 0.42,
                          "worstGroup": "B", "worstValue": 0.25, "bestGroup": "A", "bestValue": 0.6,
                          "groups": 3, "judgedGroups": 3, "rows": 4000, "passed": False}],
        },
        "experiment": {
            "state": "Running", "decision": "continue", "metric": "accuracy", "statistic": "error rate",
            "effect": -0.021, "interval": [-0.05, 0.008], "pValue": 0.31, "confidence": 0.95, "looks": 4,
            "champion": {"deployment": "credit", "rows": 900, "value": 0.86},
            "challenger": {"deployment": "credit-challenger", "rows": 880, "value": 0.881},
            "traffic": {"mode": "replicas", "requested": 0.5, "actual": 0.5},
        },
        "actions": [
            {"time": "2026-11-20T09:00:00Z", "action": "alert", "reason": "DataDrift", "result": "Done",
             "message": f"posted to the webhook {EVIL}"},
        ],
    }  # fmt: skip
    ModelMonitorStatus.model_validate(out)  # the shape the operator writes, or the test is wrong
    return out


def monitor(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "credit", "namespace": "risk"},
        "spec": {
            "target": {"deployment": "credit", "port": 8080},
            "performance": {
                "task": "binary-classification",
                "minLabels": 200,
                "segments": [{"feature": "applicant_group"}],
            },
            **spec,
        },
        "status": status(),
    }


def frames(rows: int = 4000, *, features: int = 0, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference's rows and a window whose ``income`` and ``EVIL`` drift over time; ``features``
    extra numeric columns ``f0..``; half the rows labelled, right with probability 0.85."""
    rng = np.random.default_rng(seed)
    base = {
        "income": rng.normal(50_000, 10_000, rows),
        "applicant_group": rng.choice(["A", "B", "C"], rows, p=[0.4, 0.3, 0.3]),
        EVIL: rng.normal(0, 1, rows),
        **{f"f{i}": rng.normal(0, 1, rows) for i in range(features)},
    }
    reference = pd.DataFrame(base)
    ramp = np.linspace(0, 1, rows)
    current = pd.DataFrame({
        "income": rng.normal(50_000, 10_000, rows) + 25_000 * ramp,
        "applicant_group": rng.choice(["A", "B", "C"], rows, p=[0.4, 0.3, 0.3]),
        EVIL: rng.normal(0, 1, rows) + 2 * ramp,
        **{f"f{i}": rng.normal(0, 1, rows) for i in range(features)},
    })  # fmt: skip
    score = rng.uniform(0, 1, rows)
    prediction = (score >= 0.5).astype(int)
    truth = np.where(rng.random(rows) < 0.85, prediction, 1 - prediction)
    current["__id"] = [f"r{i}" for i in range(rows)]
    current["__ts"] = T0 + np.arange(rows) * 3.0
    current["__prediction"] = prediction.tolist()
    current["__probabilities"] = [[round(1 - s, 6), round(s, 6)] for s in score]
    current["__label"] = [int(t) if i % 2 == 0 else None for i, t in enumerate(truth)]
    current["__label_ts"] = [T0 + 9_000.0 if i % 2 == 0 else None for i in range(rows)]
    return reference, current


def write_dir(folder: Path, *, window: str | None = "jsonl", reference: bool = True,
              monitor_json: bool = True, rows: int = 4000, features: int = 0) -> Path:  # fmt: skip
    """A ``--from`` directory: monitor.json, window.<window> and reference.json (each optional)."""
    folder.mkdir(parents=True, exist_ok=True)
    ref, current = frames(rows, features=features)
    if monitor_json:
        (folder / "monitor.json").write_text(json.dumps(monitor()))
    if reference:
        (folder / "reference.json").write_text(build_profile(ref).to_json())
    if window == "jsonl":
        with (folder / "window.jsonl").open("w") as fh:
            for row in current.to_dict(orient="records"):
                fh.write(
                    json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()})
                    + "\n"
                )
    elif window == "csv":
        out = current.assign(__probabilities=[json.dumps(p) for p in current["__probabilities"]])
        out.to_csv(folder / "window.csv", index=False)
    elif window == "parquet":
        current.to_parquet(folder / "window.parquet")
    return folder
