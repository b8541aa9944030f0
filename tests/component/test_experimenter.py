"""The experiment's actor on the emulated API, through the real Kubernetes port: the challenger
scaled for its share or weighted on an HTTPRoute, stopped, promoted into the champion (the patch
sent is the planned one, and the stored champion keeps its sidecar), a refusal reported with its
status and reason, and an approval used up by a merge patch.

What was sent is read from the raw request bodies the emulator recorded.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import kmock
import pytest

from modelmonitor.act.experiment import Experimenter, Traffic
from modelmonitor.workload.experiment import APPROVAL_ANNOTATION, PROMOTED_FROM, plan_promotion
from modelmonitor.workload.injection import SIDECAR_NAME, template_hash
from tests.component.test_kubernetes_port import port_for, status
from tests.emulator import MODELMONITORS, VERBS

pytestmark = pytest.mark.component

DEPLOYMENTS = "apps/v1/deployments"
HTTPROUTES = "gateway.networking.k8s.io/v1/httproutes"
ROUTE = ("credit", "credit-scoring", "credit-scoring-v2")


def deployment(name: str, image: str, replicas: int, ready: int, *, sidecar: bool) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{"name": "model", "image": image, "args": ["serve"],
                                         "env": [{"name": "MODEL_TOKEN", "value": f"s3cr3t-{name}"}]}]  # fmt: skip
    if sidecar:
        containers.append({"name": SIDECAR_NAME, "image": "ghcr.io/modelmonitor/modelmonitor:0.1.0"})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": "4"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}},
        "status": {"replicas": ready, "readyReplicas": ready},
    }  # fmt: skip


def httproute(champion_weight: int = 1, challenger_weight: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "credit"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [
            {"name": "credit-scoring", "port": 80, "weight": champion_weight},
            {"name": "credit-scoring-v2", "port": 80, "weight": challenger_weight},
        ]}]},
    }  # fmt: skip


async def setup(
    cluster: Any, *, champion: int = 9, challenger: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    cluster.resources[HTTPROUTES] = kmock.ResourceInfo(kind="HTTPRoute", namespaced=True, verbs=VERBS)
    champ = await cluster.api.create(DEPLOYMENTS, "ns", deployment("credit-scoring", "credit:1", champion,
                                                                   champion, sidecar=True))  # fmt: skip
    chall = await cluster.api.create(DEPLOYMENTS, "ns", deployment("credit-scoring-v2", "credit:2", challenger,
                                                                   0, sidecar=True))  # fmt: skip
    return champ, chall


def patches(cluster: Any, plural: str | None = None) -> list[tuple[str, str, Any]]:
    """(name, Content-Type, body) of every PATCH the emulator received, in order."""
    return [
        (r.url.path.rsplit("/", 1)[1], r.headers.get("Content-Type", ""), json.loads(r.body))
        for r in cluster
        if r.method == "PATCH" and r.resource is not None and (plural is None or r.resource.plural == plural)
    ]


async def test_split_by_replicas_scales_the_challenger_for_its_share_of_the_pods(cluster: Any) -> None:
    champ, chall = await setup(cluster, champion=9, challenger=0)
    actor = Experimenter(port_for(cluster))

    traffic = await asyncio.to_thread(
        actor.split, namespace="ns", champion=champ, challenger=chall, share=0.1, route=None
    )

    assert isinstance(traffic, Traffic) and not traffic.failed
    assert (traffic.mode, traffic.requested) == ("replicas", 0.1)
    assert traffic.replicas == {"champion": 9, "challenger": 0} and traffic.actual == 0.0  # none ready yet
    stored = await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring-v2")
    assert stored["spec"]["replicas"] == 1
    assert "challenger credit-scoring-v2 at 1 replicas beside 9 of credit-scoring" in traffic.message
    assert [(n, t) for n, t, _ in patches(cluster)] == [("credit-scoring-v2", "application/json-patch+json")]
    # Again, from what is stored now: nothing to write.
    again = await asyncio.to_thread(
        actor.split, namespace="ns", champion=champ, challenger=stored, share=0.1, route=None
    )
    assert not again.failed and len(patches(cluster)) == 1


async def test_split_by_route_sets_the_weights_reads_them_back_and_wakes_a_challenger_at_zero(
    cluster: Any,
) -> None:
    champ, chall = await setup(cluster, champion=3, challenger=0)
    await cluster.api.create(HTTPROUTES, "ns", httproute())
    actor = Experimenter(port_for(cluster))

    traffic = await asyncio.to_thread(
        actor.split, namespace="ns", champion=champ, challenger=chall, share=0.1, route=ROUTE
    )

    assert not traffic.failed, traffic.message
    assert traffic.mode == "httpRoute" and traffic.actual == pytest.approx(0.1)
    stored = await cluster.api.get(HTTPROUTES, "ns", "credit")
    assert [r["weight"] for r in stored["spec"]["rules"][0]["backendRefs"]] == [900, 100]
    assert (await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring-v2"))["spec"]["replicas"] == 1
    assert (await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring"))["spec"]["replicas"] == 3  # not scaled
    assert "HTTPRoute credit weights give Service credit-scoring-v2 10.0% of the traffic" in traffic.message


async def test_a_missing_or_malformed_route_fails_the_split_and_writes_nothing(cluster: Any) -> None:
    champ, chall = await setup(cluster)
    actor = Experimenter(port_for(cluster))

    missing = await asyncio.to_thread(
        actor.split, namespace="ns", champion=champ, challenger=chall, share=0.1, route=ROUTE
    )
    assert missing.failed and missing.actual is None
    assert "HTTPRoute credit not found in namespace ns" in missing.message
    half = httproute()
    half["spec"]["rules"][0]["backendRefs"].pop()
    await cluster.api.create(HTTPROUTES, "ns", half)
    malformed = await asyncio.to_thread(
        actor.split, namespace="ns", champion=champ, challenger=chall, share=0.1, route=ROUTE
    )
    assert malformed.failed
    assert "rule 0 sends traffic to Service credit-scoring but not to credit-scoring-v2" in malformed.message
    assert patches(cluster) == []


async def test_stop_weighs_the_challenger_out_before_it_scales_what_is_stored_to_zero(cluster: Any) -> None:
    _, chall = await setup(cluster, challenger=2)
    await cluster.api.create(HTTPROUTES, "ns", httproute(900, 100))
    actor = Experimenter(port_for(cluster))

    stale = {**chall, "spec": {**chall["spec"], "replicas": 0}}  # read before a scale-up: it is read again

    result, message = await asyncio.to_thread(actor.stop, namespace="ns", challenger=stale, route=ROUTE)

    assert result == "Done", message
    assert (
        message == "challenger credit-scoring-v2 stopped: weight 0 on HTTPRoute credit, scaled to 0 replicas"
    )
    assert [name for name, _, _ in patches(cluster)] == ["credit", "credit-scoring-v2"]  # route first
    stored = await cluster.api.get(HTTPROUTES, "ns", "credit")
    assert [r["weight"] for r in stored["spec"]["rules"][0]["backendRefs"]] == [1000, 0]
    assert (await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring-v2"))["spec"]["replicas"] == 0


async def test_promote_sends_the_planned_patch_keeps_the_sidecar_then_is_done_without_writing(
    cluster: Any,
) -> None:
    champ, chall = await setup(cluster, challenger=1)
    actor = Experimenter(port_for(cluster))
    promote = dict(namespace="ns", champion_container="model", challenger_container="model", monitor="mm",
                   route=None)  # fmt: skip

    result, message = await asyncio.to_thread(actor.promote, champion=champ, challenger=chall, **promote)

    assert result == "Done", message
    assert message == ("promoted credit:2 from credit-scoring-v2 into Deployment credit-scoring (container "
                       "model: env, image); a new revision rolls out after revision 4; challenger scaled to 0 "
                       "replicas")  # fmt: skip
    assert "s3cr3t" not in message
    sent = patches(cluster)
    assert sent[0] == ("credit-scoring", "application/json-patch+json", plan_promotion(
        champ, chall, champion_container="model", challenger_container="model", monitor="mm"))  # fmt: skip
    assert sent[1][0] == "credit-scoring-v2"
    stored = await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring")
    model, sidecar = stored["spec"]["template"]["spec"]["containers"]
    assert (model["image"], model["env"]) == (
        "credit:2",
        chall["spec"]["template"]["spec"]["containers"][0]["env"],
    )
    assert sidecar == champ["spec"]["template"]["spec"]["containers"][1]
    assert stored["metadata"]["annotations"][PROMOTED_FROM] == f"credit-scoring-v2@{template_hash(chall)}"
    stopped = await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring-v2")
    assert stopped["spec"]["replicas"] == 0

    # A restart mid-promotion, or the next tick: it is done, and nothing is written.
    result, message = await asyncio.to_thread(actor.promote, champion=stored, challenger=stopped, **promote)
    assert (result, message) == ("Done", "already promoted: Deployment credit-scoring runs credit:2 of "
                                         "credit-scoring-v2 (revision 4); challenger scaled to 0 replicas")  # fmt: skip
    assert len(patches(cluster)) == 2


async def test_a_refused_promotion_is_failed_with_status_and_reason_and_the_challenger_keeps_running(
    cluster: Any,
) -> None:
    champ, chall = await setup(cluster, challenger=1)
    denial = 'deployments.apps "credit-scoring" is forbidden: User "u" cannot patch resource "deployments"'
    (
        cluster["patch /apis/apps/v1/namespaces/ns/deployments/credit-scoring"]
        << 403
        << status(403, "Forbidden", denial)
    )
    actor = Experimenter(port_for(cluster))

    result, message = await asyncio.to_thread(
        actor.promote, namespace="ns", champion=champ, challenger=chall, champion_container="model",
        challenger_container="model", monitor="mm", route=None,
    )  # fmt: skip

    assert result == "Failed"
    assert message == ("promotion of credit:2 from credit-scoring-v2 into Deployment credit-scoring: the API "
                       "refused it: 403 Forbidden")  # fmt: skip
    assert [name for name, _, _ in patches(cluster)] == ["credit-scoring"]  # the challenger was not touched
    assert (await cluster.api.get(DEPLOYMENTS, "ns", "credit-scoring-v2"))["spec"]["replicas"] == 1


async def test_clear_approval_removes_only_the_promote_annotation_by_merge_patch(cluster: Any) -> None:
    await cluster.api.create(MODELMONITORS, "ns", {
        "apiVersion": "modelmonitor.io/v1alpha1", "kind": "ModelMonitor",
        "metadata": {"name": "mm", "annotations": {APPROVAL_ANNOTATION: "approved", "team": "risk"}},
        "spec": {"target": {"deployment": "credit-scoring"}},
    })  # fmt: skip

    await asyncio.to_thread(Experimenter(port_for(cluster)).clear_approval, "ns", "mm")

    assert patches(cluster, "modelmonitors") == [
        ("mm", "application/merge-patch+json", {"metadata": {"annotations": {APPROVAL_ANNOTATION: None}}})
    ]
    stored = await cluster.api.get(MODELMONITORS, "ns", "mm")
    assert stored["metadata"]["annotations"] == {"team": "risk"}
