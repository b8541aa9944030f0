"""The operator's own settings, from flags or environment variables (flags win).

Kopf fixes a timer's interval when the handler is decorated, so ``modelmonitor run`` puts its flags
into the environment before it imports the handlers; everything else reads this one object.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from modelmonitor.api.durations import parse_duration

ENV_PREFIX = "MODELMONITOR_"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class OperatorSettings:
    prometheus_url: str | None = None
    """Default Prometheus base URL; a monitor's spec.prometheus.url overrides it."""
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch; empty means all namespaces."""
    tick_seconds: float = 10.0
    """How often each monitor's timer wakes to see whether an evaluation is due, in seconds."""
    retry_seconds: float = 30.0
    """How soon a monitor whose target is missing is looked at again, in seconds."""
    sidecar_image: str = "ghcr.io/modelmonitor/modelmonitor:0.1.0"
    workers: int = 20
    """Threads for blocking handler work (Kubernetes and Prometheus calls)."""
    metrics_address: str = "0.0.0.0:8000"
    """Where the operator serves its own /metrics (empty: nowhere)."""
    runbook_base_url: str = "https://github.com/modelmonitor/modelmonitor/blob/main/docs/runbooks"
    """Where alerts' runbook links point: <base>/<Condition>.md."""
    standalone: bool = False
    peering: str = "modelmonitor"
    priority: int = 0
    """Kopf peering priority. Replicas of equal priority all pause (Kopf's rule), so each replica
    draws its own at start unless one is given."""

    @classmethod
    def from_env(cls) -> OperatorSettings:
        namespaces = tuple(ns.strip() for ns in _env("NAMESPACES").split(",") if ns.strip())
        return cls(
            prometheus_url=_env("PROMETHEUS_URL") or None,
            namespaces=namespaces,
            tick_seconds=parse_duration(_env("TICK", "10s")),
            retry_seconds=parse_duration(_env("RETRY", "30s")),
            sidecar_image=_env("SIDECAR_IMAGE", cls.sidecar_image),
            workers=int(_env("WORKERS", "20")),
            metrics_address=_env("METRICS", "0.0.0.0:8000"),
            runbook_base_url=_env("RUNBOOK_BASE_URL", cls.runbook_base_url),
            standalone=_env("STANDALONE", "false").lower() in ("1", "true", "yes"),
            peering=_env("PEERING", "modelmonitor"),
            priority=int(_env("PRIORITY") or secrets.randbelow(2**31 - 1) + 1),
        )
