"""Sidecar settings: command-line flags, their environment variables, and parsing of values.

Every flag can also be set through an environment variable (``MODELMONITOR_<FLAG>``) so that the
operator can configure the injected container without rewriting its arguments; a flag given on the
command line wins over the environment. Durations are written ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``,
``1h30m`` or as plain seconds.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PROTOCOLS: tuple[str, ...] = ("auto", "kserve-v1", "kserve-v2", "mlflow", "json")
DETECTORS: tuple[str, ...] = ("email", "card")

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|ki|kib|m|mb|mi|mib|g|gb|gi|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# The resource's Go-style durations, plus days, bare seconds and blanks. Parsed here rather than with
# ``modelmonitor.api.durations``: importing ``modelmonitor.api`` loads pydantic and jsonschema, about
# 15 MiB of memory the sidecar never uses (tests/integration/sidecar/test_sidecar_imports.py).
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_DURATION_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$")
_BARE_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(ValueError):
    """A flag or environment variable holds a value the sidecar cannot use."""


def parse_duration(text: str) -> float:
    """Parse ``30s``, ``5m``, ``1h``, ``250ms``, ``1d``, ``1h30m`` or a bare number of seconds; returns
    seconds."""
    value = str(text)
    bare = _BARE_SECONDS.match(value)
    if bare:
        return float(bare.group(1))
    if _DURATION_WHOLE.match(value):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value))
    raise ConfigError(f"invalid duration {text!r}: write e.g. 500ms, 30s, 5m, 1h")


def parse_size(text: str) -> int:
    """Parse ``64KiB``, ``10MB``, ``1g`` or a bare number of bytes (binary multiples); returns bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(f"invalid size {text!r}: write e.g. 65536, 64KiB, 8MiB")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _SIZE_UNITS[unit]


def parse_hostport(text: str, what: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``:PORT`` means all interfaces, ``[::1]:PORT`` for IPv6)."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"invalid {what} address {text!r}: write HOST:PORT, e.g. 0.0.0.0:8080")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def parse_upstream(text: str) -> tuple[str, int]:
    """Parse the model's URL (``http://127.0.0.1:8081``); only plain HTTP on a host and port."""
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"invalid --upstream {text!r}: write http://HOST:PORT (plain HTTP to the model)")
    if parts.path not in ("", "/"):
        raise ConfigError(f"invalid --upstream {text!r}: paths are forwarded as received, give no path")
    return parts.hostname, parts.port or 80


MAX_TOKEN_BYTES = 4096


def read_token_file(path: str) -> bytes:
    """The admin token in ``path`` (trailing whitespace stripped); a ConfigError names the flag and the
    path, never the content."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--admin-token-file {path!r} cannot be read: {reason}") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise ConfigError(
            f"--admin-token-file {path!r} is larger than {MAX_TOKEN_BYTES} bytes: it must hold the token only"
        )
    token = data.rstrip()
    if not token:
        raise ConfigError(f"--admin-token-file {path!r} is empty: it must hold the admin token")
    if any(byte <= 0x20 or byte >= 0x7F for byte in token):
        raise ConfigError(
            f"--admin-token-file {path!r} holds spaces, control or non-ASCII characters: the token is sent "
            "as 'Authorization: Bearer <token>' and must be printable ASCII without spaces"
        )
    return token


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in str(text).split(",") if item.strip())


@dataclass(frozen=True)
class SidecarConfig:
    """Resolved sidecar settings (durations in seconds, sizes in bytes, rates as a share 0-1)."""

    listen: tuple[str, int]
    upstream: tuple[str, int]
    admin: tuple[str, int]
    model_name: str = "model"
    model_version: str = "unknown"
    protocol: str = "auto"
    redact: tuple[str, ...] = ()
    redact_mode: str = "hash"
    redact_salt: str = ""
    detect: tuple[str, ...] = ()
    sample_rate: float = 1.0
    window_rows: int = 10_000
    window_age: float = 3600.0
    label_ttl: float = 3600.0
    capture_max_bytes: int = 1024 * 1024
    log_max_bytes: int = 8192
    queue_size: int = 4096
    log_payloads: bool = False
    audit_dir: str = ""
    audit_segment_bytes: int = 64 * 1024 * 1024
    audit_segment_age: float = 3600.0
    audit_keep: int = 48
    retention: float = 720 * 3600.0  # seconds a captured record is kept at most (spec.retention)
    upstream_timeout: float = 60.0
    connect_timeout: float = 5.0
    idle_timeout: float = 75.0
    max_connections: int = 10_000
    admin_token_file: str = ""
    explain_sample_rate: float = 0.0
    explain_calls_per_minute: int = 60
    explain_background: int = 20
    explain_max_rows: int = 2048


# (flag, env suffix, help, default as text or None)
_OPTIONS: tuple[tuple[str, str, str, str | None], ...] = (
    (
        "--listen",
        "LISTEN",
        "HOST:PORT the proxy listens on (clients and the Service come here)",
        "0.0.0.0:8080",
    ),
    ("--upstream", "UPSTREAM", "URL of the model container, e.g. http://127.0.0.1:8081", None),
    (
        "--admin",
        "ADMIN",
        "HOST:PORT of the admin server (/v1/window and /v1/feedback, guarded; /metrics and /healthz, open)",
        "0.0.0.0:9100",
    ),
    ("--model-name", "MODEL_NAME", "model name put on logs, rows and metrics", "model"),
    ("--model-version", "MODEL_VERSION", "model version put on logs, rows and metrics", "unknown"),
    ("--protocol", "PROTOCOL", "payload protocol: " + "|".join(PROTOCOLS), "auto"),
    ("--redact", "REDACT", "comma-separated field names to redact from logs, windows and audit", ""),
    ("--redact-mode", "REDACT_MODE", "hash (salted SHA-256) or drop", "hash"),
    ("--detect", "DETECT", "comma-separated detectors applied to string values: email,card", ""),
    ("--sample-rate", "SAMPLE_RATE", "share 0-1 of requests whose payloads are captured", "1.0"),
    ("--window-rows", "WINDOW_ROWS", "maximum rows kept in the capture window", "10000"),
    ("--window-age", "WINDOW_AGE", "maximum age of rows in the window (duration)", "1h"),
    ("--label-ttl", "LABEL_TTL", "how long a label waits for its prediction before it is lost", "1h"),
    (
        "--capture-max-bytes",
        "CAPTURE_MAX_BYTES",
        "bodies larger than this are forwarded, not captured",
        "1MiB",
    ),
    ("--log-max-bytes", "LOG_MAX_BYTES", "cap on the inputs/outputs part of one log line", "8KiB"),
    (
        "--queue-size",
        "QUEUE_SIZE",
        "capture queue length; captures beyond it are dropped and counted",
        "4096",
    ),
    (
        "--log-payloads",
        "LOG_PAYLOADS",
        "put (redacted) inputs and outputs on the log line: true|false (off by default: logs are "
        "read by more people than the window)",
        "false",
    ),
    ("--audit-dir", "AUDIT_DIR", "directory for the JSONL audit trail (empty: no audit trail)", ""),
    ("--audit-segment-bytes", "AUDIT_SEGMENT_BYTES", "rotate an audit segment at this size", "64MiB"),
    ("--audit-segment-age", "AUDIT_SEGMENT_AGE", "rotate an audit segment at this age (duration)", "1h"),
    ("--audit-keep", "AUDIT_KEEP", "number of audit segments kept (oldest deleted)", "48"),
    (
        "--retention",
        "RETENTION",
        "longest a captured record (window row, label, audit segment) is kept, at least 1h (duration)",
        "720h",
    ),
    ("--upstream-timeout", "UPSTREAM_TIMEOUT", "time allowed for the model's answer (duration)", "60s"),
    ("--connect-timeout", "CONNECT_TIMEOUT", "time allowed to connect to the model (duration)", "5s"),
    ("--idle-timeout", "IDLE_TIMEOUT", "close idle client connections after (duration)", "75s"),
    ("--max-connections", "MAX_CONNECTIONS", "client connections beyond this are refused", "10000"),
    (
        "--admin-token-file",
        "ADMIN_TOKEN_FILE",
        "file holding the bearer token /v1/window and /v1/feedback require (re-read when it changes); "
        "empty: no token, and window and feedback are served only on a loopback --admin address",
        "",
    ),
    (
        "--explain-sample-rate",
        "EXPLAIN_SAMPLE_RATE",
        "share 0-1 of captured requests explained with KernelSHAP (docs/explanations.md); 0: off",
        "0",
    ),
    (
        "--explain-calls-per-minute",
        "EXPLAIN_CALLS_PER_MINUTE",
        "most calls to the model per minute for explanations (one call per explanation)",
        "60",
    ),
    ("--explain-background", "EXPLAIN_BACKGROUND", "reference rows the explanations perturb from", "20"),
    (
        "--explain-max-rows",
        "EXPLAIN_MAX_ROWS",
        "most rows in one explanation's batch to the model (64-10000): all coalitions when they fit, "
        "else sampled",
        "2048",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sidecar flags; each defaults to ``None`` so the environment can fill it in."""
    for flag, env, text, default in _OPTIONS:
        shown = (
            f" (env MODELMONITOR_{env}; default {default or 'none'})"
            if default is not None
            else f" (env MODELMONITOR_{env})"
        )
        parser.add_argument(flag, default=None, help=text + shown)


def _bool(text: str, what: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid {what} {text!r}: write true or false")


def _retention(text: str) -> float:
    seconds = parse_duration(text)
    if seconds < 3600:
        raise ConfigError(f"invalid --retention {text!r}: keep records at least 1h (as spec.retention)")
    return seconds


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> SidecarConfig:
    """Merge flags over ``MODELMONITOR_*`` environment variables over defaults and validate."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for flag, suffix, _text, default in _OPTIONS:
        key = flag[2:].replace("-", "_")
        value = getattr(args, key, None)
        if value is None:
            value = env.get(f"MODELMONITOR_{suffix}", default)
        if value is None:
            raise ConfigError(f"{flag} is required (or set MODELMONITOR_{suffix})")
        raw[key] = str(value)
    protocol = raw["protocol"].strip().lower()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"invalid --protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    mode = raw["redact_mode"].strip().lower()
    if mode not in ("hash", "drop"):
        raise ConfigError(f"invalid --redact-mode {mode!r}: choose hash or drop")
    detect = _csv(raw["detect"].lower())
    unknown = [d for d in detect if d not in DETECTORS]
    if unknown:
        raise ConfigError(f"invalid --detect {','.join(unknown)!r}: choose among {', '.join(DETECTORS)}")
    try:
        rate = float(raw["sample_rate"])
        rows = int(raw["window_rows"])
        queue = int(raw["queue_size"])
        keep = int(raw["audit_keep"])
        max_conn = int(raw["max_connections"])
    except ValueError as exc:
        raise ConfigError(f"invalid number: {exc}") from None
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"invalid --sample-rate {rate}: give a share between 0 and 1")
    if rows < 1 or queue < 1 or keep < 1 or max_conn < 1:
        raise ConfigError("--window-rows, --queue-size, --audit-keep and --max-connections must be >= 1")
    try:
        explain_rate = float(raw["explain_sample_rate"])
        explain_calls = int(raw["explain_calls_per_minute"])
        explain_background = int(raw["explain_background"])
        explain_rows = int(raw["explain_max_rows"])
    except ValueError as exc:
        raise ConfigError(f"invalid --explain-* number: {exc}") from None
    if not 0.0 <= explain_rate <= 1.0:
        raise ConfigError(f"invalid --explain-sample-rate {explain_rate}: give a share between 0 and 1")
    if explain_calls < 1 or explain_background < 1:
        raise ConfigError("--explain-calls-per-minute and --explain-background must be >= 1")
    if not 64 <= explain_rows <= 10_000:  # 10,000: the rows a codec reads from one body (codecs.MAX_ROWS)
        raise ConfigError(f"invalid --explain-max-rows {explain_rows}: give 64 to 10000")
    token_file = raw["admin_token_file"].strip()
    if token_file:
        read_token_file(token_file)  # fail at start, with the flag and the path, not at the first request
    return SidecarConfig(
        listen=parse_hostport(raw["listen"], "--listen"),
        upstream=parse_upstream(raw["upstream"]),
        admin=parse_hostport(raw["admin"], "--admin"),
        model_name=raw["model_name"],
        model_version=raw["model_version"],
        protocol=protocol,
        redact=_csv(raw["redact"]),
        redact_mode=mode,
        redact_salt=env.get("MODELMONITOR_REDACT_SALT", ""),
        detect=detect,
        sample_rate=rate,
        window_rows=rows,
        window_age=parse_duration(raw["window_age"]),
        label_ttl=parse_duration(raw["label_ttl"]),
        capture_max_bytes=parse_size(raw["capture_max_bytes"]),
        log_max_bytes=parse_size(raw["log_max_bytes"]),
        queue_size=queue,
        log_payloads=_bool(raw["log_payloads"], "--log-payloads"),
        audit_dir=raw["audit_dir"],
        audit_segment_bytes=parse_size(raw["audit_segment_bytes"]),
        audit_segment_age=parse_duration(raw["audit_segment_age"]),
        audit_keep=keep,
        retention=_retention(raw["retention"]),
        upstream_timeout=parse_duration(raw["upstream_timeout"]),
        connect_timeout=parse_duration(raw["connect_timeout"]),
        idle_timeout=parse_duration(raw["idle_timeout"]),
        max_connections=max_conn,
        admin_token_file=token_file,
        explain_sample_rate=explain_rate,
        explain_calls_per_minute=explain_calls,
        explain_background=explain_background,
        explain_max_rows=explain_rows,
    )
