"""The admin token file and the access modes, without processes (a fake clock drives the re-read)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from modelmonitor.sidecar.auth import AdminToken, admin_access, is_loopback
from modelmonitor.sidecar.config import ConfigError, SidecarConfig, add_arguments, resolve

TOKEN = "tok-Zq81-never-shown"


def parse(argv: list[str], env: dict[str, str] | None = None) -> SidecarConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args(["--upstream", "http://127.0.0.1:9", *argv]), env or {})


def write(path: Path, text: str, bump_ns: int = 0) -> None:
    path.write_text(text)
    if bump_ns:  # a different mtime even on a filesystem with a coarse clock
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_ns))


def test_token_file_from_flag_or_environment(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write(path, TOKEN + "\n\n")
    assert parse(["--admin-token-file", str(path)]).admin_token_file == str(path)
    assert parse([], {"MODELMONITOR_ADMIN_TOKEN_FILE": str(path)}).admin_token_file == str(path)
    assert parse([]).admin_token_file == ""
    access = admin_access(parse(["--admin-token-file", str(path)]))
    assert access.mode == "token" and access.token is not None
    assert access.token.current() == TOKEN.encode()  # trailing whitespace stripped
    assert TOKEN not in repr(access) and TOKEN not in " ".join(access.describe())
    assert str(path) in access.describe()[1]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot be read"),
        ("", "is empty"),
        (" \n\t\n", "is empty"),
        ("two words" + TOKEN, "spaces, control or non-ASCII"),
        ("x" * 5000 + TOKEN, "larger than 4096 bytes"),
    ],
)
def test_unusable_token_file_names_flag_and_path_never_content(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        write(path, content)
    with pytest.raises(ConfigError) as err:
        parse(["--admin-token-file", str(path)])
    message = str(err.value)
    assert "--admin-token-file" in message and str(path) in message and reason in message
    assert TOKEN not in message and "words" not in message


def test_token_file_is_re_read_when_it_changes_at_most_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write(path, "first")
    now = [100.0]
    logged: list[str] = []
    token = AdminToken(str(path), clock=lambda: now[0], log=lambda msg, **_: logged.append(msg))
    assert token.matches(b"first") and not token.matches(b"firs") and not token.matches(b"")
    write(path, "second", bump_ns=10_000_000)
    now[0] += 0.5
    assert token.current() == b"first"  # not stat'ed again within the second
    now[0] += 0.6
    assert token.current() == b"second" and token.reloads == 1
    assert token.matches(b"second") and not token.matches(b"first")
    assert logged == ["admin token file changed; the new token is in force"]
    # a rotation that leaves the file empty (or unreadable) keeps the token in force, and is retried
    write(path, "", bump_ns=20_000_000)
    now[0] += 1.0
    assert token.current() == b"second" and token.reload_failures == 1
    assert "previous token stays in force" in logged[-1]
    write(path, "third", bump_ns=30_000_000)
    now[0] += 1.0
    assert token.current() == b"third"
    path.unlink()  # gone (a Secret volume being swapped): the last token stays
    now[0] += 1.0
    assert token.current() == b"third"
    assert all("third" not in m and "second" not in m for m in logged)


def test_secret_volume_rotation_through_symlinks(tmp_path: Path) -> None:
    """A Secret volume: ``token -> ..data/token``, ``..data -> ..<timestamp>`` swapped atomically."""
    for name, value in (("..v1", "old-token"), ("..v2", "new-token")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "token").write_text(value)
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "token").symlink_to("..data/token")
    now = [0.0]
    token = AdminToken(str(tmp_path / "token"), clock=lambda: now[0])
    assert token.current() == b"old-token"
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    now[0] += 1.0
    assert token.current() == b"new-token"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.31.4.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("my-pod.example", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_mode_without_token_file_depends_on_the_admin_address() -> None:
    loop = admin_access(parse(["--admin", "127.0.0.1:9100"]))
    assert loop.mode == "loopback" and loop.token is None
    level, message = loop.describe()
    assert level == "info" and "without a token" in message and "127.0.0.1:9100" in message
    wide = admin_access(parse(["--admin", "0.0.0.0:9100"]))
    assert wide.mode == "refused"
    level, message = wide.describe()
    assert level == "warning" and "refused" in message and "--admin-token-file" in message
    assert "/metrics and /healthz are served" in message
