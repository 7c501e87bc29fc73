"""MLflow pyfunc wrapper of a fitted CLV estimator (registered as ``custsat-clv``).

The champion and the BG/NBD + Gamma-Gamma baseline are both :class:`.SurvivalCLV` estimators,
so whichever serves has the same interface. Input: the scoring frame of
:func:`custsat.models.clv.build_scoring_frame` with a ``customer_id`` column. Output:
``customer_id`` plus the CLV output columns (``clv``, ``clv_low``, ``clv_high``, ``clv_tier``,
``expected_remaining_lifetime_days``, ``survival_at_horizon``, ``expected_spend_horizon``, …).
Importing this module imports MLflow (through :mod:`custsat.tracking`).
"""

from __future__ import annotations

import pandas as pd

from custsat import tracking

from .estimator import SurvivalCLV


class CLVPyfunc(tracking.PythonModel):
    """Scores a scoring frame with a fitted estimator (intervals included)."""

    def __init__(self, estimator: SurvivalCLV):
        self.estimator = estimator

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        if "customer_id" not in model_input.columns:
            raise ValueError("custsat-clv input needs a customer_id column (see build_scoring_frame)")
        frame = model_input.copy()
        frame["customer_id"] = frame["customer_id"].astype(str)
        frame = frame.set_index("customer_id")
        return self.estimator.predict_frame(frame).reset_index()


def model_input_example(frame: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of a scoring frame as pyfunc input (customer_id as a column)."""
    return frame.head(n).reset_index()
