"""Per-prediction explanations: which features made a prediction, and by how much (KernelSHAP)."""

from __future__ import annotations

from pydantic import Field

from modelmonitor.api.rules import Model
from modelmonitor.api.spec.types import Share


class Explain(Model):
    """Attributions for a sampled share of captured requests, computed against the live model with
    perturbed inputs around a reference background; off unless ``sampleRate`` is above 0."""

    sampleRate: Share = Field(
        default=0.0, description="Share of captured requests explained (0-1); 0 turns explanations off."
    )
    maxModelCallsPerMinute: int = Field(
        default=60,
        ge=1,
        le=6000,
        description="Most calls to the model per minute, per pod, for explanations.",
    )
    background: int = Field(
        default=20, ge=1, le=200, description="Reference rows the perturbed inputs are drawn from."
    )
