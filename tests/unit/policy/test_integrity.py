"""DataIntegrity: missing, all-null and retyped features, judged on real drift reports."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift import detect
from modelmonitor.evaluate.drift import judge_drift
from modelmonitor.evaluate.findings import Verdict
from modelmonitor.evaluate.integrity import MAX_MESSAGE, judge_integrity
from modelmonitor.evaluate.observations import Observations, broken_features
from modelmonitor.policy.verdict import phase_of


def spec() -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "m", "port": 8080}})


def frames(rows: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({
        "age": rng.normal(40, 10, rows), "income": rng.normal(5e4, 1e4, rows),
        "city": rng.choice(["a", "b", "c"], rows), "score": rng.uniform(0, 1, rows),
    })  # fmt: skip
    return reference, reference.sample(frac=1.0, random_state=1).reset_index(drop=True)


def report(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    return detect(reference, current).to_dict()


def obs(**fields: Any) -> Observations:
    return Observations(lookback_seconds=600, **fields)


def test_an_intact_window_is_false_intact() -> None:
    reference, current = frames()
    v = judge_integrity(spec(), obs(drift=report(reference, current)))
    assert (v.type, v.status, v.reason) == ("DataIntegrity", "False", "Intact")
    assert v.message.startswith("4 features present")
    assert broken_features(report(reference, current)) == []


def test_a_missing_an_all_null_and_a_retyped_feature_are_named_with_how() -> None:
    reference, current = frames()
    current = current.drop(columns=["age"])
    current["income"] = np.nan
    current["score"] = [f"s{i}" for i in range(len(current))]
    r = report(reference, current)

    assert sorted(broken_features(r), key=lambda b: b["name"]) == [
        {"name": "age", "problem": "missing"},
        {"name": "income", "problem": "all null"},
        {"name": "score", "problem": "type changed from number to string"},
    ]
    v = judge_integrity(spec(), obs(drift=r))
    assert (v.status, v.reason) == ("True", "FeaturesBroken")
    assert v.message.startswith("3 of 4 features broken: ")
    assert "age (missing)" in v.message and "income (all null)" in v.message
    assert "score (type changed from number to string)" in v.message
    assert "city" not in v.message


def test_a_feature_null_in_the_reference_too_is_not_broken() -> None:
    reference, current = frames()
    reference["income"] = np.nan
    current["income"] = np.nan
    assert broken_features(report(reference, current)) == []


def test_the_message_is_capped_and_says_how_many_more() -> None:
    rng = np.random.default_rng(3)
    names = [f"feature_with_a_rather_long_name_{i:03d}" for i in range(80)]
    reference = pd.DataFrame({n: rng.normal(0, 1, 200) for n in names})
    current = reference[names[:5]].copy()  # 75 features gone
    v = judge_integrity(spec(), obs(drift=report(reference, current)))
    assert v.status == "True" and v.message.startswith("75 of 80 features broken: ")
    listed = v.message.split(": ", 1)[1]
    assert len(listed) <= MAX_MESSAGE and listed.endswith(" more")
    assert f"{names[5]} (missing)" in listed


def test_no_window_or_reference_is_unknown_with_the_reasons_of_data_drift() -> None:
    for reason in ("CapturingReference", "AwaitingTraffic", "InsufficientData", "SidecarUnreachable",
                   "ReferenceUnavailable"):  # fmt: skip
        o = obs(drift_reason=(reason, "why"))
        v, drift = judge_integrity(spec(), o), judge_drift(spec(), o)
        assert (v.status, v.reason, v.message) == ("Unknown", reason, "why")
        assert (drift.status, drift.reason) == (v.status, v.reason)


def test_broken_integrity_makes_the_phase_drifting_like_data_drift() -> None:
    ok = Verdict("SLOBreached", "False", "WithinObjectives", "")
    broken = Verdict("DataIntegrity", "True", "FeaturesBroken", "")
    breach = Verdict("SLOBreached", "True", "ObjectiveBreached", "")
    assert phase_of([ok, broken]) == "Drifting"
    assert phase_of([breach, broken]) == "Breached"
    assert phase_of([ok, Verdict("DataIntegrity", "False", "Intact", "")]) == "Healthy"
    assert phase_of([ok, Verdict("DataIntegrity", "Unknown", "SidecarUnreachable", "")]) == "Unknown"
    assert phase_of([ok, Verdict("DataIntegrity", "Unknown", "AwaitingTraffic", "")]) == "Pending"


def test_the_crd_accepts_data_integrity_as_a_trigger_and_its_status_fields() -> None:
    from modelmonitor.api.crd import build_crd
    from modelmonitor.api.validation import spec_problems

    job = {"spec": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}}
    raw = {
        "target": {"deployment": "m", "port": 8080},
        "actions": {
            "rollback": {"when": ["DataIntegrity"]},
            "retrain": {
                "when": ["DataDrift", "DataIntegrity", "SLOBreached", "CheckFailed"],
                "jobTemplate": job,
                "serviceAccountName": "trainer",
            },
            "alerts": [{"webhook": {"url": "https://hooks.example.com/x"}, "when": ["DataIntegrity"]}],
        },
    }
    parsed, problems = spec_problems(raw)
    assert problems == [] and parsed is not None
    assert parsed.actions.rollback is not None and parsed.actions.rollback.when == ["DataIntegrity"]
    wrong, problems = spec_problems({**raw, "actions": {"rollback": {"when": ["DataIntegrityy"]}}})
    assert wrong is None and [p.path for p in problems] == ["spec.actions.rollback.when[0]"]
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    drift = schema["status"]["properties"]["drift"]["properties"]
    assert set(drift["brokenFeatures"]["items"]["properties"]) == {"name", "problem"}
    rollback = schema["spec"]["properties"]["actions"]["properties"]["rollback"]["properties"]
    assert "DataIntegrity" in rollback["when"]["items"]["enum"]
