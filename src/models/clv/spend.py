"""Spend per purchase: Fader & Hardie's Gamma-Gamma model (own scipy implementation).

A customer's purchase amounts are z ~ Gamma(p, ν) (shape p, rate ν), ν ~ Gamma(q, γ) across
customers. Fitted on customers with at least one repeat purchase (x repeat purchase days,
mean repeat spend m̄; Fader, Hardie & Lee 2005 "RFM and CLV"). Given a history, ν's posterior
is Gamma(q' = px + q, γ' = γ + x·m̄), so

* E[z] = p·γ'/(q' − 1) (shrinks a few-purchase customer towards the population mean);
* E[z²] = p(p + 1)·γ'²/((q' − 1)(q' − 2)) and, for two different purchases of the same
  customer, E[z z'] = p²·γ'²/((q' − 1)(q' − 2)): the moments the spend distribution over a
  horizon is built from (see :mod:`.distribution`).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special
from sklearn.base import BaseEstimator


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma spend-per-purchase model; learned ``p_``, ``q_``, ``gamma_`` (the paper's p, q, γ).

    ``penalizer``: L2 penalty on (p, q, γ) (0 reproduces the published CDNOW estimates).
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    @staticmethod
    def _neg_ll(log_params: np.ndarray, x: np.ndarray, m: np.ndarray, penalizer: float) -> float:
        p, q, g = np.exp(log_params)
        px = p * x
        ll = (
            special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
            + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + x * m)
        )
        return -ll.sum() + penalizer * float(np.sum(np.exp(log_params) ** 2))

    def fit(self, frequency, monetary_value) -> GammaGammaModel:
        """Maximum likelihood on the customers with ``frequency > 0`` and positive spend."""
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise ValueError(
                f"Gamma-Gamma needs at least 3 customers with a repeat purchase and positive spend; got {int(keep.sum())}"
            )
        x, m = x[keep], m[keep]
        fun = lambda lp: self._neg_ll(lp, x, m, self.penalizer) / len(x)  # noqa: E731
        # one quasi-Newton run from a moment-based start; Nelder-Mead from two starts only when
        # it does not converge
        best = optimize.minimize(fun, np.log([5.0, 3.0, 2.0 * float(np.mean(m)) / 5.0]), method="L-BFGS-B",
                                 options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000})
        if not best.success:
            for start in (np.log([1.0, 1.0, 1.0]), np.log([5.0, 3.0, float(np.mean(m))])):
                res = optimize.minimize(fun, start, method="Nelder-Mead",
                                        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000})
                res = optimize.minimize(fun, res.x, method="BFGS")
                if res.fun < best.fun:
                    best = res
        self.p_, self.q_, self.gamma_ = (float(v) for v in np.exp(best.x))
        self.log_likelihood_ = -float(self._neg_ll(best.x, x, m, 0.0))
        self.n_fit_ = int(keep.sum())
        return self

    def _posterior(self, frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
        """Shape q' and rate γ' of each customer's posterior Gamma of ν."""
        if not hasattr(self, "p_"):
            raise RuntimeError("GammaGammaModel is not fitted; call fit(...) first")
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
        return self.p_ * x + self.q_, self.gamma_ + x * np.maximum(m, 0.0)

    def expected_spend_per_purchase(self, frequency, monetary_value) -> np.ndarray:
        """E[spend per purchase | history] (currency units); the population mean when x = 0."""
        shape, rate = self._posterior(frequency, monetary_value)
        if np.any(shape <= 1):
            raise ValueError("Gamma-Gamma posterior mean undefined (q <= 1): spend is too heavy-tailed")
        return self.p_ * rate / (shape - 1)

    def spend_moments(self, frequency, monetary_value) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(E[z], E[z²], E[z z']) per customer: one purchase, its square, two different purchases.

        The second moments need q' > 2; customers below (only possible when q ≤ 2 and x = 0)
        get the moments of q' = 2.05, a finite stand-in for an infinite variance.
        """
        mean = self.expected_spend_per_purchase(frequency, monetary_value)
        shape, rate = self._posterior(frequency, monetary_value)
        shape = np.maximum(shape, 2.05)
        inv_nu_sq = rate**2 / ((shape - 1) * (shape - 2))
        return mean, self.p_ * (self.p_ + 1) * inv_nu_sq, self.p_**2 * inv_nu_sq
