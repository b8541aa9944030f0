"""The operator retries a failed API request for as long as the API server is away: Kopf's own
delays first, then its last one for ever, afresh for every request (a finite list made Kopf give
up a timer's status patch after ~54 s of outage, and that monitor's timer with it)."""

from __future__ import annotations

import itertools
import logging

import kopf
import pytest

from modelmonitor.operator import handlers
from tests.unit.operator.fakes import FakeKube, reconciler


def test_the_configured_backoffs_never_run_out_and_restart_for_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handlers, "_reconciler", reconciler(FakeKube()))  # no credentials needed
    settings = kopf.OperatorSettings()
    handlers.configure(settings=settings, logger=logging.getLogger("modelmonitor.test"))
    backoffs = settings.networking.error_backoffs
    assert not isinstance(backoffs, (int, float))
    first = list(itertools.islice(backoffs, 1000))
    assert first[:8] == [1, 1, 2, 3, 5, 8, 13, 21] and first[-1] == 21 and len(first) == 1000
    assert list(itertools.islice(backoffs, 3)) == [1, 1, 2]  # a new request starts from the first delay
    assert not hasattr(backoffs, "__len__")  # Kopf counts attempts only of a sized list
