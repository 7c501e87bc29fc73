"""Spend side of the CLV model: purchase rate and spend per purchase, both shrunk.

* :class:`PurchaseRateModel` — repeat purchases of a customer over an exposure of ``E`` days
  are Poisson(λ·E) with λ ~ Gamma(shape r, rate α) across customers (NBD). Fitted by maximum
  likelihood; a customer's rate is the posterior mean (r + x) / (α + E) per day, so few
  purchases shrink towards the population mean r/α.
* :class:`GammaGammaModel` — Fader & Hardie's Gamma-Gamma model of spend per transaction,
  implemented here with scipy: z ~ Gamma(p, ν), ν ~ Gamma(q, γ). Fitted on customers with at
  least one repeat purchase (x, mean repeat spend m̄). The posterior of ν is
  Gamma(px + q, γ + x·m̄) and E[z | x, m̄] = p(γ + x m̄) / (px + q − 1).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from custsat.config import get_settings


def _numeric_hessian(fun, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function (used for parameter covariances)."""
    k = len(x)
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = step
            ej[j] = step
            val = (
                fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)
            ) / (4 * step * step)
            hess[i, j] = hess[j, i] = val
    return hess


def _covariance(neg_ll, log_params: np.ndarray) -> np.ndarray:
    hess = _numeric_hessian(neg_ll, log_params)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(hess)
    cov = (cov + cov.T) / 2
    eigval, eigvec = np.linalg.eigh(cov)
    return (eigvec * np.clip(eigval, 0.0, None)) @ eigvec.T


class GammaGammaModel:
    """Gamma-Gamma spend-per-transaction model (own scipy implementation).

    ``fit(frequency, monetary_value)`` uses customers with ``frequency > 0`` only; learned
    ``p_``, ``q_``, ``gamma_`` (same names as the paper's p, q, γ), ``log_likelihood_`` and
    ``cov_log_params_`` (covariance of log(p, q, γ) from the observed information).
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    @staticmethod
    def _neg_ll(log_params: np.ndarray, x: np.ndarray, m: np.ndarray, penalizer: float) -> float:
        p, q, g = np.exp(log_params)
        px = p * x
        ll = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(g)
            + (px - 1) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(g + x * m)
        )
        return -ll.sum() + penalizer * float(np.sum(np.exp(log_params) ** 2))

    def fit(self, frequency, monetary_value) -> GammaGammaModel:
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise ValueError(
                f"Gamma-Gamma needs at least 3 customers with a repeat purchase and positive spend; got {int(keep.sum())}"
            )
        x, m = x[keep], m[keep]
        fun = lambda lp: self._neg_ll(lp, x, m, self.penalizer)  # noqa: E731
        best = None
        for start in (np.log([1.0, 1.0, 1.0]), np.log([5.0, 3.0, float(np.mean(m))])):
            res = optimize.minimize(fun, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 20000})
            res = optimize.minimize(fun, res.x, method="BFGS")
            if best is None or res.fun < best.fun:
                best = res
        self.p_, self.q_, self.gamma_ = (float(v) for v in np.exp(best.x))
        self.log_likelihood_ = -float(self._neg_ll(best.x, x, m, 0.0))
        self.n_fit_ = int(keep.sum())
        self.cov_log_params_ = _covariance(fun, best.x)
        return self

    def posterior_nu(self, frequency, monetary_value, params: tuple[float, float, float] | None = None):
        """Shape and rate of the posterior Gamma of ν for each customer."""
        p, q, g = params or (self.p_, self.q_, self.gamma_)
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        m = np.where(x > 0, m, 0.0)
        return p * x + q, g + x * m

    def expected_spend_per_purchase(self, frequency, monetary_value, params=None) -> np.ndarray:
        """E[spend per purchase occasion | history] (currency units); population mean when x = 0."""
        p = (params or (self.p_, self.q_, self.gamma_))[0]
        shape, rate = self.posterior_nu(frequency, monetary_value, params)
        if np.any(shape <= 1):
            raise ValueError("Gamma-Gamma posterior mean undefined (q <= 1): spend is too heavy-tailed")
        return p * rate / (shape - 1)

    def sample_params(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of (p, q, γ) from the asymptotic normal of the log-parameters."""
        mean = np.log([self.p_, self.q_, self.gamma_])
        return np.exp(rng.multivariate_normal(mean, self.cov_log_params_, size=n))


class PurchaseRateModel:
    """NBD (gamma-Poisson) repeat-purchase rate per day with exposure; learned ``r_``, ``alpha_``."""

    @staticmethod
    def _neg_ll(log_params: np.ndarray, x: np.ndarray, e: np.ndarray, w: np.ndarray) -> float:
        r, a = np.exp(log_params)
        ll = (
            special.gammaln(r + x)
            - special.gammaln(r)
            - special.gammaln(x + 1)
            + r * np.log(a / (a + e))
            + x * np.log(e / (a + e))
        )
        return -float((w * ll).sum())

    def fit(self, frequency, exposure_days, weights=None) -> PurchaseRateModel:
        """Maximum likelihood; ``weights`` allow several weighted exposures per customer (EM)."""
        x = np.asarray(frequency, dtype=float)
        e = np.asarray(exposure_days, dtype=float)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        keep = (e > 0) & (w > 0)
        x, e, w = x[keep], e[keep], w[keep]
        if len(x) < 3:
            raise ValueError("purchase-rate model needs at least 3 customers with positive exposure")
        mean_rate = max((w * x).sum() / (w * e).sum(), 1e-6)
        fun = lambda lp: self._neg_ll(lp, x, e, w)  # noqa: E731
        res = optimize.minimize(fun, np.log([1.0, 1.0 / mean_rate]), method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20000})
        res = optimize.minimize(fun, res.x, method="BFGS")
        self.r_, self.alpha_ = (float(v) for v in np.exp(res.x))
        self.log_likelihood_ = -float(res.fun)
        self.cov_log_params_ = _covariance(fun, res.x)
        return self

    def posterior(self, frequency, exposure_days) -> tuple[np.ndarray, np.ndarray]:
        """Shape and rate (per day) of each customer's posterior Gamma of λ."""
        x = np.asarray(frequency, dtype=float)
        e = np.asarray(exposure_days, dtype=float)
        return self.r_ + x, self.alpha_ + e

    def expected_rate(self, frequency, exposure_days) -> np.ndarray:
        """Posterior mean repeat-purchase rate, purchases per day."""
        shape, rate = self.posterior(frequency, exposure_days)
        return shape / rate


def default_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(get_settings().seed if seed is None else seed)
