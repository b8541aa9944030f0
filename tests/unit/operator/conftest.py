"""Fakes for the reconciler's unit tests: a Prometheus answering canned queries on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.operator.fakes import FakePrometheus


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    """A fake Prometheus with no answers yet; a test sets ``prom.answers``."""
    fake = FakePrometheus()
    yield fake
    fake.close()
