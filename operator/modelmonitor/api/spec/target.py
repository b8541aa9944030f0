"""The target, its evaluation window and the capture sidecar."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import ContainerName, DNSName, Duration, Port, Protocol, Quantity, Share


class Target(Model):
    """The model Deployment to watch, in the monitor's own namespace."""

    deployment: DNSName = Field(description="Name of the model's Deployment, in the monitor's namespace.")
    container: ContainerName | None = Field(
        default=None, description="The model container in the pod; default: the pod's first container."
    )
    port: Port = Field(default=8080, description="The port the model container serves predictions on.")
    protocol: Protocol = Field(
        default=Protocol.AUTO,
        description="Payload format of the model's API; `auto` sniffs KServe v1/v2, MLflow or JSON records.",
    )
    versionLabel: str = Field(
        default="app.kubernetes.io/version",
        max_length=317,
        description="Pod-template label or annotation that holds the model version shown in logs and status.",
    )


class Window(Model):
    """How much captured traffic one evaluation looks at."""

    maxRows: int = Field(
        default=10000, ge=100, le=1_000_000, description="Most recent rows kept per evaluation."
    )
    maxAge: Duration = Field(default="1h", description="Rows older than this are left out of the window.")


class ResourceRequirements(Model):
    """Kubernetes resource requests and limits for the injected sidecar."""

    requests: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, str | int](cpu="50m", memory="64Mi"),
        description="Resource requests.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, str | int](memory="256Mi"), description="Resource limits."
    )


AUDIT_MIN_MI = 64
AuditSize = Annotated[
    str,
    Field(pattern=r"^[1-9][0-9]*(Mi|Gi)$", max_length=12),
]


def size_bytes(size: str) -> int:
    """Bytes in an ``AuditSize`` (``64Mi``, ``2Gi``: binary multiples)."""
    return int(size[:-2]) * (1 << (20 if size.endswith("Mi") else 30))


class SidecarAudit(Model):
    """The sidecar's JSONL audit trail on a volume of the pod: off by default."""

    enabled: bool = Field(
        default=False,
        description="Give the sidecar an `emptyDir` volume (`modelmonitor-audit`, mounted in the sidecar "
        "only) and write the audit trail there: the log line of each request and explanation, rotated in "
        "segments and kept for `spec.retention`. It lives as long as the pod. false takes the volume out.",
    )
    sizeLimit: AuditSize = Field(
        default="1Gi",
        description="The emptyDir's `sizeLimit`, in Mi or Gi, at least 64Mi. The kubelet evicts a pod whose "
        "emptyDir grows past it, so the sidecar keeps its segments under 90 % of it.",
    )

    rules = (
        Rule(
            cel="!has(self.sizeLimit) || self.sizeLimit.endsWith('Gi') || "
            "self.sizeLimit.matches('^([1-9][0-9]{2,}|[7-9][0-9]|6[4-9])Mi$')",
            message=f"sizeLimit must be at least {AUDIT_MIN_MI}Mi",
            check=lambda s: size_bytes(s.sizeLimit) >= AUDIT_MIN_MI << 20,
            field="sizeLimit",
        ),
    )


class Sidecar(Model):
    """The capture sidecar the operator injects beside the model container."""

    inject: bool = Field(default=True, description="Inject the sidecar; false removes what was injected.")
    image: str | None = Field(
        default=None,
        max_length=512,
        description="Sidecar image; default: the operator's own. Honoured only when the chart lists it in "
        "`sidecar.allowedImages`; any other image is refused (Ready=False, ImageNotAllowed) and nothing is injected.",
    )
    listenPort: Port = Field(
        default=8480, description="Port the sidecar proxies on (the Service routes here)."
    )
    adminPort: Port = Field(
        default=8481, description="Port of the sidecar's window, feedback and metrics API."
    )
    routeService: bool = Field(
        default=True,
        description="Point Services that send traffic to the model's port at the sidecar, once every replica runs it.",
    )
    redact: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        max_length=100,
        description="Input fields removed from logs and windows (e.g. ssn).",
    )
    detectPII: bool = Field(
        default=False, description="Also redact e-mail addresses and card numbers found in values."
    )
    sampleRate: Share = Field(default=1.0, description="Share of requests captured (0-1); all are forwarded.")
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements, description="The sidecar container's resources."
    )
    audit: SidecarAudit = Field(
        default_factory=SidecarAudit, description="The audit trail on a volume of the pod (off by default)."
    )

    rules = (
        Rule(
            cel="self.listenPort != self.adminPort",
            message="listenPort and adminPort must differ",
            check=lambda s: s.listenPort != s.adminPort,
            field="adminPort",
        ),
    )
