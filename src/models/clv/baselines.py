"""The baselines every CLV model is compared with, in the same run and on the same customers.

* **BG/NBD + Gamma-Gamma** and **Pareto/NBD + Gamma-Gamma**: :class:`.SurvivalCLV` with the
  :class:`.BGNBD` purchase model, or the :class:`.SurvivalNBD` (Lomax lifetime, no covariates:
  exactly Pareto/NBD), without the learned correction. Same spend model, same analytic
  predictive distribution.
* **Naive recency rule** (:class:`NaiveRecencyRule`): spend rate × days, zero when silent too
  long. Exactly: τ = the 90th percentile of all gaps (days) between consecutive purchase days
  on or before the calibration end (``numpy.quantile``, linear interpolation); a customer whose last purchase day is more than τ days
  before the calibration end is predicted 0; any other customer is predicted
  (total spend of their purchase days) / max(T_days, 1) × horizon days, T_days being the days
  from their first purchase day to the calibration end.
* **All-zero** (:class:`AllZero`): every customer spends nothing.
* **LightGBM on a shifted window** (:class:`ShiftedWindowGBM`): the purely learned model,
  Tweedie regression of the spend in the last W days on the frame as of W days earlier,
  applied to today's frame and scaled by horizon / W.

Each exposes ``fit(transactions, as_of, features=None, contracts=None)`` and
``forecast(frame, horizon_days) -> (expected spend, distribution or None)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .bgnbd import BGNBD
from .estimator import SurvivalCLV, _features_at, build_scoring_frame, training_window_days
from .purchase_history import holdout_actuals, interpurchase_gaps
from .reranker import reranker_features
from .survival_nbd import SurvivalNBD


def bgnbd_gg(horizon_days: float | None = None, **params) -> SurvivalCLV:
    """BG/NBD purchases × Gamma-Gamma spend (no learned correction)."""
    return SurvivalCLV(purchase_model=BGNBD(), rerank=False, horizon_days=horizon_days, **params)


def pareto_nbd_gg(horizon_days: float | None = None, **params) -> SurvivalCLV:
    """Pareto/NBD purchases × Gamma-Gamma spend (no learned correction)."""
    return SurvivalCLV(purchase_model=SurvivalNBD(lifetime="pareto2_aft"), rerank=False,
                       horizon_days=horizon_days, **params)


class NaiveRecencyRule(BaseEstimator):
    """Spend rate × days, 0 when silent longer than the ``gap_quantile`` of inter-purchase gaps."""

    def __init__(self, gap_quantile: float = 0.9):
        self.gap_quantile = gap_quantile

    def fit(self, transactions: pd.DataFrame, as_of, features=None, contracts=None) -> NaiveRecencyRule:  # noqa: ARG002
        gaps = interpurchase_gaps(transactions, as_of)
        # no repeat purchase anywhere: nobody can be declared silent
        self.silence_threshold_days_ = float(np.quantile(gaps, self.gap_quantile)) if len(gaps) else np.inf
        return self

    def predict_spend(self, frame: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """Predicted spend over the next ``horizon_days`` days (see module doc)."""
        if not hasattr(self, "silence_threshold_days_"):
            raise RuntimeError("NaiveRecencyRule is not fitted; call fit(...) first")
        rate = frame["total_spend"].to_numpy(dtype=float) / np.maximum(frame["T_days"].to_numpy(dtype=float), 1.0)
        silent = (frame["T_days"] - frame["recency_days"]).to_numpy(dtype=float) > self.silence_threshold_days_
        return np.where(silent, 0.0, rate * horizon_days)

    def forecast(self, frame: pd.DataFrame, horizon_days: float):
        return self.predict_spend(frame, horizon_days), None


class AllZero(BaseEstimator):
    """Every customer spends nothing (the floor any forecast must beat on error)."""

    def fit(self, transactions=None, as_of=None, features=None, contracts=None) -> AllZero:  # noqa: ARG002
        self.fitted_ = True
        return self

    def forecast(self, frame: pd.DataFrame, horizon_days: float):  # noqa: ARG002
        return np.zeros(len(frame)), None


class ShiftedWindowGBM(BaseEstimator):
    """LightGBM Tweedie regression of spend in the last W days on the frame W days earlier."""

    def __init__(self, horizon_days: float = 365.25, n_estimators: int = 200, learning_rate: float = 0.03,
                 num_leaves: int = 7, min_child_samples: int = 100, n_threads: int = 1, seed: int = 0):
        self.horizon_days = horizon_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_threads = n_threads
        self.seed = seed

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        # the frame's own columns and the scale-free history ratios, without purchase-model inputs
        fake = pd.DataFrame({"p_alive": np.nan, "expected_purchases": np.nan}, index=frame.index)
        return reranker_features(frame, fake, 1.0, np.full(len(frame), np.nan)).drop(
            columns=["model_p_alive", "model_purchases_per_30d", "model_spend_per_purchase"])

    def fit(self, transactions: pd.DataFrame, as_of, features=None, contracts=None) -> ShiftedWindowGBM:
        import lightgbm as lgb

        as_of = pd.Timestamp(as_of).floor("D")
        span = float(build_scoring_frame(transactions, as_of)["T_days"].max())
        self.window_days_ = training_window_days(self.horizon_days, span)
        start = as_of - pd.Timedelta(days=self.window_days_)
        past = transactions[transactions["timestamp"] < start + pd.Timedelta(days=1)]
        frame = build_scoring_frame(past, start, _features_at(features, start), contracts)
        target = holdout_actuals(transactions, start, as_of, frame.index)["spend"].clip(lower=0).to_numpy()
        X = self._features(frame)
        self.feature_names_ = list(X.columns)
        self.model_ = lgb.LGBMRegressor(
            objective="tweedie", tweedie_variance_power=1.5, n_estimators=self.n_estimators,
            learning_rate=self.learning_rate, num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=1.0, colsample_bytree=1.0, n_jobs=self.n_threads, random_state=self.seed,
            deterministic=True, force_row_wise=True, verbose=-1,
        ).fit(X.to_numpy(dtype=float), target)
        return self

    def forecast(self, frame: pd.DataFrame, horizon_days: float):
        X = self._features(frame)[self.feature_names_].to_numpy(dtype=float)
        return self.model_.predict(X) * horizon_days / self.window_days_, None
