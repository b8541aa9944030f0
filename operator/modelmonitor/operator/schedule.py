"""When a monitor is evaluated: the interval slot of each monitor, and the back-off for a target
that is missing or refused. Pure but for a small in-memory map."""

from __future__ import annotations

import datetime
import math
import threading
import zlib
from collections import OrderedDict
from typing import Any

from modelmonitor.policy import permits
from modelmonitor.policy.request import Request, parse_iso

MAX_MISSING = 10_000  # monitors remembered as having a missing target


def due(interval: float, req: Request) -> bool:
    """Is an evaluation due? At once for a new monitor or a changed spec; then once per ``interval``
    seconds, in a slot of the interval fixed by the monitor's uid, so that monitors created together
    do not all evaluate on the same tick (which would queue them behind the worker threads)."""
    return seconds_until_due(interval, req) <= 0.0


def seconds_until_due(interval: float, req: Request) -> float:
    """How long until an evaluation is due (0: it is due now): the start of the slot after the last
    evaluation's, or the overdue mark (two intervals after it: the operator was down, no need to
    wait for the slot), whichever comes first."""
    last = parse_iso(req.status.get("lastEvaluation"))
    if last is None or req.status.get("observedGeneration") != req.generation:
        return 0.0
    offset = zlib.crc32(req.uid.encode()) % max(int(interval), 1)
    then = last.timestamp()
    next_slot = (math.floor((then - offset) / interval) + 1) * interval + offset
    return max(0.0, min(next_slot, then + 2 * interval) - req.now.timestamp())


class MissingTargets:
    """When each monitor last found its target Deployment missing, so that it looks again once per
    ``--retry`` rather than on every tick. In memory on purpose: after a restart, looking at once
    is right."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str, str], tuple[int | None, datetime.datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, req: Request, retry_seconds: float) -> bool:
        """Look up the target now? Yes unless it was missing less than ``retry_seconds`` ago, for
        the same generation (a changed spec looks at once), and status still says so."""
        with self._lock:
            seen = self._seen.get((req.namespace, req.name, req.uid))
        if seen is None or seen[0] != req.generation:
            return True
        ready: dict[str, Any] = next(
            (c for c in req.status.get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        waiting = ready.get("reason") == "TargetNotFound" or ready.get("reason") in permits.REFUSALS
        return not waiting or (req.now - seen[1]).total_seconds() >= retry_seconds

    def saw(self, req: Request, *, found: bool) -> None:
        key = (req.namespace, req.name, req.uid)
        with self._lock:
            self._seen.pop(key, None)
            if not found:
                self._seen[key] = (req.generation, req.now)
                while len(self._seen) > MAX_MISSING:  # monitors deleted while their target was missing
                    self._seen.popitem(last=False)
