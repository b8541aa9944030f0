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

    rules = (
        Rule(
            cel="self.listenPort != self.adminPort",
            message="listenPort and adminPort must differ",
            check=lambda s: s.listenPort != s.adminPort,
            field="adminPort",
        ),
    )
