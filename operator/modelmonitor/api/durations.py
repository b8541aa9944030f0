"""Durations in the resource are Go-style strings (``90s``, ``5m``, ``1h30m``, ``250ms``).

The same format as Kubernetes CEL's ``duration()`` so the CRD's validation rules can compare them.
"""

from __future__ import annotations

import re

# Go's time.ParseDuration units that a user plausibly writes; "d" is not one (CEL would refuse it).
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_WHOLE = re.compile(DURATION_PATTERN)
# The sidecar's flags and environment variables also take days, bare seconds and blanks.
_LENIENT_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_LENIENT_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$")
_BARE_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


def parse_duration(text: str, *, lenient: bool = False) -> float:
    """Return the duration in seconds; raise ValueError naming the text when it is not a duration.

    ``lenient`` (the sidecar's flags) also accepts ``d`` (days), a bare number of seconds (``90``) and
    blanks around numbers and units (`` 5 m ``); the resource's fields never are lenient (CEL's
    ``duration()`` refuses those forms).
    """
    if isinstance(text, str) and lenient:
        bare = _BARE_SECONDS.match(text)
        if bare:
            return float(bare.group(1))
        if _LENIENT_WHOLE.match(text):
            return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _LENIENT_PART.findall(text))
    elif isinstance(text, str) and _WHOLE.match(text):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    raise ValueError(f"not a duration: {text!r} (write e.g. 30s, 5m, 1h30m, 250ms)")


# Go's time.Duration is int64 nanoseconds: CEL's duration() refuses a longer text ("type conversion
# error"), so a rule comparing such a duration fails on the API server.
CEL_MAX_SECONDS = (2**63 - 1) / 1e9  # about 292 years


def cel_seconds(text: str) -> float | None:
    """Seconds of a resource duration as the API server's CEL ``duration()`` reads it; None when it
    cannot (longer than Go's ``time.Duration``, about 292 years), and a rule using it fails."""
    seconds = parse_duration(text)
    return seconds if seconds <= CEL_MAX_SECONDS else None


def format_duration(seconds: float) -> str:
    """Render seconds back as the shortest exact Go-style string (``3600`` -> ``1h``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
