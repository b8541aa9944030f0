"""Why a monitor is in its phase, in words: policy/explain.py on status dicts as the operator writes them."""

from __future__ import annotations

from typing import Any

from modelmonitor.policy.explain import explain

BASE = "https://runbooks.example/docs/runbooks"


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-23T11:40:00Z"}  # fmt: skip


def monitor(spec: dict[str, Any], phase: str, *conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    ready = condition("Ready", "True", "TargetFound", "Deployment ml/credit found (2/2 replicas ready)")
    injected = condition("SidecarInjected", "True", "Injected", "2/2 pods run the sidecar")
    return {
        "apiVersion": "modelmonitor.io/v1alpha1",
        "kind": "ModelMonitor",
        "metadata": {"name": "credit", "namespace": "ml"},
        "spec": {"target": {"deployment": "credit"}, **spec},
        "status": {
            "phase": phase,
            "lastEvaluation": "2026-11-23T12:00:00Z",
            "target": {"podTemplateHash": "bbbb", "revision": "2", "since": "2026-11-23T11:55:00Z"},
            "conditions": [ready, injected, *conditions],
            **status,
        },
    }


def test_breached_names_the_latency_against_its_bound_over_the_window_and_the_runbook() -> None:
    m = monitor(
        {"slos": {"latencyP95Ms": 250, "errorRate": 0.01}},
        "Breached",
        condition("SLOBreached", "True", "ObjectiveBreached", "latencyP95Ms 412ms > 250ms (over the last 300s)"),
        condition("DataDrift", "False", "NoDatasetDrift", "0 of 3 features drift"),
        slo={"requests": 1800.0, "latencyP95Ms": 412.0, "errorRate": 0.002},
    )  # fmt: skip
    e = explain(m, runbook_base=BASE)
    assert (e.phase, e.healthy) == ("Breached", False)
    assert e.why == "Breached because SLOBreached is True (ObjectiveBreached)"
    first = e.conditions[0]
    assert (first.type, first.makes_phase) == ("SLOBreached", True)
    # The window: from the pod template's start (11:55) to the evaluation (12:00), at most maxAge.
    assert "latency p95 412 ms > 250 ms (spec.slos.latencyP95Ms) over the last 5 min" in first.details
    assert "error rate 0.002 <= 0.01 (spec.slos.errorRate) over the last 5 min" in first.details
    assert first.runbook == f"{BASE}/SLOBreached.md"
    assert e.next[0] == f"SLOBreached: {BASE}/SLOBreached.md"
    assert not next(c for c in e.conditions if c.type == "DataDrift").makes_phase


def test_degraded_by_accuracy_and_fairness_with_the_groups_and_ratio() -> None:
    perf = {"task": "binary-classification", "metrics": [{"name": "accuracy", "min": 0.8}], "minLabels": 200,
            "segments": [{"feature": "applicant_group", "metric": "approval_rate", "minRatio": 0.8}]}  # fmt: skip
    m = monitor(
        {"performance": perf},
        "Degraded",
        condition("PerformanceDegraded", "True", "MetricOutOfBounds", "accuracy 0.61 < 0.8 on 300 labelled rows"),
        condition("FairnessViolated", "True", "GroupBelowRatio", "approval_rate of applicant_group=B ..."),
        performance={
            "task": "binary", "rows": 900, "labelledRows": 300, "labelCoverage": 0.33,
            "metrics": {"accuracy": 0.61},
            "segments": [{"feature": "applicant_group", "metric": "approval_rate", "ratio": 0.35,
                          "worstGroup": "B", "worstValue": 0.21, "bestGroup": "A", "bestValue": 0.6,
                          "groups": 2, "judgedGroups": 2, "rows": 900, "passed": False}],
        },
    )  # fmt: skip
    e = explain(m, runbook_base=BASE)
    assert e.why.startswith(
        "Degraded because PerformanceDegraded is True (MetricOutOfBounds), FairnessViolated"
    )
    makers = [c.type for c in e.conditions if c.makes_phase]
    assert makers == ["PerformanceDegraded", "FairnessViolated"]
    perf_details = e.conditions[0].details
    assert "accuracy 0.61 < 0.8 (min) on 300 labelled rows (spec.performance.metrics)" in perf_details
    fair = e.conditions[1].details
    assert fair == ["approval_rate of applicant_group=B is 0.21 vs 0.6 for A (ratio 0.35 < 0.8; 900 rows)"]


def test_drifting_lists_the_drifted_features_with_their_scores_and_the_share_against_its_bound() -> None:
    m = monitor(
        {"drift": {"driftShare": 0.2}},
        "Drifting",
        condition("DataDrift", "True", "DriftDetected", "2 of 10 features drift (share 0.20 >= 0.2): ..."),
        drift={
            "datasetDrift": True, "share": 0.2, "method": "auto", "rows": 1200, "referenceRows": 5000,
            "features": [{"name": "income", "method": "wasserstein", "score": 0.31, "drifted": True},
                         {"name": "debt_ratio", "method": "wasserstein", "score": 0.12, "drifted": True},
                         {"name": "age", "method": "wasserstein", "score": 0.01, "drifted": False}],
        },
    )  # fmt: skip
    e = explain(m)
    assert e.conditions[0].details[0] == (
        "2 of 10 features drifted (share 0.20 >= 0.2, spec.drift.driftShare): "
        "income (wasserstein 0.31), debt_ratio (wasserstein 0.12)"
    )
    assert "1200 rows in the window against 5000 reference rows" in e.conditions[0].details[1]
    assert e.conditions[0].runbook == "docs/runbooks/DataDrift.md"  # the default: the repository's pages
    assert any("jsonpath='{.status.drift}'" in step for step in e.next)


def test_unknown_says_which_data_is_missing_and_pending_waits_without_blame() -> None:
    failing = monitor(
        {"slos": {"latencyP95Ms": 250}},
        "Unknown",
        condition("SLOBreached", "Unknown", "PrometheusUnavailable", "Prometheus at http://prom:9090: refused"),
        condition("DataDrift", "Unknown", "InsufficientData", "120 rows since ..., fewer than minRows=500"),
    )  # fmt: skip
    e = explain(failing)
    assert e.why == "Unknown because data could not be had: SLOBreached is Unknown (PrometheusUnavailable)"
    assert [c.type for c in e.conditions if c.makes_phase] == ["SLOBreached"]
    assert any("spec.prometheus.url" in d for d in e.conditions[0].details)
    waiting = monitor(
        {}, "Pending", condition("DataDrift", "Unknown", "CapturingReference", "1200/5000 rows captured")
    )
    p = explain(waiting)
    assert p.why == "Pending while data is awaited: DataDrift is Unknown (CapturingReference)"
    assert "the reference is still being captured" in p.conditions[0].details[0]


def test_rollback_refused_and_the_streaks_cooldowns_and_known_good_that_decide_the_next_one() -> None:
    m = monitor(
        {"slos": {"latencyP95Ms": 250},
         "actions": {"rollback": {"when": ["SLOBreached"], "consecutive": 3, "cooldown": "30m", "maxPerDay": 2},
                     "retrain": {"when": ["DataDrift"], "jobTemplate": {"spec": {}}, "serviceAccountName": "t",
                                 "cooldown": "6h"}}},
        "Breached",
        condition("SLOBreached", "True", "ObjectiveBreached", "latencyP95Ms 412ms > 250ms"),
        condition("RollbackBlocked", "True", "ManagedByGitOps", "managed by Argo CD"),
        actions=[
            {"time": "2026-11-23T11:50:00Z", "action": "retrain", "reason": "DataDrift", "result": "Done",
             "message": "retraining Job credit-retrain-1 started: DataDrift is True"},
            {"time": "2026-11-23T12:00:00Z", "action": "rollback", "reason": "SLOBreached", "result": "Skipped",
             "message": "SLOBreached held for 3 consecutive evaluations; the Deployment is managed by Argo CD"},
        ],
        actionState={"streaks": {"SLOBreached": 3}, "rollbacks": ["2026-11-23T11:45:00Z"],
                     "lastRetrain": "2026-11-23T11:50:00Z"},
        lastKnownGoodRevision={"revision": "1", "podTemplateHash": "aaaa", "since": "2026-11-23T09:00:00Z"},
        retrain={"job": "credit-retrain-1", "reason": "DataDrift", "startedAt": "2026-11-23T11:50:00Z",
                 "outcome": "Running"},
        retry={"reason": "Forbidden", "failures": 2, "since": "2026-11-23T11:58:00Z",
               "nextAttempt": "2026-11-23T12:01:00Z"},
    )  # fmt: skip
    e = explain(m)
    newest = e.actions[0]
    assert (newest.action, newest.result, newest.meaning) == ("rollback", "Skipped", "refused")
    assert "managed by Argo CD" in newest.message
    assert e.actions[1].meaning == "carried out"
    assert (
        "rollback on SLOBreached: 3 of 3 consecutive True evaluations (spec.actions.rollback.consecutive)"
        in e.decisions
    )
    assert "1 rollbacks in the last 24 h of maxPerDay=2" in e.decisions
    assert "rollback cooldown (30m) for another 15 min" in e.decisions
    assert any(d.startswith("last known-good revision: 1 (template aaaa") for d in e.decisions)
    assert "retrain on DataDrift; in cooldown (6h) for another 5.83 h" in e.decisions
    assert any("kubectl logs -n ml job/credit-retrain-1" in d for d in e.decisions)
    assert any("failed (Forbidden) since 2026-11-23T11:58:00Z; next attempt at 2026-11-23T12:01:00Z" in d
               for d in e.decisions)  # fmt: skip
    # RollbackBlocked is True: its runbook is among the next steps, after the phase's own.
    assert e.next[:2] == [
        "SLOBreached: docs/runbooks/SLOBreached.md",
        "RollbackBlocked: docs/runbooks/RollbackBlocked.md",
    ]


def test_healthy_error_rolled_back_and_the_experiment() -> None:
    healthy = explain(monitor({}, "Healthy", condition("DataDrift", "False", "NoDatasetDrift", "0 of 3")))
    assert healthy.healthy and healthy.why == "Healthy: 1 conditions judged, none True, none Unknown"
    invalid = monitor({}, "Error")
    invalid["status"]["conditions"][0] = condition(
        "Ready", "False", "InvalidSpec", "interval must be at least 5s"
    )
    e = explain(invalid)
    assert e.why == "Error because Ready is False (InvalidSpec)" and e.conditions[0].makes_phase
    assert "modelmonitor validate -" in e.conditions[0].commands[0]
    rolled = monitor(
        {"slos": {"latencyP95Ms": 250}}, "RolledBack",
        condition("SLOBreached", "True", "ObjectiveBreached", "latencyP95Ms 412ms > 250ms"),
        actions=[{"time": "2026-11-23T12:00:00Z", "action": "rollback", "reason": "SLOBreached",
                  "result": "Done", "message": "rolled back to revision 1 (template aaaa)"}],
        experiment={"state": "Running", "decision": "continue", "metric": "accuracy",
                    "statistic": "difference of accuracy", "effect": 0.02, "interval": [-0.01, 0.05],
                    "pValue": 0.31, "looks": 4, "champion": {"deployment": "credit", "value": 0.8, "rows": 900},
                    "traffic": {"mode": "replicas", "requested": 0.2, "actual": 0.25}},
    )  # fmt: skip
    r = explain(rolled)
    assert r.why == (
        "RolledBack: the operator rolled the target back at 2026-11-23T12:00:00Z: rolled back to revision 1 "
        "(template aaaa)"
    )
    assert [c.type for c in r.conditions if c.makes_phase] == ["SLOBreached"]
    assert r.experiment[0] == "state Running, decision continue"
    assert (
        "effect 0.02" in r.experiment[1]
        and "interval [-0.01, 0.05], p-value 0.31 after 4 looks" in r.experiment[1]
    )
    assert "champion credit: 0.8 on 900 rows" in r.experiment
    assert r.to_dict()["conditions"][0]["type"] == "SLOBreached"
