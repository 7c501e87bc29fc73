"""``PurchaseReranker``: a learned correction of the purchase model's P(buy), trained on a past window.

The purchase model says how likely each customer is to buy in the next h days from
(x, t_x, T) alone. The reranker learns, on a time-shifted window ("train on the past
window, predict the next": features at c − W, outcome = bought in (c − W, c]), how the log-odds
of buying depart from the purchase model's given everything else in the customer frame:
first and largest basket, quantities, recent-activity counts, the purchase model's own
P(alive) and rate, contract state and satisfaction features. It is a LightGBM classifier
boosted from the purchase model's log-odds (``init_score``), so with no signal it returns
the purchase model unchanged.

At prediction the correction is applied to the purchase model's P(buy) over the forecast
horizon and re-centred once, at fit, so that the expected total spend of the training
customers equals the purchase model's (:meth:`PurchaseReranker.level_shift`): the learned part
changes *who* is expected to buy, the structural model keeps *how much* is spent in all. (Across CDNOW's windows the purchase level moves
with the season; a correction learned on one window would carry that window's level into the
next.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator

_NOT_FEATURES = {"customer_id", "as_of"}


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def reranker_features(frame: pd.DataFrame, forecast: pd.DataFrame, horizon_days: float,
                      spend_per_purchase: np.ndarray) -> pd.DataFrame:
    """The reranker's inputs: every numeric column of the customer frame plus scale-free history
    and purchase-model features (rates per 30 days, so that windows of different lengths agree)."""
    numeric = frame[[c for c in frame.columns if c not in _NOT_FEATURES]].select_dtypes(include=["number", "bool"])
    X = numeric.astype(float).copy()
    silence = frame["T_days"] - frame["recency_days"]
    mean_gap = frame["recency_days"] / frame["frequency"].where(frame["frequency"] > 0)
    X["silence_days"] = silence
    X["silence_over_mean_gap"] = silence / mean_gap
    X["purchases_per_30d"] = 30.0 * frame["frequency"] / np.maximum(frame["T_days"], 1.0)
    X["model_p_alive"] = forecast["p_alive"].to_numpy()
    X["model_purchases_per_30d"] = 30.0 * forecast["expected_purchases"].to_numpy() / horizon_days
    X["model_spend_per_purchase"] = spend_per_purchase
    return X


class PurchaseReranker(BaseEstimator):
    """LightGBM correction of the purchase model's log-odds of buying (see module doc).

    The number of trees (at most ``n_estimators``) is chosen on the training window itself:
    every ``validation_every``-th customer (in frame order) is held out, boosting stops after
    ``early_stopping_rounds`` rounds without a lower held-out log-loss, and the model is refitted
    on all customers with the best number of trees — none when no tree helps, and then the
    purchase model is returned unchanged. Trees of ``num_leaves`` leaves, at least
    ``min_child_samples`` customers a leaf, no row or column sampling (the fit does not depend
    on the seed). Defaults chosen on CDNOW's earliest calibration split.
    """

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.03, num_leaves: int = 7,
                 min_child_samples: int = 100, reg_lambda: float = 1.0, validation_every: int = 5,
                 early_stopping_rounds: int = 20, n_threads: int = 1, seed: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.validation_every = validation_every
        self.early_stopping_rounds = early_stopping_rounds
        self.n_threads = n_threads
        self.seed = seed

    def _booster(self, n_estimators: int):
        import lightgbm as lgb

        return lgb.LGBMClassifier(
            n_estimators=n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples, reg_lambda=self.reg_lambda, subsample=1.0,
            colsample_bytree=1.0, n_jobs=self.n_threads, random_state=self.seed, deterministic=True,
            force_row_wise=True, verbose=-1,
        )

    def fit(self, X: pd.DataFrame, bought, base_probability) -> PurchaseReranker:
        """``bought``: 1 when the customer bought in the training window; ``base_probability``:
        the purchase model's P(buy) for that window (fitted on data before it)."""
        import lightgbm as lgb

        y = np.asarray(bought, dtype=float)
        if len(np.unique(y)) < 2:
            raise ValueError("the reranker's training window needs buyers and non-buyers")
        self.feature_names_ = list(X.columns)
        values = X[self.feature_names_].to_numpy(dtype=float)
        init = logit(base_probability)
        held_out = np.arange(len(y)) % self.validation_every == 0
        probe = self._booster(self.n_estimators).fit(
            values[~held_out], y[~held_out], init_score=init[~held_out],
            eval_X=(values[held_out],), eval_y=(y[held_out],), eval_init_score=[init[held_out]],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.n_trees_ = int(probe.best_iteration_ or 0)
        self.model_ = self._booster(self.n_trees_).fit(values, y, init_score=init) if self.n_trees_ else None
        return self

    def correction(self, X: pd.DataFrame) -> np.ndarray:
        """Learned change of the log-odds of buying per customer (before re-centring)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("PurchaseReranker is not fitted; call fit(...) first")
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ValueError(f"customer frame lacks reranker input column(s) {missing}")
        if self.model_ is None:
            return np.zeros(len(X))
        # one thread: scoring runs one worker per core, and a few shallow trees need no more
        return self.model_.predict(X[self.feature_names_].to_numpy(dtype=float), raw_score=True, num_threads=1)

    @staticmethod
    def level_shift(base_probability, correction, spend_if_buying) -> float:
        """s such that Σ expit(logit p + δ − s)·m = Σ p·m, m = expected spend given a purchase:
        the corrected P(buy) keep the purchase model's expected total spend."""
        z = logit(base_probability) + np.asarray(correction, dtype=float)
        m = np.asarray(spend_if_buying, dtype=float)
        target = float((np.clip(base_probability, 1e-6, 1 - 1e-6) * m).sum())
        return float(optimize.brentq(lambda s: (special.expit(z - s) * m).sum() - target, -30.0, 30.0, xtol=1e-10))

    @staticmethod
    def apply(base_probability, correction, shift: float) -> np.ndarray:
        return special.expit(logit(base_probability) + np.asarray(correction, dtype=float) - shift)
