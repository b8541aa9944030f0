"""Pod-name matching in PromQL: this Deployment's pods, by their ReplicaSets' template hashes."""

from __future__ import annotations

import re

from modelmonitor.policy.queries import Selector, re2_escape, resource_queries


def pod_regex(selector: Selector) -> str:
    """The regex as Prometheus sees it: read back out of the PromQL string literal."""
    literal = re.search(r'pod=~"((?:[^"\\]|\\.)*)"', selector.pods)
    assert literal is not None, selector.pods
    return re.sub(r"\\(.)", r"\1", literal.group(1))


def matches(selector: Selector, pod: str) -> bool:
    return re.fullmatch(pod_regex(selector), pod) is not None  # PromQL anchors =~ at both ends


def test_known_hashes_select_exactly_the_deployments_pods() -> None:
    sel = Selector("risk", "credit", "model", ("7c4b9f8d6", "6d9f8c5b4"))
    assert pod_regex(sel) == r"credit-(6d9f8c5b4|7c4b9f8d6)-[bcdfghjklmnpqrstvwxz2456789]{5}"
    assert matches(sel, "credit-7c4b9f8d6-x2x7q") and matches(sel, "credit-6d9f8c5b4-bk9zt")
    assert not matches(sel, "credit-5f5f5f5f5-x2x7q")  # a ReplicaSet of another Deployment
    assert not matches(sel, "credit-db-0")  # a StatefulSet's pod
    assert not matches(sel, "credit-scoring-7c4b9f8d6-x2x7q")  # another Deployment's name


def test_without_a_known_hash_the_pattern_still_refuses_other_workloads() -> None:
    sel = Selector("risk", "credit", "model")
    assert matches(sel, "credit-7c4b9f8d6-x2x7q")
    assert not matches(sel, "credit-db-0")
    assert not matches(sel, "credit-scoring-7c4b9f8d6-x2x7q")
    assert not matches(sel, "credit-7c4b9f8d6-x2x7q-extra")


def test_dots_in_the_name_are_literal() -> None:
    sel = Selector("risk", "credit.v2", "model", ("7c4b9f8d6",))
    assert pod_regex(sel).startswith(r"credit\.v2-(")
    assert matches(sel, "credit.v2-7c4b9f8d6-x2x7q")
    assert not matches(sel, "creditxv2-7c4b9f8d6-x2x7q")
    assert not matches(Selector("risk", "credit.v2", "model"), "creditxv2-7c4b9f8d6-x2x7q")
    assert re2_escape("a.b+c") == r"a\.b\+c"


def test_long_names_follow_the_cut_generated_prefix() -> None:
    name = "a-very-long-deployment-name-for-a-recommender-model"  # 51 characters
    sel = Selector("ml", name, "model", ("7c4b9f8d6",))
    pod = f"{name}-7c4b9f8d6-"[:58] + "x2x7q"  # what the API server names it
    assert matches(sel, pod)
    assert not matches(sel, f"{name}-7c4b9f8d6-x2x7q")


def test_resource_queries_use_the_pod_selector() -> None:
    sel = Selector("risk", "credit", "model", ("7c4b9f8d6",))
    q = resource_queries(sel, 300)
    assert f'{{{sel.pods},container="model"}}' in q["cpuCores"]
    assert f"{{{sel.pods}}}" in q["gpuUtilization"]
