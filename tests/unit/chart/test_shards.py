"""A release per shard: the chart passes shard.selector to the operator and gives each shard's
replicas a peering object of its own name, with the RBAC to use it."""

from __future__ import annotations

import os
from typing import Any

import pytest

from modelmonitor.cli import build_parser
from modelmonitor.operator.commands import flag_settings
from modelmonitor.operator.settings import ENV_PREFIX, OperatorSettings
from tests.unit.chart.conftest import CHART, NAMESPACE, helm, only, render

SHARD_A = ("replicaCount=2", "shard.selector=shard=a", "peering.name=modelmonitor-shard-a")


def operator_settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    """The settings the operator container of these manifests starts with (its args and env)."""
    (op,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for env in op.get("env") or []:
        if "value" in env:
            monkeypatch.setenv(env["name"], env["value"])
    for key, value in flag_settings(build_parser().parse_args(op["args"])).items():
        monkeypatch.setenv(ENV_PREFIX + key, value)
    return OperatorSettings.from_env()


def test_a_shard_release_runs_on_its_selector_with_its_own_peering(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(sets=SHARD_A)
    settings = operator_settings(docs, monkeypatch)
    assert settings.selector == {"shard": "a"}
    assert (settings.standalone, settings.peering) == (False, "modelmonitor-shard-a")
    assert only(docs, "ClusterKopfPeering")["metadata"]["name"] == "modelmonitor-shard-a"
    rules = only(docs, "ClusterRole", "modelmonitor-cluster")["rules"]
    assert any("clusterkopfpeerings" in r["resources"] and "patch" in r["verbs"] for r in rules)


def test_without_a_selector_every_monitor_is_handled(
    default_docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert operator_settings(default_docs, monkeypatch).selector == {}


def test_a_selector_shard_sharing_the_default_peering_name_is_refused() -> None:
    proc = helm(
        "template", "modelmonitor", str(CHART), "--namespace", NAMESPACE,
        "--set", "replicaCount=2", "--set", "shard.selector=shard=a", check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "set peering.name to this shard's own name" in proc.stderr
