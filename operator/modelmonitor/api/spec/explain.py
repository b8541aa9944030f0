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
        default=20,
        ge=1,
        le=200,
        description="Reference rows the perturbed inputs are drawn from: the first rows each pod captures "
        "once explanations are on; the drift attribution is measured from their mean prediction.",
    )
    maxRowsPerCall: int = Field(
        default=2048,
        ge=64,
        le=10000,
        description="Most rows in one explanation's batch call to the model: background x (coalitions + 1) "
        "+ 1. Every coalition of the features is evaluated when they fit (exact Shapley values), else a "
        "sample of them (see docs/explanations.md).",
    )

    def sidecar_env(self) -> list[dict[str, str]]:
        """The sidecar's environment for these settings (sidecar/config.py reads it); none while off,
        so that a pod template without explanations stays as it was."""
        if self.sampleRate <= 0:
            return []
        values = {
            "SAMPLE_RATE": f"{self.sampleRate:g}",
            "CALLS_PER_MINUTE": str(self.maxModelCallsPerMinute),
            "BACKGROUND": str(self.background),
            "MAX_ROWS": str(self.maxRowsPerCall),
        }
        return [{"name": f"MODELMONITOR_EXPLAIN_{key}", "value": value} for key, value in values.items()]
