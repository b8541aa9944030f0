"""When an evaluation fails: what status says, and when the next attempt is due (exponential backoff).

Pure: the handler catches the failure and passes its HTTP status and the server's message; this
module names the reason, words the Ready condition and spaces the attempts, so a monitor the
operator cannot reconcile shows why in ``kubectl get mm`` and is retried at a bounded rate instead of
on every tick.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from modelmonitor.api.status import ConditionStatus, ConditionType, Phase, set_condition
from modelmonitor.api.times import iso as _iso

_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "Throttled",
}


def reason_for(http_status: int | None) -> str:
    """A CamelCase reason for a failed Kubernetes API call (5xx: APIServerError; no status: the API is
    unreachable)."""
    if http_status is None or http_status == 0:
        return "APIUnreachable"
    if http_status >= 500:
        return "APIServerError"
    return _REASONS.get(http_status, "APIError")


def _parse(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Failure:
    """The status patch for a failed attempt, and whether it deserves an Event (first of a run, or a
    new reason: a failure repeated every attempt is not news)."""

    status_patch: dict[str, Any]
    announce: bool
    delay_seconds: float


def after_failure(
    status: dict[str, Any], *, reason: str, message: str, now: datetime.datetime, generation: int | None,
    base_seconds: float, cap_seconds: float,
) -> Failure:  # fmt: skip
    """Ready=False with ``reason`` and ``message``, phase Unknown, and the next attempt after
    ``base_seconds`` doubled per consecutive failure, at most ``cap_seconds``."""
    previous = status.get("retry") if isinstance(status.get("retry"), dict) else None
    failures = int(previous.get("failures") or 0) + 1 if previous else 1
    delay = min(base_seconds * 2 ** (failures - 1), cap_seconds)
    stamp = _iso(now)
    retry = {
        "reason": reason,
        "failures": failures,
        "since": (previous or {}).get("since") or stamp,
        "nextAttempt": _iso(now + datetime.timedelta(seconds=delay)),
    }
    conditions = set_condition(
        status.get("conditions") or [], type=ConditionType.READY, status=ConditionStatus.FALSE, reason=reason,
        message=f"{message}; attempt {failures} failed, next in {delay:g}s"[:32000], now=stamp,
        generation=generation,
    )  # fmt: skip
    patch = {
        "observedGeneration": generation,
        "phase": str(Phase.UNKNOWN),
        "conditions": [c.model_dump(mode="json", exclude_none=True) for c in conditions],
        "retry": retry,
    }
    announce = previous is None or previous.get("reason") != reason
    return Failure(patch, announce, delay)


def backing_off(status: dict[str, Any], *, now: datetime.datetime, generation: int | None) -> bool:
    """True while a failed monitor waits for its next attempt (a changed spec does not wait)."""
    return seconds_until_attempt(status, now=now, generation=generation) > 0.0


def seconds_until_attempt(status: dict[str, Any], *, now: datetime.datetime, generation: int | None) -> float:
    """How long a failed monitor still waits for its next attempt (0: not backing off)."""
    retry = status.get("retry")
    if not isinstance(retry, dict) or status.get("observedGeneration") != generation:
        return 0.0
    due = _parse(retry.get("nextAttempt"))
    return max(0.0, (due - now).total_seconds()) if due is not None else 0.0
