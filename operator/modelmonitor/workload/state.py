"""The monitor's state ConfigMap: what the evaluators carry from one evaluation to the next and must
survive an operator restart (the concept-drift detector's checkpoint), as JSON under one key.

Pure planners. The ConfigMap is owned by the monitor (it goes with it) and labelled as its state;
one of that name that is not the monitor's own is never read nor written. Its content is plain JSON
restored by code that accepts only numbers and known fields (quality/concept.py), so editing it can
change this monitor's verdicts, as editing the monitor could, and nothing more.
"""

from __future__ import annotations

import json
from typing import Any

from modelmonitor.workload.jobs import owner_reference

STATE_KEY = "state.json"
CALIBRATOR_KEY = "calibrator.json"  # the fitted recalibrator, for a model server to mount
MONITOR_LABEL = "modelmonitor.io/monitor"
KIND_LABEL = "modelmonitor.io/configmap"
MAX_BYTES = 512 * 1024  # far under a ConfigMap's 1 MiB; a detector's checkpoint is a few KB


def state_name(monitor: str) -> str:
    return f"{monitor}-modelmonitor-state"[:253]


def labels(monitor: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "modelmonitor", MONITOR_LABEL: monitor, KIND_LABEL: "state"}


def owned(cm: dict[str, Any], monitor: str, uid: str) -> bool:
    meta = cm.get("metadata") or {}
    have = meta.get("labels") or {}
    if have.get(MONITOR_LABEL) != monitor or have.get(KIND_LABEL) != "state":
        return False
    return any(r.get("kind") == "ModelMonitor" and r.get("uid") == uid and r.get("controller") is True
               for r in meta.get("ownerReferences") or [])  # fmt: skip


def read(cm: dict[str, Any] | None) -> dict[str, Any]:
    """The stored state ({} when none, or when it is not a JSON object)."""
    text = ((cm or {}).get("data") or {}).get(STATE_KEY)
    if not text:
        return {}
    try:
        state = json.loads(text)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def text(state: dict[str, Any]) -> str:
    out = json.dumps(state, sort_keys=True, separators=(",", ":"))
    if len(out.encode()) > MAX_BYTES:
        raise ValueError(f"the monitor's state is {len(out.encode())} bytes, over {MAX_BYTES}")
    return out


def data(state: dict[str, Any]) -> dict[str, str]:
    """The ConfigMap's data: the state, and the calibrator on a key of its own when there is one."""
    out = {STATE_KEY: text(state)}
    if isinstance(state.get("calibrator"), dict):
        out[CALIBRATOR_KEY] = json.dumps(state["calibrator"], sort_keys=True)
    return out


def configmap(monitor: str, uid: str, namespace: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": state_name(monitor),
            "namespace": namespace,
            "labels": labels(monitor),
            "ownerReferences": [owner_reference(monitor, uid)],
        },
        "data": data(state),
    }


def update(cm: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of the data, guarded by the resourceVersion read (a concurrent write answers 409)."""
    return {"metadata": {"resourceVersion": (cm.get("metadata") or {}).get("resourceVersion")},
            "data": data(state)}  # fmt: skip
