"""The benchmark's Kubernetes API: ``tests.emulator.ClusterEmulator`` indexed to hold thousands of objects.

``benchmarks/operator_scale.py`` serves this emulator; the tests keep the plain ``ClusterEmulator``.
Importing this module changes nothing in kmock: ``bound_request_routing()`` patches kmock's View
for the calling process, and only the benchmark calls it.
"""

from __future__ import annotations

import collections
from typing import Any

from kmock._internal import dsl as kmock_dsl
from kmock._internal import k8s as kmock_k8s
from kmock._internal import rendering as kmock_rendering

from tests.emulator import ClusterEmulator


class IndexedEmulator(ClusterEmulator):
    """tests.emulator.ClusterEmulator with kmock's two linear scans bounded; behaviour unchanged.

    Stock kmock 0.8 does not scale to thousands of objects and requests:
    - it finds the object of every get/patch/create, and the resources of every list, by scanning
      all stored objects (``KubernetesEmulator.__get_objs`` and ``_get_resources``);
    - it keeps every request it ever served in ``_requests``, and to route a request it checks
      ``request in payload._source`` for each reaction, which walks that whole list applying the
      reaction's criteria to each past request (quadratic in requests served).
    Measured here with the plain emulator: 200 monitors took 29 s to create and none was settled
    after 120 s, the emulator's loop at 100 % CPU. A real API server answers from indexes; so does
    this subclass (objects are only added in the benchmark — kmock soft-deletes — so an
    append-only index stays exact); ``_fast_contains`` (patched into kmock's View by
    ``bound_request_routing()``, in the benchmark's process only) answers the membership by applying
    the criteria to the one request, and the benchmark's background task calls ``trim()`` to keep the
    request log to the newest 5,000 for memory (``served`` keeps the counts).
    A list with an equality ``labelSelector`` (``app=x,tier=y``) is filtered by it, as a real API
    server does (stock kmock returns the whole namespace: 50 Pods for a Deployment's one).
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._seen = 0
        self.served: collections.Counter[str] = collections.Counter()
        self._by_ns: dict[Any, list[Any]] = collections.defaultdict(list)
        self._by_res: dict[Any, list[Any]] = collections.defaultdict(list)

    def _reindex(self) -> dict[Any, Any]:
        store = self._objects._objects
        if len(store) != self._seen:
            if len(store) < self._seen:  # a hard delete: start over
                self._seen = 0
                self._by_ns.clear()
                self._by_res.clear()
            for key in list(store)[self._seen :]:
                self._by_ns[(key[0], key[1])].append(key)
                self._by_res[key[0]].append(key)
            self._seen = len(store)
        return store

    def _KubernetesEmulator__get_objs(self, request: Any, strict: bool) -> list[Any]:
        store = self._reindex()
        if request.name is not None and (strict or request.namespace is not None):
            obj = store.get((request.resource, request.namespace, request.name))
            return [obj] if obj is not None else []
        if request.namespace is not None:
            keys = self._by_ns.get((request.resource, request.namespace), [])
        else:
            keys = self._by_res.get(request.resource, [])
        objs = [store[k] for k in keys if request.name is None or k[2] == request.name]
        selector = _equalities(request.params.get("labelSelector", "")) if request.name is None else None
        if selector:  # a real API server filters a list by its labelSelector; stock kmock ignores it
            objs = [o for o in objs if _labels_match(o.raw, selector)]
        return objs

    async def _handle(self, request: Any) -> Any:
        plural = request.resource.plural if request.resource is not None else "-"
        action = request.action.name.lower() if request.action is not None else str(request.method).lower()
        self.served[f"{action} {plural}"] += 1
        return await super()._handle(request)

    def trim(self, keep: int = 5000) -> None:
        """Forget all but the newest requests (kmock walks the whole log to route each request)."""
        if len(self._requests) > keep:
            del self._requests[: len(self._requests) - keep]
        for payload in self._payloads:
            if len(payload._requests) > keep:
                del payload._requests[: len(payload._requests) - keep]

    def requests_served(self) -> int:
        return sum(self.served.values())

    def _get_resources(self) -> list[Any]:
        self._reindex()
        return list(set(kmock_k8s.KubernetesScaffold._get_resources(self)) | set(self._by_res))


def _equalities(text: str) -> dict[str, str] | None:
    """``k=v,k2=v2`` as a dict; None (no filtering) for any other selector, or none."""
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq or value.startswith("=") or key.endswith("!") or " " in part:
            return None
        out[key] = value
    return out or None


def _labels_match(obj: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


_contains = kmock_dsl.View.__contains__


def _request_seen_by(view: Any, request: Any) -> bool:
    """``request in view`` without walking every request ever served (same answer for these views)."""
    while True:
        if type(view) is kmock_dsl.Filter:
            if not view.criteria(request):
                return False
            view = view._source
        elif type(view) is kmock_dsl.Priority:
            view = view._source
        elif isinstance(view, kmock_dsl.Root):
            return any(r is request for r in reversed(view._requests))  # it was just appended
        else:
            return bool(_contains(view, request))


def _fast_contains(self: Any, item: Any) -> bool:
    if isinstance(item, kmock_rendering.Request):
        return _request_seen_by(self, item)
    return bool(_contains(self, item))


def bound_request_routing() -> None:
    """Make ``request in view`` cost one request, not the whole log, in this process (see above)."""
    kmock_dsl.View.__contains__ = _fast_contains  # type: ignore[method-assign]
