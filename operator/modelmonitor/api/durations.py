"""Durations in the resource are Go-style strings (``90s``, ``5m``, ``1h30m``, ``250ms``).

The same format as Kubernetes CEL's ``duration()`` so the CRD's validation rules can compare them.
"""

from __future__ import annotations

import re

# Go's time.ParseDuration units that a user plausibly writes; "d" is not one (CEL would refuse it).
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_WHOLE = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError naming the text when it is not a duration."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"not a duration: {text!r} (write e.g. 30s, 5m, 1h30m, 250ms)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Render seconds back as the shortest exact Go-style string (``3600`` -> ``1h``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
