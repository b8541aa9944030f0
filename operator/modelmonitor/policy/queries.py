"""PromQL for a monitor's figures: latency quantiles, error rate, throughput, CPU, memory, GPU.

Sidecar series carry ``model`` (the Deployment's name) and the scrape's ``namespace`` label; cAdvisor
and DCGM series are matched by namespace, pod name and container. A Deployment's pods are named
``<deployment>-<pod-template-hash>-<suffix>``, so the pod regex names the template hashes of the
Deployment's own ReplicaSets: a prefix alone would match ``credit-db-0`` for Deployment ``credit``.
Pure strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIDECAR = "modelmonitor_sidecar"


# The characters of generated names: the ReplicaSet's pod-template-hash and the pod's suffix
# (Kubernetes' rand.SafeEncodeString: no vowels, no 0, 1 or 3, so no words and no ordinals).
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_PREFIX_MAX = 58  # a generated name is its generateName cut to 58 characters, plus 5 random ones
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def _esc(value: str) -> str:
    """``value`` inside a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def re2_escape(value: str) -> str:
    """``value`` as a literal in an RE2 regex (PromQL's ``=~``): metacharacters such as ``.`` escaped."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


@dataclass(frozen=True)
class Selector:
    namespace: str
    deployment: str
    container: str
    hashes: tuple[str, ...] = ()
    """The pod-template-hash labels of the Deployment's own ReplicaSets (empty when none is known)."""

    @property
    def sidecar(self) -> str:
        return f'namespace="{_esc(self.namespace)}",model="{_esc(self.deployment)}"'

    @property
    def pod_regex(self) -> str:
        """The RE2 regex of this Deployment's pod names (PromQL anchors it at both ends)."""
        name = re2_escape(self.deployment)
        if not self.hashes:
            return f"{name}-{_SAFE}{{1,10}}-{_SAFE}{{5}}"
        hashes = sorted(set(self.hashes))
        if all(len(f"{self.deployment}-{h}-") <= _PREFIX_MAX for h in hashes):
            return f"{name}-({'|'.join(re2_escape(h) for h in hashes)})-{_SAFE}{{5}}"
        # Long names: the API server cuts a generateName prefix to 58 characters.
        prefixes = sorted({f"{self.deployment}-{h}-"[:_PREFIX_MAX] for h in hashes})
        return f"({'|'.join(re2_escape(p) for p in prefixes)}){_SAFE}{{5}}"

    @property
    def pods(self) -> str:
        return f'namespace="{_esc(self.namespace)}",pod=~"{_esc(self.pod_regex)}"'

    @property
    def container_sel(self) -> str:
        return f'{self.pods},container="{_esc(self.container)}"'


def _seconds(lookback: float) -> str:
    return f"{max(int(lookback), 1)}s"


def slo_queries(sel: Selector, lookback: float) -> dict[str, str]:
    """PromQL per figure; ``lookback`` in seconds. Latencies come out in seconds, shares 0-1."""
    w = _seconds(lookback)
    buckets = f"sum by (le) (rate({SIDECAR}_request_duration_seconds_bucket{{{sel.sidecar}}}[{w}]))"
    requests = f"sum(rate({SIDECAR}_requests_total{{{sel.sidecar}}}[{w}]))"
    return {
        "requests": f"sum(increase({SIDECAR}_requests_total{{{sel.sidecar}}}[{w}]))",
        "throughputRps": requests,
        "latencyP50Ms": f"1000 * histogram_quantile(0.5, {buckets})",
        "latencyP95Ms": f"1000 * histogram_quantile(0.95, {buckets})",
        "latencyP99Ms": f"1000 * histogram_quantile(0.99, {buckets})",
        "errorRate": f"(sum(rate({SIDECAR}_errors_total{{{sel.sidecar}}}[{w}])) or vector(0)) / {requests}",
    }


def resource_queries(sel: Selector, lookback: float) -> dict[str, str]:
    """Worst pod's CPU (cores) and memory (bytes) of the model container, and mean GPU use (0-1)."""
    w = _seconds(lookback)
    return {
        "cpuCores": f"max(rate(container_cpu_usage_seconds_total{{{sel.container_sel}}}[{w}]))",
        "memoryBytes": f"max(container_memory_working_set_bytes{{{sel.container_sel}}})",
        "gpuUtilization": f"avg(DCGM_FI_DEV_GPU_UTIL{{{sel.pods}}}) / 100",
    }


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


def parse_quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number: ``500m`` -> 0.5, ``256Mi`` -> 268435456, ``2`` -> 2."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text and text[-1] in _DECIMAL and not text[-1].isdigit():
        return float(text[:-1]) * _DECIMAL[text[-1]]
    return float(text)


@dataclass(frozen=True)
class Basis:
    """What a container's CPU or memory use is a share of: its limit, else its request, else nothing."""

    quantity: float | None
    """Cores or bytes; None when the container sets neither a limit nor a request."""
    reason: str | None = None
    """None against the limit; ``NoLimit`` against the request; ``NoLimitOrRequest`` not at all."""
    message: str = ""


def utilization_basis(container: dict[str, Any], resource: str) -> Basis:
    """The basis of ``resource`` (``cpu`` or ``memory``) utilization for the model container."""
    resources = container.get("resources") or {}
    name = container.get("name")
    for kind in ("limits", "requests"):
        value = (resources.get(kind) or {}).get(resource)
        if value is not None and parse_quantity(value) > 0:
            if kind == "limits":
                return Basis(parse_quantity(value))
            return Basis(parse_quantity(value), "NoLimit",
                         f"NoLimit: container {name} has no {resource} limit; judged against its request {value}")  # fmt: skip
    return Basis(None, "NoLimitOrRequest",
                 f"{resource} use cannot be judged: container {name} sets neither resources.limits.{resource} "
                 f"nor resources.requests.{resource}; set a limit (or a request)")  # fmt: skip


def count_queries(sel: Selector, lookback: float) -> dict[str, str]:
    """Requests and errors served over the last ``lookback`` seconds (counts, for an A/B test's
    error guard rail)."""
    w = _seconds(lookback)
    return {
        "requests": f"sum(increase({SIDECAR}_requests_total{{{sel.sidecar}}}[{w}]))",
        "errors": f"sum(increase({SIDECAR}_errors_total{{{sel.sidecar}}}[{w}])) or vector(0)",
    }


def per_variant(query: str, sel: Selector) -> str:
    """A business-metric query for one variant: ``$deployment`` and ``$pods`` (a regex of its pod
    names, for ``pod=~"$pods"``) filled in."""
    return query.replace("$deployment", _esc(sel.deployment)).replace("$pods", _esc(sel.pod_regex))
