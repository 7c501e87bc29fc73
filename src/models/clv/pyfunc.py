"""MLflow pyfunc wrapper of a fitted :class:`SurvivalCLV` (registered as ``custsat-clv``).

Input: the scoring frame of :func:`custsat.models.clv.build_scoring_frame` with a
``customer_id`` column (purchase summary in days as of the scoring date, contract state,
feature columns). Output: ``customer_id`` plus the CLV output columns.
"""

from __future__ import annotations

import pandas as pd

try:  # mlflow is a core dependency; keep the import lazy-friendly for tests
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object  # type: ignore[misc,assignment]

from .estimator import SurvivalCLV


class CLVPyfunc(PythonModel):
    """Scores a scoring frame with a fitted estimator (intervals included)."""

    def __init__(self, estimator: SurvivalCLV):
        self.estimator = estimator

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        frame = model_input.copy()
        if "customer_id" not in frame.columns:
            raise ValueError("custsat-clv input needs a customer_id column (see build_scoring_frame)")
        frame["customer_id"] = frame["customer_id"].astype(str)
        frame = frame.set_index("customer_id")
        out = self.estimator.predict_frame(frame)
        return out.reset_index()


def model_input_example(frame: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of a scoring frame as pyfunc input (customer_id as a column)."""
    return frame.head(n).reset_index()
