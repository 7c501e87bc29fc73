"""The churn model as an MLflow pyfunc: probability, risk tier and reasons per input row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.models.churn.estimator import ChurnModel
from custsat.models.churn.tiers import DEFAULT_HIGH_THRESHOLD, DEFAULT_MEDIUM_THRESHOLD, score_frame
from custsat.models.registry import ModelInputError


class ChurnPyfunc(tracking.PythonModel):
    """MLflow pyfunc wrapper: predict returns probability, tier and reasons per input row.

    ``params`` at predict time: ``high_threshold``, ``medium_threshold``, ``top_k``
    (capacity; 0 = thresholds only), ``reasons`` (``"all"`` or ``"at_risk"``).
    """

    def __init__(
        self,
        model: ChurnModel,
        high_threshold: float = DEFAULT_HIGH_THRESHOLD,
        medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    ) -> None:
        self.model = model
        self.high_threshold = high_threshold
        self.medium_threshold = medium_threshold

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        unreadable = self.model.encoder_.unreadable_numbers(pd.DataFrame(model_input))
        if unreadable:
            shown = "; ".join(f"{c} (e.g. {v!r})" for c, v in list(unreadable.items())[:5])
            raise ModelInputError(f"the churn model reads numbers in column(s) {shown}: they hold text")
        top_k = int(params.get("top_k", 0) or 0)
        return score_frame(
            self.model,
            pd.DataFrame(model_input).reset_index(drop=True),
            high_threshold=float(params.get("high_threshold", self.high_threshold)),
            medium_threshold=float(params.get("medium_threshold", self.medium_threshold)),
            top_k=top_k or None,
            reasons=str(params.get("reasons", "all")),
        )


def signature_frame(X: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The model's input columns with integers widened to float (so NaNs later still match)."""
    out = X[list(features)].copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[column] = series.astype("object").where(series.notna(), None)
        elif pd.api.types.is_bool_dtype(series):
            out[column] = series.astype(bool)
        elif pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series):
            out[column] = series.astype("float64")
    return out


def churn_signature(X: pd.DataFrame, example_output: pd.DataFrame, params: dict[str, Any]) -> Any:
    """The pyfunc's signature: every input column by name, of any dtype, so that a table read
    with plain ``pd.read_csv`` (integers, floats, text) is accepted; the model itself parses
    and checks the values (:meth:`TabularEncoder.unreadable_numbers`)."""
    return tracking.infer_signature(X, example_output, params=params, any_input_types=True)
