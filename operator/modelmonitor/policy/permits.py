"""What a monitor may make the operator do: a ModelMonitor is no way around RBAC.

Pure: the spec, the labels of the namespace and of the target Deployment, and the operator's
settings in; a refusal (reason and message) or ``None`` out. The operator acts on a Deployment only
when its namespace or the Deployment itself opted in, injects only its own sidecar image or one the
chart allows, and starts retraining Jobs only in a namespace that opted in to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modelmonitor.api.spec import ModelMonitorSpec

ENABLED_LABEL = "modelmonitor.io/enabled"
RETRAIN_LABEL = "modelmonitor.io/retrain"
NOT_OPTED_IN = "NotOptedIn"
IMAGE_NOT_ALLOWED = "ImageNotAllowed"
RETRAIN_NOT_PERMITTED = "RetrainNotPermitted"
REFUSALS = frozenset({NOT_OPTED_IN, IMAGE_NOT_ALLOWED})
"""Reasons of ``Ready=False`` for a monitor the operator will not act on."""


@dataclass(frozen=True)
class Refusal:
    """Why the operator will not do what the spec asks: a CamelCase ``reason`` and a message that
    names the field or label and the fix."""

    reason: str
    message: str


def _labelled(labels: Mapping[str, str] | None, key: str) -> bool:
    return (labels or {}).get(key) == "true"


def opted_in(namespace_labels: Mapping[str, str] | None, deployment_labels: Mapping[str, str] | None) -> bool:
    """Does the namespace or the Deployment carry ``modelmonitor.io/enabled: "true"``?"""
    return _labelled(namespace_labels, ENABLED_LABEL) or _labelled(deployment_labels, ENABLED_LABEL)


def sidecar_image(spec: ModelMonitorSpec, default: str) -> str:
    """The image to inject: the spec's when it asks for one, else the operator's own."""
    return spec.sidecar.image or default


def check_target(
    spec: ModelMonitorSpec,
    *,
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    deployment_labels: Mapping[str, str] | None,
    require_opt_in: bool,
    default_image: str,
    allowed_images: Iterable[str],
) -> Refusal | None:
    """May the operator evaluate, inject into and act on the target? ``None`` when it may.

    Opt-in comes first (without consent nothing else matters); then the sidecar image, when one is to
    be injected, which must be the operator's own (``default_image``) or one of ``allowed_images``.
    """
    target = spec.target.deployment
    if require_opt_in and not opted_in(namespace_labels, deployment_labels):
        return Refusal(
            NOT_OPTED_IN,
            f"Deployment {namespace}/{target} has not opted in to monitoring: label its namespace "
            f"(kubectl label namespace {namespace} {ENABLED_LABEL}=true) or the Deployment "
            f"(kubectl label deployment -n {namespace} {target} {ENABLED_LABEL}=true)",
        )
    image = sidecar_image(spec, default_image)
    allowed = {default_image, *allowed_images}
    if spec.sidecar.inject and image not in allowed:
        return Refusal(
            IMAGE_NOT_ALLOWED,
            f"spec.sidecar.image {image!r} is not allowed: the operator injects only its own sidecar image "
            "or one listed in the chart value sidecar.allowedImages (MODELMONITOR_SIDECAR_IMAGES); remove "
            "spec.sidecar.image or ask the cluster admin to add the image there",
        )
    return None


def check_retrain(namespace: str, namespace_labels: Mapping[str, str] | None) -> Refusal | None:
    """May a retraining Job be created in ``namespace``? Only with ``modelmonitor.io/retrain: "true"``
    on the namespace (set by whoever may label namespaces, not by a monitor's author)."""
    if _labelled(namespace_labels, RETRAIN_LABEL):
        return None
    return Refusal(
        RETRAIN_NOT_PERMITTED,
        f"retraining Jobs are not permitted in namespace {namespace}: it lacks the label {RETRAIN_LABEL}=true "
        f"(kubectl label namespace {namespace} {RETRAIN_LABEL}=true)",
    )
