"""The chart's part of "a ModelMonitor is no way around RBAC": the aggregated roles for people, the
admission policy on spec.actions.retrain, and the opt-in and image allowlist settings of the operator."""

from __future__ import annotations

from typing import Any

import pytest

from modelmonitor.operator.settings import OperatorSettings
from tests.unit.chart.conftest import KUBE_VERSIONS, only, render

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}  # fmt: skip


def operator_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    (container,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_view_and_edit_roles_aggregate_into_the_built_in_ones() -> None:
    docs = render()
    view, edit = (
        only(docs, "ClusterRole", "modelmonitor-view"),
        only(docs, "ClusterRole", "modelmonitor-edit"),
    )
    assert {k for k in view["metadata"]["labels"] if k.startswith(AGGREGATE)} == {AGGREGATE + "view"}
    assert {k for k in edit["metadata"]["labels"] if k.startswith(AGGREGATE)} == {AGGREGATE + "edit",
                                                                                  AGGREGATE + "admin"}  # fmt: skip
    assert all(
        edit["metadata"]["labels"][k] == "true" for k in edit["metadata"]["labels"] if k.startswith(AGGREGATE)
    )
    reads = {("modelmonitor.io", "modelmonitors", v) for v in ("get", "list", "watch")}
    status = {("modelmonitor.io", "modelmonitors/status", "get")}
    writes = {("modelmonitor.io", "modelmonitors", v)
              for v in ("create", "update", "patch", "delete", "deletecollection")}  # fmt: skip
    assert rules(view) == reads | status
    assert rules(edit) == reads | status | writes
    # Nothing else: no Secret, no Job, no Deployment, and no status write (that is the operator's).
    user_roles = [
        d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith(("-view", "-edit"))
    ]
    assert sorted(d["metadata"]["name"] for d in user_roles) == ["modelmonitor-edit", "modelmonitor-view"]


@pytest.mark.parametrize("item", ["rbac.aggregate=false", "rbac.create=false"])
def test_the_aggregated_roles_can_be_left_out(item: str) -> None:
    names = {d["metadata"]["name"] for d in render(sets=(item,)) if d["kind"] == "ClusterRole"}
    assert not names & {"modelmonitor-view", "modelmonitor-edit"}


def test_the_admission_policy_needs_the_right_to_create_jobs_for_a_retrain() -> None:
    docs = render()
    policy = only(docs, "ValidatingAdmissionPolicy")
    binding = only(docs, "ValidatingAdmissionPolicyBinding")
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    (match,) = spec["matchConstraints"]["resourceRules"]
    assert (match["apiGroups"], match["resources"], sorted(match["operations"])) == (
        ["modelmonitor.io"], ["modelmonitors"], ["CREATE", "UPDATE"])  # fmt: skip
    check, experiment, approval = spec["validations"]
    assert (
        "authorizer.group('batch').resource('jobs').namespace(object.metadata.namespace).check('create').allowed()"
        in check["expression"]
    )
    assert "variables.retrain" in check["expression"] and check["reason"] == "Forbidden"
    assert "spec.actions.retrain" in check["messageExpression"]
    assert "may not create jobs" in check["messageExpression"]
    # spec.experiment makes the operator scale and rewrite Deployments: the user must be able to patch them.
    assert (
        "authorizer.group('apps').resource('deployments').namespace(object.metadata.namespace).check('patch')"
        ".allowed()" in experiment["expression"]
    )
    assert "variables.experimentUnchanged" in experiment["expression"] and experiment["reason"] == "Forbidden"
    assert "may not patch deployments" in experiment["messageExpression"]
    # So does approving a promotion (the annotation), unless the annotation is left as it was.
    assert "check('patch').allowed()" in approval["expression"] and approval["reason"] == "Forbidden"
    assert "variables.approvalUnchanged" in approval["expression"]
    assert "modelmonitor.io/promote" in approval["messageExpression"]


@pytest.mark.parametrize(("sets", "kube"), [(("admissionPolicy.enabled=false",), KUBE_VERSIONS[-1]),
                                            ((), "1.29.0")])  # fmt: skip
def test_the_admission_policy_can_be_left_out_and_needs_kubernetes_1_30(
    sets: tuple[str, ...], kube: str
) -> None:
    kinds = {d["kind"] for d in render(sets=sets, kube_version=kube)}
    assert not kinds & {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_opt_in_and_the_image_allowlist_reach_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    default = operator_env(render())
    assert default["MODELMONITOR_REQUIRE_OPT_IN"] == "true" and default["MODELMONITOR_SIDECAR_IMAGES"] == ""
    env = operator_env(render(sets=("operator.requireOptIn=false",
                                    "sidecar.allowedImages={registry.example.com/a:1,registry.example.com/b:2}")))  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings.from_env()
    assert settings.require_opt_in is False
    assert settings.sidecar_images == ("registry.example.com/a:1", "registry.example.com/b:2")
