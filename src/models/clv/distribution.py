"""The predictive distribution of a customer's spend over a horizon: zero or log-normal (a hurdle).

Spend over h days is 0 with probability 1 − p (no purchase) and otherwise log-normal with the
mean and second moment implied by the purchase and spend models:

    E[S | S > 0] = E[S] / p,   E[S² | S > 0] = E[S²] / p,
    σ² = log(E[S² | S > 0] / E[S | S > 0]²),   μ = log E[S | S > 0] − σ²/2,

with E[S] = E[X]·E[z] and E[S²] = E[X]·E[z²] + (E[X²] − E[X])·E[z z'] for X purchases of
amounts z (Gamma-Gamma, :mod:`.spend`). The atom at zero is exact; the positive part matches
the first two moments. Quantiles are closed-form:

    Q(q) = 0 for q ≤ 1 − p,   Q(q) = exp(μ + σ Φ⁻¹((q − (1 − p)) / p)) otherwise,

so intervals and proper scores need no simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

_MIN_SIGMA2 = 1e-6


def _normal_quantile(u: np.ndarray) -> np.ndarray:
    return -np.sqrt(2.0) * special.erfcinv(2.0 * u)


@dataclass(frozen=True)
class HurdleLogNormal:
    """Per-customer spend distribution: ``p_buy`` = P(S > 0); log-normal (``mu``, ``sigma``) if S > 0."""

    p_buy: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def from_moments(cls, p_buy, conditional_mean, conditional_second_moment) -> HurdleLogNormal:
        """From P(S > 0), E[S | S > 0] and E[S² | S > 0] (moment matching of the positive part)."""
        p = np.clip(np.asarray(p_buy, dtype=float), 0.0, 1.0)
        mean = np.maximum(np.asarray(conditional_mean, dtype=float), 1e-12)
        second = np.asarray(conditional_second_moment, dtype=float)
        sigma2 = np.maximum(np.log(np.maximum(second, 0.0) / mean**2 + 1e-300), _MIN_SIGMA2)
        sigma2 = np.where(np.isfinite(sigma2), sigma2, _MIN_SIGMA2)
        return cls(p, np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2))

    @property
    def mean(self) -> np.ndarray:
        return self.p_buy * np.exp(self.mu + self.sigma**2 / 2.0)

    def quantile(self, q: float) -> np.ndarray:
        """The ``q``-quantile per customer (0 where the atom at zero covers it)."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile level must be in (0, 1); got {q}")
        zero = 1.0 - self.p_buy
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.clip((q - zero) / np.where(self.p_buy > 0, self.p_buy, 1.0), 1e-15, 1 - 1e-15)
            positive = np.exp(self.mu + self.sigma * _normal_quantile(u))
        return np.where(q <= zero, 0.0, positive)

    def cdf(self, spend) -> np.ndarray:
        """P(S ≤ spend) per customer."""
        spend = np.asarray(spend, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(spend, 1e-300)) - self.mu) / self.sigma
        positive = 0.5 * special.erfc(-z / np.sqrt(2.0))
        return np.where(spend < 0, 0.0, (1.0 - self.p_buy) + self.p_buy * np.where(spend > 0, positive, 0.0))

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval [Q((1 − level)/2), Q((1 + level)/2)]."""
        tail = (1.0 - level) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)

    def interval_mass(self, low, high) -> np.ndarray:
        """Model-implied probability of [low, high] per customer (≥ the level, because of the atom)."""
        low = np.asarray(low, dtype=float)
        below = np.where(low > 0, self.cdf(np.nextafter(low, 0)), 0.0)
        return self.cdf(high) - below
