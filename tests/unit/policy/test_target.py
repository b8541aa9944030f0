"""Judging the spec and the target Deployment: pure inputs, the status patch and transitions out."""

from __future__ import annotations

from typing import Any

from modelmonitor.policy.target import assess_target

SPEC = {"target": {"deployment": "credit-scoring"}}
DEPLOYMENT = {
    "metadata": {"name": "credit-scoring", "annotations": {"deployment.kubernetes.io/revision": "4"}},
    "spec": {"replicas": 3, "template": {"metadata": {"annotations": {"app.kubernetes.io/version": "2.1"}}}},
    "status": {"readyReplicas": 2},
}


def assess(
    status: dict[str, Any], deployment: dict[str, Any] | None, spec: Any = SPEC, now: str = "T1"
) -> Any:
    return assess_target(
        namespace="ns",
        spec=spec,
        generation=7,
        status=status,
        deployment=deployment,
        now=now,
        retry_seconds=30,
    )


def test_missing_target_is_pending_and_says_what_it_waits_for() -> None:
    result = assess({}, None)
    patch = result.status_patch
    assert patch["phase"] == "Pending" and patch["observedGeneration"] == 7
    (cond,) = patch["conditions"]
    assert cond == {
        "type": "Ready",
        "status": "False",
        "reason": "TargetNotFound",
        "message": "Deployment ns/credit-scoring not found; looking again every 30s",
        "lastTransitionTime": "T1",
        "observedGeneration": 7,
    }
    assert [t.reason for t in result.transitions] == ["TargetNotFound"]
    assert result.transitions[0].warning
    assert not result.ready


def test_found_target_reports_revision_version_and_replicas() -> None:
    before = assess({}, None).status_patch
    result = assess(before, DEPLOYMENT, now="T2")
    patch = result.status_patch
    assert patch["target"] == {
        "deployment": "credit-scoring",
        "revision": "4",
        "modelVersion": "2.1",  # from the annotation when no label has it
        "readyReplicas": 2,
    }
    (cond,) = patch["conditions"]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == ("True", "TargetFound", "T2")
    assert "(2/3 replicas ready)" in cond["message"]
    assert [(t.reason, t.warning) for t in result.transitions] == [("TargetFound", False)]
    assert result.ready


def test_same_verdict_again_keeps_transition_time_and_raises_no_event() -> None:
    first = assess({}, DEPLOYMENT, now="T1").status_patch
    again = assess(first, DEPLOYMENT, now="T9")
    assert again.status_patch["conditions"][0]["lastTransitionTime"] == "T1"
    assert again.transitions == []
    assert again.status_patch == {**first}  # nothing changed, so the operator patches nothing


def test_invalid_spec_is_an_error_naming_every_field() -> None:
    spec = {"target": {"deployment": "m"}, "slos": {"errorRate": 3}, "interval": "2s"}
    result = assess({"phase": "Healthy"}, DEPLOYMENT, spec=spec)
    patch = result.status_patch
    assert patch["phase"] == "Error"
    cond = patch["conditions"][0]
    assert cond["reason"] == "InvalidSpec"
    assert "spec.slos.errorRate: must be <= 1, got 3" in cond["message"]
    assert result.spec is None and not result.ready


def test_phase_beyond_pending_is_kept_while_the_target_exists() -> None:
    result = assess({"phase": "Drifting", "lastEvaluation": "T0"}, DEPLOYMENT)
    assert result.status_patch["phase"] == "Drifting"
    assert result.status_patch["conditions"][0]["message"].endswith("; evaluating every 60s")
