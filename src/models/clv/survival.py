"""Declared churn by inactivity, and contract durations (the labels of Kaplan–Meier views).

Churn definition (non-contractual data)
---------------------------------------
A customer is *declared churned* once an inactivity gap exceeds ``threshold_days`` (τ).
The declared churn time, measured from the first purchase day, is D = recency + τ; it is
observed (event) when ``T_days - recency_days > τ`` and right-censored at ``T_days`` (the age
at ``as_of``) otherwise. Censoring is then administrative (it depends on the acquisition date
only), which lifelines assumes. The default τ is a high quantile (``threshold_quantile``, 0.9)
of the observed inter-purchase gaps.

Contract data: when a contracts table is given, cancellations (``cancelled_at``) are the
events, durations run from ``start_date``, open contracts are censored at ``as_of``.

The CLV model itself does not use the hard rule: its activity lifetime is latent and fitted
by marginal likelihood (:mod:`.survival_nbd`); these labels serve descriptive survival curves
(Kaplan–Meier by segment) and the naive recency baseline (:mod:`.baselines`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DURATION = "duration_days"
EVENT = "event"


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
