"""Activity-lifetime distributions of the survival CLV model (accelerated failure time families).

Each family gives the survival function S(t) and the density f(t) of a customer's activity
lifetime t (days since the first purchase), with a per-customer scale (``log_scale``, where
the covariates act: an AFT model) and one shape shared by all customers. The
parametrisations are lifelines' (so a fit of fully observed lifetimes reproduces
``WeibullAFTFitter``, ``LogLogisticAFTFitter`` and the Lomax regression, see the tests):

* ``pareto2_aft`` — Lomax (Pareto II): S(t) = (1 + t/λ)^(−s), an exponential lifetime with
  gamma-distributed dropout rate; with no covariates this is the Pareto/NBD dropout law.
  Decreasing hazard s / (λ + t): it extrapolates past the observed window with a heavy tail.
* ``weibull_aft`` — S(t) = exp(−(t/λ)^ρ).
* ``loglogistic_aft`` — S(t) = 1 / (1 + (t/λ)^k); hazard rises then falls when k > 1.

All functions broadcast and work on logs (no overflow for old customers or long horizons).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class LifetimeFamily:
    """One AFT family: ``log_survival`` and ``log_density`` of t ≥ 0 days."""

    name: ClassVar[str] = ""
    shape_name: ClassVar[str] = "shape"

    @staticmethod
    def log_survival(t, log_scale, shape):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def log_density(t, log_scale, shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def log_likelihood(self, duration, event, log_scale, shape) -> np.ndarray:
        """Right-censored log-likelihood per row: log f(t) for events, log S(t) for censored rows."""
        event = np.asarray(event, dtype=bool)
        return np.where(event, self.log_density(duration, log_scale, shape), self.log_survival(duration, log_scale, shape))


class Lomax(LifetimeFamily):
    name = "pareto2_aft"
    shape_name = "s"

    @staticmethod
    def log_survival(t, log_scale, shape):
        return -shape * np.log1p(np.asarray(t, dtype=float) * np.exp(-log_scale))

    @staticmethod
    def log_density(t, log_scale, shape):
        z = np.asarray(t, dtype=float) * np.exp(-log_scale)
        return np.log(shape) - log_scale - (shape + 1.0) * np.log1p(z)


class Weibull(LifetimeFamily):
    name = "weibull_aft"
    shape_name = "rho"

    @staticmethod
    def log_survival(t, log_scale, shape):
        with np.errstate(divide="ignore"):
            return -np.exp(shape * (np.log(np.asarray(t, dtype=float)) - log_scale))

    @staticmethod
    def log_density(t, log_scale, shape):
        with np.errstate(divide="ignore"):
            log_z = np.log(np.asarray(t, dtype=float)) - log_scale
        return np.log(shape) - log_scale + (shape - 1.0) * log_z - np.exp(shape * log_z)


class LogLogistic(LifetimeFamily):
    name = "loglogistic_aft"
    shape_name = "k"

    @staticmethod
    def log_survival(t, log_scale, shape):
        with np.errstate(divide="ignore"):
            log_z = np.log(np.asarray(t, dtype=float)) - log_scale
        return -np.logaddexp(0.0, shape * log_z)

    @staticmethod
    def log_density(t, log_scale, shape):
        with np.errstate(divide="ignore"):
            log_z = np.log(np.asarray(t, dtype=float)) - log_scale
        return np.log(shape) - log_scale + (shape - 1.0) * log_z - 2.0 * np.logaddexp(0.0, shape * log_z)


LIFETIME_FAMILIES: dict[str, LifetimeFamily] = {f.name: f for f in (Lomax(), Weibull(), LogLogistic())}


def lifetime_family(name: str) -> LifetimeFamily:
    """The family registered under ``name``; a clear error lists the valid names."""
    try:
        return LIFETIME_FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown lifetime model {name!r}; choose one of {sorted(LIFETIME_FAMILIES)}") from None
