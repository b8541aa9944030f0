"""Kopf wiring only: decorators that turn Kopf's kwargs into calls of the pieces that do the work.

Importing this module registers the handlers; ``modelmonitor run`` imports it after it has put its
flags into the environment, because Kopf fixes a timer's interval at decoration.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import kopf

from modelmonitor.adapters.kubernetes import KubernetesPort, load_credentials
from modelmonitor.api import crd as crd_api
from modelmonitor.operator.settings import OperatorSettings
from modelmonitor.policy.target import assess_target

SETTINGS = OperatorSettings.from_env()
PREFIX = "modelmonitor.io"
RESOURCE = (crd_api.GROUP, crd_api.VERSION, crd_api.PLURAL)

_port: KubernetesPort | None = None


def kubernetes_port() -> KubernetesPort:
    global _port
    if _port is None:
        load_credentials()
        _port = KubernetesPort()
    return _port


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    """Own finalizer and annotation names, bounded watches, thread pool size, peering."""
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.execution.max_workers = SETTINGS.workers
    # Events on condition transitions only: Kopf's own per-handler Events would flood `kubectl describe`.
    settings.posting.level = logging.WARNING
    settings.peering.standalone = SETTINGS.standalone
    settings.peering.name = SETTINGS.peering
    settings.peering.mandatory = False
    kubernetes_port()
    logger.info(
        "ModelMonitor operator configured: namespaces=%s prometheus=%s tick=%ss",
        ",".join(SETTINGS.namespaces) or "all",
        SETTINGS.prometheus_url or "(per monitor)",
        SETTINGS.tick_seconds,
    )


@kopf.timer(*RESOURCE, interval=SETTINGS.tick_seconds, id="evaluate")
def evaluate(
    spec: Any,
    status: Any,
    meta: Any,
    namespace: str,
    body: Any,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    """Each tick: judge the spec and the target, write status, raise Events on transitions."""
    target = (spec or {}).get("target") or {}
    name = target.get("deployment")
    deployment = kubernetes_port().get_deployment(namespace, name) if isinstance(name, str) and name else None
    result = assess_target(
        namespace=namespace,
        spec=dict(spec or {}),
        generation=meta.get("generation"),
        status=dict(status or {}),
        deployment=deployment,
        now=_now(),
        retry_seconds=SETTINGS.tick_seconds,
    )
    # Write only what changed: at a 10 s tick and a thousand monitors, unchanged patches add up.
    current = dict(status or {})
    patch.status.update({k: v for k, v in result.status_patch.items() if current.get(k) != v})
    for change in result.transitions:
        kopf.event(
            body,
            type="Warning" if change.warning else "Normal",
            reason=change.reason,
            message=change.message,
        )


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
