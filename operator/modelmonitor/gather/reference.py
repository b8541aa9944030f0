"""Where a monitor's reference profile comes from: a ConfigMap, a URL, or captured traffic.

Captured references are stored in a ConfigMap the operator creates and owns (``<monitor>-reference``,
owner reference to the monitor, so it goes with it), which makes them survive operator restarts.
Parsed profiles are cached by the ConfigMap's resourceVersion (or the URL), so a profile is parsed
once, not every evaluation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from modelmonitor.adapters.download import FetchError, fetch
from modelmonitor.adapters.ports import KubernetesPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift import Profile, build_profile
from modelmonitor.policy import egress
from modelmonitor.workload.jobs import owner_reference

PROFILE_KEY = "profile.json"
MAX_CONFIGMAP_BYTES = 1_000_000
REFERENCE_MAX_BYTES = 64 * 1024 * 1024  # the default of the reference_max_bytes setting


@dataclass
class Reference:
    profile: Profile | None
    reason: tuple[str, str] | None = None  # (Reason, message) when there is none yet


class ProfileCache:
    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, ...], Profile] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: tuple[str, ...], text: Any) -> Profile:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        profile = Profile.from_json(text() if callable(text) else text)
        with self._lock:
            self._items[key] = profile
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return profile


# A parsed profile of 60 features takes ~0.6 MiB: 64 of them bound the cache near 40 MiB. Past 64
# monitors with distinct references, some evaluations re-parse theirs (a few ms each).
CACHE = ProfileCache(size=64)


def captured_name(monitor: str) -> str:
    return f"{monitor}-reference"[:253]


def load_reference(
    kube: KubernetesPort, spec: ModelMonitorSpec, *, namespace: str, monitor: str, timeout: float,
    egress_allow: tuple[egress.Pattern, ...] = (), max_bytes: int = REFERENCE_MAX_BYTES,
) -> Reference:  # fmt: skip
    """The configured reference, or why there is none (ReferenceUnavailable, CapturingReference).

    A URL reference must pass the egress allowlist; it is downloaded with ``timeout`` seconds to
    connect and per read, at most adapters.download.FETCH_DEADLINE seconds in all, and at most ``max_bytes``.
    """
    source = spec.drift.reference
    if source.configMapRef is not None:
        ref = source.configMapRef
        cm = kube.get_configmap(namespace, ref.name)
        text = ((cm or {}).get("data") or {}).get(ref.key)
        if not text:
            what = "not found" if cm is None else f"has no key {ref.key!r}"
            return Reference(None, ("ReferenceUnavailable", f"ConfigMap {namespace}/{ref.name} {what}"))
        version = str((cm or {}).get("metadata", {}).get("resourceVersion", ""))
        return _parsed(
            ("cm", namespace, ref.name, ref.key, version), text, f"ConfigMap {namespace}/{ref.name}"
        )
    if source.url is not None:
        url = source.url
        refusal = egress.refusal(url, egress_allow, field="spec.drift.reference.url")
        if refusal is not None:
            return Reference(None, ("ReferenceUnavailable", f"not fetching the reference: {refusal}"))
        try:
            return Reference(
                CACHE.get(("url", url), lambda: fetch(url, timeout=timeout, max_bytes=max_bytes))
            )
        except FetchError as exc:
            return Reference(
                None, ("ReferenceUnavailable", f"spec.drift.reference.url {egress.shown(url)}: {exc}")
            )
        except (ValueError, KeyError, TypeError) as exc:
            # The parser's message quotes the document, never the URL.
            return Reference(None, ("ReferenceUnavailable", f"spec.drift.reference.url {egress.shown(url)} "
                                    f"is not a profile: {egress.scrub(str(exc), url)[:200]}"))  # fmt: skip
    cm = kube.get_configmap(namespace, captured_name(monitor))
    text = ((cm or {}).get("data") or {}).get(PROFILE_KEY)
    if text:
        version = str((cm or {}).get("metadata", {}).get("resourceVersion", ""))
        return _parsed(("cm", namespace, captured_name(monitor), version), text, "the captured reference")
    return Reference(None, ("CapturingReference", "no reference captured yet"))


def _parsed(key: tuple[str, ...], text: str, where: str) -> Reference:
    try:
        return Reference(CACHE.get(key, text))
    except (ValueError, KeyError, TypeError) as exc:
        return Reference(None, ("ReferenceUnavailable", f"{where} is not a profile: {str(exc)[:200]}"))


def capture_reference(
    kube: KubernetesPort, frame: Any, *, namespace: str, monitor: str, uid: str, rows: int
) -> Reference:
    """Build the reference from the first ``rows`` captured rows and store it in an owned ConfigMap."""
    profile = build_profile(frame.head(rows))
    text = profile.to_json()
    if len(text.encode()) > MAX_CONFIGMAP_BYTES:
        return Reference(None, ("ReferenceUnavailable", f"captured profile is {len(text)} bytes, over 1 MB"))
    kube.create_configmap(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": captured_name(monitor),
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "modelmonitor",
                    "modelmonitor.io/monitor": monitor,
                },
                "ownerReferences": [owner_reference(monitor, uid)],
            },
            "data": {PROFILE_KEY: text},
        },
    )
    return Reference(profile)
