"""The logistic-regression baseline, served like the LightGBM model when it is the better one.

Its reason codes are the logistic model's own contributions: coefficient × transformed value
(standardised numbers, one-hot levels, missing indicators), summed per input feature, so that a
customer's reasons add up, with the intercept, to the log-odds the model scored.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from custsat.models.churn.encoding import TabularEncoder
from custsat.models.churn.estimator import TOP_K_REASONS, reason_codes


class LogisticChurnModel:
    """A fitted :class:`TabularEncoder` and the logistic-regression pipeline of
    :func:`~custsat.models.churn.encoding.make_linear_baseline`, with ChurnModel's prediction API."""

    def __init__(self, encoder: TabularEncoder, pipeline: Pipeline):
        self.encoder_ = encoder
        self.pipeline_ = pipeline
        self.feature_names_ = list(encoder.feature_names_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self.encoder_.transform(X))

    def _feature_of_outputs(self) -> list[str]:
        """The input feature behind each column the pipeline's transformer produces."""
        names = self.pipeline_[:-1].get_feature_names_out()
        categorical = sorted(self.encoder_.categorical_, key=len, reverse=True)
        owners = []
        for name in names:
            part, _, rest = str(name).partition("__")
            rest = rest.removeprefix("missingindicator_")
            if part == "cat":
                rest = next(c for c in categorical if rest.startswith(f"{c}_"))
            owners.append(rest)
        return owners

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row contributions to the log-odds per input feature; ``bias`` holds the intercept."""
        encoded = self.encoder_.transform(X)
        design = np.asarray(self.pipeline_[:-1].transform(encoded), dtype=float)
        logistic = self.pipeline_[-1]
        terms = design * logistic.coef_[0]
        owners = pd.Index(self._feature_of_outputs())
        per_feature = pd.DataFrame(terms, index=X.index, columns=owners).T.groupby(level=0).sum().T
        out = per_feature.reindex(columns=self.feature_names_, fill_value=0.0)
        out["bias"] = float(logistic.intercept_[0])
        return out

    def predict_with_reasons(
        self,
        X: pd.DataFrame,
        top_k: int = TOP_K_REASONS,
        explain_rows: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, pd.DataFrame]:
        probability = self.predict_proba(X)[:, 1]
        rows = np.ones(len(X), dtype=bool) if explain_rows is None else np.asarray(explain_rows(probability), bool)
        contributions = self.contributions(X).drop(columns="bias")
        encoded = self.encoder_.transform(X)
        reasons = reason_codes(contributions.to_numpy(), encoded, self.feature_names_, top_k)
        reasons.loc[~rows, :] = ""
        return probability, reasons
