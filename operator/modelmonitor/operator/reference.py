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

import requests

from modelmonitor.adapters import deadline, httplog
from modelmonitor.adapters.kubernetes import KubernetesPort
from modelmonitor.api.spec import ModelMonitorSpec
from modelmonitor.drift import Profile, build_profile
from modelmonitor.policy import egress
from modelmonitor.workload.jobs import owner_reference

httplog.install()  # urllib3's DEBUG lines would show the reference URL's path and query

PROFILE_KEY = "profile.json"
MAX_CONFIGMAP_BYTES = 1_000_000
REFERENCE_MAX_BYTES = 64 * 1024 * 1024  # the default of the reference_max_bytes setting
FETCH_DEADLINE = 120.0  # seconds for a whole reference download, however slowly it trickles
CHUNK = 64 * 1024
SESSION = deadline.session()  # no redirects; a deadline() cuts its connections


class FetchError(Exception):
    """A reference URL could not be downloaded; the message never holds the URL (only the caller
    adds its scheme://host[:port])."""


def fetch(url: str, *, timeout: float, max_bytes: int, seconds: float = FETCH_DEADLINE) -> str:
    """The text at ``url``, streamed: aborted past ``max_bytes`` (announced or not) or ``seconds`` in
    all; ``timeout`` seconds to connect and for each read. Redirects are not followed: the egress
    allowlist judged this URL, not wherever it points."""
    try:
        with (
            deadline.deadline(seconds),
            SESSION.get(url, timeout=timeout, stream=True, allow_redirects=False) as response,
        ):
            if response.is_redirect:  # (the session raises TooManyRedirects first)
                raise FetchError("answered with a redirect (not followed)")
            if response.status_code != 200:
                raise FetchError(f"answered HTTP {response.status_code}")
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise FetchError(
                    f"the reference is {int(announced)} bytes, over the limit of {max_bytes} (reference_max_bytes)"
                )
            chunks, size = [], 0
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(
                        f"the reference is over the limit of {max_bytes} bytes (reference_max_bytes): download stopped"
                    )
                chunks.append(chunk)
            encoding = response.encoding or "utf-8"
    except requests.RequestException as exc:
        raise FetchError(failure(exc, timeout, seconds)) from None
    try:
        return b"".join(chunks).decode(encoding if encoding.lower() != "iso-8859-1" else "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise FetchError(f"the reference is not text in {encoding}") from None


def failure(exc: requests.RequestException, timeout: float, seconds: float = FETCH_DEADLINE) -> str:
    """A fixed reason per kind of failure: the exception's own text carries the URL's path and query."""
    if isinstance(exc, deadline.DeadlineExceeded):
        return f"the download took over {seconds:g}s: stopped"
    if isinstance(exc, requests.TooManyRedirects):
        return "answered with a redirect (not followed)"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no data for {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused, reset or the host not found"
    return f"download failed ({type(exc).__name__})"


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
    connect and per read, at most FETCH_DEADLINE seconds in all, and at most ``max_bytes``.
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
