"""The per-monitor admin Secret: the bearer token of the sidecar's admin port and the redaction salt.

Pure: the Secret to create comes out as a dict, a Secret read back is judged as a dict. The operator
creates one Secret per monitor, owned by the monitor (the garbage collector deletes it with the
monitor), mounts its ``token`` into the sidecar and reads it to call the sidecars' ``/v1/window``.

The name is derived from the monitor's name, so a Secret of that name may already exist without being
ours: it is used only when it carries our labels *and* is owned by this very monitor (its uid). Any
other Secret of that name is refused without looking at its data, so a ModelMonitor cannot make the
operator mount, or read, a Secret that someone else made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Any

from modelmonitor.workload import jobs

SUFFIX = "-modelmonitor-admin"
MAX_NAME = 253  # a Secret's name is a DNS subdomain
TOKEN_KEY = "token"
SALT_KEY = "salt"
MONITOR_LABEL = "modelmonitor.io/monitor"
SECRET_LABEL = "modelmonitor.io/secret"
SECRET_KIND = "admin"
RANDOM_BYTES = 32


def admin_name(monitor: str) -> str:
    """``<monitor>-modelmonitor-admin``; when that is longer than 253 characters, the monitor's name is
    cut and a hash of the whole name keeps two long names that share a prefix apart."""
    name = monitor + SUFFIX
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(monitor.encode()).hexdigest()[:10]
    head = monitor[: MAX_NAME - len(SUFFIX) - len(digest) - 1].rstrip("-.")
    return f"{head}-{digest}{SUFFIX}"


def labels(monitor: str) -> dict[str, str]:
    """The Secret's labels. A label value is at most 63 characters: a longer monitor name is cut and
    hashed like the Secret's name (ownership is proven by the uid, the label only helps to find it)."""
    value = monitor
    if len(value) > 63:
        value = monitor[:52].rstrip("-._") + "-" + hashlib.sha256(monitor.encode()).hexdigest()[:10]
    return {MONITOR_LABEL: value, SECRET_LABEL: SECRET_KIND}


def owner_reference(monitor: str, uid: str) -> dict[str, Any]:
    """The monitor as the Secret's (and the NetworkPolicy's) controller. ``blockOwnerDeletion`` is
    false: true would need ``update`` of modelmonitors/finalizers, and nothing waits for these."""
    return jobs.owner_reference(monitor, uid, block_deletion=False)


def admin_secret(monitor: str, uid: str) -> dict[str, Any]:
    """A new admin Secret: ``token`` and ``salt``, each from 32 random bytes (url-safe base64 text)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": admin_name(monitor),
            "labels": labels(monitor),
            "ownerReferences": [owner_reference(monitor, uid)],
        },
        "data": {key: _b64(secrets.token_urlsafe(RANDOM_BYTES)) for key in (TOKEN_KEY, SALT_KEY)},
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def owned(obj: dict[str, Any], monitor: str, uid: str) -> bool:
    """Does ``obj`` carry our labels and name this monitor (by uid) as its controller?"""
    meta = obj.get("metadata") or {}
    have = meta.get("labels") or {}
    if any(have.get(k) != v for k, v in labels(monitor).items()):
        return False
    return any(
        ref.get("kind") == "ModelMonitor" and ref.get("uid") == uid and ref.get("controller") is True
        for ref in meta.get("ownerReferences") or []
    )


def conflict(secret: dict[str, Any], monitor: str, uid: str) -> str | None:
    """Why an existing Secret of our name cannot be used (None when it is ours). Only its metadata
    is looked at: a Secret that is not ours is never read."""
    if owned(secret, monitor, uid):
        return None
    meta = secret.get("metadata") or {}
    name = meta.get("name") or admin_name(monitor)
    earlier = [
        ref for ref in meta.get("ownerReferences") or []
        if ref.get("kind") == "ModelMonitor" and ref.get("name") == monitor and ref.get("controller") is True
    ]  # fmt: skip
    if earlier and all((meta.get("labels") or {}).get(k) == v for k, v in labels(monitor).items()):
        return (
            f"Secret {name!r} belongs to an earlier ModelMonitor of this name (uid {earlier[0].get('uid')}): "
            "the garbage collector deletes it shortly, and then the operator creates this monitor's own"
        )
    return (
        f"Secret {name!r} exists but was not created by this ModelMonitor (it lacks the labels "
        f"{MONITOR_LABEL}={labels(monitor)[MONITOR_LABEL]}, {SECRET_LABEL}={SECRET_KIND} or an "
        "ownerReference to this monitor's uid); the sidecar is not injected: delete or rename that "
        "Secret, or rename the monitor"
    )


def token(secret: dict[str, Any]) -> str | None:
    """The admin token of a Secret that :func:`conflict` accepted; None when it has no usable token
    (the caller says so without showing anything of the Secret's data)."""
    raw = (secret.get("data") or {}).get(TOKEN_KEY)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    text = text.strip()
    return text or None
