"""An A/B experiment's patches: the challenger's replicas, the HTTPRoute weights, the promotion of
the challenger's model into the champion, applied with RFC 6902 semantics (``test`` ops included)
as a real API server applies application/json-patch+json."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from modelmonitor.workload.experiment import (
    CHANGE_CAUSE,
    PROMOTED_FIELDS,
    PROMOTED_FROM,
    ExperimentError,
    challenger_replicas,
    experiment_container,
    plan_promotion,
    plan_route_weights,
    plan_scale,
    promoted,
    replica_share,
    route_share,
)
from modelmonitor.workload.injection import SIDECAR_NAME, plan_injection, template_hash
from tests.unit.workload.test_injection import IMAGE, deployment, spec


def apply(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = jsonpatch.apply_patch(obj, ops, in_place=False)
    return out


def champion() -> dict[str, Any]:
    """credit-scoring with the sidecar injected: model, log-shipper, sidecar."""
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0].update(
        args=["serve", "--threshold=0.5"],
        env=[{"name": "MODEL_TOKEN", "value": "s3cr3t-champion"}],
        resources={"requests": {"cpu": "500m"}},
    )
    return apply(dep, plan_injection(dep, spec(), monitor="mm", image=IMAGE))


def challenger(**model: Any) -> dict[str, Any]:
    dep = deployment()
    dep["metadata"].update(name="credit-scoring-v2", generation=1)
    dep["spec"].update(replicas=1, selector={"matchLabels": {"app": "credit", "track": "v2"}})
    dep["spec"]["template"]["metadata"]["labels"].update(track="v2", **{"app.kubernetes.io/version": "2.0"})
    dep["spec"]["template"]["spec"]["containers"] = [{
        "name": "model", "image": "credit:2.0", "command": ["python", "-m", "credit"],
        "env": [{"name": "MODEL_TOKEN", "value": "s3cr3t-challenger"}, {"name": "TREES", "value": "400"}],
        "ports": [{"name": "http", "containerPort": 8080}], **model,
    }]  # fmt: skip
    return dep


def model_of(dep: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "model")


@pytest.mark.parametrize(
    ("champion_replicas", "share", "expected"),
    [
        (9, 0.1, 1),
        (4, 0.5, 4),
        (3, 0.25, 1),
        (10, 0.2, 3),
        (1, 0.5, 1),
        (1, 0.01, 1),
        (0, 0.5, 0),
        (2, 0.75, 6),
    ],
)
def test_challenger_replicas_give_it_its_share_of_the_pods(
    champion_replicas: int, share: float, expected: int
) -> None:
    assert challenger_replicas(champion_replicas, share) == expected


def test_a_share_outside_zero_and_one_is_refused() -> None:
    for share in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            challenger_replicas(3, share)


def test_replica_share_is_of_the_pods_of_both() -> None:
    assert replica_share(3, 1) == 0.25
    assert replica_share(0, 2) == 1.0
    assert replica_share(0, 0) is None


def test_scaling_tests_the_replicas_it_read_and_is_empty_when_already_so() -> None:
    dep = challenger()
    ops = plan_scale(dep, 3)
    assert ops == [{"op": "test", "path": "/spec/replicas", "value": 1},
                   {"op": "replace", "path": "/spec/replicas", "value": 3}]  # fmt: skip
    assert apply(dep, ops)["spec"]["replicas"] == 3
    assert plan_scale(apply(dep, ops), 3) == []
    moved = copy.deepcopy(dep)
    moved["spec"]["replicas"] = 2  # scaled by someone else since it was read
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(moved, ops)
    unset = copy.deepcopy(dep)
    del unset["spec"]["replicas"]  # the server's default is 1
    assert plan_scale(unset, 1) == []
    assert apply(unset, plan_scale(unset, 0))["spec"]["replicas"] == 0


def test_the_challengers_model_container_is_the_named_one_the_champions_namesake_or_the_only_one() -> None:
    dep = challenger()
    dep["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "envoy:1"})
    assert experiment_container(dep, "proxy", "model")["image"] == "envoy:1"
    assert experiment_container(dep, None, "model")["image"] == "credit:2.0"
    lone = challenger()
    lone["spec"]["template"]["spec"]["containers"][0]["name"] = "server"
    lone["spec"]["template"]["spec"]["containers"].append({"name": SIDECAR_NAME, "image": IMAGE})
    assert experiment_container(lone, None, "model")["name"] == "server"  # the sidecar does not count


def test_an_unknown_or_ambiguous_challenger_container_names_the_deployment_and_the_fix() -> None:
    dep = challenger()
    dep["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "envoy:1"})
    with pytest.raises(ExperimentError) as named:
        experiment_container(dep, "predictor", "model")
    assert named.value.reason == "ContainerNotFound"
    assert "credit-scoring-v2 has no container 'predictor' (containers: model, proxy)" in named.value.message
    dep["spec"]["template"]["spec"]["containers"][0]["name"] = "server"
    with pytest.raises(ExperimentError) as ambiguous:
        experiment_container(dep, None, "model")
    assert "credit-scoring-v2 has 2 containers (server, proxy)" in ambiguous.value.message
    assert "spec.experiment.challenger.container" in ambiguous.value.message


def test_promotion_copies_the_challengers_model_and_leaves_sidecar_labels_and_selector_alone() -> None:
    champ, chall = champion(), challenger()
    before = copy.deepcopy(champ)
    assert not promoted(champ, chall, "model", "model")

    ops = plan_promotion(champ, chall, champion_container="model", challenger_container="model", monitor="mm")
    after = apply(champ, ops)

    model = model_of(after)
    for field in ("image", "command", "env"):
        assert model[field] == model_of(chall)[field]
    # The challenger has no args and no resources: the champion's go, so its model runs as tested.
    assert "args" not in model and "resources" not in model
    assert model["ports"] == model_of(before)["ports"] and model["name"] == "model"
    others = lambda d: [c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] != "model"]  # noqa: E731
    assert others(after) == others(before)  # the sidecar and the log-shipper, exactly
    assert [c["name"] for c in after["spec"]["template"]["spec"]["containers"]] == ["model", "log-shipper",
                                                                                  SIDECAR_NAME]  # fmt: skip
    assert after["spec"]["selector"] == before["spec"]["selector"]
    assert (
        after["spec"]["template"]["metadata"] == before["spec"]["template"]["metadata"]
    )  # labels, annotations
    assert after["spec"]["template"]["spec"].get("volumes") == before["spec"]["template"]["spec"].get(
        "volumes"
    )
    notes = after["metadata"]["annotations"]
    assert notes[PROMOTED_FROM] == f"credit-scoring-v2@{template_hash(chall)}"
    assert notes[CHANGE_CAUSE] == "modelmonitor mm: promoted credit:2.0 from challenger credit-scoring-v2"
    assert before["metadata"]["annotations"].items() <= notes.items()  # the injection record is kept
    # Done: nothing more to do, and a restarted operator sees it.
    assert promoted(after, chall, "model", "model")
    assert plan_promotion(after, chall, champion_container="model", challenger_container="model",
                          monitor="mm") == []  # fmt: skip


def test_the_patch_never_names_an_env_value_outside_the_container_it_copies() -> None:
    champ, chall = champion(), challenger()
    ops = plan_promotion(champ, chall, champion_container="model", challenger_container="model", monitor="mm")
    for op in ops:
        if not op["path"].endswith("/env"):
            assert "s3cr3t" not in str(op)


def test_promotion_refuses_a_template_whose_container_moved_or_that_changed_since_it_was_read() -> None:
    champ, chall = champion(), challenger()
    ops = plan_promotion(champ, chall, champion_container="model", challenger_container="model", monitor="mm")
    assert {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "model"} in ops
    moved = copy.deepcopy(champ)
    containers = moved["spec"]["template"]["spec"]["containers"]
    containers.insert(0, containers.pop(1))  # log-shipper first: the model is at index 1 now
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(moved, ops)
    edited = copy.deepcopy(champ)
    edited["metadata"]["generation"] += 1  # someone changed the spec meanwhile
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(edited, ops)


def test_an_empty_list_or_map_is_no_value_as_the_api_server_stores_it() -> None:
    champ = champion()
    chall = challenger(args=[], resources={}, envFrom=[])
    after = apply(champ, plan_promotion(champ, chall, champion_container="model", challenger_container="model",
                                        monitor="mm"))  # fmt: skip
    assert "args" not in model_of(after) and "resources" not in model_of(after)
    stored = copy.deepcopy(after)
    model_of(stored)["resources"] = {}  # what the API server fills in
    assert promoted(stored, chall, "model", "model")
    assert set(PROMOTED_FIELDS) == {"image", "command", "args", "env", "envFrom", "resources"}


def test_promotion_names_the_containers_it_cannot_find_and_never_takes_the_sidecar() -> None:
    champ, chall = champion(), challenger()
    for kwargs, text in (
        ({"champion_container": "predictor", "challenger_container": "model"},
         "champion Deployment credit-scoring has no container 'predictor'"),
        ({"champion_container": "model", "challenger_container": "predictor"},
         "challenger Deployment credit-scoring-v2 has no container 'predictor' (containers: model)"),
        ({"champion_container": SIDECAR_NAME, "challenger_container": "model"}, "is the operator's sidecar"),
    ):  # fmt: skip
        with pytest.raises(ExperimentError) as caught:
            plan_promotion(champ, chall, monitor="mm", **kwargs)
        assert text in caught.value.message


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "credit", "namespace": "risk"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": refs} for refs in rules]},
    }


def ref(name: str, weight: int | None = None) -> dict[str, Any]:
    return {"name": name, "port": 80, **({"weight": weight} if weight is not None else {})}


@pytest.mark.parametrize(("share", "weights"), [(0.1, (900, 100)), (0.5, (500, 500)), (0.0, (1000, 0)),
                                                (0.1234, (877, 123))])  # fmt: skip
def test_route_weights_give_the_challenger_its_share_in_every_rule(
    share: float, weights: tuple[int, int]
) -> None:
    before = route([ref("champion"), ref("challenger")], [ref("challenger", 7), ref("champion", 3), ref("docs", 5)],
                   [ref("docs")])  # fmt: skip
    after = apply(
        before, plan_route_weights(before, champion="champion", challenger="challenger", share=share)
    )
    rules = after["spec"]["rules"]
    assert [r.get("weight") for r in rules[0]["backendRefs"]] == list(weights)
    assert [r.get("weight") for r in rules[1]["backendRefs"]] == [
        weights[1],
        weights[0],
        5,
    ]  # docs left alone
    assert rules[2] == before["spec"]["rules"][2]
    assert route_share(after, "champion", "challenger") == pytest.approx(weights[1] / 1000)
    assert plan_route_weights(after, champion="champion", challenger="challenger", share=share) == []


def test_route_weights_test_the_names_they_rely_on() -> None:
    before = route([ref("champion", 1), ref("challenger", 1)])
    ops = plan_route_weights(before, champion="champion", challenger="challenger", share=0.1)
    swapped = copy.deepcopy(before)
    swapped["spec"]["rules"][0]["backendRefs"].reverse()
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(swapped, ops)


def test_two_refs_to_one_service_split_its_weight() -> None:
    before = route([ref("champion"), ref("champion"), ref("challenger")])
    after = apply(before, plan_route_weights(before, champion="champion", challenger="challenger", share=0.1))
    assert [r["weight"] for r in after["spec"]["rules"][0]["backendRefs"]] == [450, 450, 100]
    assert route_share(after, "champion", "challenger") == pytest.approx(0.1)


def test_route_share_reads_the_weights_with_the_gateway_api_default_of_one() -> None:
    assert route_share(route([ref("champion"), ref("challenger")]), "champion", "challenger") == 0.5
    assert route_share(route([ref("champion", 0), ref("challenger", 0)]), "champion", "challenger") is None
    assert route_share(route([ref("docs")]), "champion", "challenger") is None


def test_a_malformed_route_names_the_route_the_rule_and_the_fix() -> None:
    half = route([ref("champion"), ref("challenger")], [ref("champion", 1), ref("docs")])
    with pytest.raises(ExperimentError) as caught:
        plan_route_weights(half, champion="champion", challenger="challenger", share=0.1)
    assert caught.value.reason == "RouteMalformed"
    assert (
        "HTTPRoute credit rule 1 sends traffic to Service champion but not to challenger"
        in caught.value.message
    )
    assert "add a backendRef to Service challenger in that rule" in caught.value.message
    assert route_share(half, "champion", "challenger") is None
    for neither in (route([ref("docs")]), {"metadata": {"name": "credit"}, "spec": {}}):
        with pytest.raises(ExperimentError, match="HTTPRoute credit has no rule with backendRefs to Services "
                                                  "champion and challenger"):  # fmt: skip
            plan_route_weights(neither, champion="champion", challenger="challenger", share=0.1)
    other_kind = route(
        [ref("champion"), {"name": "challenger", "kind": "ServiceImport", "group": "multicluster"}]
    )
    with pytest.raises(
        ExperimentError, match="rule 0 sends traffic to Service champion but not to challenger"
    ):
        plan_route_weights(other_kind, champion="champion", challenger="challenger", share=0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        plan_route_weights(route([ref("champion"), ref("challenger")]), champion="champion",
                           challenger="challenger", share=1.5)  # fmt: skip
