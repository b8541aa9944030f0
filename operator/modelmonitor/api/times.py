"""Times as status writes them: RFC 3339 in UTC, to the second (``2026-12-01T12:00:00Z``). Pure."""

from __future__ import annotations

import datetime


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ts(ts: float) -> str:
    """``iso`` of a unix time (seconds)."""
    return iso(datetime.datetime.fromtimestamp(float(ts), tz=datetime.UTC))


def parse_iso(text: str | None) -> datetime.datetime | None:
    """The moment an RFC 3339 text names (``Z`` or an offset); None when empty or not one."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
