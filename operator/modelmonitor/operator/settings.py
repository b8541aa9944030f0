"""The operator's own settings, from flags or environment variables (flags win).

Kopf fixes a timer's interval when the handler is decorated, so ``modelmonitor run`` puts its flags
into the environment before it imports the handlers; everything else reads this one object.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from modelmonitor.api.durations import parse_duration
from modelmonitor.policy import egress
from modelmonitor.workload.netpol import DEFAULT_PROMETHEUS_PEERS, check_peers

ENV_PREFIX = "MODELMONITOR_"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _int(name: str, default: str) -> int:
    """An integer setting; ValueError naming the variable (and what was wrong) when it is not one."""
    text = _env(name, default)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name}: {text!r} is not an integer") from None


def _duration(name: str, default: str) -> float:
    """A duration setting (``10s``, ``1m30s``); ValueError naming the variable when it is not one."""
    try:
        return parse_duration(_env(name, default))
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name}: {exc}") from None


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
    require_opt_in: bool = True
    """Act only on Deployments whose namespace or own labels carry modelmonitor.io/enabled=true."""
    sidecar_images: tuple[str, ...] = field(default_factory=tuple)
    """Images a monitor's spec.sidecar.image may name besides sidecar_image; empty: only that one."""
    network_policy: bool = True
    """Guard each monitor's sidecar admin port with a NetworkPolicy (operator and Prometheus only)."""
    operator_namespace: str = ""
    """The operator's own namespace (the chart sets it from the Downward API): the NetworkPolicy
    admits the operator's pods from there to the sidecars' admin port."""
    operator_pod_labels: dict[str, str] = field(default_factory=dict)
    """Labels that select the operator's pods (the chart's selector labels), for that NetworkPolicy."""
    network_policy_prometheus: tuple[dict[str, Any], ...] = DEFAULT_PROMETHEUS_PEERS
    """NetworkPolicyPeers of Prometheus, admitted to the sidecars' admin port (its /metrics)."""
    egress_allow: tuple[str, ...] = field(default_factory=tuple)
    """Hosts the operator may send requests to (Prometheus, reference URLs, webhooks): patterns such as
    ``*.svc``, ``hooks.slack.com``, ``10.0.0.0/8``, ``[fd00::1]:9090`` (see policy/egress.py). Empty
    allows every host: set it in production."""
    reference_max_bytes: int = 64 * 1024 * 1024
    """Largest drift reference the operator downloads from spec.drift.reference.url, in bytes."""

    @classmethod
    def from_env(cls) -> OperatorSettings:
        namespaces = tuple(ns.strip() for ns in _env("NAMESPACES").split(",") if ns.strip())
        return cls(
            prometheus_url=_env("PROMETHEUS_URL") or None,
            namespaces=namespaces,
            tick_seconds=_duration("TICK", "10s"),
            retry_seconds=_duration("RETRY", "30s"),
            sidecar_image=_env("SIDECAR_IMAGE", cls.sidecar_image),
            workers=_int("WORKERS", "20"),
            metrics_address=_env("METRICS", "0.0.0.0:8000"),
            runbook_base_url=_env("RUNBOOK_BASE_URL", cls.runbook_base_url),
            standalone=_env("STANDALONE", "false").lower() in ("1", "true", "yes"),
            peering=_env("PEERING", "modelmonitor"),
            priority=_int("PRIORITY", "") if _env("PRIORITY") else secrets.randbelow(2**31 - 1) + 1,
            require_opt_in=_env("REQUIRE_OPT_IN", "true").lower() in ("1", "true", "yes"),
            sidecar_images=tuple(i.strip() for i in _env("SIDECAR_IMAGES").split(",") if i.strip()),
            network_policy=_env("NETWORK_POLICY", "true").lower() in ("1", "true", "yes"),
            operator_namespace=_env("OPERATOR_NAMESPACE").strip(),
            operator_pod_labels=parse_labels(
                _env("OPERATOR_POD_LABELS"), where=ENV_PREFIX + "OPERATOR_POD_LABELS"
            ),
            network_policy_prometheus=parse_peers(
                _env("NETWORK_POLICY_PROMETHEUS"), where=ENV_PREFIX + "NETWORK_POLICY_PROMETHEUS"
            ),
            egress_allow=parse_egress(_env("EGRESS_ALLOW"), where=ENV_PREFIX + "EGRESS_ALLOW"),
            reference_max_bytes=parse_size(
                _env("REFERENCE_MAX_BYTES"),
                where=ENV_PREFIX + "REFERENCE_MAX_BYTES",
                default=cls.reference_max_bytes,
            ),
        )


def parse_labels(text: str, *, where: str) -> dict[str, str]:
    """``k=v,k=v`` (a label selector of equalities) as a dict; ValueError naming ``where`` if not."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or "=" in value:
            raise ValueError(f"{where}: {part!r} is not key=value (expected k=v,k=v)")
        out[key.strip()] = value.strip()
    return out


def parse_peers(text: str, *, where: str) -> tuple[dict[str, Any], ...]:
    """A JSON list of NetworkPolicyPeer objects; empty text: the default (Prometheus by its label)."""
    if not text.strip():
        return DEFAULT_PROMETHEUS_PEERS
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg} at character {exc.pos})") from exc
    return check_peers(data, where=where)


def parse_egress(text: str, *, where: str) -> tuple[str, ...]:
    """Comma-separated egress allowlist patterns, each checked; ValueError naming ``where`` if one is bad."""
    try:
        return tuple(p.text for p in egress.parse_patterns(text))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def parse_size(text: str, *, where: str, default: int) -> int:
    """A positive byte count (``67108864``, or with a binary suffix ``64Mi``, ``512Ki``, ``1Gi``)."""
    text = text.strip()
    if not text:
        return default
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    number, factor = text, 1
    if text[-2:] in units:
        number, factor = text[:-2], units[text[-2:]]
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{where}: {text!r} is not a positive number of bytes (e.g. 67108864 or 64Mi)")
    return int(number) * factor
