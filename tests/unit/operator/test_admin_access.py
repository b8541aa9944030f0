"""The admin Secret and the NetworkPolicy, through the Reconciler: made before the sidecar goes in,
used only when they are the monitor's own, and the token reaches the sidecar reader."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from modelmonitor.workload.admin import admin_name, admin_secret
from modelmonitor.workload.injection import ADMIN_VOLUME, SIDECAR_NAME
from tests.unit.operator.fakes import (
    FakeKube,
    condition,
    deployment,
    injected,
    monitor_spec,
    reconciler,
    request,
)

SECRET = admin_name("x")
POLICY_SETTINGS = {"operator_namespace": "modelmonitor-system",
                   "operator_pod_labels": {"app.kubernetes.io/name": "modelmonitor"}}  # fmt: skip
FOREIGN_VALUE = "db-password-5f2c9a"  # what a Secret of someone else's holds: never shown, never used


def decoded(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def foreign_secret(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, "resourceVersion": "3", **meta},
            "data": {"token": base64.b64encode(FOREIGN_VALUE.encode()).decode()}}  # fmt: skip


def test_the_secret_and_the_policy_are_made_before_the_sidecar_goes_in() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    outcome = reconciler(kube, **POLICY_SETTINGS).reconcile(request(monitor_spec()))

    order = [
        n for n, _ in kube.calls if n in ("create_secret", "create_network_policy", "json_patch_deployment")
    ]
    assert order == ["create_secret", "create_network_policy", "json_patch_deployment"]
    secret = kube.secrets[SECRET]
    assert secret["metadata"]["labels"] == {"modelmonitor.io/monitor": "x", "modelmonitor.io/secret": "admin"}
    assert secret["metadata"]["ownerReferences"] == [{
        "apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor", "name": "x", "uid": "mon-uid",
        "controller": True, "blockOwnerDeletion": False,
    }]  # fmt: skip
    token, salt = decoded(secret, "token"), decoded(secret, "salt")
    assert len(token) >= 43 and len(salt) >= 43 and token != salt  # 32 random bytes each
    pod = kube.deployments["x"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == ADMIN_VOLUME]
    assert volume["secret"]["secretName"] == SECRET
    policy = kube.network_policies[SECRET]
    assert policy["spec"]["podSelector"] == kube.deployments["x"]["spec"]["selector"]
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "mon-uid"
    assert condition(outcome.status_patch, "SidecarInjected")["reason"] == "RolloutInProgress"
    assert token not in json.dumps(outcome.status_patch) and salt not in json.dumps(outcome.status_patch)

    # The next evaluation finds both as they should be: nothing created or patched again.
    kube.deployments["x"]["metadata"]["generation"] = kube.deployments["x"]["status"][
        "observedGeneration"
    ] = 2
    kube.calls.clear()
    reconciler(kube, **POLICY_SETTINGS).reconcile(request(monitor_spec()))
    assert [n for n, _ in kube.calls if n.startswith(("create", "json_patch"))] == []
    assert decoded(kube.secrets[SECRET], "token") == token


@pytest.mark.parametrize(
    "meta",
    [
        {},  # someone's Secret that happens to have our name
        {"labels": {"modelmonitor.io/monitor": "x", "modelmonitor.io/secret": "admin"}},  # labels copied
        {
            "labels": {"modelmonitor.io/monitor": "x", "modelmonitor.io/secret": "admin"},  # an old monitor's
            "ownerReferences": [
                {"kind": "ModelMonitor", "name": "x", "uid": "an-older-x", "controller": True}
            ],
        },
    ],
    ids=["unlabelled", "not-owned", "owned-by-another-uid"],
)
def test_a_secret_of_that_name_that_is_not_the_monitors_own_is_refused(meta: dict[str, Any]) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    kube.secrets[SECRET] = foreign_secret(**meta)
    outcome = reconciler(kube).reconcile(request(monitor_spec()))

    injected_condition = condition(outcome.status_patch, "SidecarInjected")
    assert (injected_condition["status"], injected_condition["reason"]) == ("False", "AdminSecretConflict")
    message = injected_condition["message"]
    if "ownerReferences" in meta:  # the monitor was deleted and made again before the GC came by
        assert "belongs to an earlier ModelMonitor of this name (uid an-older-x)" in message
    else:
        assert f"Secret '{SECRET}' exists but was not created by this ModelMonitor" in message
    assert outcome.status_patch["phase"] == "Error"
    assert kube.count("json_patch_deployment") == 0 and kube.count("create_secret") == 0
    assert "volumes" not in kube.deployments["x"]["spec"]["template"]["spec"]
    shown = json.dumps(outcome.status_patch) + json.dumps([t.__dict__ for t in outcome.transitions])
    assert FOREIGN_VALUE not in shown


def test_a_secret_made_meanwhile_by_another_replica_is_read_back() -> None:
    class Racing(FakeKube):
        def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.count("get_secret") == 0:  # not there yet; the other replica makes it just now
                self._call("get_secret", name)
                self.secrets[name] = admin_secret("x", "mon-uid")
                return None
            return super().get_secret(namespace, name)

    kube = Racing()
    kube.deployments["x"] = deployment()
    outcome = reconciler(kube).reconcile(request(monitor_spec()))
    assert [n for n, _ in kube.calls if n.endswith("_secret")] == [
        "get_secret",
        "create_secret",
        "get_secret",
    ]
    assert condition(outcome.status_patch, "SidecarInjected")["reason"] == "RolloutInProgress"


def test_an_own_secret_without_a_token_says_how_to_recover() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    mine = admin_secret("x", "mon-uid")
    del mine["data"]["token"]
    kube.secrets[SECRET] = mine
    outcome = reconciler(kube).reconcile(request(monitor_spec()))
    c = condition(outcome.status_patch, "SidecarInjected")
    assert (
        c["reason"] == "AdminSecretInvalid"
        and "delete it, and the operator creates a new one" in c["message"]
    )
    assert kube.count("json_patch_deployment") == 0


def test_a_network_policy_of_that_name_that_is_not_ours_stops_the_injection() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    kube.network_policies[SECRET] = {"metadata": {"name": SECRET}, "spec": {"podSelector": {}}}
    outcome = reconciler(kube, **POLICY_SETTINGS).reconcile(request(monitor_spec()))
    c = condition(outcome.status_patch, "SidecarInjected")
    assert c["reason"] == "NetworkPolicyConflict" and "not created by this ModelMonitor" in c["message"]
    assert kube.count("json_patch_deployment") == 0 and kube.count("json_patch_network_policy") == 0


def test_our_network_policy_is_put_back_when_someone_opened_it() -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    rec = reconciler(kube, **POLICY_SETTINGS)
    rec.reconcile(request(monitor_spec()))
    desired = json.loads(json.dumps(kube.network_policies[SECRET]["spec"]))
    kube.network_policies[SECRET]["spec"]["ingress"][1]["from"] = []  # from anywhere
    rec.reconcile(request(monitor_spec(), generation=2))
    assert kube.count("json_patch_network_policy") == 1
    assert kube.network_policies[SECRET]["spec"] == desired


def test_no_network_policy_when_it_is_off_or_the_operator_cannot_be_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = FakeKube()
    kube.deployments["x"] = deployment()
    reconciler(kube, network_policy=False, **POLICY_SETTINGS).reconcile(request(monitor_spec()))
    assert kube.count("get_network_policy") == 0 and kube.count("create_network_policy") == 0
    assert kube.count("create_secret") == 1  # the token is needed all the same

    kube = FakeKube()
    kube.deployments["x"] = deployment()
    rec = reconciler(kube)  # no operator namespace or pod labels: a policy would lock the operator out
    with caplog.at_level(logging.WARNING):
        rec.reconcile(request(monitor_spec()))
        rec.reconcile(request(monitor_spec(), generation=2))
    assert kube.count("create_network_policy") == 0
    said = [r.getMessage() for r in caplog.records if "NetworkPolicy" in r.getMessage()]
    assert len(said) == 1 and "MODELMONITOR_OPERATOR_NAMESPACE" in said[0]


class TokenSidecar:
    """An admin port on 127.0.0.1 (port 0) that answers /v1/window as the sidecar does when it has a
    token file: 401 without a Bearer header, 403 with a wrong token, the window with the right one."""

    def __init__(self) -> None:
        self.token = ""
        self.seen: list[str | None] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                fake.seen.append(auth)
                code = 401 if not auth else 403 if auth != f"Bearer {fake.token}" else 200
                body = {"rows": {"features": {"income": [1.0, 2.0]}, "id": ["a", "b"], "ts": [1.8e9, 1.8e9],
                                 "version": ["1", "1"], "prediction": [0, 1], "label": [None, None]},
                        "cursor": 2, "more": False} if code == 200 else {"error": "no"}  # fmt: skip
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sidecar() -> Iterator[TokenSidecar]:
    fake = TokenSidecar()
    yield fake
    fake.close()


def test_the_operator_reads_the_sidecars_with_the_secrets_token(sidecar: TokenSidecar) -> None:
    kube = FakeKube()
    spec = monitor_spec(sidecar={"adminPort": sidecar.port})
    kube.deployments["x"] = injected(deployment(), spec)
    kube.replicasets = [
        {
            "metadata": {
                "name": "x-1",
                "uid": "rs-1",
                "labels": {"app": "x"},
                "ownerReferences": [{"kind": "Deployment", "uid": "dep-x", "controller": True}],
            }
        }
    ]
    kube.pods = [{"metadata": {"name": "x-1-a", "labels": {"app": "x"},
                               "ownerReferences": [{"kind": "ReplicaSet", "uid": "rs-1", "controller": True}]},
                  "spec": {"containers": [{"name": "model"}, {"name": SIDECAR_NAME}]},
                  "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}]  # fmt: skip
    rec = reconciler(kube)
    outcome = rec.reconcile(request(spec))  # makes the Secret, reads the sidecar with its token
    token = decoded(kube.secrets[SECRET], "token")
    sidecar.token = token

    assert sidecar.seen and all(s == f"Bearer {token}" for s in sidecar.seen)
    outcome = rec.reconcile(request(spec, generation=2))
    assert condition(outcome.status_patch, "DataDrift").get("reason") != "SidecarUnreachable"
    assert token not in json.dumps(outcome.status_patch)

    sidecar.token = "rotated"  # a sidecar that holds another token refuses the read: said, not shown
    outcome = rec.reconcile(request(spec, generation=3))
    c = condition(outcome.status_patch, "DataDrift")
    assert c["reason"] == "SidecarUnreachable"
    assert token not in json.dumps(outcome.status_patch) and "rotated" not in json.dumps(outcome.status_patch)
