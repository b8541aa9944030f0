"""What an injection adds to the pod template besides the sidecar container — its pod volumes — and
the record of it kept in the Deployment's ``modelmonitor.io/injected`` annotation.

Two volumes, both mounted in the sidecar container alone:

- ``modelmonitor-admin``: the monitor's admin Secret (its token; ``workload/admin.py``), always;
- ``modelmonitor-audit``: an ``emptyDir`` for the sidecar's JSONL audit trail, with
  ``spec.sidecar.audit.enabled`` only. Never a PVC or hostPath: whoever may create a monitor must
  not be able to mount storage into a pod they cannot edit. The sidecar's segment size and count are
  set so that the trail stays under 90 % of the emptyDir's ``sizeLimit`` (the kubelet evicts a pod
  whose emptyDir outgrows it).

Pure: the volumes, mounts and environment come out as dicts; injection.py plans the patches.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.api.spec.target import size_bytes
from modelmonitor.workload import admin

INJECTED_ANNOTATION = "modelmonitor.io/injected"
ADMIN_VOLUME = "modelmonitor-admin"
ADMIN_MOUNT = "/var/run/modelmonitor/admin"
ADMIN_TOKEN_FILE = f"{ADMIN_MOUNT}/{admin.TOKEN_KEY}"
# A Secret volume's files belong to root (group root, or the pod's fsGroup when the user's pod sets
# one), and the sidecar runs as uid 65532 with no fsGroup of ours: 0440 would lock it out of its own
# token in most pods. 0444 is safe here because only the sidecar container mounts this volume (the
# model's containers do not see it) and its only item is the token.
ADMIN_MODE = 0o444
AUDIT_VOLUME = "modelmonitor-audit"
AUDIT_MOUNT = "/var/lib/modelmonitor/audit"
OURS = (ADMIN_VOLUME, AUDIT_VOLUME)
"""Every pod volume the injection may add (what clean_template and a rollback set apart)."""

AUDIT_SHARE = 0.9  # of the emptyDir's sizeLimit, at most, for the audit segments
AUDIT_MIN_SEGMENT = 1 << 20  # bytes: smaller segments would rotate every few seconds under load
AUDIT_MAX_SEGMENT = 64 << 20  # bytes: the sidecar's own default segment size
AUDIT_SEGMENT_AGE = 3600.0  # seconds: the sidecar's default; a record outlives retention by at most this

_PURPOSE = {
    ADMIN_VOLUME: "the sidecar's admin token needs that name",
    AUDIT_VOLUME: "the sidecar's audit trail (spec.sidecar.audit) needs that name",
}


def admin_volume(monitor: str) -> dict[str, Any]:
    """The pod volume of the monitor's admin Secret: its token only (the salt goes in by env)."""
    return {
        "name": ADMIN_VOLUME,
        "secret": {
            "secretName": admin.admin_name(monitor),
            "items": [{"key": admin.TOKEN_KEY, "path": admin.TOKEN_KEY}],
            "defaultMode": ADMIN_MODE,
        },
    }


def canonical_size(size_limit: str) -> str:
    """``size_limit`` as the API server writes a Quantity back: the largest binary suffix that keeps
    it whole (``1024Mi`` is stored as ``1Gi``). Written so, the stored volume is as desired and is not
    patched again at every evaluation."""
    value = size_bytes(size_limit)
    for suffix, shift in (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20)):
        if value % (1 << shift) == 0:
            return f"{value >> shift}{suffix}"
    return str(value)  # not reached: an AuditSize is a whole number of Mi


def audit_volume(size_limit: str) -> dict[str, Any]:
    """The audit trail's emptyDir, on the node's disk (not ``medium: Memory``: it would count against
    the pod's memory limit)."""
    return {"name": AUDIT_VOLUME, "emptyDir": {"sizeLimit": canonical_size(size_limit)}}


def pod_volumes(spec: ModelMonitorSpec, monitor: str) -> list[dict[str, Any]]:
    """The pod volumes the sidecar needs for this spec, in the order they are added."""
    wanted = [admin_volume(monitor)]
    if spec.sidecar.audit.enabled:
        wanted.append(audit_volume(spec.sidecar.audit.sizeLimit))
    return wanted


def mounts(spec: ModelMonitorSpec) -> list[dict[str, Any]]:
    """The sidecar container's volume mounts: the admin token read-only, the audit folder when on."""
    out: list[dict[str, Any]] = [{"name": ADMIN_VOLUME, "mountPath": ADMIN_MOUNT, "readOnly": True}]
    if spec.sidecar.audit.enabled:
        out.append({"name": AUDIT_VOLUME, "mountPath": AUDIT_MOUNT})
    return out


def audit_sizing(size_limit: str, retention_seconds: float) -> tuple[int, int]:
    """(segment bytes, segments kept) for an emptyDir of ``size_limit``.

    ``(keep + 1) x segment`` stays within 90 % of the limit: the sidecar keeps ``keep`` segments
    (the one being written included), and an erasure writes one rewritten segment beside its original
    before the rename; the other 10 % leave room for the explanations' background file and for a
    last line that overflows its segment. As many segments are kept as hourly rotation needs to cover
    the retention (the sidecar rotates a segment after an hour even when it is small), unless that
    would make a segment smaller than 1 MiB; a segment is at most 64 MiB."""
    budget = int(size_bytes(size_limit) * AUDIT_SHARE)
    hours = math.ceil(retention_seconds / AUDIT_SEGMENT_AGE) + 1
    keep = max(2, min(hours, budget // AUDIT_MIN_SEGMENT - 1))
    return min(AUDIT_MAX_SEGMENT, budget // (keep + 1)), keep


def audit_env(spec: ModelMonitorSpec) -> list[dict[str, str]]:
    """The sidecar's audit settings (sidecar/config.py reads them); none while off, so that a pod
    template without the audit volume stays as it was."""
    if not spec.sidecar.audit.enabled:
        return []
    segment, keep = audit_sizing(spec.sidecar.audit.sizeLimit, parse_duration(spec.retention))
    return [
        {"name": "MODELMONITOR_AUDIT_DIR", "value": AUDIT_MOUNT},
        {"name": "MODELMONITOR_AUDIT_SEGMENT_BYTES", "value": str(segment)},
        {"name": "MODELMONITOR_AUDIT_KEEP", "value": str(keep)},
    ]


def conflict(name: str) -> str:
    """Why a pod volume of one of our names that the monitor did not add stops the injection."""
    return (
        f"the pod template already has a volume named {name!r} that the monitor did not add; "
        f"{_PURPOSE.get(name, 'the sidecar needs that name')}: rename the volume"
    )


@dataclass(frozen=True)
class Record:
    """What one monitor injected into a Deployment (the annotation's content)."""

    monitor: str
    container: str
    digest: str
    volumes: tuple[str, ...] = ()
    """The pod volumes added with the sidecar (none in records written before there was one)."""

    def to_json(self) -> str:
        # "volume" names the first (the admin volume), as records did before there could be more: an
        # operator of that time still removes it. "volumes" is written only when there are more, so
        # the annotation of a sidecar without the audit volume stays byte for byte as it was.
        data: dict[str, Any] = {"monitor": self.monitor, "container": self.container, "digest": self.digest}
        if self.volumes:
            data["volume"] = self.volumes[0]
        if len(self.volumes) > 1:
            data["volumes"] = list(self.volumes)
        return json.dumps(data)

    @classmethod
    def read(cls, deployment: dict[str, Any]) -> Record | None:
        text = ((deployment.get("metadata") or {}).get("annotations") or {}).get(INJECTED_ANNOTATION)
        if not text:
            return None
        try:
            data = json.loads(text)
            listed = data.get("volumes")
            single = data.get("volume")
            if isinstance(listed, list):
                names = tuple(str(v) for v in listed)
            else:
                names = (str(single),) if single is not None else ()
            return cls(
                monitor=str(data["monitor"]), container=str(data["container"]), digest=str(data["digest"]),
                volumes=names,
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
