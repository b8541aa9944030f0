"""A spec.target.container the pod template lacks is reported in status, field and all, with or
without injection: the operator neither raises nor patches anything (found by generated specs)."""

from __future__ import annotations

import pytest

from tests.unit.operator.fakes import FakeKube, condition, deployment, monitor_spec, reconciler, request


@pytest.mark.parametrize("inject", [True, False])
def test_an_absent_model_container_is_refused_naming_the_field(inject: bool) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    spec = monitor_spec(
        target={"deployment": "x", "port": 8080, "container": "absent"}, sidecar={"inject": inject}
    )

    out = reconciler(kube).reconcile(request(spec))

    ready = condition(out.status_patch, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainerNotFound")
    assert "spec.target.container 'absent' is not in the pod template (containers: model)" in ready["message"]
    assert condition(out.status_patch, "SidecarInjected")["reason"] == "ContainerNotFound"
    assert out.status_patch["phase"] == "Error"
    assert not out.evaluated
    assert kube.deployments["x"] == deployment()  # nothing injected, nothing patched
