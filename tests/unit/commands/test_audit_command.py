"""`modelmonitor audit --since`: durations as people write them, or a time; a clear refusal else."""

from __future__ import annotations

import datetime

import pytest

from modelmonitor.commands.audit import since_of

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)


def test_since_takes_minutes_hours_days_or_a_time() -> None:
    assert since_of("90m", NOW) == NOW - datetime.timedelta(minutes=90)
    assert since_of("24h", NOW) == NOW - datetime.timedelta(hours=24)
    assert since_of("7d", NOW) == NOW - datetime.timedelta(days=7)
    assert since_of("2026-12-01T00:00:00Z", NOW) == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    assert since_of(None, NOW) is None
    with pytest.raises(ValueError, match="--since 'yesterday': not a duration"):
        since_of("yesterday", NOW)
