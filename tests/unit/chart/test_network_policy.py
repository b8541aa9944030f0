"""The chart's NetworkPolicy settings reach the operator, and the policy it makes from them admits
the operator's own pods and is valid for Kubernetes (the API server's validation is proven on the
cluster tier: tests/cluster/test_admin_token.py)."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import kubernetes_validate
import pytest

from modelmonitor.operator.settings import ENV_PREFIX, OperatorSettings
from modelmonitor.workload.netpol import network_policy
from modelmonitor.workload.selection import selector_matches
from tests.unit.chart.conftest import KUBE_VERSIONS, NAMESPACE, only, render
from tests.unit.workload.test_injection import deployment


def settings_in_pod(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    """The operator's settings from its container's env, the Downward API resolved as a kubelet would."""
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    pod = only(docs, "Deployment")["spec"]["template"]
    for env in pod["spec"]["containers"][0]["env"]:
        if "value" in env:
            monkeypatch.setenv(env["name"], env["value"])
        elif env["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            monkeypatch.setenv(env["name"], NAMESPACE)
    return OperatorSettings.from_env()


def test_the_policy_the_operator_makes_admits_the_operators_own_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render()
    settings = settings_in_pod(docs, monkeypatch)
    assert settings.network_policy is True and settings.operator_namespace == NAMESPACE
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector_matches({"matchLabels": settings.operator_pod_labels}, pod_labels)
    assert settings.operator_pod_labels == only(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    pol = network_policy(
        deployment(), monitor="mm", uid="u", admin_port=8481, operator_namespace=settings.operator_namespace,
        operator_labels=settings.operator_pod_labels, prometheus=settings.network_policy_prometheus,
    )  # fmt: skip
    operator_peer = pol["spec"]["ingress"][1]["from"][0]
    assert operator_peer["podSelector"]["matchLabels"] == settings.operator_pod_labels
    assert operator_peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
    assert pol["spec"]["ingress"][1]["from"][1:] == [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    ]
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(pol, version, strict=True)
    broken = copy.deepcopy(pol)
    broken["spec"]["ingress"][0]["ports"][0]["endport"] = 10
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_the_values_turn_it_off_and_name_other_prometheus_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    docs = render(sets=("sidecar.networkPolicy.enabled=false",
                        "sidecar.networkPolicy.prometheus[0].namespaceSelector.matchLabels."
                        "kubernetes\\.io/metadata\\.name=monitoring"))  # fmt: skip
    settings = settings_in_pod(docs, monkeypatch)
    assert settings.network_policy is False
    assert list(settings.network_policy_prometheus) == peers
    assert json.loads(json.dumps(settings.network_policy_prometheus[0])) == peers[0]
