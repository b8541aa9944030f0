"""Config parsing, audit rotation, log-line capping."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from modelmonitor.sidecar.audit import AuditLog
from modelmonitor.sidecar.config import ConfigError, add_arguments, parse_duration, parse_size, resolve
from modelmonitor.sidecar.logline import cap_payload, iso_time


def parse(argv: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args(argv), env or {})


def test_durations_and_sizes() -> None:
    assert parse_duration("30s") == 30 and parse_duration("5m") == 300 and parse_duration("1h") == 3600
    assert parse_duration("250ms") == 0.25 and parse_duration("2") == 2
    assert parse_size("64KiB") == 65536 and parse_size("8MiB") == 8 * 1024 * 1024 and parse_size("10") == 10
    with pytest.raises(ConfigError, match="duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1d", 86400), (" 5 m ", 300), ("1.5", 1.5), ("0.5s", 0.5), ("1h30m", 5400), ("1d 2h", 93600)],
)
def test_duration_forms_of_the_flags(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "-1s", "1 0s", "5m-"])
def test_invalid_durations_keep_the_flag_message(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    assert str(caught.value) == f"invalid duration {text!r}: write e.g. 500ms, 30s, 5m, 1h"


def test_flags_override_environment_which_overrides_defaults() -> None:
    env = {
        "MODELMONITOR_UPSTREAM": "http://127.0.0.1:9",
        "MODELMONITOR_WINDOW_ROWS": "50",
        "MODELMONITOR_MODEL_NAME": "env",
        "MODELMONITOR_REDACT_SALT": "s",
        "MODELMONITOR_REDACT": "a, b",
    }
    cfg = parse(["--model-name", "flag", "--window-age", "5m"], env)
    assert cfg.upstream == ("127.0.0.1", 9) and cfg.window_rows == 50 and cfg.model_name == "flag"
    assert cfg.window_age == 300 and cfg.redact == ("a", "b") and cfg.redact_salt == "s"
    assert cfg.listen == ("0.0.0.0", 8080) and cfg.protocol == "auto" and cfg.sample_rate == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--upstream is required"),
        (["--upstream", "https://x:1"], "plain HTTP"),
        (["--upstream", "http://x:1", "--protocol", "grpc"], "--protocol"),
        (["--upstream", "http://x:1", "--sample-rate", "2"], "between 0 and 1"),
        (["--upstream", "http://x:1", "--listen", "nope"], "HOST:PORT"),
        (["--upstream", "http://x:1", "--detect", "ssn"], "--detect"),
    ],
)
def test_bad_settings_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(argv)


def test_audit_rotates_by_size_and_age_and_prunes(tmp_path: Path) -> None:
    now = [0.0]
    log = AuditLog(tmp_path, segment_bytes=100, segment_age=60, keep=3, clock=lambda: now[0])
    line = b'{"x":"' + b"a" * 40 + b'"}\n'
    for _ in range(4):
        log.write(line)  # two lines per segment
    assert len(log.segments()) == 2
    now[0] += 61
    log.write(line)  # age rotation
    assert len(log.segments()) == 3
    for _ in range(4):
        log.write(line)
    log.close()
    segments = log.segments()
    assert len(segments) == 3  # pruned to keep
    assert all(p.stat().st_size <= 100 for p in segments)
    for p in segments:
        assert all(json.loads(x) for x in p.read_text().splitlines())


def test_cap_payload_keeps_leading_items() -> None:
    small = [{"a": 1}]
    assert cap_payload(small, 100) is small
    capped = cap_payload([{"a": "x" * 50}] * 10, 200)
    assert capped["truncated"] and capped["items"] == 10 and 1 <= len(capped["head"]) < 10
    assert cap_payload({"a": "x" * 500}, 100) == {"truncated": True, "bytes": 508}


def test_iso_time() -> None:
    assert iso_time(0.25) == "1970-01-01T00:00:00.250Z"
