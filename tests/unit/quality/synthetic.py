"""Seeded synthetic data in the manner of NannyML's car-loan set, for tests of the quality core.

Classification: four numeric features, a true ``P(y=1|x)`` from a fixed logistic model, and a model
score that is a fixed function of the true logit plus noise (squashed and shifted, so it needs
calibrating). Analysis chunks move the mean of ``x1`` step by step while ``P(y|x)`` stays fixed: a pure
covariate shift, CBPE's assumption. Regression: the same idea with heteroscedastic noise whose spread
grows with ``|x1|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WEIGHTS = np.array([3.2, -2.4, 1.8, 1.2])
INTERCEPT = -3.0  # about 30 % positives in the reference
SCORE_NOISE = 0.4  # the model's error, in logit units
SHIFTS = (0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.6, 0.7, 0.8, 0.9)  # mean of x1 in each analysis chunk


@dataclass(frozen=True)
class Classification:
    """One labelled set: features, true labels (0/1), the model's score (0 to 1) and the true ``P(y=1|x)``."""

    features: pd.DataFrame
    y_true: np.ndarray
    score: np.ndarray
    probability: np.ndarray


def _features(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    x = rng.normal(size=(n, len(WEIGHTS)))
    x[:, 0] += shift
    return pd.DataFrame(x, columns=[f"x{i + 1}" for i in range(len(WEIGHTS))])


def classification(rng: np.random.Generator, n: int, shift: float = 0.0) -> Classification:
    """``n`` rows with ``x1``'s mean moved by ``shift`` (standard deviations)."""
    features = _features(rng, n, shift)
    logit = INTERCEPT + features.to_numpy() @ WEIGHTS
    probability = 1.0 / (1.0 + np.exp(-logit))
    y_true = (rng.random(n) < probability).astype(int)
    model_logit = 0.8 * logit + 0.5 + rng.normal(scale=SCORE_NOISE, size=n)
    return Classification(features, y_true, 1.0 / (1.0 + np.exp(-model_logit)), probability)


def classification_chunks(
    seed: int = 7, reference_rows: int = 50_000, chunk_rows: int = 5_000
) -> tuple[Classification, list[Classification]]:
    """The reference and the analysis chunks (one per entry of ``SHIFTS``)."""
    rng = np.random.default_rng(seed)
    return classification(rng, reference_rows), [classification(rng, chunk_rows, s) for s in SHIFTS]


@dataclass(frozen=True)
class Regression:
    """One labelled regression set: features (one categorical), the model's prediction, the truth."""

    features: pd.DataFrame
    y_pred: np.ndarray
    y_true: np.ndarray


def regression(rng: np.random.Generator, n: int, shift: float = 0.0) -> Regression:
    """``n`` rows; the noise's spread is ``0.5 + |x1|`` (so a shift of ``x1`` raises the error)."""
    features = _features(rng, n, shift)
    features["region"] = pd.Categorical(rng.choice(["north", "south", "east"], size=n))
    x = features[["x1", "x2", "x3", "x4"]].to_numpy()
    region_effect = np.where(features["region"] == "south", 1.0, 0.0)
    signal = 3.0 * x[:, 0] - 2.0 * x[:, 1] + np.sin(2.0 * x[:, 2]) + region_effect
    y_pred = signal + 0.3 * x[:, 3]  # a fixed, slightly wrong model
    spread = (0.5 + np.abs(x[:, 0])) * np.where(features["region"] == "east", 1.5, 1.0)
    return Regression(features, y_pred, signal + rng.normal(size=n) * spread)


def regression_chunks(
    seed: int = 11, reference_rows: int = 10_000, chunk_rows: int = 2_000
) -> tuple[Regression, list[Regression]]:
    """The reference and analysis chunks with ``x1``'s mean moved by 0, 0.25, … 1.0."""
    rng = np.random.default_rng(seed)
    shifts = (0.0, 0.25, 0.5, 0.75, 1.0)
    return regression(rng, reference_rows), [regression(rng, chunk_rows, s) for s in shifts]
