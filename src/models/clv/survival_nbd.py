"""``SurvivalNBD``: purchases while alive (NBD) × an activity lifetime from an AFT survival family.

Model, per customer (days; age measured from the first purchase day):

* while active, repeat purchases arrive as a Poisson process with rate λ, λ ~ Gamma(r, α)
  across customers;
* the activity lifetime τ follows an AFT family of :mod:`.lifetime` (Lomax by default) with
  scale exp(b₀ + zᵀγ) for standardised covariates z (none by default);
* λ and τ are independent. With the Lomax family and no covariates this is exactly the
  Pareto/NBD model (Schmittlein, Morrison & Colombo 1987), fitted here in days.

The death time is never observed, so the model is fitted by maximising the *marginal*
likelihood of each customer's (x, t_x, T) with λ and τ integrated out:

    L = Γ(r+x)/Γ(r) · αʳ · [ S(T)(α+T)^−(r+x) + ∫_{t_x}^{T} f(τ)(α+τ)^−(r+x) dτ ].

The integral is evaluated by Gauss–Legendre quadrature after the substitution
z = ((α+t_x)/(α+τ))^(r+x−1), which makes the power term constant, so a few dozen nodes are
exact to many digits for one-time and hundred-purchase customers alike. The fit is
deterministic (all customers, no sampling) and takes a few seconds on 25,000 customers.

Given the history, every forecast over a horizon of h days is analytic up to a
one-dimensional quadrature (λ | alive ~ Gamma(r+x, α+T), remaining life L with survival
S(T+u)/S(T)):

* P(alive) = S(T)(α+T)^−(r+x) / [S(T)(α+T)^−(r+x) + ∫ …];
* expected remaining lifetime within the horizon ∫₀ʰ P(alive)·S(T+u)/S(T) du;
* E[purchases] = P(alive)·(r+x)/(α+T)·E[min(L, h)], and the second moment likewise;
* P(no purchase) = 1 − P(alive) + P(alive)·E[((α+T)/(α+T+min(L, h)))^(r+x)].

Contract customers (``contract_age_days`` known) have a known state: P(alive) is 1 while a
contract is open and 0 once every contract is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator

from .lifetime import lifetime_family

DAYS_PER_MONTH = 30.4375
_HISTORY_COLUMNS = ("frequency", "recency_days", "T_days")


def _unit_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


def _history(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in _HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"customer frame lacks column(s) {missing}; build it with build_scoring_frame()")
    x = frame["frequency"].to_numpy(dtype=float)
    t_x = frame["recency_days"].to_numpy(dtype=float)
    T = frame["T_days"].to_numpy(dtype=float)
    bad = (x < 0) | (t_x < 0) | (t_x > T) | ~np.isfinite(x + t_x + T)
    if bad.any():
        rows = frame.loc[bad, list(_HISTORY_COLUMNS)].head(3).to_dict("index")
        raise ValueError(f"invalid purchase histories (need 0 ≤ recency_days ≤ T_days, frequency ≥ 0), e.g. {rows}")
    return x, t_x, T


def known_alive(frame: pd.DataFrame) -> np.ndarray:
    """Known state per customer: 1 (open contract), 0 (all contracts cancelled), NaN (unknown)."""
    if "contract_age_days" not in frame or "contract_open" not in frame:
        return np.full(len(frame), np.nan)
    contract = frame["contract_age_days"].notna().to_numpy()
    return np.where(contract, frame["contract_open"].to_numpy(dtype=float), np.nan)


class SurvivalNBD(BaseEstimator):
    """NBD purchases × AFT survival lifetime, fitted by marginal likelihood (see module doc).

    Parameters
    ----------
    lifetime: ``"pareto2_aft"`` (Lomax: Pareto/NBD when there are no covariates),
        ``"weibull_aft"`` or ``"loglogistic_aft"``.
    covariates: numeric columns of the customer frame acting on the lifetime scale (AFT);
        standardised at fit, missing values filled with the training median.
    penalizer: L2 penalty on the covariate coefficients (per customer, standardised scale).
    n_nodes: Gauss–Legendre nodes of every quadrature.
    max_iter: iterations of the L-BFGS-B fit.
    """

    def __init__(
        self,
        lifetime: str = "pareto2_aft",
        covariates: Sequence[str] = (),
        penalizer: float = 0.0,
        n_nodes: int = 16,
        max_iter: int = 500,
    ):
        self.lifetime = lifetime
        self.covariates = covariates
        self.penalizer = penalizer
        self.n_nodes = n_nodes
        self.max_iter = max_iter

    # ------------------------------------------------------------------ parameters
    def _covariate_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        names = list(self.covariates)
        if not names:
            return np.zeros((len(frame), 0))
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"customer frame lacks lifetime covariate column(s) {missing}")
        Z = frame[names].astype(float)
        return ((Z.fillna(self.covariate_fill_) - self.covariate_means_) / self.covariate_stds_).to_numpy()

    def _unpack(self, theta: np.ndarray, Z: np.ndarray) -> tuple[float, float, float, np.ndarray]:
        r, alpha, shape = np.exp(theta[:3])
        log_scale = theta[3] + Z @ theta[4:]
        return r, alpha, shape, log_scale

    @property
    def params_(self) -> dict[str, float]:
        """Fitted parameters (rate prior r, α per day; lifetime shape and log-scale, coefficients)."""
        out = {"r": self.r_, "alpha": self.alpha_, "shape": self.shape_, "log_scale": self.log_scale_}
        out.update({f"coef_{k}": float(v) for k, v in self.coef_.items()})
        return out

    # ------------------------------------------------------------------ likelihood
    def _log_likelihood(self, theta, x, t_x, T, Z, nodes, weights) -> np.ndarray:
        family = lifetime_family(self.lifetime)
        r, alpha, shape, log_scale = self._unpack(theta, Z)
        k = r + x
        m = k - 1.0
        m = np.where(np.abs(m) < 1e-9, 1e-9, m)
        log_rho = np.log(alpha + t_x) - np.log(alpha + T)  # ≤ 0
        log_alive = family.log_survival(T, log_scale, shape) + k * log_rho
        one_minus_zeta = -np.expm1(m * log_rho)  # same sign as m
        log_z = np.log1p(-one_minus_zeta[:, None] * (1.0 - nodes[None, :]))
        tau = np.maximum(np.exp(np.log(alpha + t_x)[:, None] - log_z / m[:, None]) - alpha, 0.0)
        density = np.exp(family.log_density(tau, log_scale[:, None], shape))
        died = (alpha + t_x) * (one_minus_zeta / m) * (density @ weights)
        with np.errstate(divide="ignore"):
            log_died = np.log(np.maximum(died, 0.0))
        return (
            special.gammaln(k) - special.gammaln(r) + r * np.log(alpha) - k * np.log(alpha + t_x)
            + np.logaddexp(log_alive, log_died)
        )

    def _start(self, x, T) -> np.ndarray:
        rate = max(x.sum() / max(T.sum(), 1.0), 1e-4)
        return np.r_[np.log([0.5, 0.5 / rate, 0.7]), np.log(max(np.median(T), 1.0) * 2.0)]

    def fit(self, frame: pd.DataFrame, y=None) -> SurvivalNBD:  # noqa: ARG002
        """Fit on a customer frame (``frequency``, ``recency_days``, ``T_days`` and the covariates)."""
        lifetime_family(self.lifetime)
        if self.penalizer < 0:
            raise ValueError(f"penalizer must be ≥ 0; got {self.penalizer}")
        x, t_x, T = _history(frame)
        if len(x) < 10 or x.sum() < 3:
            raise ValueError(f"the survival CLV model needs at least 10 customers and 3 repeat purchases; got {len(x)} and {x.sum():.0f}")
        names = list(self.covariates)
        if names:
            missing = [c for c in names if c not in frame.columns]
            if missing:
                raise ValueError(f"customer frame lacks lifetime covariate column(s) {missing}")
            Z = frame[names].astype(float)
            self.covariate_fill_ = Z.median().fillna(0.0)
            Z = Z.fillna(self.covariate_fill_)
            self.covariate_means_ = Z.mean()
            self.covariate_stds_ = Z.std(ddof=0).replace(0.0, 1.0)
        Z = self._covariate_matrix(frame)
        n = len(x)
        # customers with the same history and covariates share one likelihood term: CDNOW's
        # 23,570 customers have ~9,000 distinct (x, t_x, T)
        rows, counts = np.unique(np.column_stack([x, t_x, T, Z]), axis=0, return_counts=True)
        ux, ut_x, uT, uZ = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3:]

        def objective(theta, nodes, weights):
            ll = self._log_likelihood(theta, ux, ut_x, uT, uZ, nodes, weights)
            return -(counts @ ll) / n + self.penalizer * float(theta[4:] @ theta[4:])

        start = np.r_[self._start(x, T), np.zeros(Z.shape[1])]
        # the bulk of the search on a coarse quadrature, then the optimum on the full one
        coarse = max(4, self.n_nodes // 2)
        with np.errstate(over="ignore", invalid="ignore"):
            for n_nodes, ftol in ((coarse, 1e-9), (self.n_nodes, 1e-12)):
                result = optimize.minimize(objective, start, args=_unit_nodes(n_nodes), method="L-BFGS-B",
                                           options={"maxiter": self.max_iter, "ftol": ftol, "gtol": 1e-7})
                start = result.x
        nodes, weights = _unit_nodes(self.n_nodes)
        if not np.isfinite(result.fun):
            raise RuntimeError(f"the survival CLV fit did not converge ({result.message}); check the purchase histories")
        self.theta_ = result.x
        self.r_, self.alpha_, self.shape_ = (float(v) for v in np.exp(result.x[:3]))
        self.log_scale_ = float(result.x[3])
        self.coef_ = pd.Series(result.x[4:], index=names, dtype=float)
        self.log_likelihood_ = float(counts @ self._log_likelihood(result.x, ux, ut_x, uT, uZ, nodes, weights))
        self.converged_ = bool(result.success)
        self.n_customers_ = n
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise RuntimeError("SurvivalNBD is not fitted; call fit(...) first")

    def p_alive(self, frame: pd.DataFrame) -> np.ndarray:
        """P(still active at the frame's as_of | purchase history, contract state)."""
        self._check_fitted()
        x, t_x, T = _history(frame)
        Z = self._covariate_matrix(frame)
        nodes, weights = _unit_nodes(self.n_nodes)
        family = lifetime_family(self.lifetime)
        _, _, shape, log_scale = self._unpack(self.theta_, Z)
        k = self.r_ + x
        log_rho = np.log(self.alpha_ + t_x) - np.log(self.alpha_ + T)
        ll = self._log_likelihood(self.theta_, x, t_x, T, Z, nodes, weights)
        log_alive = (
            special.gammaln(k) - special.gammaln(self.r_) + self.r_ * np.log(self.alpha_)
            - k * np.log(self.alpha_ + t_x) + family.log_survival(T, log_scale, shape) + k * log_rho
        )
        p = np.exp(np.minimum(log_alive - ll, 0.0))
        known = known_alive(frame)
        return np.where(np.isnan(known), p, known)

    def _conditional_survival(self, T, log_scale, ages) -> np.ndarray:
        """S(T + u) / S(T) for ``ages`` u (n × K)."""
        family = lifetime_family(self.lifetime)
        base = family.log_survival(T, log_scale, self.shape_)
        return np.exp(family.log_survival(T[:, None] + ages, log_scale[:, None], self.shape_) - base[:, None])

    def forecast(self, frame: pd.DataFrame, horizon_days: float, *, months: int = 0) -> pd.DataFrame:
        """Per-customer forecast over the next ``horizon_days`` days (after the frame's as_of).

        Columns: ``p_alive``; ``expected_remaining_lifetime_days`` (∫₀ʰ P(active at u) du);
        ``survival_at_horizon`` (P(active h days later)); ``expected_purchases``,
        ``purchases_second_moment`` (E[X²]) and ``p_no_purchase`` of the purchase count X in
        the horizon; with ``months`` > 0 also ``survival_month_1..months`` (P(active) at the
        end of each month of 30.4375 days).
        """
        self._check_fitted()
        if horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive; got {horizon_days}")
        x, _, T = _history(frame)
        Z = self._covariate_matrix(frame)
        _, _, _, log_scale = self._unpack(self.theta_, Z)
        alive = self.p_alive(frame)
        nodes, weights = _unit_nodes(self.n_nodes)
        h = float(horizon_days)
        # E[min(L, h)] and E[min(L, h)^2] = ∫ S_c(u) du and ∫ 2u S_c(u) du on [0, h]
        ages = h * nodes
        surv = self._conditional_survival(T, log_scale, ages[None, :])
        life = h * (surv @ weights)
        life_sq = h * (surv @ (2.0 * ages * weights))
        shape, rate = self.r_ + x, self.alpha_ + T
        # P(no purchase | alive) = 1 − ∫_{w_h}^1 S_c(u(w)) dw, w = (rate/(rate+u))^shape
        w_h = np.exp(-shape * np.log1p(h / rate))
        w = w_h[:, None] + (1.0 - w_h)[:, None] * nodes[None, :]
        u = np.minimum(rate[:, None] * np.expm1(-np.log(w) / shape[:, None]), h)
        none_if_alive = 1.0 - (1.0 - w_h) * (self._conditional_survival(T, log_scale, u) @ weights)
        mean_rate = shape / rate
        at_h = self._conditional_survival(T, log_scale, np.full((1, 1), h))[:, 0]
        out = pd.DataFrame(
            {
                "p_alive": alive,
                "expected_remaining_lifetime_days": alive * life,
                "survival_at_horizon": alive * at_h,
                "expected_purchases": alive * mean_rate * life,
                "purchases_second_moment": alive * (mean_rate * life + shape * (shape + 1.0) / rate**2 * life_sq),
                "p_no_purchase": np.clip(1.0 - alive + alive * none_if_alive, 0.0, 1.0),
            },
            index=frame.index,
        )
        if months:
            month_ages = DAYS_PER_MONTH * np.arange(1, months + 1)[None, :]
            monthly = alive[:, None] * self._conditional_survival(T, log_scale, month_ages)
            for j in range(months):
                out[f"survival_month_{j + 1}"] = monthly[:, j]
        return out

    def summary(self) -> dict[str, Any]:
        """Fitted parameters and fit statistics, JSON-friendly."""
        self._check_fitted()
        return {"lifetime": self.lifetime, **self.params_, "log_likelihood": self.log_likelihood_,
                "converged": self.converged_, "n_customers": self.n_customers_}
