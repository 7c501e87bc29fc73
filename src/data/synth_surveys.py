"""Synthetic satisfaction surveys whose overall score is built from the attributes with known weights.

A share of the customers answered one survey before the export. Each attribute rating is
the customer's latent satisfaction (so ratings correlate, as real ones do) plus an
attribute-specific opinion, on a 1..10 scale; the overall score is a weighted sum of the
attribute opinions plus noise::

    a_j     = 0.6 * satisfaction + 0.8 * u_j,        u_j ~ N(0, 1)
    rating_j = clip(round(6.5 + 1.6 * a_j), 1, 10)
    overall = clip(round(6.5 + 1.6 * (sum_j w_j a_j / s + 0.45 e)), 1, 10), e ~ N(0, 1)

with ``w`` = :data:`TRUE_WEIGHTS` and ``s`` scaling ``sum_j w_j a_j`` to unit variance. The
weights and the population relative weights they imply (before rounding) are kept in
``truth/survey_weights`` so that a drivers analysis can be checked against them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: attribute -> true weight in the overall score (the columns of the contract's surveys table).
TRUE_WEIGHTS = {"quality": 0.42, "service": 0.26, "delivery": 0.16, "price": 0.10, "ease_of_use": 0.06}
RESPONSE_RATE = 0.35
LOADING = 0.6  # on latent satisfaction: attribute ratings correlate about 0.36
SPECIFIC = 0.8
NOISE = 0.45


def _population_moments(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlations among the latent attribute opinions and with the latent overall score."""
    p = len(weights)
    cov = np.full((p, p), LOADING**2) + np.eye(p) * SPECIFIC**2  # var a_j = 0.36 + 0.64 = 1
    scale = np.sqrt(weights @ cov @ weights)
    cov_y = cov @ weights / scale
    var_y = 1.0 + NOISE**2
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd), cov_y / (sd * np.sqrt(var_y))


def true_relative_weights() -> pd.DataFrame:
    """The known weights and the relative weights (Johnson) of the latent population."""
    names = list(TRUE_WEIGHTS)
    w = np.array(list(TRUE_WEIGHTS.values()))
    rxx, rxy = _population_moments(w)
    eigval, eigvec = np.linalg.eigh(rxx)
    half = eigvec @ np.diag(np.sqrt(eigval)) @ eigvec.T
    beta = np.linalg.solve(half, rxy)
    raw = (half**2) @ (beta**2)
    return pd.DataFrame({"attribute": names, "true_weight": w, "true_relative_weight": raw,
                         "true_share": raw / raw.sum()})


def generate_surveys(cust: dict, cid: np.ndarray, t0: pd.Timestamp, as_of_day: float,
                     rng: np.random.Generator, *, churn_day: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(surveys table, truth/survey_weights) for the customers of a synthetic company.

    Respondents: a random :data:`RESPONSE_RATE` of the non-prospects, answering once at a
    uniform time between their signup and the export (before their churn, if any).
    """
    n = len(cust["sat"])
    names = list(TRUE_WEIGHTS)
    w = np.array(list(TRUE_WEIGHTS.values()))
    answers = ~cust["prospect"] & (rng.random(n) < RESPONSE_RATE)
    idx = np.flatnonzero(answers)
    stop = np.full(n, as_of_day) if churn_day is None else np.fmin(np.where(np.isnan(churn_day), as_of_day, churn_day), as_of_day)
    begin = cust["signup"][idx]
    day = begin + rng.random(len(idx)) * np.maximum(stop[idx] - begin, 0.0)
    opinions = LOADING * cust["sat"][idx, None] + SPECIFIC * rng.standard_normal((len(idx), len(names)))
    cov = np.full((len(w), len(w)), LOADING**2) + np.eye(len(w)) * SPECIFIC**2
    latent = opinions @ w / np.sqrt(w @ cov @ w) + NOISE * rng.standard_normal(len(idx))
    ratings = np.clip(np.rint(6.5 + 1.6 * opinions), 1, 10)
    overall = np.clip(np.rint(6.5 + 1.6 * latent), 1, 10)
    order = np.argsort(day, kind="stable")
    seconds = np.floor(day[order] * 86_400).astype(np.int64)
    frame = pd.DataFrame({
        "customer_id": cid[idx][order],
        "timestamp": (np.datetime64(t0.to_datetime64(), "ns") + seconds.astype("timedelta64[s]")).astype("datetime64[ns]"),
        "overall_satisfaction": overall[order],
        **{name: ratings[order, j] for j, name in enumerate(names)},
    })
    return frame, true_relative_weights()
