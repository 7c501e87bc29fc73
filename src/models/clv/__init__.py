"""Customer lifetime value: lifetime (survival) × purchases × spend, with analytic intervals.

The champion, :class:`SurvivalCLV`, combines a purchase model whose activity lifetime is an
AFT survival law (:class:`SurvivalNBD`; Pareto/NBD with the Lomax law), Gamma-Gamma spend per
purchase and a LightGBM correction of who buys, learned on a time-shifted window. The same
estimator with :class:`BGNBD` and no correction is the BG/NBD + Gamma-Gamma baseline.
"""

from .bgnbd import BGNBD
from .distribution import HurdleLogNormal
from .estimator import OUTPUT_COLUMNS, SurvivalCLV, build_scoring_frame, discount_factors
from .lifetime import LIFETIME_FAMILIES, lifetime_family
from .purchase_history import SUMMARY_COLUMNS, customer_summary, holdout_actuals
from .reranker import PurchaseReranker
from .spend import GammaGammaModel
from .survival import churn_labels, inactivity_threshold
from .survival_nbd import SurvivalNBD

__all__ = [
    "BGNBD",
    "LIFETIME_FAMILIES",
    "OUTPUT_COLUMNS",
    "SUMMARY_COLUMNS",
    "GammaGammaModel",
    "HurdleLogNormal",
    "PurchaseReranker",
    "SurvivalCLV",
    "SurvivalNBD",
    "build_scoring_frame",
    "churn_labels",
    "customer_summary",
    "discount_factors",
    "holdout_actuals",
    "inactivity_threshold",
    "lifetime_family",
]
