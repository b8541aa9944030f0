"""The audit ring's bounds are operator settings with documented defaults, refused out of range."""

from __future__ import annotations

import pytest

from modelmonitor.operator.settings import OperatorSettings


def test_the_ring_bounds_default_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (OperatorSettings().audit_segments, OperatorSettings().audit_segment_bytes) == (8, 900 * 1024)
    monkeypatch.setenv("MODELMONITOR_AUDIT_SEGMENTS", "3")
    monkeypatch.setenv("MODELMONITOR_AUDIT_SEGMENT_BYTES", "64Ki")
    settings = OperatorSettings.from_env()
    assert (settings.audit_segments, settings.audit_segment_bytes) == (3, 64 * 1024)
    monkeypatch.setenv("MODELMONITOR_AUDIT_SEGMENT_BYTES", "2Mi")  # a ConfigMap holds 1 MiB
    with pytest.raises(ValueError, match="MODELMONITOR_AUDIT_SEGMENT_BYTES: 2097152 is not between"):
        OperatorSettings.from_env()
    monkeypatch.setenv("MODELMONITOR_AUDIT_SEGMENT_BYTES", "64Ki")
    monkeypatch.setenv("MODELMONITOR_AUDIT_SEGMENTS", "0")
    with pytest.raises(ValueError, match="MODELMONITOR_AUDIT_SEGMENTS: 0"):
        OperatorSettings.from_env()
