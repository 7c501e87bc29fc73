"""Churn risk: calibrated LightGBM on point-in-time snapshots, reason codes, risk tiers.

* :mod:`.labels` — training frames, labels, leakage guards, the split by time;
* :mod:`.encoding` — the tabular encoder and the logistic-regression baseline;
* :mod:`.estimator` — :class:`ChurnModel` (a scikit-learn estimator);
* :mod:`.tiers` — risk tiers and the scored frame with reason codes;
* :mod:`.pyfunc` — the MLflow pyfunc served by ``custsat score``;
* :mod:`.train` — fitting, logging and registration (champion/challenger).
"""

from custsat.models.churn.encoding import TabularEncoder, make_linear_baseline
from custsat.models.churn.estimator import TOP_K_REASONS, ChurnModel
from custsat.models.churn.labels import (
    ID_COLUMN,
    LABEL,
    TIME_COLUMN,
    ChurnDataError,
    PreparedFrame,
    coerce_binary_label,
    default_as_of_dates,
    prepare_training_frame,
    split_by_time,
    split_stratified,
    unavailable_feature_columns,
)
from custsat.models.churn.pyfunc import ChurnPyfunc, signature_frame
from custsat.models.churn.tiers import (
    DEFAULT_HIGH_THRESHOLD,
    DEFAULT_MEDIUM_THRESHOLD,
    REASONS_FOR,
    risk_tiers,
    score_frame,
)
from custsat.models.churn.train import (
    ChurnFit,
    ChurnTrainingPlan,
    ChurnTrainingResult,
    fit_churn,
    register_churn,
    train_churn_from_frame,
    train_churn_from_table,
    train_churn_from_tables,
    train_churn_on_crm,
)

__all__ = [
    "DEFAULT_HIGH_THRESHOLD", "DEFAULT_MEDIUM_THRESHOLD", "ID_COLUMN", "LABEL", "REASONS_FOR", "TIME_COLUMN",
    "TOP_K_REASONS", "ChurnDataError", "ChurnFit", "ChurnModel", "ChurnPyfunc", "ChurnTrainingPlan",
    "ChurnTrainingResult", "PreparedFrame", "TabularEncoder", "coerce_binary_label", "default_as_of_dates",
    "fit_churn", "make_linear_baseline", "prepare_training_frame", "register_churn", "risk_tiers", "score_frame",
    "signature_frame", "split_by_time", "split_stratified", "train_churn_from_frame", "train_churn_from_table",
    "train_churn_from_tables", "train_churn_on_crm", "unavailable_feature_columns",
]
