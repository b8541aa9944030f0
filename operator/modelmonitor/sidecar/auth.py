"""Who may read the window and post labels on the admin server.

Three modes, chosen at start from ``--admin-token-file`` and ``--admin``:

- ``token``: ``/v1/window`` and ``/v1/feedback`` need ``Authorization: Bearer <token>`` (or the same
  token in ``X-ModelMonitor-Token``: the API server's pod proxy drops ``Authorization``, which is the
  user's own credential there, and passes other headers), the token being the content of the file
  (the operator mounts the monitor's admin Secret there). The file is
  re-read when it changes (a ``stat`` at most once a second), so a rotated Secret takes effect without
  a restart; a file that cannot be re-read keeps the previous token in force.
- ``loopback``: no token file, and the admin address is a loopback address (127.0.0.0/8, ::1,
  ``localhost``): only processes of the same host (or pod) can connect, window and feedback are open.
- ``refused``: no token file on any other address: window and feedback answer 403 saying a token file
  is required. ``/metrics`` and ``/healthz`` are open in every mode (Prometheus, readiness probes).

The token itself is never logged, put in an error or in a metric.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelmonitor.sidecar.config import ConfigError, SidecarConfig, read_token_file

RECHECK_SECONDS = 1.0  # the token file is stat'ed at most this often
TOKEN_HEADER = "X-ModelMonitor-Token"  # the token where Authorization cannot carry it (a pod proxy)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ::1 (an unspecified 0.0.0.0 is not)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class AdminToken:
    """The admin token read from a file; ``current()`` re-reads the file when its stat changes."""

    def __init__(
        self,
        path: str,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._log = log
        self._stamp = self._stat()
        self._token = read_token_file(path)  # ConfigError at start: named flag and path
        self._checked = clock()
        self.reloads = 0  # times a changed file was read (for tests and the start/rotation log)
        self.reload_failures = 0

    def __repr__(self) -> str:  # never the token
        return f"AdminToken(path={self.path!r})"

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows the symlinks of a Secret volume (..data swaps atomically)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def current(self) -> bytes:
        """The token in force, after re-reading the file if it changed (checked at most once a second)."""
        now = self._clock()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                try:
                    token = read_token_file(self.path)
                except ConfigError as exc:
                    # Keep the previous token; the stamp stays old so the next check tries again.
                    self.reload_failures += 1
                    if self._log is not None:
                        self._log(
                            "admin token file could not be re-read; the previous token stays in force",
                            level="warning",
                            reason=str(exc),
                        )
                else:
                    changed = token != self._token
                    self._token, self._stamp = token, stamp
                    self.reloads += 1
                    if changed and self._log is not None:
                        self._log("admin token file changed; the new token is in force", path=self.path)
        return self._token

    def matches(self, presented: bytes) -> bool:
        """Constant-time comparison with the token in force."""
        return hmac.compare_digest(presented, self.current())


@dataclass(frozen=True)
class AdminAccess:
    """The mode in force for ``/v1/window`` and ``/v1/feedback`` (see the module docstring)."""

    mode: str  # "token" | "loopback" | "refused"
    address: str
    token: AdminToken | None = None

    def describe(self) -> tuple[str, str]:
        """(level, message) for the start-up log line; names the file, never the token."""
        if self.mode == "token":
            assert self.token is not None
            return (
                "info",
                f"admin API: /v1/window and /v1/feedback require 'Authorization: Bearer <token>' "
                f"(token from {self.token.path}); /metrics and /healthz are open",
            )
        if self.mode == "loopback":
            return (
                "info",
                f"admin API: no --admin-token-file; /v1/window and /v1/feedback are served without a "
                f"token because the admin address {self.address} is loopback",
            )
        return (
            "warning",
            f"admin API: no --admin-token-file and the admin address {self.address} is not loopback: "
            "/v1/window and /v1/feedback are refused (403); /metrics and /healthz are served. "
            "Set --admin-token-file (MODELMONITOR_ADMIN_TOKEN_FILE) or listen on 127.0.0.1",
        )


def admin_access(
    config: SidecarConfig, clock: Callable[[], float] = time.monotonic, log: Callable[..., None] | None = None
) -> AdminAccess:
    """Choose the mode from the settings; reads the token file (ConfigError when it cannot be used)."""
    host, port = config.admin
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if config.admin_token_file:
        return AdminAccess("token", address, AdminToken(config.admin_token_file, clock, log))
    return AdminAccess("loopback" if is_loopback(host) else "refused", address)
