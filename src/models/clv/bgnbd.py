"""``BGNBD``: the beta-geometric/NBD purchase model (Fader, Hardie & Lee 2005), own implementation.

While active a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after every
purchase they drop out with probability p ~ Beta(a, b). Time unit: days (the paper's weeks
are days / 7: α_weeks = α_days / 7, the other parameters are unit-free, the log-likelihood
differs by x·log 7 per customer).

Given (x, t_x, T) and alive at T, λ | alive ~ Gamma(r + x, α + T) and p | alive ~ Beta(a, b + x),
independent. The purchases X in the next h days are min(N, G) with N ~ Poisson(λh) and
G ~ Geometric(p) the purchase after which the customer drops out, so

    P(X ≥ k | alive) = P(N ≥ k) · E[(1 − p)^(k−1)]
                     = I_{h/(α+T+h)}(k, r + x) · B(a, b + x + k − 1) / B(a, b + x),

a closed form (regularised incomplete beta) summed over k for E[X] and E[X²]. P(no purchase)
needs only N: 1 − P(alive) + P(alive)·((α+T)/(α+T+h))^(r+x). The customer is still active
after u days with probability P(alive)·E[(1 − p)^N(u)], integrated over the horizon by
Gauss–Legendre quadrature for the expected remaining lifetime. Everything is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator

from .survival_nbd import DAYS_PER_MONTH, _history, _unit_nodes, known_alive

PUBLISHED_BGNBD_WEEKS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4}


def bgnbd_log_likelihood(r: float, alpha: float, a: float, b: float, x, t_x, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6), in the unit of t_x, T."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    stay = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(
            x > 0,
            special.betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(stay, drop)


class BGNBD(BaseEstimator):
    """BG/NBD purchase model; learned ``r_``, ``alpha_`` (per day), ``a_``, ``b_``.

    ``penalizer``: L2 penalty on the log-parameters (0 reproduces the published fit).
    ``max_terms``: cap on the purchase counts summed in the forecasts.
    """

    def __init__(self, penalizer: float = 0.0, n_nodes: int = 16, max_terms: int = 2000):
        self.penalizer = penalizer
        self.n_nodes = n_nodes
        self.max_terms = max_terms

    def fit(self, frame: pd.DataFrame, y=None) -> BGNBD:  # noqa: ARG002
        """Maximum likelihood on a customer frame (``frequency``, ``recency_days``, ``T_days``)."""
        x, t_x, T = _history(frame)
        if len(x) < 10 or x.sum() < 3:
            raise ValueError(f"BG/NBD needs at least 10 customers and 3 repeat purchases; got {len(x)} and {x.sum():.0f}")
        rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        n = len(x)

        def objective(theta):
            r, alpha, a, b = np.exp(theta)
            ll = bgnbd_log_likelihood(r, alpha, a, b, rows[:, 0], rows[:, 1], rows[:, 2])
            return -(counts @ ll) / n + self.penalizer * float(theta @ theta)

        rate = max(x.sum() / max(T.sum(), 1.0), 1e-4)
        start = np.log([0.5, 0.5 / rate, 1.0, 3.0])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = optimize.minimize(objective, start, method="L-BFGS-B",
                                       options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8})
        self.theta_ = result.x
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(result.x))
        self.log_likelihood_ = float(counts @ bgnbd_log_likelihood(self.r_, self.alpha_, self.a_, self.b_, rows[:, 0], rows[:, 1], rows[:, 2]))
        self.converged_ = bool(result.success)
        self.n_customers_ = n
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise RuntimeError("BGNBD is not fitted; call fit(...) first")

    def p_alive(self, frame: pd.DataFrame) -> np.ndarray:
        """P(active at the frame's as_of | history); known contract states override it."""
        self._check_fitted()
        x, t_x, T = _history(frame)
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(
                x > 0,
                self.a_ / np.maximum(self.b_ + x - 1, 1e-12) * np.exp((self.r_ + x) * (np.log(self.alpha_ + T) - np.log(self.alpha_ + t_x))),
                0.0,
            )
        p = 1.0 / (1.0 + odds)
        known = known_alive(frame)
        return np.where(np.isnan(known), p, known)

    def _needed_terms(self, shape: np.ndarray, rate: np.ndarray, h: float) -> np.ndarray:
        """Purchase counts to sum per customer: the mean of N(h) plus 12 standard deviations."""
        mean = shape * h / rate
        sd = np.sqrt(mean * (1 + h / rate))
        need = np.ceil(mean + 12 * sd + 10)
        # buckets of 2^j terms, so that a few heavy buyers do not widen everyone's sums
        return np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 32))), self.max_terms).astype(int)

    def _active_weights(self, shape, beta_b, n_terms: int) -> np.ndarray:
        """log[Γ(shape+k)/(Γ(shape) k!) · E[(1 − p)^k]] for k = 0..n_terms (n × (n_terms+1))."""
        k = np.arange(n_terms + 1)[None, :]
        return (special.gammaln(shape[:, None] + k) - special.gammaln(shape[:, None]) - special.gammaln(k + 1)
                + special.betaln(self.a_, beta_b[:, None] + k) - special.betaln(self.a_, beta_b)[:, None])

    @staticmethod
    def _still_active(log_weights, shape, rate, u: float) -> np.ndarray:
        """E[(1 − p)^N(u)] per customer (the NBD pmf of N(u) against E[(1 − p)^k]): P(active u days on)."""
        k = np.arange(log_weights.shape[1])[None, :]
        return np.exp(log_weights + (shape * np.log(rate / (rate + u)))[:, None] + k * np.log(u / (rate + u))[:, None]).sum(axis=1)

    def _forecast_rows(self, shape, rate, beta_b, h: float, months: int, n_terms: int) -> dict[str, np.ndarray]:
        k = np.arange(1, n_terms + 1)[None, :]
        at_least = special.betainc(k, shape[:, None], (h / (rate + h))[:, None])  # P(N ≥ k)
        keep = np.exp(special.betaln(self.a_, beta_b[:, None] + k - 1) - special.betaln(self.a_, beta_b)[:, None])
        tail = at_least * keep  # P(X ≥ k | alive)
        weights_k = self._active_weights(shape, beta_b, n_terms)
        nodes, weights = _unit_nodes(self.n_nodes)
        active = np.column_stack([self._still_active(weights_k, shape, rate, h * v) for v in nodes])
        out = {
            "life": h * (active @ weights),
            "at_h": self._still_active(weights_k, shape, rate, h),
            "mean": tail.sum(axis=1),
            "second": (tail * (2 * k - 1)).sum(axis=1),
        }
        for j in range(months):
            out[f"month_{j + 1}"] = self._still_active(weights_k, shape, rate, DAYS_PER_MONTH * (j + 1))
        return out

    def forecast(self, frame: pd.DataFrame, horizon_days: float, *, months: int = 0) -> pd.DataFrame:
        """The same columns as :meth:`SurvivalNBD.forecast` for the next ``horizon_days`` days."""
        self._check_fitted()
        if horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive; got {horizon_days}")
        x, _, T = _history(frame)
        h = float(horizon_days)
        alive = self.p_alive(frame)
        shape, rate, beta_b = self.r_ + x, self.alpha_ + T, self.b_ + x
        needed = self._needed_terms(shape, rate, max(h, DAYS_PER_MONTH * months))
        parts: dict[str, np.ndarray] = {}
        for n_terms in np.unique(needed):
            rows = needed == n_terms
            for key, values in self._forecast_rows(shape[rows], rate[rows], beta_b[rows], h, months, int(n_terms)).items():
                parts.setdefault(key, np.empty(len(x)))[rows] = values
        out = pd.DataFrame(
            {
                "p_alive": alive,
                "expected_remaining_lifetime_days": alive * parts["life"],
                "survival_at_horizon": alive * parts["at_h"],
                "expected_purchases": alive * parts["mean"],
                "purchases_second_moment": alive * parts["second"],
                "p_no_purchase": 1.0 - alive + alive * np.exp(-shape * np.log1p(h / rate)),
            },
            index=frame.index,
        )
        for j in range(months):
            out[f"survival_month_{j + 1}"] = alive * parts[f"month_{j + 1}"]
        return out

    def summary(self) -> dict[str, float]:
        self._check_fitted()
        return {"purchase_model": "bgnbd", **self.params_, "log_likelihood": self.log_likelihood_,
                "converged": self.converged_, "n_customers": self.n_customers_}
