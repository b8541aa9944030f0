"""Fixtures starting the real demo model and the real sidecar as processes on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # make ``tests.helpers`` importable however pytest is invoked
    sys.path.insert(0, str(ROOT))

from tests.helpers.sidecar import Model, Sidecar, start_model, start_sidecar  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Iterator[Model]:
    m = start_model("--name", "credit", "--version", "v7")
    yield m
    m.handle.stop()


@pytest.fixture(scope="module")
def sidecar(model: Model) -> Iterator[Sidecar]:
    s = start_sidecar(model.url, "--model-name", "credit", "--model-version", "v7")
    yield s
    s.handle.stop()


@pytest.fixture
def make_sidecar() -> Iterator[Callable[..., Sidecar]]:
    started: list[Sidecar] = []

    def make(upstream: str, *args: str, **kwargs: Any) -> Sidecar:
        s = start_sidecar(upstream, *args, **kwargs)
        started.append(s)
        return s

    yield make
    for s in started:
        s.handle.stop()


@pytest.fixture
def make_model() -> Iterator[Callable[..., Model]]:
    started: list[Model] = []

    def make(*args: str) -> Model:
        m = start_model(*args)
        started.append(m)
        return m

    yield make
    for m in started:
        m.handle.stop()
