"""Is the Deployment managed by Argo CD or Flux? Then our edits show as drift or get reverted."""

from __future__ import annotations

from typing import Any

# (where, key) -> tool. Labels and annotations these controllers put on what they apply.
_MARKERS: tuple[tuple[str, str, str], ...] = (
    ("annotations", "argocd.argoproj.io/tracking-id", "Argo CD"),
    ("labels", "argocd.argoproj.io/instance", "Argo CD"),
    ("labels", "app.kubernetes.io/instance", ""),  # ambiguous alone (Helm sets it too): not a marker
    ("labels", "kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("labels", "helm.toolkit.fluxcd.io/name", "Flux"),
)
_MANAGERS = {"argocd-controller": "Argo CD", "argocd-application-controller": "Argo CD",
             "kustomize-controller": "Flux", "helm-controller": "Flux"}  # fmt: skip

HOW_TO_IGNORE = {
    "Argo CD": "add to the Application: ignoreDifferences: [{group: apps, kind: Deployment, "
    "jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == \"modelmonitor-sidecar\")', "
    "'.metadata.annotations[\"modelmonitor.io/injected\"]']}] with syncOptions RespectIgnoreDifferences=true",
    "Flux": "Flux reverts fields it manages: exclude the Deployment from pruning and drift correction "
    "(annotation kustomize.toolkit.fluxcd.io/ssa: IfNotPresent) or add the sidecar in the source manifests",
}


def managed_by(obj: dict[str, Any]) -> str | None:
    """'Argo CD', 'Flux' or None, from labels, annotations or managedFields managers."""
    meta = obj.get("metadata") or {}
    for where, key, tool in _MARKERS:
        if tool and key in (meta.get(where) or {}):
            return tool
    for entry in meta.get("managedFields") or []:
        manager = _MANAGERS.get(str(entry.get("manager", "")))
        if manager:
            return manager
    return None
