"""The Kubernetes API as the tests see it: kmock's emulator, closer to a real API server.

Stock kmock 0.8 keeps no ``resourceVersion`` (Kopf's JSON patches ``test`` it, and with a constant
one Kopf replays events), answers a failed JSON-patch ``test`` with a 500 instead of a 422, and
knows only the resources it is told about. This subclass:

- declares the backbone resources Kopf needs before it watches anything (namespaces, events, CRDs)
  and every resource the operator touches, with their verbs, scope and the status subresource;
- stamps every create with a name from generateName (Kopf's Events use it; drawn again while taken), uid, namespace, creationTimestamp, generation 1 and a fresh
  resourceVersion, and every write with a fresh resourceVersion (generation + 1 on spec change);
- turns a failed JSON-patch ``test`` into a 422, as a real server does;
- answers a read of one Namespace (kmock cannot parse ``/api/v1/namespaces/NAME`` as an object) with
  the labels a test put in ``namespace_labels``, so opt-in labels can be emulated.

What it still does not do (test such logic apart, against real-server semantics): strategic-merge
patches are plain merges (lists replaced whole), no schema validation or defaulting, selectors are
ignored, no controllers (tests create ReplicaSets and Pods themselves).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import uuid
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock._internal import enums, rendering

from modelmonitor.api import crd as crd_api

VERBS = ["list", "watch", "get", "patch", "create", "delete", "update"]

RESOURCES: dict[str, dict[str, Any]] = {
    "v1/namespaces": {"kind": "Namespace", "namespaced": False},
    "v1/events": {"kind": "Event", "namespaced": True},
    "events.k8s.io/v1/events": {"kind": "Event", "namespaced": True},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {
        "kind": "CustomResourceDefinition",
        "namespaced": False,
    },
    f"{crd_api.GROUP}/{crd_api.VERSION}/{crd_api.PLURAL}": {
        "kind": crd_api.KIND,
        "namespaced": True,
        "shortnames": crd_api.SHORT_NAMES,
        "categories": crd_api.CATEGORIES,
        "subresources": ["status"],
    },
    "apps/v1/deployments": {"kind": "Deployment", "namespaced": True, "subresources": ["status", "scale"]},
    "apps/v1/replicasets": {"kind": "ReplicaSet", "namespaced": True},
    "v1/pods": {"kind": "Pod", "namespaced": True},
    "v1/services": {"kind": "Service", "namespaced": True},
    "v1/configmaps": {"kind": "ConfigMap", "namespaced": True},
    "v1/secrets": {"kind": "Secret", "namespaced": True},
    "batch/v1/jobs": {"kind": "Job", "namespaced": True},
    "autoscaling/v2/horizontalpodautoscalers": {"kind": "HorizontalPodAutoscaler", "namespaced": True},
    "networking.k8s.io/v1/networkpolicies": {"kind": "NetworkPolicy", "namespaced": True},
}

MODELMONITORS = f"{crd_api.GROUP}/{crd_api.VERSION}/{crd_api.PLURAL}"


class PatchTestFailed(kmock.KubernetesError):
    pass


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with resourceVersions, generations, identities and 422s; see the module doc."""

    _versions: Any = attrs.field(factory=lambda: itertools.count(1000), init=False)
    api: Any = attrs.field(default=None, init=False)  # set by the `cluster` fixture: tests.conftest.Api
    namespace_labels: dict[str, dict[str, str]] = attrs.field(factory=dict, init=False)  # by namespace

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name, info in RESOURCES.items():
            self.resources[name] = kmock.ResourceInfo(
                kind=info["kind"],
                namespaced=info["namespaced"],
                verbs=VERBS,
                shortnames=info.get("shortnames", []),
                categories=info.get("categories", []),
                subresources=info.get("subresources", []),
            )

    def next_version(self) -> str:
        return str(next(self._versions))

    def _current(self, request: rendering.Request) -> dict[str, Any] | None:
        if request.resource is None or request.name is None:
            return None
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            return copy.deepcopy(self.objects[key].raw)
        return None

    async def _handle(self, request: rendering.Request) -> Any:
        parts = request.url.path.strip("/").split("/")
        if (
            request.method == enums.method.GET
            and len(parts) == 4
            and parts[:3] == ["api", "v1", "namespaces"]
        ):
            labels = self.namespace_labels.get(parts[3]) or {}
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": parts[3], "labels": labels}})  # fmt: skip
        if request.resource is not None and isinstance(request.data, dict | list):
            if request.action == enums.action.CREATE and isinstance(request.data, dict):
                object.__setattr__(request, "data", self._stamp_new(request))
            elif request.action == enums.action.UPDATE and request.name is not None:
                current = self._current(request)
                if current is not None:
                    try:
                        object.__setattr__(request, "data", self._stamp_update(current, request.data))
                    except jsonpatch.JsonPatchTestFailed as exc:
                        return await self._render_error(
                            PatchTestFailed(
                                status=422, reason="Invalid", message=f"the test op failed: {exc}"
                            )
                        )
                    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException) as exc:
                        return await self._render_error(
                            PatchTestFailed(
                                status=422, reason="Invalid", message=f"the patch does not apply: {exc}"
                            )
                        )
        return await super()._handle(request)

    def _stamp_new(self, request: rendering.Request) -> dict[str, Any]:
        data: dict[str, Any] = copy.deepcopy(request.data)
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            # Five random characters, and another draw while the name is taken, as a real API server
            # (1.32+) retries a generated name that collides: thousands of Kopf Events otherwise meet
            # a 409 here that a cluster never answers.
            namespace = request.namespace or meta.get("namespace")
            for _ in range(8):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                if (
                    request.resource is None
                    or (request.resource, namespace, meta["name"]) not in self._objects
                ):
                    break
        if request.namespace and "namespace" not in meta:
            meta["namespace"] = request.namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = self.next_version()
        return data

    def _stamp_update(self, current: dict[str, Any], patch: Any) -> Any:
        old_spec = current.get("spec")
        if isinstance(patch, list):
            # Apply the JSON patch here (a failing `test` raises), then hand kmock a merge of the result.
            result: dict[str, Any] = jsonpatch.apply_patch(current, patch, in_place=False)
        else:
            result = dict(kmock._internal.dicts.merge_patch_dict(current, patch))  # type: ignore[attr-defined]
        meta = dict(result.get("metadata") or {})
        meta["resourceVersion"] = self.next_version()
        if result.get("spec") != old_spec:
            meta["generation"] = int(meta.get("generation") or 1) + 1
        result = {**result, "metadata": meta}
        if isinstance(patch, list):
            return [{"op": "replace", "path": "", "value": result}]
        changed: dict[str, Any] = dict(patch)
        changed["metadata"] = {**(patch.get("metadata") or {}), "resourceVersion": meta["resourceVersion"]}
        if "generation" in meta and meta["generation"] != (current.get("metadata") or {}).get("generation"):
            changed["metadata"]["generation"] = meta["generation"]
        return changed


def kubeconfig_for(server: str) -> dict[str, Any]:
    """A kubeconfig pointing at the emulator (the token is not checked; the clients need one)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulated", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [{"name": "emulated", "context": {"cluster": "emulated", "user": "tester"}}],
        "current-context": "emulated",
    }


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
