"""The operator's own settings, from flags or environment variables (flags win).

Kopf fixes a timer's interval when the handler is decorated, so ``modelmonitor run`` puts its flags
into the environment before it imports the handlers; everything else reads this one object.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
    selector: dict[str, str | bool] = field(default_factory=dict)
    """Labels a ModelMonitor must carry to be handled by this operator (its shard): a value to equal,
    True for "present", False for "absent"; empty handles every monitor (see parse_selector)."""
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
    audit_segments: int = 8
    """ConfigMaps in each monitor's audit ring (docs/audit.md); when all are full the oldest is dropped."""
    audit_segment_bytes: int = 900 * 1024
    """Bytes of records in one audit ConfigMap before the next one is started (a ConfigMap holds 1 MiB)."""

    def __post_init__(self) -> None:
        if not 1 <= self.audit_segments <= 1000:
            raise ValueError(f"{ENV_PREFIX}AUDIT_SEGMENTS: {self.audit_segments} is not between 1 and 1000")
        if not 1024 <= self.audit_segment_bytes <= 1000 * 1024:  # a ConfigMap's data stays under 1 MiB
            raise ValueError(f"{ENV_PREFIX}AUDIT_SEGMENT_BYTES: {self.audit_segment_bytes} is not between 1Ki "
                             "and 1000Ki")  # fmt: skip

    @property
    def finalizer(self) -> str:
        """The finalizer this operator puts on its monitors. A shard has its own: Kopf removes a
        finalizer of its name from an object its filters no longer match, so shards sharing one would
        take each other's off; with their own, a monitor relabelled to another shard loses the old
        shard's finalizer and gets the new one's."""
        return shard_finalizer(self.selector)

    @classmethod
    def from_env(cls) -> OperatorSettings:
        namespaces = tuple(ns.strip() for ns in _env("NAMESPACES").split(",") if ns.strip())
        return cls(
            prometheus_url=_env("PROMETHEUS_URL") or None,
            namespaces=namespaces,
            selector=parse_selector(_env("SELECTOR"), where=ENV_PREFIX + "SELECTOR"),
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
            audit_segments=_int("AUDIT_SEGMENTS", str(cls.audit_segments)),
            audit_segment_bytes=parse_size(
                _env("AUDIT_SEGMENT_BYTES"),
                where=ENV_PREFIX + "AUDIT_SEGMENT_BYTES",
                default=cls.audit_segment_bytes,
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


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _label_key(key: str, *, where: str, part: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if not _LABEL_NAME.fullmatch(name) or (
        slash and (len(prefix) > 253 or not _DNS_PREFIX.fullmatch(prefix))
    ):
        raise ValueError(f"{where}: {part!r}: {key!r} is not a label key (e.g. shard or example.com/shard)")
    return key


def parse_selector(text: str, *, where: str) -> dict[str, str | bool]:
    """A label selector of the monitors to handle, ``k=v,k2,!k3`` (``k2``: the label is present,
    ``!k3``: absent), as ``{key: value | True | False}``; ValueError naming ``where`` if not one.

    Only what a Kopf label filter can apply to every event: equality, presence and absence (no
    ``!=``, ``in``/``notin``; an absent ``shard`` label with ``!shard`` gives a default shard)."""
    out: dict[str, str | bool] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "!=" in part or " in " in f" {part} " or "(" in part:
            raise ValueError(f"{where}: {part!r}: only k=v, k (present) and !k (absent) are supported")
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if eq:
            if value and not _LABEL_NAME.fullmatch(value):
                raise ValueError(f"{where}: {part!r}: {value!r} is not a label value")
            out[_label_key(key, where=where, part=part)] = value
        elif key.startswith("!"):
            out[_label_key(key[1:].strip(), where=where, part=part)] = False
        else:
            out[_label_key(key, where=where, part=part)] = True
    return out


def render_selector(selector: dict[str, str | bool]) -> str:
    """The selector as ``parse_selector`` reads it (and ``kubectl get -l`` too), keys sorted."""
    return ",".join(
        key if value is True else f"!{key}" if value is False else f"{key}={value}"
        for key, value in sorted(selector.items())
    )


def shard_finalizer(selector: dict[str, str | bool], prefix: str = "modelmonitor.io") -> str:
    """``<prefix>/finalizer`` without a selector; with one, ``<prefix>/finalizer.<selector>.<hash>``:
    readable, and distinct for distinct selectors (the hash; the readable part may be cut short)."""
    if not selector:
        return f"{prefix}/finalizer"
    text = render_selector(selector)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    readable = (
        re.sub(r"[^A-Za-z0-9_.-]+", "-", text.replace("!", "not-")).strip("-._")[:40].strip("-._") or "shard"
    )
    return f"{prefix}/finalizer.{readable}.{digest}"


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
