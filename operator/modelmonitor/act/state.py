"""Keeping the evaluators' state in the monitor's state ConfigMap (workload/state.py plans it):
created when missing, patched when it changed, never when it is not the monitor's own."""

from __future__ import annotations

from typing import Any

from modelmonitor.act.outcome import Note
from modelmonitor.adapters.ports import KubernetesError, KubernetesPort
from modelmonitor.workload import state


def save_state(
    kube: KubernetesPort, namespace: str, monitor: str, uid: str, new: dict[str, Any],
    stored: dict[str, Any] | None,
) -> list[Note]:  # fmt: skip
    """Write ``new`` unless it is what ``stored`` (the ConfigMap read this evaluation) holds."""
    name = state.state_name(monitor)
    if stored is not None and not state.owned(stored, monitor, uid):
        return [Note(True, "StateNotSaved", f"ConfigMap {namespace}/{name} exists and is not this monitor's "
                     "state: its concept-drift detector restarts at every evaluation; delete or rename it")]  # fmt: skip
    if stored is not None and state.read(stored) == new:
        return []
    try:
        if stored is None:
            kube.create_configmap(namespace, state.configmap(monitor, uid, namespace, new))
        else:
            kube.merge_patch_configmap(namespace, name, state.update(stored, new))
    except (KubernetesError, ValueError) as exc:
        # 409: written meanwhile (another replica, an earlier evaluation): the next evaluation reads it.
        return [Note(True, "StateNotSaved", f"ConfigMap {namespace}/{name}: {exc}")]
    return []
