"""Data drift of the inputs and where its reference profile comes from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelmonitor.api.rules import Model, Rule
from modelmonitor.api.spec.types import Correction, DNSName, DriftMethod, Share


class ConfigMapKeyRef(Model):
    name: DNSName = Field(description="ConfigMap name, in the monitor's namespace.")
    key: str = Field(
        default="profile.json", min_length=1, max_length=253, description="Key holding the profile."
    )


class Capture(Model):
    rows: int = Field(
        default=5000,
        ge=100,
        le=1_000_000,
        description="Rows captured after injection to build the reference.",
    )


class Reference(Model):
    """Where the reference profile comes from: at most one source; none means capture."""

    configMapRef: ConfigMapKeyRef | None = Field(
        default=None, description="A profile built by `modelmonitor profile`, stored in a ConfigMap."
    )
    url: str | None = Field(
        default=None, pattern=r"^https?://", max_length=2048, description="A profile URL."
    )
    capture: Capture | None = Field(
        default=None,
        description="Capture the first rows after injection (the default when no source is set).",
    )

    rules = (
        Rule(
            cel="[has(self.configMapRef), has(self.url), has(self.capture)].filter(x, x).size() <= 1",
            message="set at most one reference source: configMapRef, url or capture",
            check=lambda r: sum(x is not None for x in (r.configMapRef, r.url, r.capture)) <= 1,
        ),
    )


class Drift(Model):
    """Data drift of the inputs against a reference profile."""

    reference: Reference = Field(default_factory=Reference, description="The reference profile's source.")
    method: DriftMethod = Field(
        default=DriftMethod.AUTO,
        description="Test per feature; `auto` picks by column type and window size (see docs/drift.md).",
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="Drift threshold of the method (p-value or distance); default per method.",
    )
    correction: Correction = Field(
        default=Correction.BH,
        description="Multiple-testing correction across features of the p-value tests (ks, chisquare): "
        "`bh` (Benjamini-Hochberg), `bonferroni` or `none`; distances are left alone (see docs/drift.md).",
    )
    minEffect: float | None = Field(
        default=None, ge=0, description="Also require this effect size (distance) before a feature drifts."
    )
    driftShare: Share = Field(
        default=0.5, description="Dataset drift when this share of features drift (0-1)."
    )
    minRows: int = Field(
        default=500, ge=1, description="Below this many rows, drift reports InsufficientData."
    )
    features: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, max_length=1000, description="Features to test; default: all in the reference."
    )

    rules = (
        Rule(
            cel="!has(self.threshold) || self.method != 'auto'",
            message="threshold needs a method other than auto (auto mixes p-value tests and distances)",
            check=lambda d: d.threshold is None or d.method != DriftMethod.AUTO,
            field="threshold",
        ),
    )
