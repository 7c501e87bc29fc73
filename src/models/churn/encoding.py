"""Encoding of prepared customer tables for tree models and linear baselines.

A *prepared table* is one row per customer (or per customer and snapshot) with feature
columns of any dtype. :class:`TabularEncoder` learns, from the training rows only:

* which object/string columns are really numbers written as text (e.g. Telco's
  ``TotalCharges`` with blanks) and parses them; blanks become missing;
* which columns are categorical (object, string, category, or bool stays numeric 0/1);
  each keeps its most frequent ``max_categories`` levels, the rest map to ``"__other__"``;
  levels never seen in training become missing at transform time;
* which columns cannot be features: datetimes (absolute dates leak calendar time and do
  not transfer across snapshots), identifier-like text (almost every value unique) and
  identifier-like integers (every value distinct, e.g. row numbers).

``transform`` returns a frame with float64 numerics and ``object`` categoricals (NaN for
missing), suitable for :func:`make_linear_baseline`. ``to_lightgbm`` turns that frame into
pandas ``Categorical`` columns with the learned, fixed category lists so that LightGBM
uses the same codes at fit and predict time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

OTHER = "__other__"
MISSING = "__missing__"


def _is_categorical_dtype(series: pd.Series) -> bool:
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
    )


def _parse_numeric_text(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    text = text.mask(text == "")
    return pd.to_numeric(text, errors="coerce")


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Learn column roles and category levels from training rows; apply them consistently.

    Parameters
    ----------
    categorical:
        Columns to force as categorical (in addition to auto-detected object/string/category
        columns). Numeric codes such as ``region_id`` belong here.
    max_categories:
        Most frequent levels kept per categorical column; rarer ones become ``"__other__"``.
    numeric_text_threshold:
        An object column whose non-blank values parse as numbers at least this often is numeric.
    id_like_ratio:
        An object column with more than this share of distinct values (and > 50 levels) is
        treated as an identifier and dropped.
    """

    def __init__(
        self,
        categorical: Sequence[str] = (),
        max_categories: int = 64,
        numeric_text_threshold: float = 0.95,
        id_like_ratio: float = 0.9,
    ) -> None:
        self.categorical = categorical
        self.max_categories = max_categories
        self.numeric_text_threshold = numeric_text_threshold
        self.id_like_ratio = id_like_ratio

    def fit(self, X: pd.DataFrame, y: Any = None) -> TabularEncoder:
        if X.shape[1] == 0:
            raise ValueError("no feature columns to encode")
        forced = set(self.categorical)
        self.feature_names_in_: list[str] = [str(c) for c in X.columns]
        self.numeric_: list[str] = []
        self.categorical_: list[str] = []
        self.parsed_text_: list[str] = []
        self.dropped_: dict[str, str] = {}
        self.categories_: dict[str, list[str]] = {}
        for column in self.feature_names_in_:
            series = X[column]
            if column in forced:
                self._fit_categorical(column, series)
            elif pd.api.types.is_datetime64_any_dtype(series) or isinstance(
                series.dtype, pd.DatetimeTZDtype
            ):
                self.dropped_[column] = "datetime column (absolute dates are not used as features)"
            elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
                if self._is_row_number(series):
                    self.dropped_[column] = "identifier-like integers (all distinct)"
                    continue
                self.numeric_.append(column)
            elif _is_categorical_dtype(series):
                non_blank = series.dropna().astype(str).str.strip()
                non_blank = non_blank[non_blank != ""]
                parsed = _parse_numeric_text(non_blank)
                if len(non_blank) and parsed.notna().mean() >= self.numeric_text_threshold:
                    self.numeric_.append(column)
                    self.parsed_text_.append(column)
                    continue
                n_unique = non_blank.nunique()
                if n_unique > 50 and n_unique > self.id_like_ratio * max(len(non_blank), 1):
                    self.dropped_[column] = (
                        f"identifier-like text ({n_unique} distinct values in {len(non_blank)} rows)"
                    )
                    continue
                self._fit_categorical(column, series)
            else:
                self.dropped_[column] = f"unsupported dtype {series.dtype}"
        self.feature_names_ = [c for c in self.feature_names_in_ if c not in self.dropped_]
        if not self.feature_names_:
            raise ValueError(f"no usable feature columns; dropped: {self.dropped_}")
        return self

    @staticmethod
    def _is_row_number(series: pd.Series) -> bool:
        """Integer values, all distinct, more than 50 rows: a row number or numeric id."""
        if pd.api.types.is_bool_dtype(series):
            return False
        values = pd.to_numeric(series, errors="coerce").dropna()
        n = len(values)
        return bool(n > 50 and values.nunique() == n and np.all(np.mod(values, 1) == 0))

    def _fit_categorical(self, column: str, series: pd.Series) -> None:
        text = self._as_text(series)
        counts = text.value_counts(dropna=True)
        levels = [str(v) for v in counts.index[: self.max_categories]]
        if len(counts) > self.max_categories:
            levels.append(OTHER)
        self.categorical_.append(column)
        self.categories_[column] = sorted(levels)

    @staticmethod
    def _as_text(series: pd.Series) -> pd.Series:
        text = series.astype("object").where(series.notna(), None).astype("string").str.strip()
        text = text.mask(text == "")
        return text.astype("object").where(text.notna(), np.nan)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return the feature columns: float64 numerics, object categoricals (NaN = missing)."""
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise KeyError(
                f"input is missing feature column(s) {missing}; expected {self.feature_names_}"
            )
        out: dict[str, pd.Series] = {}
        for column in self.feature_names_:
            series = X[column]
            if column in self.categorical_:
                text = self._as_text(series)
                levels = self.categories_[column]
                if OTHER in levels:
                    text = text.where(text.isna() | text.isin(levels), OTHER)
                else:
                    text = text.where(text.isin(levels), np.nan)
                out[column] = text.astype("object")
            elif column in self.parsed_text_ and not pd.api.types.is_numeric_dtype(series):
                out[column] = _parse_numeric_text(series).astype("float64")
            else:
                out[column] = pd.to_numeric(series, errors="coerce").astype("float64")
        return pd.DataFrame(out, index=X.index)

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        return self.fit(X, y).transform(X)

    def unreadable_numbers(self, X: pd.DataFrame) -> dict[str, Any]:
        """Numeric feature columns of ``X`` holding text that is not a number (blank is missing,
        not text): column -> the first such value. :meth:`transform` would turn them into NaN."""
        bad: dict[str, Any] = {}
        for column in self.feature_names_:
            if column in self.categorical_ or column not in X.columns:
                continue
            series = X[column]
            if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                continue
            parsed = _parse_numeric_text(series)
            text = series.astype("object").where(series.notna(), None).astype("string").str.strip()
            unreadable = parsed.isna() & text.notna() & (text != "")
            if unreadable.any():
                bad[column] = series[unreadable].iloc[0]
        return bad

    def to_lightgbm(self, encoded: pd.DataFrame) -> pd.DataFrame:
        """Turn :meth:`transform` output into LightGBM input (fixed pandas Categoricals)."""
        out = encoded.copy()
        for column in self.categorical_:
            out[column] = pd.Categorical(out[column], categories=self.categories_[column])
        return out


def make_linear_baseline(
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    C: float = 1.0,
    seed: int = 0,
    max_iter: int = 5000,
) -> Pipeline:
    """Logistic regression with median imputation + missing indicators + scaling, and one-hot.

    Expects :meth:`TabularEncoder.transform` output. Unknown categories at predict time are
    ignored (all-zero one-hot row); missing categoricals become their own ``__missing__`` level.
    """
    transformers = []
    if numeric:
        transformers.append(
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(numeric),
            )
        )
    if categorical:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                list(categorical),
            )
        )
    return Pipeline(
        [
            ("prep", ColumnTransformer(transformers, remainder="drop")),
            ("lr", LogisticRegression(C=C, max_iter=max_iter, random_state=seed)),
        ]
    )
