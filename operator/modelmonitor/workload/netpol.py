"""The NetworkPolicy that keeps the sidecar's admin port to the operator and Prometheus.

Pure: the target Deployment and the operator's settings come in, a networking.k8s.io/v1
NetworkPolicy (and the JSON patch that makes a stored one so) goes out.

Why the port ranges: a NetworkPolicy that selects a pod denies every ingress to that pod that no
policy allows. The model's pods may take traffic on ports we know nothing of (a metrics port, a
gRPC port, a debug port), so "allow only the admin port from the operator" would cut them off.
This policy therefore allows every port *but* the admin port from anywhere (TCP in two ranges
around it, UDP and SCTP whole), and the admin port only from the operator's pods and Prometheus.
Policies add up: the user's own policies on these pods still restrict what they restrict, except
that ours admits the other ports from anywhere; the admin port is open only to what some policy
admits (ours: the operator and Prometheus).

The kubelet's readiness probe of the admin port (``/healthz``) comes from the node, which network
plugins let through whatever the policies say.

The API server validates a NetworkPolicy but enforces nothing: the cluster's network plugin does.
On a cluster whose plugin does not implement NetworkPolicy the admin port stays reachable, and the
bearer token is the only guard.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from modelmonitor.workload import admin
from modelmonitor.workload.injection import as_desired, guard

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server
MAX_PORT = 65535
DEFAULT_PROMETHEUS_PEERS: tuple[dict[str, Any], ...] = (
    {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
)
PEER_KEYS = frozenset({"podSelector", "namespaceSelector", "ipBlock"})


class PeerError(ValueError):
    """A NetworkPolicyPeer given in the settings is not one: the message says which and why."""


def check_peers(peers: Any, *, where: str) -> tuple[dict[str, Any], ...]:
    """The peers as a tuple of NetworkPolicyPeer dicts, or PeerError naming ``where`` and the fault."""
    if not isinstance(peers, list | tuple):
        raise PeerError(
            f"{where}: a list of NetworkPolicyPeer objects is expected, not {type(peers).__name__}"
        )
    out = []
    for i, peer in enumerate(peers):
        if not isinstance(peer, dict) or not peer:
            raise PeerError(f"{where}[{i}]: a NetworkPolicyPeer object (podSelector, namespaceSelector "
                            "or ipBlock) is expected")  # fmt: skip
        unknown = sorted(set(peer) - PEER_KEYS)
        if unknown:
            raise PeerError(f"{where}[{i}]: unknown keys {unknown}; a NetworkPolicyPeer has "
                            "podSelector, namespaceSelector, ipBlock")  # fmt: skip
        if "ipBlock" in peer and len(peer) > 1:
            raise PeerError(f"{where}[{i}]: ipBlock cannot be combined with a selector")
        for key, value in peer.items():
            if not isinstance(value, dict):
                raise PeerError(f"{where}[{i}].{key}: an object is expected")
        out.append(copy.deepcopy(peer))
    return tuple(out)


def tcp_ports_except(port: int) -> list[dict[str, Any]]:
    """NetworkPolicyPorts for every TCP port but ``port``: 1..port-1 and port+1..65535."""
    out: list[dict[str, Any]] = []
    for low, high in ((1, port - 1), (port + 1, MAX_PORT)):
        if low > high:
            continue
        entry: dict[str, Any] = {"protocol": "TCP", "port": low}
        if high > low:
            entry["endPort"] = high
        out.append(entry)
    return out


def network_policy(
    deployment: dict[str, Any], *, monitor: str, uid: str, admin_port: int, operator_namespace: str,
    operator_labels: dict[str, str], prometheus: tuple[dict[str, Any], ...] = DEFAULT_PROMETHEUS_PEERS,
    name: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The monitor's NetworkPolicy for the pods of ``deployment`` (its ``spec.selector``), named like
    the admin Secret (or ``name``: an A/B test's challenger has its own) and owned by the monitor, so
    it goes with the monitor."""
    selector = copy.deepcopy((deployment.get("spec") or {}).get("selector") or {})
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        # An empty podSelector would select every pod of the namespace.
        raise ValueError("the Deployment has no spec.selector: no NetworkPolicy can select its pods")
    operator = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: operator_namespace}},
        "podSelector": {"matchLabels": dict(operator_labels)},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name or admin.admin_name(monitor),
            "labels": admin.labels(monitor),
            "ownerReferences": [admin.owner_reference(monitor, uid)],
        },
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [
                # Everything but the admin port, from anywhere: the model's own traffic, unchanged.
                {"ports": [*tcp_ports_except(admin_port), {"protocol": "UDP"}, {"protocol": "SCTP"}]},
                # The admin port (window, feedback, metrics, health) from the operator and Prometheus.
                {"from": [operator, *copy.deepcopy(list(prometheus))],
                 "ports": [{"protocol": "TCP", "port": admin_port}]},
            ],
        },
    }  # fmt: skip


def conflict(stored: dict[str, Any], monitor: str, uid: str) -> str | None:
    """Why an existing NetworkPolicy of our name is not ours to change (None when it is ours)."""
    if admin.owned(stored, monitor, uid):
        return None
    name = (stored.get("metadata") or {}).get("name") or admin.admin_name(monitor)
    return (
        f"NetworkPolicy {name!r} exists but was not created by this ModelMonitor; the sidecar is not "
        "injected: delete or rename that NetworkPolicy, or rename the monitor"
    )


def plan_update(stored: dict[str, Any], desired: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON patch that makes our stored NetworkPolicy's spec the desired one; ``[]`` when it is.
    The spec is replaced whole (a merge patch would keep labels a changed selector dropped); keys the
    server filled in are no difference (``injection.as_desired``)."""
    if as_desired(stored.get("spec") or {}, desired["spec"]) and _same_shape(stored, desired):
        return []
    return [*guard(stored), {"op": "replace", "path": "/spec", "value": desired["spec"]}]


def _same_shape(stored: dict[str, Any], desired: dict[str, Any]) -> bool:
    """``as_desired`` lets the stored side have more keys; a selector with an extra label is a
    different selection, so the selector must match exactly."""
    have = (stored.get("spec") or {}).get("podSelector") or {}
    want = desired["spec"]["podSelector"]
    return json.dumps(have, sort_keys=True) == json.dumps(want, sort_keys=True)
