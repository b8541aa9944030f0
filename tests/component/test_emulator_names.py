"""The test API server's generated names: a taken one is drawn again, as a real API server does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import emulator as emulator_module


async def test_a_generated_name_that_is_taken_is_drawn_again(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first object's name and uid, then the second's name (taken: drawn again) and uid
    draws = iter(["aaaaa", "11111", "aaaaa", "bbbbb"] + [uuid.uuid4().hex for _ in range(20)])

    class Drawn:
        def __init__(self) -> None:
            self.hex = next(draws) + "0" * 27

    monkeypatch.setattr(emulator_module.uuid, "uuid4", Drawn)
    first = await cluster.api.create("v1/configmaps", "ns", {"metadata": {"generateName": "ev-"}})
    second = await cluster.api.create("v1/configmaps", "ns", {"metadata": {"generateName": "ev-"}})
    assert first["metadata"]["name"] == "ev-aaaaa" and second["metadata"]["name"] == "ev-bbbbb"
