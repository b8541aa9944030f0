"""The state gatherer: what the evaluators kept from the last evaluation (workload/state.py), read
from the monitor's own state ConfigMap. A ConfigMap of that name that is not the monitor's own is
not read: the evaluators then start afresh, and the act stage leaves it alone and says so."""

from __future__ import annotations

from typing import Any

from modelmonitor.adapters.ports import KubernetesPort
from modelmonitor.workload import state


def gather_state(
    kube: KubernetesPort, namespace: str, monitor: str, uid: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the stored state, the ConfigMap it came from: None when there is none or it is not ours)."""
    cm = kube.get_configmap(namespace, state.state_name(monitor))
    if cm is None or not state.owned(cm, monitor, uid):
        return {}, cm
    return state.read(cm), cm
