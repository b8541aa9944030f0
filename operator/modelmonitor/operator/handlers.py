"""Kopf wiring only: decorators that turn Kopf's kwargs into calls of the pieces that do the work.

Importing this module registers the handlers; ``modelmonitor run`` imports it after it has put its
flags into the environment, because Kopf fixes a timer's interval at decoration.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from modelmonitor.act.audit import AuditRefused
from modelmonitor.adapters.credentials import load_credentials
from modelmonitor.adapters.kubernetes import KubernetesClient
from modelmonitor.adapters.ports import KubernetesError
from modelmonitor.api import crd as crd_api
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.times import iso
from modelmonitor.operator import metrics, serial
from modelmonitor.operator.reconciler import Reconciler, Request
from modelmonitor.operator.schedule import seconds_until_due
from modelmonitor.operator.settings import OperatorSettings, render_selector
from modelmonitor.policy import audit, egress, retry

SETTINGS = OperatorSettings.from_env()
PREFIX = "modelmonitor.io"
RESOURCE = (crd_api.GROUP, crd_api.VERSION, crd_api.PLURAL)

RETRY_CAP_SECONDS = 300.0  # a failing monitor is tried at least every 5 minutes
DUE_MARGIN_SECONDS = 0.01
API_BACKOFFS = (1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)  # Kopf's own, then the last one for ever


class EndlessBackoffs:
    """Delays between retries of a failed API request that never run out: Kopf's, then 21 s apart.

    With Kopf's finite default (about 54 s in all) an API server away for longer made it give up a
    timer's status patch, and with it that monitor's timer, for good (until the operator restarted);
    waiting the outage out loses nothing. Re-iterable: each request starts from the first delay."""

    def __iter__(self) -> Iterator[float]:
        return itertools.chain(API_BACKOFFS, itertools.repeat(API_BACKOFFS[-1]))


def kopf_labels(selector: dict[str, str | bool]) -> dict[str, Any]:
    """The settings' selector as a Kopf label filter (True: present, False: absent)."""
    return {
        key: kopf.PRESENT if value is True else kopf.ABSENT if value is False else value
        for key, value in selector.items()
    }


# This operator's shard: the monitors whose labels match (Kopf applies the filter to every event; a
# monitor relabelled out of it has its timer stopped and this shard's finalizer taken off).
LABELS = kopf_labels(SETTINGS.selector)
EXECUTOR = ThreadPoolExecutor(max_workers=SETTINGS.workers, thread_name_prefix="evaluate")
_reconciler: Reconciler | None = None


def reconciler() -> Reconciler:
    global _reconciler
    if _reconciler is None:
        load_credentials()
        _reconciler = Reconciler(KubernetesClient(pool=SETTINGS.workers), SETTINGS)
    return _reconciler


class QuietSuccess(logging.Filter):
    """Drop Kopf's "Timer 'evaluate' succeeded." line: one per monitor per tick is noise, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            isinstance(record.msg, str)
            and record.msg.endswith("succeeded.")
            and "'evaluate'" in record.getMessage()
        )


logging.getLogger("kopf.objects").addFilter(QuietSuccess())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    """Own finalizer and annotation names, bounded watches, thread pool size, peering."""
    settings.persistence.finalizer = SETTINGS.finalizer
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.networking.error_backoffs = EndlessBackoffs()
    settings.execution.max_workers = SETTINGS.workers
    # Events on condition transitions only: Kopf's own per-handler Events would flood `kubectl describe`.
    settings.posting.level = logging.WARNING
    settings.peering.standalone = SETTINGS.standalone
    settings.peering.name = SETTINGS.peering
    settings.peering.mandatory = False
    settings.peering.priority = SETTINGS.priority
    reconciler()
    logger.info(
        "ModelMonitor operator configured: namespaces=%s selector=%s prometheus=%s egress=%s tick=%ss "
        "peering=%s",
        ",".join(SETTINGS.namespaces) or "all",
        render_selector(SETTINGS.selector) or "all monitors",
        egress.shown(SETTINGS.prometheus_url) if SETTINGS.prometheus_url else "(per monitor)",
        ",".join(SETTINGS.egress_allow) or "any host (set operator.egressAllow)",
        SETTINGS.tick_seconds,
        "standalone" if SETTINGS.standalone else f"{SETTINGS.peering} priority {SETTINGS.priority}",
    )


def interval_of(spec: dict[str, Any]) -> float:
    """``spec.interval`` in seconds (the default when absent or invalid: the reconcile reports that)."""
    try:
        return parse_duration(str(spec.get("interval", "60s")))
    except ValueError:
        return 60.0


def settled(spec: Any, status: Any) -> bool:
    """Ready, injected (or not wanted) and no evaluation due: a tick can return without any API call."""
    conditions = {c.get("type"): c for c in (status or {}).get("conditions") or []}
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    injected = conditions.get("SidecarInjected") or {}
    sidecar_done = injected.get("status") == "True" or injected.get("reason") == "NotInjected"
    return ready and sidecar_done


@kopf.timer(*RESOURCE, interval=SETTINGS.tick_seconds, id="evaluate", labels=LABELS or None)
async def evaluate(
    spec: Any,
    status: Any,
    meta: Any,
    namespace: str,
    name: str,
    uid: str,
    body: Any,
    patch: kopf.Patch,
    logger: logging.Logger,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    """Wait, in the event loop, until something is pending or an evaluation is due; then reconcile
    in a worker thread. Stopped meanwhile (deleted, relabelled out of the shard, the operator paused
    by a peer or exiting): return."""
    req = await _wait_until_due(spec, status, meta, namespace, name, uid, stopped)
    if req is None:
        return
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        outcome = await loop.run_in_executor(EXECUTOR, serial.run, uid, reconciler().reconcile, req)
    except serial.Retired:
        return  # deleted meanwhile: the cleanup has run, nothing may be put back
    except KubernetesError as exc:
        metrics.FAILURES.labels("kubernetes").inc()
        metrics.EVALUATIONS.labels("error").inc()
        logger.warning("Kubernetes API error: %s %s", exc.status, exc.reason)
        _failed(req, body, patch, retry.reason_for(exc.status), f"the Kubernetes API answered "
                f"{exc.status} {exc.reason}: {(exc.detail or exc.reason)[:500]}")  # fmt: skip
        return
    except Exception as exc:
        metrics.FAILURES.labels("internal").inc()
        metrics.EVALUATIONS.labels("error").inc()
        logger.exception("Evaluation failed")
        _failed(req, body, patch, "InternalError",
                f"the evaluation failed with {type(exc).__name__} (the operator log has the details)")  # fmt: skip
        return
    if req.status.get("retry"):
        patch.status["retry"] = None  # recovered: a merge patch with null removes the field
    if outcome.evaluated:
        metrics.DURATION.observe(loop.time() - started)
        phase = outcome.status_patch.get("phase")
        metrics.EVALUATIONS.labels("unknown" if phase == "Unknown" else "ok").inc()
        for stage in set(outcome.failures):
            metrics.FAILURES.labels(stage).inc()
        metrics.record(namespace, name, outcome.status_patch, outcome.drift)
    # Write only what changed: at a 10 s tick and a thousand monitors, unchanged patches add up.
    current = dict(status or {})
    patch.status.update({k: v for k, v in outcome.status_patch.items() if current.get(k) != v})
    for change in outcome.transitions:
        kopf.event(
            body,
            type="Warning" if change.warning else "Normal",
            reason=change.reason,
            message=change.message[:1024],
        )
    for note in outcome.notes:
        kopf.event(
            body,
            type="Warning" if note.warning else "Normal",
            reason=note.reason,
            message=note.message[:1024],
        )


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _request(
    spec: Any, status: Any, meta: Any, namespace: str, name: str, uid: str, now: datetime.datetime
) -> Request:
    """The monitor as Kopf last saw it (its kwargs are live views, updated by every watch event)."""
    return Request(
        namespace=namespace,
        name=name,
        uid=uid,
        generation=meta.get("generation"),
        spec=dict(spec or {}),
        status=dict(status or {}),
        now=now,
        annotations=dict(meta.get("annotations") or {}),
    )


def idle_seconds(req: Request) -> float:
    """How long this monitor has nothing to do: 0 when something is pending (not Ready, sidecar not
    in place, spec changed) or an evaluation is due; else until its slot or its retry."""
    backoff = retry.seconds_until_attempt(req.status, now=req.now, generation=req.generation)
    if backoff > 0:
        return backoff
    if not settled(req.spec, req.status):
        return 0.0
    return seconds_until_due(interval_of(req.spec), req)


async def _wait_until_due(
    spec: Any,
    status: Any,
    meta: Any,
    namespace: str,
    name: str,
    uid: str,
    stopped: kopf.DaemonStopped,
    clock: Callable[[], datetime.datetime] = _utcnow,
) -> Request | None:
    """The request to reconcile once it is due; None when the timer is stopped meanwhile.

    The wait is here, not between Kopf's runs of the timer: a run of Kopf's machinery costs more
    than the check, and a tick that returned at once ran it every --tick (six runs per 60 s
    evaluation). The state is looked at again every --tick (a spec change, a new condition) and at
    the due time itself, so an evaluation starts on its slot, not up to a tick late."""
    while True:
        req = _request(spec, status, meta, namespace, name, uid, clock())
        wait = idle_seconds(req)
        if wait <= 0:
            return req
        # a hair past the due time, so that the check made on waking finds it due
        if await stopped.wait(min(wait + DUE_MARGIN_SECONDS, SETTINGS.tick_seconds)):
            return None


def _failed(req: Request, body: Any, patch: kopf.Patch, reason: str, message: str) -> None:
    """Say in status why the evaluation failed and when it is tried again; an Event the first time."""
    failure = retry.after_failure(
        req.status, reason=reason, message=message, now=req.now, generation=req.generation,
        base_seconds=SETTINGS.tick_seconds, cap_seconds=max(SETTINGS.tick_seconds, RETRY_CAP_SECONDS),
    )  # fmt: skip
    patch.status.update(failure.status_patch)
    if failure.announce:
        kopf.event(body, type="Warning", reason=reason, message=f"{message}; retrying with backoff"[:1024])


def _audit(namespace: str, name: str, uid: str, spec: Any, record: dict[str, Any]) -> None:
    """One record into the monitor's audit trail (docs/audit.md); Kopf retries the handler until it is."""
    try:
        reconciler().audit.record(namespace, name, uid, [record], retention_seconds=audit.retention_seconds(
            dict(spec or {})), now=datetime.datetime.now(tz=datetime.UTC))  # fmt: skip
    except (KubernetesError, AuditRefused) as exc:
        raise kopf.TemporaryError(f"audit record not saved: {exc}", delay=SETTINGS.retry_seconds) from None


@kopf.on.create(*RESOURCE, id="audit-created", labels=LABELS or None)
def audit_created(spec: Any, meta: Any, namespace: str, name: str, uid: str, **_: Any) -> None:
    """The monitor's creation, with its spec and who created it, into its audit trail."""
    now = iso(datetime.datetime.now(tz=datetime.UTC))
    _audit(namespace, name, uid, spec, audit.created(dict(spec or {}), dict(meta), now=now))


@kopf.on.update(*RESOURCE, id="audit-spec", field="spec", labels=LABELS or None)
def audit_spec(old: Any, new: Any, meta: Any, namespace: str, name: str, uid: str, **_: Any) -> None:
    """A change of the spec: the diff and the field managers that made it, into the audit trail."""
    record = audit.spec_changed(old, new, dict(meta), now=iso(datetime.datetime.now(tz=datetime.UTC)))
    if record is not None:
        _audit(namespace, name, uid, new, record)


def _audit_deleted(namespace: str, name: str, uid: str, spec: Any, meta: dict[str, Any]) -> None:
    """The deletion, recorded where it can be (a terminating namespace refuses writes): the trail
    goes with the monitor right after; the API server's audit log keeps the deletion."""
    try:
        _audit(
            namespace, name, uid, spec, audit.deleted(meta, now=iso(datetime.datetime.now(tz=datetime.UTC)))
        )
    except kopf.TemporaryError as exc:
        logging.getLogger(__name__).warning(
            "%s/%s: deletion not in its audit trail: %s", namespace, name, exc
        )
    reconciler().audit.forget(uid)


@kopf.on.delete(*RESOURCE, id="cleanup", labels=LABELS or None)
async def cleanup(
    spec: Any, meta: Any, namespace: str, name: str, uid: str, logger: logging.Logger, **_: Any
) -> None:
    """Restore the Services, then take the sidecar out: exactly what was added, nothing else."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        EXECUTOR, serial.retire, uid, reconciler().cleanup, namespace, name, dict(spec or {})
    )
    await loop.run_in_executor(EXECUTOR, _audit_deleted, namespace, name, uid, spec, dict(meta))
    metrics.forget(namespace, name)
    logger.info("Sidecar and Service routes removed for %s/%s", namespace, name)
