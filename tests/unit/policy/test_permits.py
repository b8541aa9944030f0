"""What a monitor may make the operator do: opt-in by label, the sidecar image allowlist, retraining."""

from __future__ import annotations

from typing import Any

import pytest

from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.policy.permits import (
    IMAGE_NOT_ALLOWED,
    NOT_OPTED_IN,
    RETRAIN_NOT_PERMITTED,
    check_retrain,
    check_target,
    opted_in,
    sidecar_image,
)

OWN = "ghcr.io/modelmonitor/modelmonitor:0.1.0"
ON = {"modelmonitor.io/enabled": "true"}


def spec(**sidecar: Any) -> ModelMonitorSpec:
    return ModelMonitorSpec.model_validate({"target": {"deployment": "credit"}, "sidecar": sidecar})


def check(s: ModelMonitorSpec, ns: dict[str, str] | None = None, dep: dict[str, str] | None = None,
          *, require: bool = True, allowed: tuple[str, ...] = ()) -> Any:  # fmt: skip
    return check_target(
        s, namespace="risk", namespace_labels=ns, deployment_labels=dep, require_opt_in=require,
        default_image=OWN, allowed_images=allowed,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ns", "dep", "want"),
    [
        (ON, None, True),
        (None, ON, True),
        (ON, ON, True),
        (None, None, False),
        ({}, {}, False),
        ({"modelmonitor.io/enabled": "false"}, {"app": "credit"}, False),
        ({"modelmonitor.io/enabled": "True"}, None, False),  # label values are exact, as selectors are
        ({"modelmonitor.io/retrain": "true"}, None, False),  # retraining is no opt-in to monitoring
    ],
)
def test_opt_in_is_the_namespace_or_the_deployment_label(
    ns: dict[str, str] | None, dep: dict[str, str] | None, want: bool
) -> None:
    assert opted_in(ns, dep) is want


def test_a_target_that_has_not_opted_in_is_refused_naming_both_ways_to_opt_in() -> None:
    refusal = check(spec(), {"kubernetes.io/metadata.name": "risk"}, {"app": "credit"})
    assert refusal is not None and refusal.reason == NOT_OPTED_IN
    assert "Deployment risk/credit has not opted in" in refusal.message
    assert "kubectl label namespace risk modelmonitor.io/enabled=true" in refusal.message
    assert "kubectl label deployment -n risk credit modelmonitor.io/enabled=true" in refusal.message


def test_opt_in_may_be_turned_off_by_the_operator_setting() -> None:
    assert check(spec(), None, None, require=False) is None


def test_opt_in_is_judged_before_the_image() -> None:
    refusal = check(spec(image="evil/image"), None, None)
    assert refusal is not None and refusal.reason == NOT_OPTED_IN


@pytest.mark.parametrize("image", [None, OWN])
def test_the_operators_own_image_needs_no_allowlist(image: str | None) -> None:
    s = spec(image=image) if image else spec()
    assert check(s, ON) is None
    assert sidecar_image(s, OWN) == OWN


def test_an_image_outside_the_allowlist_is_refused_naming_the_field_and_the_chart_value() -> None:
    refusal = check(spec(image="evil/image"), ON, allowed=("registry.example.com/sidecar:1",))
    assert refusal is not None and refusal.reason == IMAGE_NOT_ALLOWED
    assert "spec.sidecar.image 'evil/image' is not allowed" in refusal.message
    assert "sidecar.allowedImages" in refusal.message


def test_an_image_on_the_allowlist_is_injected() -> None:
    s = spec(image="registry.example.com/sidecar:1")
    assert check(s, ON, allowed=("registry.example.com/sidecar:1",)) is None
    assert sidecar_image(s, OWN) == "registry.example.com/sidecar:1"


def test_an_image_that_is_not_injected_is_not_judged() -> None:
    assert check(spec(image="evil/image", inject=False), ON) is None


def test_retraining_needs_the_namespace_label() -> None:
    assert check_retrain("risk", {"modelmonitor.io/retrain": "true"}) is None
    for labels in (None, {}, {"modelmonitor.io/enabled": "true"}, {"modelmonitor.io/retrain": "yes"}):
        refusal = check_retrain("risk", labels)
        assert refusal is not None and refusal.reason == RETRAIN_NOT_PERMITTED
        assert "namespace risk" in refusal.message
        assert "kubectl label namespace risk modelmonitor.io/retrain=true" in refusal.message
