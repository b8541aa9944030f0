"""The NetworkPolicy of the sidecars' admin port: who may reach which port, as the API reads it."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from modelmonitor.operator.settings import OperatorSettings, parse_labels, parse_peers
from modelmonitor.workload.netpol import (
    DEFAULT_PROMETHEUS_PEERS,
    PeerError,
    check_peers,
    conflict,
    network_policy,
    plan_update,
    tcp_ports_except,
)
from tests.unit.workload.test_injection import deployment

OPERATOR = {"app.kubernetes.io/name": "modelmonitor", "app.kubernetes.io/instance": "mm",
            "app.kubernetes.io/component": "operator"}  # fmt: skip


def policy(admin_port: int = 8481, **extra: Any) -> dict[str, Any]:
    return network_policy(
        deployment(), monitor="mm", uid="mon-uid", admin_port=admin_port,
        operator_namespace="modelmonitor-system", operator_labels=OPERATOR, **extra,
    )  # fmt: skip


def allowed(pol: dict[str, Any], *, port: int, protocol: str = "TCP") -> list[Any]:
    """The peers admitted to ``port`` ("anywhere" for a rule without ``from``), read as the API
    defines a NetworkPolicyIngressRule: a port matches by number, or within [port, endPort]."""
    out: list[Any] = []
    for rule in pol["spec"]["ingress"]:
        for p in rule["ports"]:
            if p.get("protocol", "TCP") != protocol:
                continue
            low = p.get("port")
            if low is None or low <= port <= p.get("endPort", low):
                out.extend(rule.get("from") or ["anywhere"])
                break
    return out


def test_it_selects_the_deployments_pods_and_is_owned_by_the_monitor() -> None:
    pol = policy()
    assert pol["apiVersion"] == "networking.k8s.io/v1" and pol["kind"] == "NetworkPolicy"
    assert pol["metadata"]["name"] == "mm-modelmonitor-admin"
    assert pol["spec"]["podSelector"] == deployment()["spec"]["selector"]
    assert pol["spec"]["policyTypes"] == ["Ingress"]  # egress is left alone
    (owner,) = pol["metadata"]["ownerReferences"]
    assert owner["uid"] == "mon-uid" and owner["controller"] is True and owner["kind"] == "ModelMonitor"
    assert conflict(pol, "mm", "mon-uid") is None


def test_the_admin_port_only_from_the_operator_and_prometheus() -> None:
    pol = policy()
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "modelmonitor-system"}},
        "podSelector": {"matchLabels": OPERATOR},
    }
    assert allowed(pol, port=8481) == [operator, *DEFAULT_PROMETHEUS_PEERS]
    assert "anywhere" not in allowed(pol, port=8481)


@pytest.mark.parametrize("port", [1, 80, 8080, 8480, 8482, 9090, 65535])
def test_every_other_port_stays_open_to_anyone(port: int) -> None:
    """A policy that selects a pod denies what it does not allow: the model's own ports stay open."""
    assert allowed(policy(), port=port) == ["anywhere"]
    for protocol in ("UDP", "SCTP"):
        assert allowed(policy(), port=port, protocol=protocol) == ["anywhere"]


def test_port_ranges_at_the_edges() -> None:
    assert tcp_ports_except(8481) == [
        {"protocol": "TCP", "port": 1, "endPort": 8480},
        {"protocol": "TCP", "port": 8482, "endPort": 65535},
    ]
    assert tcp_ports_except(1) == [{"protocol": "TCP", "port": 2, "endPort": 65535}]
    assert tcp_ports_except(2) == [
        {"protocol": "TCP", "port": 1},
        {"protocol": "TCP", "port": 3, "endPort": 65535},
    ]
    assert tcp_ports_except(65535) == [{"protocol": "TCP", "port": 1, "endPort": 65534}]
    for port in (1, 2, 65535):
        assert allowed(policy(admin_port=port), port=port) == [
            allowed(policy(), port=8481)[0],
            *DEFAULT_PROMETHEUS_PEERS,
        ]


def test_prometheus_peers_come_from_the_settings() -> None:
    peers = ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
             {"ipBlock": {"cidr": "10.1.0.0/16"}})  # fmt: skip
    assert allowed(policy(prometheus=peers), port=8481)[1:] == list(peers)
    assert allowed(policy(prometheus=()), port=8481) == allowed(policy(), port=8481)[:1]


def test_a_deployment_without_a_selector_gets_no_policy_that_selects_everything() -> None:
    dep = deployment()
    dep["spec"]["selector"] = {}
    with pytest.raises(ValueError, match=r"no spec\.selector"):
        network_policy(
            dep, monitor="mm", uid="u", admin_port=8481, operator_namespace="o", operator_labels=OPERATOR
        )


def test_a_foreign_policy_of_that_name_is_not_ours() -> None:
    foreign = policy()
    foreign["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert "not created by this ModelMonitor" in (conflict(foreign, "mm", "mon-uid") or "")
    unlabelled = policy()
    del unlabelled["metadata"]["labels"]
    assert conflict(unlabelled, "mm", "mon-uid") is not None


def test_a_stored_policy_is_replaced_when_it_differs_and_left_when_the_server_filled_defaults() -> None:
    desired = policy()
    stored = copy.deepcopy(desired)
    stored["metadata"]["resourceVersion"] = "7"
    assert plan_update(stored, desired) == []
    stored["spec"]["podSelector"]["matchExpressions"] = []  # normalisation is exact on the selector
    assert plan_update(stored, desired) != []
    stored = copy.deepcopy(desired)
    stored["metadata"]["resourceVersion"] = "7"
    stored["spec"]["ingress"][1]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}})  # opened by someone
    ops = plan_update(stored, desired)
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert jsonpatch.apply_patch(stored, ops)["spec"] == desired["spec"]


def test_settings_read_labels_and_peers_and_name_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_labels("a=b, c/d=e", where="X") == {"a": "b", "c/d": "e"}
    with pytest.raises(ValueError, match=r"X: 'a' is not key=value"):
        parse_labels("a", where="X")
    assert parse_peers("", where="Y") == DEFAULT_PROMETHEUS_PEERS
    with pytest.raises(ValueError, match="Y: not JSON"):
        parse_peers("[{", where="Y")
    with pytest.raises(PeerError, match=r"Y\[0\]: unknown keys \['podSelectr'\]"):
        parse_peers('[{"podSelectr": {}}]', where="Y")
    with pytest.raises(PeerError, match="ipBlock cannot be combined"):
        check_peers([{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}], where="Y")
    with pytest.raises(PeerError, match="a list of NetworkPolicyPeer"):
        check_peers({"podSelector": {}}, where="Y")
    monkeypatch.setenv("MODELMONITOR_OPERATOR_NAMESPACE", "ops")
    monkeypatch.setenv("MODELMONITOR_OPERATOR_POD_LABELS", "app=mm")
    monkeypatch.setenv("MODELMONITOR_NETWORK_POLICY", "false")
    monkeypatch.setenv("MODELMONITOR_NETWORK_POLICY_PROMETHEUS", json.dumps([{"podSelector": {}}]))
    settings = OperatorSettings.from_env()
    assert (settings.operator_namespace, settings.operator_pod_labels) == ("ops", {"app": "mm"})
    assert settings.network_policy is False
    assert settings.network_policy_prometheus == ({"podSelector": {}},)
