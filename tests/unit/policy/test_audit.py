"""The audit trail's records: the spec diff, who made it (managedFields), and the decisions."""

from __future__ import annotations

from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.policy import audit

NOW = "2026-12-02T01:00:00Z"


def test_the_diff_goes_to_the_deepest_difference_in_maps_and_lists() -> None:
    old = {"interval": "60s", "slos": {"latencyP95Ms": 250, "errorRate": 0.01},
           "checks": [{"name": "ctr", "min": 0.02}, {"name": "bounce", "max": 0.5}],
           "sidecar": {"redact": ["ssn"]}}  # fmt: skip
    new = {"interval": "30s", "slos": {"latencyP95Ms": 200},
           "checks": [{"name": "ctr", "min": 0.03}], "sidecar": {"redact": ["ssn", "email"]},
           "actions": {"mode": "observe"}}  # fmt: skip
    entries = audit.diff_entries(audit.changes(old, new))
    assert entries == [
        {"op": "add", "path": "spec.actions", "new": {"mode": "observe"}},
        {"op": "change", "path": "spec.checks[0].min", "old": 0.02, "new": 0.03},
        {"op": "remove", "path": "spec.checks[1]", "old": {"name": "bounce", "max": 0.5}},
        {"op": "change", "path": "spec.interval", "old": "60s", "new": "30s"},
        {"op": "add", "path": "spec.sidecar.redact[1]", "new": "email"},
        {"op": "remove", "path": "spec.slos.errorRate", "old": 0.01},
        {"op": "change", "path": "spec.slos.latencyP95Ms", "old": 250, "new": 200},
    ]
    assert audit.changes(new, new) == []
    assert audit.spec_changed(new, new, {}, now=NOW) is None
    # A type change is a change (1 and 1.0 are what the client sent), an odd key is quoted.
    assert audit.diff_entries(audit.changes({"a": 1}, {"a": 1.0})) == [
        {"op": "change", "path": "spec.a", "old": 1, "new": 1.0}
    ]
    assert (
        audit.render(("spec", "nodeSelector", "kubernetes.io/os")) == 'spec.nodeSelector["kubernetes.io/os"]'
    )


def entry(
    manager: str, operation: str, time: str, fields: dict[str, Any], subresource: str = ""
) -> dict[str, Any]:
    e = {
        "manager": manager,
        "operation": operation,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    return {**e, "subresource": subresource} if subresource else e


APPLY = entry("kubectl-client-side-apply", "Update", "2026-12-02T00:50:00Z",
              {"f:metadata": {"f:annotations": {}}, "f:spec": {".": {}, "f:target": {"f:deployment": {}},
                                                               "f:checks": {}, "f:slos": {"f:errorRate": {}}}})  # fmt: skip
PATCH = entry("kubectl-patch", "Update", "2026-12-02T00:59:59Z", {"f:spec": {"f:interval": {}}})
STATUS = entry("modelmonitor", "Update", "2026-12-02T01:00:00Z", {"f:status": {"f:phase": {}}}, "status")
KOPF = entry("kopf", "Update", "2026-12-02T01:00:00Z", {"f:metadata": {"f:annotations": {"f:x": {}}}})


def test_the_managers_are_those_now_owning_what_changed_whose_entry_changed_last() -> None:
    fields = [APPLY, PATCH, STATUS, KOPF]
    changed = audit.changes({"interval": "60s"}, {"interval": "30s"})
    assert audit.attribute(fields, changed) == [
        {"manager": "kubectl-patch", "operation": "Update", "time": "2026-12-02T00:59:59Z",
         "paths": ["spec.interval"], "basis": "owner"}
    ]  # fmt: skip
    # An atomic list is owned whole: a change inside it is its owner's.
    inside = audit.changes({"checks": [{"min": 1}]}, {"checks": [{"min": 2}]})
    assert [m["manager"] for m in audit.attribute(fields, inside)] == ["kubectl-client-side-apply"]
    # Two writers in the same second both show.
    both = audit.changes({"interval": "60s", "target": {"deployment": "a"}},
                         {"interval": "30s", "target": {"deployment": "b"}})  # fmt: skip
    same_second = [{**APPLY, "time": PATCH["time"]}, PATCH]
    assert {m["manager"] for m in audit.attribute(same_second, both)} == {
        "kubectl-client-side-apply",
        "kubectl-patch",
    }
    # A removal leaves no owner: the spec's managers whose entry changed last, said to be a guess.
    removed = audit.changes({"slos": {"latencyP95Ms": 250}}, {"slos": {}})
    assert audit.attribute(fields, removed) == [
        {"manager": "kubectl-patch", "operation": "Update", "time": "2026-12-02T00:59:59Z", "basis": "latest"}
    ]
    assert audit.attribute(None, changed) == []


def test_created_changed_and_deleted_records() -> None:
    meta = {"generation": 2, "creationTimestamp": "2026-12-02T00:50:00Z", "managedFields": [APPLY, PATCH]}
    made = audit.created({"target": {"deployment": "credit"}}, meta, now=NOW)
    assert made["kind"] == "created" and made["spec"] == {"target": {"deployment": "credit"}}
    assert [m["manager"] for m in made["managers"]] == ["kubectl-client-side-apply"]
    changed = audit.spec_changed({"interval": "60s"}, {"interval": "30s"}, meta, now=NOW)
    assert changed is not None and changed["generation"] == 2 and changed["kind"] == "specChanged"
    assert changed["changes"] == [{"op": "change", "path": "spec.interval", "old": "60s", "new": "30s"}]
    gone = audit.deleted({"generation": 3, "deletionTimestamp": NOW}, now=NOW)
    assert gone == {"time": NOW, "kind": "deleted", "generation": 3, "deletionTimestamp": NOW}


def test_decisions_not_to_act_say_why_and_missing_data_is_recorded() -> None:
    def why(result: str, message: str) -> str:
        return str(
            audit.decision("rollback", "SLOBreached", result, message, generation=1, now=NOW).get("why")
        )

    assert why("Observed", "would roll back (observe mode)") == "observeMode"
    assert why("Skipped", "held; in cooldown for another 30s") == "cooldown"
    assert why("Skipped", "2 rollbacks in 24h reach maxPerDay=2") == "dailyCap"
    assert why("Skipped", "the Deployment is managed by Argo CD") == "gitOps"
    done = audit.decision("rollback", "SLOBreached", "Done", "rolled back", generation=1, now=NOW)
    assert done["kind"] == "action" and "why" not in done

    spec = ModelMonitorSpec.model_validate({"target": {"deployment": "d"},
                                            "actions": {"rollback": {"when": ["SLOBreached"]}}})  # fmt: skip
    unknown = {"SLOBreached": {"status": "Unknown", "reason": "PrometheusUnreachable", "message": "refused"}}
    [blind] = audit.blind(spec, unknown, set(), generation=4, now=NOW)
    assert blind["kind"] == "noAction" and blind["why"] == "missingData" and blind["generation"] == 4
    assert "PrometheusUnreachable" in blind["message"]
    assert audit.blind(spec, unknown, {"rollback"}, generation=4, now=NOW) == []  # already said
    assert audit.blind(spec, {"SLOBreached": {"status": "False"}}, set(), generation=4, now=NOW) == []
    assert audit.retention_seconds({}) == 720 * 3600 and audit.retention_seconds({"retention": "2h"}) == 7200


def test_a_url_s_path_and_query_never_reach_the_trail_but_a_change_of_them_shows() -> None:
    token = "T000/B000/XXXXsecretXXXX"  # made up: the shape of the secret path a Slack webhook URL carries
    old = {"actions": {"alerts": [{"webhook": {"url": f"https://hooks.slack.com/services/{token}"}}]},
           "drift": {"reference": {"url": "https://bucket.s3.example/ref.json?X-Amz-Signature=abc123sig"}}}  # fmt: skip
    new = {"actions": {"alerts": [{"webhook": {"url": "https://hooks.slack.com/services/T000/B000/other"}}]}}
    changed = audit.spec_changed(old, new, {}, now=NOW)
    made = audit.created(old, {}, now=NOW)
    text = repr(changed) + repr(made)
    assert token not in text and "secret" not in text and "abc123sig" not in text and "/services" not in text
    [url, ref] = changed["changes"] if changed else []
    assert url["path"] == "spec.actions.alerts[0].webhook.url" and url["old"] != url["new"]
    assert url["new"].startswith("https://hooks.slack.com/... sha256:")
    assert ref["old"]["reference"]["url"].startswith("https://bucket.s3.example/... sha256:")
