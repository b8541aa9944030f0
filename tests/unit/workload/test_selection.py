"""Selecting exactly one Deployment's pods: the full label selector, then ownership by uid."""

from __future__ import annotations

from typing import Any

import pytest

from modelmonitor.workload.selection import (
    owned_pods,
    owned_replicasets,
    render_selector,
    selector_matches,
    template_hashes,
)

CHAMPION = {"metadata": {"name": "x", "uid": "dep-x"}}
CHALLENGER = {"metadata": {"name": "x-v2", "uid": "dep-x-v2"}}


def owner(kind: str, uid: str, controller: bool = True) -> list[dict[str, Any]]:
    return [{"apiVersion": "apps/v1", "kind": kind, "name": "n", "uid": uid, "controller": controller}]


def rs(uid: str, deployment_uid: str, pth: str) -> dict[str, Any]:
    return {"metadata": {"name": f"rs-{uid}", "uid": uid, "labels": {"pod-template-hash": pth},
                         "ownerReferences": owner("Deployment", deployment_uid)}}  # fmt: skip


def pod(name: str, rs_uid: str | None, controller: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if rs_uid:
        meta["ownerReferences"] = owner("ReplicaSet", rs_uid, controller)
    return {"metadata": meta}


def test_the_selector_renders_match_labels_and_every_operator() -> None:
    selector = {
        "matchLabels": {"app": "x", "team": "risk"},
        "matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["v2"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert render_selector(selector) == ("app=x,team=risk,track notin (v2),tier,env in (canary,prod),!legacy")
    assert render_selector({"matchLabels": {"app": "x"}}) == "app=x"


def test_an_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="Gt"):
        render_selector({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})


def test_matching_follows_the_api_servers_rules() -> None:
    selector = {
        "matchLabels": {"app": "x"},
        "matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["v2"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert selector_matches(selector, {"app": "x", "tier": "web"})
    assert selector_matches(selector, {"app": "x", "tier": "web", "track": "v1"})
    assert not selector_matches(selector, {"app": "x", "tier": "web", "track": "v2"})  # NotIn
    assert not selector_matches(selector, {"app": "x"})  # Exists
    assert not selector_matches(selector, {"app": "x", "tier": "web", "legacy": ""})  # DoesNotExist
    assert not selector_matches(selector, {"app": "y", "tier": "web"})  # matchLabels
    assert selector_matches(
        {"matchExpressions": [{"key": "e", "operator": "In", "values": ["a"]}]}, {"e": "a"}
    )
    assert not selector_matches({"matchExpressions": [{"key": "e", "operator": "In", "values": ["a"]}]}, {})


def test_overlapping_selectors_keep_only_this_deployments_pods() -> None:
    # Champion selects app=x, challenger app=x,track=v2: a list by app=x returns both sets of pods.
    replicasets = [rs("rs-a", "dep-x", "aaaa"), rs("rs-b", "dep-x", "bbbb"), rs("rs-c", "dep-x-v2", "cccc")]
    pods = [pod("x-aaaa-1", "rs-a"), pod("x-bbbb-2", "rs-b"), pod("x-v2-cccc-3", "rs-c"),
            pod("bare", None), pod("adopted-not-controller", "rs-a", controller=False)]  # fmt: skip
    assert [p["metadata"]["name"] for p in owned_pods(pods, replicasets, CHAMPION)] == [
        "x-aaaa-1",
        "x-bbbb-2",
    ]
    assert [p["metadata"]["name"] for p in owned_pods(pods, replicasets, CHALLENGER)] == ["x-v2-cccc-3"]
    assert [r["metadata"]["uid"] for r in owned_replicasets(replicasets, CHALLENGER)] == ["rs-c"]
    assert template_hashes(replicasets, CHAMPION) == ["aaaa", "bbbb"]


def test_ownership_is_by_uid_not_by_name() -> None:
    # A Deployment deleted and re-created under the same name is another owner.
    replicasets = [rs("rs-old", "dep-x-before", "aaaa")]
    assert owned_replicasets(replicasets, CHAMPION) == []
    assert owned_pods([pod("x-aaaa-1", "rs-old")], replicasets, CHAMPION) == []
    assert owned_replicasets(replicasets, {"metadata": {"name": "x"}}) == []  # no uid: nothing is owned
