"""Label-free performance estimates: CBPE for classification, DLE for regression.

Both learn on a labelled reference and then estimate a chunk's metrics from its predictions alone,
which is what a monitor has for days or weeks before the labels arrive.

- ``CBPE`` (confidence-based performance estimation) calibrates the score on the reference with an
  isotonic regression; a chunk's calibrated probabilities give its expected confusion matrix and its
  expected ROC AUC. It assumes ``P(y | score)`` is the same in the chunk as in the reference (covariate
  shift moves the scores, not the calibration).
- ``DLE`` (direct loss estimation) learns the absolute and the squared error of the model from its
  inputs and its prediction; a chunk's estimated MAE / RMSE is the mean of the predicted errors. It
  assumes ``P(y | x)`` is unchanged.

Memory: a fitted ``CBPE`` keeps one isotonic step function per class (at most one threshold per
distinct calibrated value, typically a few hundred), the threshold and the class labels; a fitted
``DLE`` keeps two gradient-boosted models (trees and their bin edges, at most 255 per feature), the
feature names and, per categorical column, its category labels. Neither keeps a row of the reference.
"""

from modelmonitor.quality.estimate_cbpe import CBPE, CLASSIFICATION_METRICS, MIN_ROWS, Estimate
from modelmonitor.quality.estimate_dle import DLE, REGRESSION_METRICS

__all__ = ["CBPE", "CLASSIFICATION_METRICS", "DLE", "MIN_ROWS", "REGRESSION_METRICS", "Estimate"]
