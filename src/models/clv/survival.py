"""Time-to-churn side of the CLV model: churn labels and lifelines survival regressions.

Churn definition (non-contractual data)
---------------------------------------
A customer is *declared churned* once an inactivity gap exceeds ``threshold_days`` (τ).
The declared churn time, measured from the first purchase day, is D = recency + τ; it is
observed (event) when ``T_days - recency_days > τ`` and right-censored at ``T_days`` (the age
at ``as_of``) otherwise. Censoring is then administrative (it depends on the acquisition date
only), which lifelines assumes. The default τ is a high quantile (``threshold_quantile``, 0.9)
of the observed inter-purchase gaps. A smaller τ declares churn sooner: more events, shorter
fitted lifetimes and lower CLV for irregular buyers; a larger τ gives fewer, later events and
longer lifetimes (and, with a short window, few events at all). The model removes most of this
sensitivity at prediction time: the *activity* lifetime is D − τ, and whether a customer is
still active at ``as_of`` is a posterior probability that combines the fitted lifetime
distribution with the customer's own purchase rate and silence since the last purchase (a
Pareto/NBD-style "P(alive)"), not the hard rule.

Contract data: when a contracts table is given, cancellations (``cancelled_at``) are the
events, durations run from ``start_date``, open contracts are censored at ``as_of``.

Models (one idea per class, chosen by name):

* ``pareto2_aft`` (default): Lomax AFT, an exponential lifetime with gamma frailty (the
  Pareto/NBD dropout law) with covariates on the scale; decreasing hazard, heavy tail.
* ``weibull_aft``: Weibull AFT (shared shape).
* ``loglogistic_aft``: log-logistic AFT.
* ``coxph``: lifelines ``CoxPHFitter`` with a spline baseline so that survival can be
  extrapolated past the longest observed history; its proportional-hazards check uses a
  Breslow fit of the same data.

The default is Lomax because CLV extrapolates beyond the observed window: in an
in-calibration CDNOW backtest the shared-shape Weibull settled on an increasing hazard and
under-forecast (see the estimator docstring).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

DURATION = "duration_days"
EVENT = "event"
WEIGHT = "weight"


def inactivity_threshold(gaps: np.ndarray, quantile: float = 0.9, *, minimum: float = 7.0) -> float:
    """The churn threshold τ in days: ``quantile`` of the observed inter-purchase gaps.

    Falls back to ``minimum`` × 4 when there are fewer than 20 gaps (too few repeat buyers).
    """
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"threshold_quantile must be in [0.5, 1); got {quantile}")
    gaps = np.asarray(gaps, dtype=float)
    if len(gaps) < 20:
        return 4 * minimum
    return float(max(np.quantile(gaps, quantile), minimum))


def churn_labels(summary: pd.DataFrame, threshold_days: float) -> pd.DataFrame:
    """Declared-churn durations (days since first purchase) and events from a customer summary."""
    gap = summary["T_days"] - summary["recency_days"]
    event = gap > threshold_days
    duration = np.where(event, summary["recency_days"] + threshold_days, summary["T_days"])
    return pd.DataFrame(
        {DURATION: np.maximum(duration, 1.0), EVENT: event.astype(int)}, index=summary.index
    )


def contract_labels(contracts: pd.DataFrame, as_of) -> pd.DataFrame:
    """Durations (days from ``start_date``) and cancellation events for contract customers.

    One row per customer (their earliest contract start, latest cancellation when all of their
    contracts are cancelled, otherwise censored at ``as_of``).
    """
    need = {"customer_id", "start_date", "cancelled_at"}
    missing = need - set(contracts.columns)
    if missing:
        raise ValueError(f"contracts table lacks column(s) {sorted(missing)}")
    as_of = pd.Timestamp(as_of)
    frame = contracts[contracts["start_date"] <= as_of].copy()
    frame["cancelled_at"] = frame["cancelled_at"].where(frame["cancelled_at"] <= as_of)
    g = frame.groupby(frame["customer_id"].astype(str))
    start = g["start_date"].min()
    all_cancelled = g["cancelled_at"].count() == g.size()  # count() skips the open (NaT) ones
    end = g["cancelled_at"].max().where(all_cancelled, as_of)
    duration = (end - start).dt.days.astype(float).clip(lower=1.0)
    out = pd.DataFrame({DURATION: duration, EVENT: all_cancelled.astype(int)})
    out.index.name = "customer_id"
    return out


class LifetimeModel:
    """Base class: a lifelines regression behind a small common interface."""

    name: ClassVar[str] = ""

    def __init__(self, penalizer: float = 0.01):
        self.penalizer = penalizer

    def _make(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, data: pd.DataFrame, initial_point: np.ndarray | None = None) -> LifetimeModel:
        """``data``: covariate columns plus :data:`DURATION`, :data:`EVENT` and optional :data:`WEIGHT`."""
        self.fitter_ = self._make()
        weights = WEIGHT if WEIGHT in data.columns else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = {"initial_point": initial_point} if initial_point is not None else {}
            try:
                self.fitter_.fit(data, duration_col=DURATION, event_col=EVENT, weights_col=weights, **kwargs)
            except Exception:  # noqa: BLE001 - a bad warm start: refit from lifelines' own start
                if not kwargs:
                    raise
                self.fitter_ = self._make()
                self.fitter_.fit(data, duration_col=DURATION, event_col=EVENT, weights_col=weights)
        self.covariates_ = [c for c in data.columns if c not in (DURATION, EVENT, WEIGHT)]
        return self

    # -- diagnostics -----------------------------------------------------
    def concordance(self, data: pd.DataFrame) -> float:
        from lifelines.utils import concordance_index

        median = self.predict_median(data[self.covariates_])
        return float(concordance_index(data[DURATION], median, data[EVENT]))

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        grid = np.geomspace(1.0, 1e5, 400)
        surv = self.survival(X, grid)
        idx = (surv > 0.5).sum(axis=1)
        return grid[np.clip(idx, 0, len(grid) - 1)]

    def diagnostics(self, data: pd.DataFrame) -> dict[str, Any]:
        return {
            "model": self.name,
            "aic": float(self.fitter_.AIC_),
            "log_likelihood": float(self.fitter_.log_likelihood_),
            "concordance": self.concordance(data),
            "n": len(data),
            "events": int(data[EVENT].sum()),
        }

    # -- prediction --------------------------------------------------------
    @property
    def _param_holder(self):
        return self.fitter_

    @property
    def params_(self) -> pd.Series:
        return self._param_holder.params_

    @property
    def variance_matrix_(self) -> pd.DataFrame:
        return self._param_holder.variance_matrix_

    def with_params(self, params: pd.Series) -> LifetimeModel:
        """A shallow copy whose survival functions use ``params`` (same index as ``params_``)."""
        clone = copy.copy(self)
        fitter = copy.copy(self.fitter_)
        if fitter is not self._param_holder and hasattr(fitter, "_model"):
            inner = copy.copy(fitter._model)
            inner.params_ = params
            fitter._model = inner
        else:
            fitter.params_ = params
        clone.fitter_ = fitter
        return clone

    def sample_params(self, n: int, rng: np.random.Generator) -> list[pd.Series]:
        mean = self.params_.to_numpy()
        cov = self.variance_matrix_.loc[self.params_.index, self.params_.index].to_numpy()
        cov = (cov + cov.T) / 2
        eigval, eigvec = np.linalg.eigh(cov)
        cov = (eigvec * np.clip(eigval, 0.0, None)) @ eigvec.T
        draws = rng.multivariate_normal(mean, cov, size=n)
        return [pd.Series(d, index=self.params_.index) for d in draws]

    def survival(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        """S(t | x) for every row of ``X`` (rows) and every time in ``times`` (columns, days)."""
        times = np.asarray(times, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = self.fitter_.predict_survival_function(X[self.covariates_], times=times)
        return np.clip(frame.to_numpy().T, 0.0, 1.0)


class WeibullAFTLifetime(LifetimeModel):
    """Weibull accelerated failure time: S(t|x) = exp(−(t / exp(xβ))^ρ)."""

    name = "weibull_aft"

    def _make(self):
        from lifelines import WeibullAFTFitter

        return WeibullAFTFitter(penalizer=self.penalizer)


class LogLogisticAFTLifetime(LifetimeModel):
    """Log-logistic AFT: S(t|x) = 1 / (1 + (t / exp(xβ))^β'); non-monotone hazard."""

    name = "loglogistic_aft"

    def _make(self):
        from lifelines import LogLogisticAFTFitter

        return LogLogisticAFTFitter(penalizer=self.penalizer)


def _pareto2_fitter_class():
    """lifelines custom regression: gamma-frailty exponential (Lomax / Pareto II) lifetimes."""
    import autograd.numpy as anp
    from lifelines.fitters import ParametricRegressionFitter

    class ParetoIIAFTFitter(ParametricRegressionFitter):
        """S(t|x) = (1 + t / exp(xβ))^(−s): exponential lifetimes with Gamma(s) frailty.

        The dropout process of the Pareto/NBD model, with covariates on the scale. Its hazard
        s / (exp(xβ) + t) decreases with age, so it extrapolates past the observed window with a
        heavy tail (a shared-shape Weibull fitted to a short window can only extrapolate with
        the hazard trend it saw).
        """

        _fitted_parameter_names = ["beta_", "s_"]

        def _cumulative_hazard(self, params, T, Xs):
            scale = anp.exp(anp.dot(Xs["beta_"], params["beta_"]))
            shape = anp.exp(anp.dot(Xs["s_"], params["s_"]))
            return shape * anp.log1p(T / scale)

    return ParetoIIAFTFitter


class ParetoIIAFTLifetime(LifetimeModel):
    """Lomax (Pareto II) AFT: gamma-frailty exponential lifetime, decreasing hazard."""

    name = "pareto2_aft"

    def _make(self):
        return _pareto2_fitter_class()(penalizer=self.penalizer)

    def fit(self, data: pd.DataFrame, initial_point: np.ndarray | None = None) -> LifetimeModel:
        covariates = [c for c in data.columns if c not in (DURATION, EVENT, WEIGHT)]
        regressors = {"beta_": " + ".join(covariates) if covariates else "1", "s_": "1"}
        weights = WEIGHT if WEIGHT in data.columns else None
        self.fitter_ = self._make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = {"initial_point": initial_point} if initial_point is not None else {}
            try:
                self.fitter_.fit(data, duration_col=DURATION, event_col=EVENT, weights_col=weights,
                                 regressors=regressors, **kwargs)
            except Exception:  # noqa: BLE001 - a bad warm start: refit from lifelines' own start
                if not kwargs:
                    raise
                self.fitter_ = self._make()
                self.fitter_.fit(data, duration_col=DURATION, event_col=EVENT, weights_col=weights,
                                 regressors=regressors)
        self.covariates_ = covariates
        return self


class CoxPHLifetime(LifetimeModel):
    """Cox proportional hazards with a cubic-spline baseline (extrapolates past the data)."""

    name = "coxph"

    def _make(self):
        from lifelines import CoxPHFitter

        return CoxPHFitter(baseline_estimation_method="spline", n_baseline_knots=4, penalizer=self.penalizer)

    @property
    def _param_holder(self):
        return self.fitter_._model

    def concordance(self, data: pd.DataFrame) -> float:
        from lifelines.utils import concordance_index

        beta = self.params_.loc["beta_"]
        covs = [c for c in self.covariates_ if c in beta.index]
        log_hazard = data[covs].to_numpy(dtype=float) @ beta[covs].to_numpy()
        return float(concordance_index(data[DURATION], -log_hazard, data[EVENT]))

    def diagnostics(self, data: pd.DataFrame) -> dict[str, Any]:
        out = super().diagnostics(data)
        out["ph_test"] = proportional_hazards_summary(data, self.penalizer)
        return out


def proportional_hazards_summary(data: pd.DataFrame, penalizer: float = 0.01) -> pd.DataFrame:
    """lifelines ``proportional_hazard_test`` (rank time transform) on a Breslow Cox fit."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        breslow = CoxPHFitter(penalizer=penalizer).fit(data, duration_col=DURATION, event_col=EVENT)
        result = proportional_hazard_test(breslow, data, time_transform="rank")
    return result.summary


MODELS: dict[str, type[LifetimeModel]] = {
    cls.name: cls
    for cls in (WeibullAFTLifetime, LogLogisticAFTLifetime, ParetoIIAFTLifetime, CoxPHLifetime)
}


def make_lifetime_model(name: str, penalizer: float = 0.01) -> LifetimeModel:
    """The lifetime model registered under ``name``; a clear error lists the valid names."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown survival model {name!r}; choose one of {sorted(MODELS)}"
        ) from None
    return cls(penalizer=penalizer)
