"""The operator under faults, on the real API server with the stand-in kubelet (tests/helpers/faults.py
holds the scenarios; benchmarks/reliability.py runs the same ones for docs/reliability.md).

Assertions are on effects — what status, Events, alerts and the Deployment say — never on times."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import K8s
from tests.conftest import PrometheusProcess
from tests.helpers import faults
from tests.helpers.kubelet import Kubelet

pytestmark = pytest.mark.cluster


@pytest.fixture
def crash_loop_kubelet(k8s: K8s, namespace: str, tmp_path: Path) -> Iterator[Kubelet]:
    """The stand-in kubelet, restarting no container: a killed sidecar stays down (CrashLoopBackOff)."""
    with Kubelet(k8s.kubeconfig, namespace, tmp_path / "kubelet", max_restarts=0) as node:
        yield node
        print(f"--- kubelet journal:\n{node.journal()[-4000:]}")


async def test_a_dead_sidecar_a_prometheus_outage_and_a_kill_mid_rollback(
    k8s: K8s, namespace: str, crash_loop_kubelet: Kubelet, start_operator: Any,
    pod_prometheus: Callable[[str], Awaitable[PrometheusProcess]],
) -> None:  # fmt: skip
    faults.deploy_model(k8s, namespace, replicas=2)
    receiver = faults.AlertReceiver()
    stack = faults.Stack(k8s, namespace, crash_loop_kubelet, await pod_prometheus(namespace), start_operator,
                         receiver)  # fmt: skip
    try:
        stack.restart_operator()
        faults.watch_until_healthy(stack)

        # One pod's sidecar killed: the monitor names that pod and goes on with the other's window.
        dead = faults.sidecar_killed(stack)
        print("sidecar killed:", dead)
        assert dead["pod"] in dead["message"] and "terminated" in dead["message"], dead
        assert dead["drift_status_after"] == "False" and dead["drift_rows_after"], dead
        assert dead["failed_to_pod_while_down"] == dead["requests_to_pod_while_down"] > 0, dead
        assert dead["failed_to_other_pods"] == 0 < dead["requests_to_other_pods"], dead

        # Prometheus down: Unknown, naming it; nothing done on missing data; back after its restart.
        outage = await faults.prometheus_outage(stack)
        print("prometheus outage:", outage)
        assert outage["reason_while_down"] == "PrometheusUnavailable", outage
        assert outage["actions_while_down"] == 0 and outage["deployment_generations_while_down"] == 0, outage
        assert outage["status_after"] == "False", outage

        # SIGKILL after the rollback's Deployment patch, before its status write: recorded once after
        # the restart, never done twice; one Event, one alert.
        crash = faults.killed_mid_rollback(stack, outrank=True)
        print("killed mid-rollback:", crash)
        assert crash["recorded_at_kill"] == 0, "the kill came after the status write: nothing was tested"
        assert crash["rollbacks_in_status"] == 1 and crash["rollbacks_in_action_state"] == 1, crash
        assert crash["rollback_events"] == 1 and crash["rollback_alerts"] == 1, crash
        assert crash["deployment_generations_after_restart"] == 0 and crash["template_is_known_good"], crash
        assert crash["slo_breached"] == "False" and crash["phase"] == "Healthy", crash
    finally:
        if stack.load is not None:
            stack.load.stop()
        receiver.close()


def test_watches_resume_after_the_api_server_restarts(bare_api: K8s, tmp_path: Path) -> None:
    """A control plane of this test's own (etcd keeps the data): the API server killed and started
    again (~10 s down); the operator outlives it, and a spec change and a new monitor made afterwards
    are acted on. (An outage longer than Kopf's retries of a status patch, ~54 s, stops the
    evaluation timer of a monitor for good: docs/reliability.md.)"""
    starter = faults.OperatorStarter(bare_api, faults.install_release(bare_api), tmp_path / "operator")
    try:
        resumed = faults.apiserver_restart(bare_api, starter)
    finally:
        starter.stop_all()
        for handle in starter.started:
            print(f"--- {handle.name} log:\n{handle.output()[-4000:]}")
    print("figures:", resumed)
    assert resumed["spec_change_acted_on"] and resumed["new_monitor_acted_on"], resumed
    assert resumed["operator_alive"], resumed
    assert resumed["observed_generation"] == resumed["generation"], resumed
    assert resumed["created_after_status"], resumed


def test_conflicting_writes_from_a_stale_read_are_refused_then_redone_on_fresh_state(
    k8s: K8s, namespace: str, release: dict[str, Any]
) -> None:
    raced = faults.conflicts(k8s, namespace, k8s.kubeconfig)
    print("conflicts:", raced)
    # The rollback planned on the stale read: refused by the server (nothing applied blind), then done
    # within the same call on a fresh read, once, the other writer's annotation kept.
    result, message = raced["stale_rollback"]
    assert result == "Done" and "rolled back to revision" in message, raced
    patches = raced["rollback_patches"]
    assert raced["first_patch_on_stale_read"] and patches[0] == 422 and patches[-1] == 200, raced
    assert set(patches[:-1]) == {422} and len(patches) <= 5, raced
    assert raced["rollback_applied"] and raced["rollback_stamped"], raced
    assert raced["rollback_generations"] == 1, raced  # one spec change: applied once
    assert raced["other_writer_kept"] == "was-here", raced
    # The pod template changed by another writer after the read the decision judged: not rolled back over.
    result, message = raced["changed_rollback"]
    assert result == "Skipped" and "pod template changed since the decision" in message, raced
    assert raced["changed_patches"] == [422], raced
    assert raced["other_template_kept"] and raced["changed_generations"] == 0, raced
    assert raced["stale_state_write"] == ["StateNotSaved"] and raced["other_label_kept"] == "was-here", raced
    assert json.loads(raced["state_after_stale_write"]["state.json"]) == {"n": 1}, raced
    assert raced["fresh_state_write"] == [], raced
    assert json.loads(raced["state_after_fresh_write"]["state.json"]) == {"n": 2}, raced
