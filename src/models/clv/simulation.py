"""Customers simulated from the CLV model itself (Pareto/NBD purchases, Gamma-Gamma spend).

Used to check that the fit recovers known parameters and that the predictive intervals cover
what they claim, and to time the model at a million customers. Per customer: birth day
uniform in ``[0, birth_spread_days)``; purchase rate λ ~ Gamma(r, α) per day; dropout rate
μ ~ Gamma(s, β·exp(effect·z)) per day with z ~ N(0, 1) an observed covariate (``z``), so the
activity lifetime is Lomax with a covariate on its scale; purchases form a Poisson(λ) process
from the birth (the first purchase) until death; each amount is Gamma(p, ν), ν ~ Gamma(q, γ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SimulatedCustomers:
    transactions: pd.DataFrame  # customer_id, timestamp, amount (calibration and later)
    covariates: pd.DataFrame  # customer_id, z
    calibration_end: pd.Timestamp
    truth: pd.DataFrame  # per customer: lam, mu, nu, birth_day, death_day


def simulate_customers(
    n: int,
    *,
    r: float = 0.6,
    alpha: float = 80.0,
    s: float = 0.55,
    beta: float = 60.0,
    p: float = 6.0,
    q: float = 3.8,
    gamma: float = 15.0,
    covariate_effect: float = 0.0,
    birth_spread_days: float = 90.0,
    calibration_days: float = 270.0,
    holdout_days: float = 180.0,
    start: str = "2024-01-01",
    seed: int = 0,
) -> SimulatedCustomers:
    """``n`` customers observed for ``calibration_days`` plus ``holdout_days`` (see module doc)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / (beta * np.exp(covariate_effect * z)), n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    birth = np.floor(rng.uniform(0.0, birth_spread_days, n))
    end = calibration_days + holdout_days
    death = birth + rng.exponential(1.0 / np.maximum(mu, 1e-12))
    active = np.clip(np.minimum(death, end) - birth, 0.0, None)
    repeats = rng.poisson(lam * active)
    customer = np.repeat(np.arange(n), 1 + repeats)
    first = np.r_[0, np.cumsum(1 + repeats)[:-1]]
    offset = rng.uniform(0.0, 1.0, len(customer)) * active[customer]
    offset[first] = 0.0
    day = np.floor(birth[customer] + offset)
    keep = day <= end
    customer, day = customer[keep], day[keep]
    amount = np.round(rng.gamma(p, 1.0 / nu[customer]), 2)
    ids = np.char.add("s", np.char.zfill(np.arange(n).astype(str), 7))
    t0 = pd.Timestamp(start)
    transactions = pd.DataFrame({
        "customer_id": ids[customer],
        "timestamp": t0 + pd.to_timedelta(day, unit="D"),
        "amount": np.maximum(amount, 0.01),
    })
    truth = pd.DataFrame({"lam": lam, "mu": mu, "nu": nu, "birth_day": birth, "death_day": death},
                         index=pd.Index(ids, name="customer_id"))
    return SimulatedCustomers(transactions, pd.DataFrame({"customer_id": ids, "z": z}),
                              t0 + pd.Timedelta(days=calibration_days), truth)
