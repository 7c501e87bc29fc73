"""``SurvivalCLV``: customer lifetime value = lifetime × purchases × spend, with analytic intervals.

Per customer, as of the scoring day (inclusive), over a horizon of H days (``horizon_months``
months of 30.4375 days unless ``horizon_days`` is given):

1. **Lifetime and purchases** — a purchase model (:class:`.SurvivalNBD` by default: NBD
   purchases while active × a Lomax AFT activity lifetime; or :class:`.BGNBD`) gives P(alive),
   the survival curve, the expected remaining lifetime within the horizon, and the first two
   moments and the zero probability of the purchase count over the horizon.
2. **Spend per purchase** — Gamma-Gamma (:class:`.GammaGammaModel`).
3. **Who buys** (``rerank=True``) — a LightGBM correction of P(buy) learned on a
   time-shifted window (:mod:`.reranker`); it moves expected spend between customers, the
   purchase and spend models keep the total.
4. **Distribution** — spend over the horizon is zero or log-normal with the moments of 1–3
   (:mod:`.distribution`); intervals and quantiles are closed-form.

Outputs: ``expected_spend_horizon`` (undiscounted spend over H), ``spend_low``/``spend_high``
(its central ``interval`` prediction interval), ``clv`` = margin × Σ_m expected spend in month
m / (1 + d)^m over ``horizon_months`` (the spend spread over the months as the customer's
survival curve says), ``clv_low``/``clv_high`` (the same discounting applied to the interval
bounds of the CLV horizon's spend), ``clv_tier`` (high/medium/low by the training CLV's
``tier_quantiles``), ``expected_remaining_lifetime_days`` (∫₀ᴴ P(active at u) du, days),
``survival_at_horizon`` (P(active at H)), ``p_alive``, ``p_buy_horizon`` and
``expected_purchases_horizon``. Point predictions are deterministic: no step samples
customers or draws random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from .distribution import HurdleLogNormal
from .purchase_history import SUMMARY_COLUMNS, customer_summary, holdout_actuals
from .reranker import PurchaseReranker, reranker_features
from .spend import GammaGammaModel
from .survival import DURATION, EVENT, contract_labels
from .survival_nbd import DAYS_PER_MONTH, SurvivalNBD

OUTPUT_COLUMNS = [
    "expected_remaining_lifetime_days",
    "survival_at_horizon",
    "expected_spend_horizon",
    "clv",
    "clv_low",
    "clv_high",
    "clv_tier",
]
CONTRACT_COLUMNS = ["contract_age_days", "contract_open"]
FeatureSource = pd.DataFrame | Callable[[pd.Timestamp], pd.DataFrame | None] | None
_MIN_TRAINING_WINDOW_DAYS = 28
_BLOCK_ROWS = 50_000  # customers per prediction block (bounds the n × nodes matrices)


def build_scoring_frame(
    transactions: pd.DataFrame,
    as_of,
    features: pd.DataFrame | None = None,
    contracts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with a purchase on/before ``as_of`` (index ``customer_id``).

    Columns: the purchase summary (:data:`SUMMARY_COLUMNS`), the contract state
    (``contract_age_days`` since the earliest contract start, ``contract_open`` 1/0; NaN without a
    contract) and the numeric columns of ``features``. This frame is also the input of the
    MLflow pyfunc model.
    """
    frame = customer_summary(transactions, as_of)
    frame["contract_age_days"] = np.nan
    frame["contract_open"] = np.nan
    if contracts is not None and len(contracts):
        labels = contract_labels(contracts, as_of).reindex(frame.index)
        frame["contract_age_days"] = labels[DURATION]
        frame["contract_open"] = 1.0 - labels[EVENT]
    if features is not None:
        feats = features.copy()
        if "customer_id" in feats.columns:
            feats = feats.set_index("customer_id")
        feats.index = feats.index.astype(str)
        feats = feats.drop(columns=[c for c in frame.columns if c in feats.columns])
        frame = frame.join(feats.select_dtypes(include=["number", "bool"]).astype(float), how="left")
    return frame


def discount_factors(p_alive, monthly_survival: np.ndarray, discount_rate: float) -> np.ndarray:
    """Σ_m w_m / (1 + d)^m: the present value of one unit of spend spread over months 1..M.

    ``monthly_survival``: (n, M) P(active) at the end of each month; ``p_alive``: P(active) now.
    Month m's share w_m of the horizon's spend is its expected active time (trapezoid of the
    survival at the month's start and end) over the horizon's. Customers with no expected
    activity get the factor of a flat profile.
    """
    surv = np.column_stack([np.asarray(p_alive, dtype=float), np.atleast_2d(monthly_survival)])
    active = (surv[:, :-1] + surv[:, 1:]) / 2.0
    months = np.arange(1, active.shape[1] + 1)
    discount = (1.0 + discount_rate) ** (-months)
    total = active.sum(axis=1)
    flat = discount.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (active * discount).sum(axis=1) / total, flat)


def training_window_days(horizon_days: float, history_days: float) -> int:
    """Length W of the reranker's time-shifted window: the horizon, or half the history when
    that is shorter (the features at c − W then summarise at least W days of purchases)."""
    return int(min(round(horizon_days), history_days // 2))


def _features_at(features: FeatureSource, as_of: pd.Timestamp) -> pd.DataFrame | None:
    return features(as_of) if callable(features) else features


class SurvivalCLV(BaseEstimator):
    """Lifetime × purchases × spend CLV with a learned purchase correction (see module doc).

    Parameters
    ----------
    purchase_model: an unfitted :class:`.SurvivalNBD` (default) or :class:`.BGNBD`.
    spend_model: an unfitted :class:`.GammaGammaModel` (default).
    rerank: learn the correction of P(buy) on a time-shifted window (:mod:`.reranker`).
    reranker: an unfitted :class:`.PurchaseReranker` (default settings when None).
    horizon_months: CLV horizon M in months of 30.4375 days (whole number ≥ 1).
    horizon_days: forecast horizon of ``expected_spend_horizon`` and its interval; defaults to
        the CLV horizon.
    discount_rate: monthly discount rate d; margin: gross margin applied to spend.
    interval: level of the central prediction intervals.
    tier_quantiles: (low, high) quantiles of the training CLV separating low/medium/high.
    seed, n_threads: passed to the reranker (its fit does not depend on the seed).
    """

    def __init__(
        self,
        purchase_model: Any = None,
        spend_model: Any = None,
        rerank: bool = True,
        reranker: PurchaseReranker | None = None,
        horizon_months: int = 12,
        horizon_days: float | None = None,
        discount_rate: float = 0.01,
        margin: float = 1.0,
        interval: float = 0.8,
        tier_quantiles: tuple[float, float] = (0.5, 0.8),
        seed: int = 0,
        n_threads: int = 1,
    ):
        self.purchase_model = purchase_model
        self.spend_model = spend_model
        self.rerank = rerank
        self.reranker = reranker
        self.horizon_months = horizon_months
        self.horizon_days = horizon_days
        self.discount_rate = discount_rate
        self.margin = margin
        self.interval = interval
        self.tier_quantiles = tier_quantiles
        self.seed = seed
        self.n_threads = n_threads

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        if int(self.horizon_months) != self.horizon_months or self.horizon_months < 1:
            raise ValueError(f"horizon_months must be a whole number ≥ 1; got {self.horizon_months}")
        if self.horizon_days is not None and self.horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive; got {self.horizon_days}")
        if not 0 <= self.discount_rate < 1:
            raise ValueError(f"discount_rate is monthly and must be in [0, 1); got {self.discount_rate}")
        if self.margin <= 0:
            raise ValueError(f"margin must be positive; got {self.margin}")
        lo, hi = self.tier_quantiles
        if not 0 < lo < hi < 1:
            raise ValueError(f"tier_quantiles must satisfy 0 < low < high < 1; got {self.tier_quantiles}")
        if not 0.5 <= self.interval < 1:
            raise ValueError(f"interval must be in [0.5, 1); got {self.interval}")

    @property
    def clv_horizon_days_(self) -> float:
        return self.horizon_months * DAYS_PER_MONTH

    @property
    def forecast_horizon_days_(self) -> float:
        return float(self.horizon_days) if self.horizon_days else self.clv_horizon_days_

    # ------------------------------------------------------------------ fit
    def fit(self, transactions: pd.DataFrame, as_of, features: FeatureSource = None,
            contracts: pd.DataFrame | None = None) -> SurvivalCLV:
        """Fit on everything known at ``as_of`` (transactions on/before it, contracts started by it).

        ``features``: extra numeric customer columns, either one frame (used as is at every
        cut-off) or a function ``as_of -> frame`` computing them as known on a given day, which
        the time-shifted window of the reranker needs to stay free of later information.
        """
        self._validate_params()
        as_of = pd.Timestamp(as_of).floor("D")
        frame = build_scoring_frame(transactions, as_of, _features_at(features, as_of), contracts)
        self.training_window_days_ = None
        self.reranker_ = None
        if self.rerank:
            window = training_window_days(self.forecast_horizon_days_, float(frame["T_days"].max()))
            if window >= _MIN_TRAINING_WINDOW_DAYS:
                self._fit_reranker(transactions, as_of, window, features, contracts)
        # no warm start from the earlier cut-off: a short history can put the purchase model at
        # a degenerate optimum (Lomax shape → ∞) from which the full fit would not move away
        self._fit_structure(frame)
        self._fit_offsets(frame)
        point = self.predict_frame(frame, tiers=False)
        lo, hi = self.tier_quantiles
        self.tier_thresholds_ = (float(np.quantile(point["clv"], lo)), float(np.quantile(point["clv"], hi)))
        self.n_customers_ = len(frame)
        return self

    def _fit_structure(self, frame: pd.DataFrame) -> None:
        self.purchase_model_ = clone(self.purchase_model if self.purchase_model is not None else SurvivalNBD())
        self.purchase_model_.fit(frame)
        self.spend_model_ = clone(self.spend_model if self.spend_model is not None else GammaGammaModel())
        self.spend_model_.fit(frame["frequency"], frame["monetary_value"])

    def _fit_reranker(self, transactions, as_of, window: int, features, contracts) -> None:
        """Purchase and spend models at as_of − W, reranker on who bought in (as_of − W, as_of]."""
        start = as_of - pd.Timedelta(days=window)
        past = transactions[transactions["timestamp"] < start + pd.Timedelta(days=1)]
        try:
            frame = build_scoring_frame(past, start, _features_at(features, start), contracts)
        except ValueError:  # no purchase before the window
            return
        bought = holdout_actuals(transactions, start, as_of, frame.index)["purchases"].to_numpy() > 0
        if frame.shape[0] < 50 or bought.all() or not bought.any():
            return
        self._fit_structure(frame)
        structure = self._structure(frame, float(window), with_features=True)
        self.reranker_ = clone(self.reranker if self.reranker is not None else PurchaseReranker())
        self.reranker_.set_params(seed=self.seed, n_threads=self.n_threads)
        self.reranker_.fit(structure["features"], bought, structure["p_buy"])
        self.training_window_days_ = window
        self.training_window_start_ = str(start.date())

    def _fit_offsets(self, frame: pd.DataFrame) -> None:
        """Re-centre the reranker at the forecast and CLV horizons on the training customers."""
        self.level_shifts_ = {}
        if getattr(self, "reranker_", None) is None or self.training_window_days_ is None:
            return
        for horizon in {self.forecast_horizon_days_, self.clv_horizon_days_}:
            structure = self._structure(frame, horizon)
            correction = self.reranker_.correction(structure["features"])
            spend_if_buying = structure["spend"] / structure["p_buy"]
            self.level_shifts_[horizon] = PurchaseReranker.level_shift(structure["p_buy"], correction, spend_if_buying)

    # ------------------------------------------------------------------ prediction pieces
    def _structure(self, frame: pd.DataFrame, horizon: float, months: int = 0, *,
                   with_features: bool = False) -> dict[str, Any]:
        """Purchase-model forecast and spend moments over ``horizon`` days (no reranking)."""
        forecast = self.purchase_model_.forecast(frame, horizon, months=months)
        x, m = frame["frequency"], frame["monetary_value"]
        mean_z, second_z, cross_z = self.spend_model_.spend_moments(x, m)
        purchases = forecast["expected_purchases"].to_numpy()
        second_x = forecast["purchases_second_moment"].to_numpy()
        p_buy = np.clip(1.0 - forecast["p_no_purchase"].to_numpy(), 1e-9, 1.0)
        spend = purchases * mean_z
        spend_sq = purchases * second_z + np.maximum(second_x - purchases, 0.0) * cross_z
        out = {"forecast": forecast, "p_buy": p_buy, "spend": spend, "spend_sq": spend_sq, "spend_per_purchase": mean_z}
        if with_features or getattr(self, "reranker_", None) is not None:
            out["features"] = reranker_features(frame, forecast, horizon, mean_z)
        return out

    def _p_buy(self, structure: dict[str, Any], horizon: float) -> np.ndarray:
        if getattr(self, "reranker_", None) is None:
            return structure["p_buy"]
        shift = self.level_shifts_.get(horizon)
        if shift is None:
            raise ValueError(f"the purchase correction was centred for horizons {sorted(self.level_shifts_)} days, "
                             f"not {horizon}; refit with horizon_days={horizon}")
        return PurchaseReranker.apply(structure["p_buy"], self.reranker_.correction(structure["features"]), shift)

    def _distribution(self, structure: dict[str, Any], horizon: float) -> HurdleLogNormal:
        base = structure["p_buy"]
        return HurdleLogNormal.from_moments(self._p_buy(structure, horizon), structure["spend"] / base,
                                            structure["spend_sq"] / base)

    def spend_distribution(self, frame: pd.DataFrame, horizon_days: float | None = None) -> HurdleLogNormal:
        """Predictive distribution of each customer's spend over the forecast horizon."""
        self._check_fitted()
        horizon = float(horizon_days or self.forecast_horizon_days_)
        return self._distribution(self._structure(frame, horizon), horizon)

    def forecast(self, frame: pd.DataFrame, horizon_days: float | None = None):
        """(expected spend over the horizon, its :class:`.HurdleLogNormal` distribution)."""
        dist = self.spend_distribution(frame, horizon_days)
        return dist.mean, dist

    def _check_fitted(self) -> None:
        if not hasattr(self, "purchase_model_"):
            raise RuntimeError("SurvivalCLV is not fitted; call fit(...) first")

    # ------------------------------------------------------------------ predict
    def predict(self, transactions: pd.DataFrame, as_of, features: pd.DataFrame | None = None,
                contracts: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predict for every customer with a purchase on/before ``as_of`` (see module doc)."""
        return self.predict_frame(build_scoring_frame(transactions, as_of, features, contracts))

    def predict_frame(self, frame: pd.DataFrame, *, tiers: bool = True) -> pd.DataFrame:
        """Predict from a scoring frame (:func:`build_scoring_frame`), in blocks of customers."""
        self._check_fitted()
        missing = [c for c in ("frequency", "recency_days", "T_days", "monetary_value") if c not in frame.columns]
        if missing:
            raise ValueError(f"scoring frame lacks column(s) {missing}; build it with build_scoring_frame()")
        frame = frame.copy()
        for col in [*SUMMARY_COLUMNS, *CONTRACT_COLUMNS]:
            if col not in frame:
                frame[col] = np.nan if col in CONTRACT_COLUMNS else 0.0
        parts = [self._predict_block(frame.iloc[i:i + _BLOCK_ROWS]) for i in range(0, len(frame), _BLOCK_ROWS)]
        out = pd.concat(parts) if len(parts) > 1 else parts[0]
        if tiers:
            lo, hi = self.tier_thresholds_
            out["clv_tier"] = np.where(out["clv"] >= hi, "high", np.where(out["clv"] >= lo, "medium", "low"))
        first = [c for c in OUTPUT_COLUMNS if c in out.columns]
        return out[first + [c for c in out.columns if c not in first]]

    def _predict_block(self, frame: pd.DataFrame) -> pd.DataFrame:
        horizon, clv_horizon = self.forecast_horizon_days_, self.clv_horizon_days_
        months = int(self.horizon_months)
        same = abs(horizon - clv_horizon) < 1e-9
        structure = self._structure(frame, horizon, months=months if same else 0)
        dist = self._distribution(structure, horizon)
        clv_structure = structure if same else self._structure(frame, clv_horizon, months=months)
        clv_dist = dist if same else self._distribution(clv_structure, clv_horizon)
        forecast, clv_forecast = structure["forecast"], clv_structure["forecast"]
        monthly = clv_forecast[[f"survival_month_{j}" for j in range(1, months + 1)]].to_numpy()
        present_value = self.margin * discount_factors(clv_forecast["p_alive"], monthly, self.discount_rate)
        low, high = dist.interval(self.interval)
        clv_low, clv_high = clv_dist.interval(self.interval)
        reranked = dist.p_buy / structure["p_buy"]
        return pd.DataFrame(
            {
                "expected_remaining_lifetime_days": forecast["expected_remaining_lifetime_days"].to_numpy(),
                "survival_at_horizon": forecast["survival_at_horizon"].to_numpy(),
                "expected_spend_horizon": dist.mean,
                "clv": present_value * clv_dist.mean,
                "clv_low": present_value * clv_low,
                "clv_high": present_value * clv_high,
                "p_alive": forecast["p_alive"].to_numpy(),
                "p_buy_horizon": dist.p_buy,
                "expected_purchases_horizon": forecast["expected_purchases"].to_numpy() * reranked,
                "spend_low": low,
                "spend_high": high,
            },
            index=frame.index,
        )

    def summary(self) -> dict[str, Any]:
        """Fitted parameters, JSON-friendly (for logging)."""
        self._check_fitted()
        out = {f"purchase_{k}": v for k, v in self.purchase_model_.summary().items()}
        out.update({"gg_p": self.spend_model_.p_, "gg_q": self.spend_model_.q_, "gg_gamma": self.spend_model_.gamma_,
                    "tier_low": self.tier_thresholds_[0], "tier_high": self.tier_thresholds_[1],
                    "reranker_window_days": self.training_window_days_ or 0})
        return out
