"""Small, fast random CRM tables in the data contract's shape (tests and benchmarks).

Not a realistic simulator (that is ``custsat.data.synth``): it only exercises every code
path of the feature builder -- refunds, same-day purchases, prospects, future sign-ups,
feedback with and without ratings/NPS/sentiment/topics, open and resolved tickets, events
after ``as_of``. Vectorised numpy, so 10 million transactions take a few seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import CHANNELS

DEFAULT_TOPICS = (
    "product_quality", "functionality", "usability", "service_attitude", "delivery",
    "price_value", "after_sales", "packaging", "environment_facilities",
)


def random_crm(
    n_customers: int = 200,
    n_transactions: int = 2000,
    n_feedback: int = 400,
    *,
    seed: int = 0,
    start: str = "2022-01-01",
    end: str = "2024-07-01",
    with_text_outputs: bool = True,
    topics: tuple[str, ...] = DEFAULT_TOPICS,
) -> dict[str, pd.DataFrame]:
    """Return {'customers', 'transactions', 'feedback'} DataFrames spanning [start, end)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start).value // 1000  # microseconds
    t1 = pd.Timestamp(end).value // 1000
    span = t1 - t0
    ids = np.array([f"C{i:07d}" for i in range(n_customers)], dtype=object)

    signup_us = t0 + (rng.random(n_customers) ** 1.5 * span * 0.9).astype(np.int64)
    signup = pd.to_datetime(signup_us * 1000)
    signup = signup.where(rng.random(n_customers) > 0.1)  # 10 % without signup date
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": signup.astype("datetime64[ns]"),
            "region": rng.choice(np.array(["north", "south", "east", "west"], dtype=object), n_customers),
            "channel": rng.choice(np.array(["online", "store"], dtype=object), n_customers),
            "segment": rng.choice(np.array(["consumer", "business"], dtype=object), n_customers),
        }
    )

    # transactions: skewed activity, 85 % of customers buy at all
    weights = rng.pareto(1.5, n_customers) + 0.05
    weights[rng.random(n_customers) < 0.15] = 0.0
    weights /= weights.sum()
    cust = rng.choice(n_customers, size=n_transactions, p=weights)
    base = np.maximum(signup_us[cust], t0)
    ts_us = base + (rng.random(n_transactions) * (t1 - base)).astype(np.int64)
    # 10 % same-day repeats of the previous row's customer day
    dup = rng.random(n_transactions) < 0.1
    dup[0] = False
    cust[dup] = cust[np.flatnonzero(dup) - 1]
    ts_us[dup] = ts_us[np.flatnonzero(dup) - 1] + rng.integers(0, 3_600_000_000, dup.sum())
    amount = np.round(rng.lognormal(3.5, 0.8, n_transactions), 2)
    refund = rng.random(n_transactions) < 0.05
    amount[refund] = -np.round(amount[refund] * rng.uniform(0.2, 1.0, refund.sum()), 2)
    transactions = pd.DataFrame(
        {
            "customer_id": ids[cust],
            "timestamp": pd.to_datetime(ts_us * 1000).astype("datetime64[ns]"),
            "amount": amount,
        }
    )

    fc = rng.integers(0, n_customers, n_feedback)
    fts = t0 + (rng.random(n_feedback) * span).astype(np.int64)
    channel = rng.choice(np.array(CHANNELS, dtype=object), n_feedback)
    rating = np.where(rng.random(n_feedback) < 0.5, rng.integers(1, 6, n_feedback).astype(float), np.nan)
    nps = np.where(channel == "survey", rng.integers(0, 11, n_feedback).astype(float), np.nan)
    resolved_gap = (rng.exponential(48, n_feedback) * 3_600_000_000).astype(np.int64)
    resolved = pd.to_datetime((fts + resolved_gap) * 1000).astype("datetime64[ns]")
    resolved = resolved.where(rng.random(n_feedback) < 0.6)
    feedback = pd.DataFrame(
        {
            "feedback_id": np.array([f"F{i:08d}" for i in range(n_feedback)], dtype=object),
            "customer_id": ids[fc],
            "timestamp": pd.to_datetime(fts * 1000).astype("datetime64[ns]"),
            "channel": channel,
            "text": np.array(["ok"] * n_feedback, dtype=object),
            "rating": rating,
            "nps": nps,
            "resolved_at": resolved,
        }
    )
    if with_text_outputs:
        score = np.round(np.clip(rng.normal(0.1, 0.6, n_feedback), -1, 1), 3)
        sentiment = np.where(score < -0.2, "negative", np.where(score > 0.2, "positive", "neutral")).astype(object)
        missing = rng.random(n_feedback) < 0.1
        sentiment[missing] = None
        score = np.where(missing, np.nan, score)
        topic_arr = np.array(topics, dtype=object)
        k = rng.integers(0, 3, n_feedback)
        first = topic_arr[rng.integers(0, len(topics), n_feedback)]
        second = topic_arr[rng.integers(0, len(topics), n_feedback)]
        picks = np.where(k == 0, "", np.where((k == 1) | (first == second), first, first + ";" + second))
        feedback["sentiment"] = sentiment
        feedback["sentiment_score"] = score
        feedback["topics"] = picks.astype(object)
    return {"customers": customers, "transactions": transactions, "feedback": feedback}
