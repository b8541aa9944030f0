"""On a real API server, as the chart's ServiceAccount: the monitor's state ConfigMap (the
concept-drift checkpoint, the calibrator) is created, read back, merge-patched under its
resourceVersion (a stale write answers 409 and is not applied), and one of that name that is not
the monitor's own is neither read nor written."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes
import pytest

from modelmonitor.act.state import save_state
from modelmonitor.adapters.kubernetes import KubernetesClient
from modelmonitor.gather.state import gather_state
from modelmonitor.workload.state import CALIBRATOR_KEY, STATE_KEY, state_name
from tests.cluster.conftest import K8s
from tests.cluster.test_operator_rbac import monitor

pytestmark = pytest.mark.cluster


def port(kubeconfig: Path) -> KubernetesClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)  # type: ignore[no-untyped-call]
    return KubernetesClient(kubernetes.client.ApiClient(config))


def test_the_state_configmap_is_created_patched_guarded_and_owned(
    k8s: K8s, namespace: str, operator_kubeconfig: Path
) -> None:
    k8s.apply(monitor("stateful"), namespace)
    uid = k8s.get("mm", "-n", namespace, "stateful")["metadata"]["uid"]
    kube = port(operator_kubeconfig)

    first = {"concept": {"cursor": 1.0, "rows": 10}}
    assert save_state(kube, namespace, "stateful", uid, first, None) == []
    state, stored = gather_state(kube, namespace, "stateful", uid)
    assert state == first and stored is not None
    cm = k8s.get("configmap", "-n", namespace, state_name("stateful"))
    assert cm["metadata"]["ownerReferences"][0]["uid"] == uid  # it goes with the monitor

    second = {**first, "calibrator": {"format": "modelmonitor.calibrator/v1", "method": "platt", "coef": 2.0,
                                      "intercept": -1.0}}  # fmt: skip
    assert save_state(kube, namespace, "stateful", uid, second, stored) == []
    cm = k8s.get("configmap", "-n", namespace, state_name("stateful"))
    assert json.loads(cm["data"][STATE_KEY]) == second
    assert json.loads(cm["data"][CALIBRATOR_KEY])["coef"] == 2.0  # on its own key, for a model server

    # A write from a stale read (another replica wrote meanwhile) is refused by the server.
    notes = save_state(kube, namespace, "stateful", uid, {"concept": {"cursor": 9.0}}, stored)
    assert [n.reason for n in notes] == ["StateNotSaved"] and "409" in notes[0].message
    assert (
        json.loads(k8s.get("configmap", "-n", namespace, state_name("stateful"))["data"][STATE_KEY]) == second
    )

    # Someone else's ConfigMap of that name: not read, not written.
    k8s.apply(monitor("other"), namespace)
    other_uid = k8s.get("mm", "-n", namespace, "other")["metadata"]["uid"]
    k8s.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": state_name("other")},
               "data": {STATE_KEY: json.dumps({"concept": {"cursor": 5.0}})}}, namespace)  # fmt: skip
    state, stored = gather_state(kube, namespace, "other", other_uid)
    assert state == {} and stored is not None
    notes = save_state(kube, namespace, "other", other_uid, first, stored)
    assert [n.reason for n in notes] == ["StateNotSaved"] and "is not this monitor's state" in notes[
        0
    ].message
    cm = k8s.get("configmap", "-n", namespace, state_name("other"))
    assert json.loads(cm["data"][STATE_KEY]) == {"concept": {"cursor": 5.0}}
