"""Survival-based customer lifetime value (lifelines lifetime × shrunk rate × Gamma-Gamma spend)."""

from .estimator import OUTPUT_COLUMNS, SurvivalCLV, build_scoring_frame, clv_from_survival
from .spend import GammaGammaModel, PurchaseRateModel
from .survival import MODELS, churn_labels, inactivity_threshold, make_lifetime_model

__all__ = [
    "MODELS",
    "OUTPUT_COLUMNS",
    "GammaGammaModel",
    "PurchaseRateModel",
    "SurvivalCLV",
    "build_scoring_frame",
    "churn_labels",
    "clv_from_survival",
    "inactivity_threshold",
    "make_lifetime_model",
]
