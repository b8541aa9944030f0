"""A shard's settings: the label selector of its monitors, and the finalizer it owns."""

from __future__ import annotations

import os
import re

import kopf
import pytest

from modelmonitor.cli import build_parser
from modelmonitor.operator.commands import flag_settings
from modelmonitor.operator.handlers import kopf_labels
from modelmonitor.operator.settings import (
    ENV_PREFIX,
    OperatorSettings,
    parse_selector,
    render_selector,
    shard_finalizer,
)

# A finalizer is a qualified name: a DNS prefix, "/", and a name of at most 63 characters.
QUALIFIED = re.compile(r"[a-z0-9.-]+/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def test_equality_presence_and_absence_read_and_render_back() -> None:
    selector = parse_selector(" shard=a, example.com/team ,!canary,tier=", where="X")
    assert selector == {"shard": "a", "example.com/team": True, "canary": False, "tier": ""}
    assert parse_selector(render_selector(selector), where="X") == selector
    assert parse_selector("", where="X") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("shard!=a", "only k=v, k (present) and !k (absent)"),
        ("shard in (a,b)", "only k=v, k (present) and !k (absent)"),
        ("=a", "is not a label key"),
        ("-shard=a", "is not a label key"),
        ("Example.com/shard=a", "is not a label key"),
        ("shard=a b", "is not a label value"),
    ],
)
def test_a_selector_kopf_cannot_apply_is_refused_naming_the_variable(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as raised:
        parse_selector(text, where="MODELMONITOR_SELECTOR")
    assert str(raised.value).startswith(f"MODELMONITOR_SELECTOR: {text.split(',')[0]!r}")


def test_each_shard_owns_a_finalizer_of_its_own_and_the_unsharded_one_keeps_the_old_name() -> None:
    assert shard_finalizer({}) == "modelmonitor.io/finalizer"
    names = {
        shard_finalizer(parse_selector(text, where="X"))
        for text in (
            "shard=a",
            "shard=b",
            "!shard",
            "shard",
            "shard=a,team",
            "team,shard=a-x",
            "x" * 63 + "=y",
        )
    }
    assert len(names) == 7
    assert all(QUALIFIED.fullmatch(n) for n in names), names
    assert shard_finalizer({"shard": "a"}).startswith("modelmonitor.io/finalizer.shard-a.")
    # the same selector, written another way, is the same shard
    assert shard_finalizer(parse_selector("team,shard=a", where="X")) == shard_finalizer(
        parse_selector("shard=a, team", where="X")
    )


def test_the_selector_flag_reaches_the_settings_and_the_kopf_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    args = build_parser().parse_args(["run", "--selector", "shard=a,!canary", "--peering", "mm-a"])
    for key, value in flag_settings(args).items():
        monkeypatch.setenv(ENV_PREFIX + key, value)
    settings = OperatorSettings.from_env()
    assert settings.selector == {"shard": "a", "canary": False}
    assert settings.peering == "mm-a"
    assert settings.finalizer == shard_finalizer({"shard": "a", "canary": False})
    assert kopf_labels(settings.selector) == {"shard": "a", "canary": kopf.ABSENT}
    assert kopf_labels({"team": True}) == {"team": kopf.PRESENT}
