"""The audit volume (spec.sidecar.audit): an emptyDir mounted in the sidecar alone, the sidecar's
segments sized under its limit, taken out exactly when turned off, and records of older operators
still removed. Patches are applied with RFC 6902 semantics, as the API server applies them."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
from typing import Any

import jsonpatch
import pytest

from modelmonitor.sidecar import config
from modelmonitor.workload.injected import AUDIT_MOUNT, AUDIT_VOLUME, audit_sizing, canonical_size
from modelmonitor.workload.injection import (
    ADMIN_VOLUME,
    INJECTED_ANNOTATION,
    SIDECAR_NAME,
    InjectionError,
    plan_injection,
    plan_removal,
    template_hash,
)
from modelmonitor.workload.rollback import plan_rollback
from tests.unit.workload.test_injection import IMAGE, apply, deployment, spec

MI, GI = 1 << 20, 1 << 30
# What the operator before the audit volume wrote for deployment() and spec() (monitor "mm"): the
# annotation, and a SHA-256 of the pod template it injected. Audit off must keep both, or every
# injected Deployment would roll its pods when the operator is upgraded.
BEFORE_RECORD = (
    '{"monitor": "mm", "container": "modelmonitor-sidecar", "digest": "88425f34ed278dec", '
    '"volume": "modelmonitor-admin"}'
)
BEFORE_TEMPLATE = "c4e0f59e97e802b6448f7460eb480e9b43459778ea51666e4d530659e684703a"


def inject(obj: dict[str, Any], **sidecar: Any) -> dict[str, Any]:
    return apply(obj, plan_injection(obj, spec(**sidecar), monitor="mm", image=IMAGE))


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def sidecar(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod(obj)["containers"] if c["name"] == SIDECAR_NAME)


def test_audit_off_keeps_the_pod_template_and_record_an_older_operator_wrote() -> None:
    injected = inject(deployment())
    digest = hashlib.sha256(json.dumps(injected["spec"]["template"], sort_keys=True).encode()).hexdigest()
    assert (injected["metadata"]["annotations"][INJECTED_ANNOTATION], digest) == (
        BEFORE_RECORD,
        BEFORE_TEMPLATE,
    )
    assert plan_injection(injected, spec(audit={"enabled": False}), monitor="mm", image=IMAGE) == []
    assert not any(e["name"].startswith("MODELMONITOR_AUDIT") for e in sidecar(injected)["env"])


def test_audit_on_adds_an_emptydir_for_the_sidecar_alone_with_segments_under_the_limit() -> None:
    on = inject(deployment(), audit={"enabled": True, "sizeLimit": "2Gi"})
    assert [v for v in pod(on)["volumes"] if v["name"] == AUDIT_VOLUME] == [
        {"name": AUDIT_VOLUME, "emptyDir": {"sizeLimit": "2Gi"}}
    ]
    assert {AUDIT_VOLUME: AUDIT_MOUNT}.items() <= {
        m["name"]: m["mountPath"] for m in sidecar(on)["volumeMounts"]
    }.items()
    assert [c["name"] for c in pod(on)["containers"] if c.get("volumeMounts")] == [SIDECAR_NAME]
    record = json.loads(on["metadata"]["annotations"][INJECTED_ANNOTATION])
    assert (record["volume"], record["volumes"]) == (ADMIN_VOLUME, [ADMIN_VOLUME, AUDIT_VOLUME])
    assert (
        plan_injection(on, spec(audit={"enabled": True, "sizeLimit": "2Gi"}), monitor="mm", image=IMAGE) == []
    )

    # The sidecar itself reads these variables (its flags, sidecar/config.py): the sizes it will use.
    env = {e["name"]: e["value"] for e in sidecar(on)["env"] if "value" in e}
    env.pop("MODELMONITOR_ADMIN_TOKEN_FILE")
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    seen = config.resolve(parser.parse_args([]), env)
    assert seen.audit_dir == AUDIT_MOUNT
    assert (seen.audit_keep + 1) * seen.audit_segment_bytes <= 0.9 * 2 * GI
    assert seen.audit_keep >= 721  # 720 h of retention, hourly segments, the one being written
    assert seen.audit_segment_age == 3600


@pytest.mark.parametrize("limit", ["64Mi", "100Mi", "1Gi", "3Gi", "200Gi"])
def test_the_segments_and_an_erasure_copy_stay_under_90_percent_of_the_limit(limit: str) -> None:
    size = int(limit[:-2]) * (MI if limit.endswith("Mi") else GI)
    segment, keep = audit_sizing(limit, 720 * 3600)
    assert (keep + 1) * segment <= 0.9 * size
    assert MI <= segment <= 64 * MI and 2 <= keep <= 721
    assert audit_sizing(limit, 24 * 3600)[1] <= 25  # a short retention needs fewer segments


def test_the_size_is_written_as_the_api_server_stores_it() -> None:
    assert [canonical_size(s) for s in ("64Mi", "1024Mi", "1536Mi", "1Gi", "2048Gi")] == [
        "64Mi", "1Gi", "1536Mi", "1Gi", "2Ti",
    ]  # fmt: skip
    on = inject(deployment(), audit={"enabled": True, "sizeLimit": "1024Mi"})
    assert pod(on)["volumes"][-1]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert (
        plan_injection(on, spec(audit={"enabled": True, "sizeLimit": "1024Mi"}), monitor="mm", image=IMAGE)
        == []
    )


def test_turning_it_off_takes_out_exactly_the_volume_mount_and_env() -> None:
    user_volume = {"name": "models", "configMap": {"name": "weights"}}
    base = deployment()
    base["spec"]["template"]["spec"]["volumes"] = [user_volume]
    off = inject(base)
    on = inject(off, audit={"enabled": True})
    assert [v["name"] for v in pod(on)["volumes"]] == ["models", ADMIN_VOLUME, AUDIT_VOLUME]
    back = inject(on, audit={"enabled": False})
    assert json.dumps(back["spec"], sort_keys=True) == json.dumps(off["spec"], sort_keys=True)
    assert back["metadata"]["annotations"] == off["metadata"]["annotations"]
    # ...and the removal on delete takes ours, leaving the user's volume where it was.
    gone = apply(on, plan_removal(on, monitor="mm"))
    assert gone["spec"] == base["spec"] and "annotations" not in gone["metadata"]


def test_template_hash_ignores_the_audit_volume() -> None:
    off = inject(deployment())
    on = inject(off, audit={"enabled": True})
    assert template_hash(on) == template_hash(off) == template_hash(deployment())


def test_a_foreign_audit_volume_is_refused_when_on_and_left_alone_when_off() -> None:
    base = deployment()
    theirs = {"name": AUDIT_VOLUME, "persistentVolumeClaim": {"claimName": "big"}}
    base["spec"]["template"]["spec"]["volumes"] = [theirs]
    with pytest.raises(InjectionError) as caught:
        plan_injection(base, spec(audit={"enabled": True}), monitor="mm", image=IMAGE)
    assert caught.value.reason == "VolumeConflict"
    assert f"a volume named {AUDIT_VOLUME!r} that the monitor did not add" in caught.value.message
    assert "spec.sidecar.audit" in caught.value.message and "rename the volume" in caught.value.message
    off = inject(base)  # not needed while off: the user's volume stays, and goes nowhere on removal
    assert pod(off)["volumes"][0] == theirs
    assert pod(apply(off, plan_removal(off, monitor="mm")))["volumes"] == [theirs]


def test_a_one_volume_record_of_an_older_operator_is_removed_and_upgraded() -> None:
    old = inject(deployment())  # exactly what an older operator wrote (the first test pins it)
    assert pod(apply(old, plan_removal(old, monitor="mm"))) == pod(deployment())
    on = inject(old, audit={"enabled": True})
    assert [v["name"] for v in pod(on)["volumes"]] == [ADMIN_VOLUME, AUDIT_VOLUME]
    # An older operator still reading "volume" removes the admin volume it knows of; an upgraded one
    # removes both, the whole list going with its last entries.
    ops = plan_removal(on, monitor="mm")
    assert {"op": "remove", "path": "/spec/template/spec/volumes"} in ops
    assert apply(on, ops)["spec"] == deployment()["spec"]


def test_a_concurrent_edit_of_the_volumes_fails_the_removal() -> None:
    on = inject(deployment(), audit={"enabled": True})
    ops = [
        op
        for op in plan_injection(on, spec(), monitor="mm", image=IMAGE)
        if op["path"] != "/metadata/resourceVersion"
    ]
    moved = copy.deepcopy(on)
    moved["spec"]["template"]["spec"]["volumes"].reverse()  # someone else reordered them meanwhile
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, ops)


def test_a_rollback_keeps_the_audit_volume_the_sidecar_mounts() -> None:
    """A ReplicaSet of the audit trail's time restored while it is off (or the other way round)
    gets the volumes the sidecar mounts now: no mount of a missing volume, no stray volume."""
    base = deployment()
    base["metadata"]["uid"] = "u1"
    with_audit = inject(base, audit={"enabled": True})
    replicaset = {
        "metadata": {"ownerReferences": [{"kind": "Deployment", "name": "credit-scoring", "uid": "u1"}],
                     "annotations": {"deployment.kubernetes.io/revision": "4"}},
        "spec": {"template": copy.deepcopy(with_audit["spec"]["template"])},
    }  # fmt: skip
    for now, names in ((with_audit, [ADMIN_VOLUME, AUDIT_VOLUME]), (inject(with_audit), [ADMIN_VOLUME])):
        after = apply(now, plan_rollback(now, replicaset, reason="SLOBreached"))
        assert [v["name"] for v in pod(after)["volumes"]] == names
        assert {m["name"] for m in sidecar(after)["volumeMounts"]} == set(names)
