"""Is the monitor ready to evaluate? The spec's validity and the target Deployment, judged.

Pure: takes the spec, the current status and the Deployment as plain data, returns the status
patch and the condition transitions (which become Kubernetes Events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.status import Condition, ConditionStatus, ConditionType, Phase, set_condition
from modelmonitor.api.validation import spec_problems

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class Transition:
    """A condition whose status or reason changed: the operator raises an Event for each."""

    type: str
    status: str
    reason: str
    message: str

    @property
    def warning(self) -> bool:
        return (
            self.status != ConditionStatus.TRUE if self.type == ConditionType.READY else self.status == "True"
        )


@dataclass
class Assessment:
    spec: ModelMonitorSpec | None
    status_patch: dict[str, Any]
    transitions: list[Transition] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return (
            self.spec is not None
            and self.status_patch.get("phase") != Phase.ERROR
            and any(
                c["type"] == ConditionType.READY and c["status"] == ConditionStatus.TRUE
                for c in self.status_patch["conditions"]
            )
        )


def model_version(deployment: dict[str, Any], label: str) -> str | None:
    """The model version from the pod template's labels or annotations (labels first)."""
    meta = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    value = (meta.get("labels") or {}).get(label) or (meta.get("annotations") or {}).get(label)
    return str(value) if value is not None else None


def assess_target(
    *,
    namespace: str,
    spec: Any,
    generation: int | None,
    status: dict[str, Any],
    deployment: dict[str, Any] | None,
    now: str,
    retry_seconds: float,
) -> Assessment:
    """Judge the spec and the target; ``now`` is RFC 3339, ``retry_seconds`` how soon we look again."""
    before = [Condition.model_validate(c) for c in status.get("conditions") or []]
    parsed, problems = spec_problems(spec)
    phase = status.get("phase") or Phase.PENDING
    target_status: dict[str, Any] | None = None
    if parsed is None:
        phase = Phase.ERROR
        cond = dict(
            status=ConditionStatus.FALSE,
            reason="InvalidSpec",
            message="; ".join(str(p) for p in problems),
        )
    elif deployment is None:
        phase = Phase.PENDING
        cond = dict(
            status=ConditionStatus.FALSE,
            reason="TargetNotFound",
            message=f"Deployment {namespace}/{parsed.target.deployment} not found; "
            f"looking again every {retry_seconds:g}s",
        )
    else:
        if phase in (Phase.ERROR, Phase.UNKNOWN) or phase not in set(Phase):
            phase = Phase.PENDING
        annotations = (deployment.get("metadata") or {}).get("annotations") or {}
        ds = deployment.get("status") or {}
        wanted = (deployment.get("spec") or {}).get("replicas", 1)
        ready_replicas = int(ds.get("readyReplicas") or 0)
        target_status = {
            "deployment": parsed.target.deployment,
            "revision": annotations.get(REVISION_ANNOTATION),
            "modelVersion": model_version(deployment, parsed.target.versionLabel),
            "readyReplicas": ready_replicas,
        }
        waiting = (
            f"evaluating every {parsed.interval}"
            if status.get("lastEvaluation")
            else "first evaluation pending"
        )
        cond = dict(
            status=ConditionStatus.TRUE,
            reason="TargetFound",
            message=f"Deployment {namespace}/{parsed.target.deployment} found "
            f"({ready_replicas}/{wanted} replicas ready); {waiting}",
        )
    after = set_condition(before, type=ConditionType.READY, now=now, generation=generation, **cond)  # type: ignore[arg-type]
    transitions = _transitions(before, after)
    patch: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": str(phase),
        "conditions": [c.model_dump(mode="json", exclude_none=True) for c in after],
    }
    if target_status is not None:
        patch["target"] = target_status
    return Assessment(spec=parsed, status_patch=patch, transitions=transitions)


def _transitions(before: list[Condition], after: list[Condition]) -> list[Transition]:
    old = {c.type: (c.status, c.reason) for c in before}
    return [
        Transition(type=c.type, status=str(c.status), reason=c.reason, message=c.message)
        for c in after
        if old.get(c.type) != (c.status, c.reason)
    ]
