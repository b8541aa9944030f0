"""DLE: a regressor's MAE and RMSE estimated without labels.

Two gradient-boosted models learn the absolute and the squared error of the model from its inputs and
its prediction; a chunk's estimated MAE / RMSE is the mean of the predicted errors. The method assumes
``P(y | x)`` is unchanged. Memory: the two models (trees and their bin edges, at most 255 per feature),
the feature names and, per categorical column, its category labels; no row of the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.ensemble import HistGradientBoostingRegressor

from modelmonitor.quality.estimate_cbpe import MIN_ROWS, Estimate, rounded

REGRESSION_METRICS = ("mae", "rmse")
# HistGradientBoosting takes at most 255 bins per categorical feature, and one is for missing values.
MAX_CATEGORIES = 254


class DLE:
    """Direct loss estimation of a regressor's MAE and RMSE, without labels.

    Two ``HistGradientBoostingRegressor`` (seeded; scikit-learn's defaults, so early stopping on a
    seeded validation split above 10,000 rows) learn ``|y - y_pred|`` and ``(y - y_pred)**2`` from the
    features and the prediction. Numeric columns are used as they are; object and category columns as
    categories (the ``MAX_CATEGORIES`` most frequent, the rest as missing).

    ``fit`` uses every labelled row it is given: the models are only ever applied to other data, so
    more rows buy a better error model. To estimate on reference chunks too (an alert band), fit on
    one half of the reference and estimate on the other, or the band is drawn from in-sample errors.
    """

    def __init__(self) -> None:
        self.columns: list[Any] = []
        self.categories: dict[Any, list[Any]] = {}
        self._absolute: HistGradientBoostingRegressor | None = None
        self._squared: HistGradientBoostingRegressor | None = None

    def fit(self, features: pd.DataFrame, y_pred: ArrayLike, y_true: ArrayLike, *, seed: int = 0) -> DLE:
        """Learn the model's errors on the labelled reference (rows without a label or a prediction are
        left out)."""
        predictions = np.asarray(y_pred, dtype=float)
        truth = np.asarray(pd.to_numeric(pd.Series(np.asarray(y_true)), errors="coerce"), dtype=float)
        if not len(features) == len(predictions) == len(truth):
            raise ValueError(
                f"DLE.fit: {len(features)} feature rows, {len(predictions)} y_pred and {len(truth)} y_true; "
                "pass one of each per row"
            )
        keep = np.isfinite(truth) & np.isfinite(predictions)
        if int(keep.sum()) < MIN_ROWS:
            raise ValueError(
                f"DLE.fit: {int(keep.sum())} labelled rows, fewer than {MIN_ROWS}; "
                "fit on a reference with more labelled rows"
            )
        self.columns = list(features.columns)
        self.categories = {}
        for name in self.columns:
            column = features[name]
            if _is_categorical(column):
                counts = column[keep].astype("object").value_counts()
                self.categories[name] = counts.index[:MAX_CATEGORIES].tolist()
            elif not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
                raise ValueError(
                    f"DLE.fit: column {name!r} is {column.dtype}, neither numeric nor categorical; "
                    "convert it or leave it out of the features"
                )
        table = self._table(features, predictions)[keep]
        error = truth[keep] - predictions[keep]
        self._absolute = _regressor(seed).fit(table, np.abs(error))
        self._squared = _regressor(seed).fit(table, error**2)
        return self

    def estimate(self, features: pd.DataFrame, y_pred: ArrayLike) -> Estimate:
        """Estimated ``mae`` and ``rmse`` (units of the target) of one chunk; None for an empty chunk."""
        if self._absolute is None or self._squared is None:
            raise ValueError("DLE: estimate before fit; fit on a labelled reference first")
        predictions = np.asarray(y_pred, dtype=float)
        if len(features) != len(predictions):
            raise ValueError(f"DLE.estimate: {len(features)} feature rows and {len(predictions)} y_pred")
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ValueError(f"DLE.estimate: features {missing} were in the reference; pass them too")
        keep = np.isfinite(predictions)
        if not keep.any():
            return dict.fromkeys(REGRESSION_METRICS)
        table = self._table(features, predictions)[keep]
        absolute = np.clip(self._absolute.predict(table), 0.0, None)
        squared = np.clip(self._squared.predict(table), 0.0, None)
        return {"mae": rounded(absolute.mean()), "rmse": rounded(np.sqrt(squared.mean()))}

    def _table(self, features: pd.DataFrame, predictions: NDArray[np.float64]) -> pd.DataFrame:
        # Columns by position, so that no user column's name can clash with the prediction's.
        columns: dict[str, Any] = {}
        for i, name in enumerate(self.columns):
            column = features[name].reset_index(drop=True)
            if name in self.categories:
                columns[f"x{i}"] = pd.Categorical(
                    column.astype("object").where(column.isin(self.categories[name])),
                    categories=self.categories[name],
                )
            else:
                columns[f"x{i}"] = column.astype(float)
        columns["y_pred"] = predictions
        return pd.DataFrame(columns)


def _is_categorical(column: pd.Series) -> bool:
    dtype = column.dtype
    return bool(
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _regressor(seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
