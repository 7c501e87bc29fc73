"""Per-customer purchase summaries for the CLV model (days, purchase-day level).

Time semantics: ``as_of`` is the last day of the calibration (observation) window and is
*included* (a purchase on ``as_of`` counts). Timestamps are truncated to calendar days and
all purchases of one customer on one day form one purchase occasion, as in Fader, Hardie &
Lee (2005) for CDNOW. ``frequency`` is the number of *repeat* purchase days (the first purchase
day is the customer's birth), ``recency_days`` the age at the last purchase day, ``T_days`` the
age at ``as_of``, both measured from the first purchase day. ``monetary_value`` is the mean
spend of the repeat purchase days (0 for one-time buyers), the Gamma-Gamma input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = [
    "frequency",
    "recency_days",
    "T_days",
    "monetary_value",
    "first_amount",
    "mean_amount",
    "mean_quantity",
]


def _check_transactions(transactions: pd.DataFrame) -> None:
    missing = {"customer_id", "timestamp", "amount"} - set(transactions.columns)
    if missing:
        raise ValueError(
            f"transactions table lacks column(s) {sorted(missing)}; it has {list(transactions.columns)}. "
            "The CLV model needs customer_id, timestamp (datetime64) and amount (float)."
        )
    if not pd.api.types.is_datetime64_any_dtype(transactions["timestamp"]):
        raise ValueError(
            "transactions.timestamp must be datetime64; got "
            f"{transactions['timestamp'].dtype}, e.g. rows {transactions.head(3).to_dict('records')}"
        )


def purchase_days(transactions: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """One row per customer and purchase day in ``(start, end]`` (both optional, days).

    Columns: ``customer_id``, ``day`` (datetime64, midnight), ``amount`` (sum of the day,
    refunds included), ``quantity`` (sum, NaN when the table has none). A day counts as a
    purchase day when it has at least one row with a non-negative amount; refund-only days
    (all amounts < 0) change no purchase count.
    """
    _check_transactions(transactions)
    frame = transactions[["customer_id", "timestamp", "amount"]].copy()
    frame["quantity"] = transactions["quantity"] if "quantity" in transactions else np.nan
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["day"] = frame["timestamp"].dt.floor("D")
    if start is not None:
        frame = frame[frame["day"] > pd.Timestamp(start).floor("D")]
    if end is not None:
        frame = frame[frame["day"] <= pd.Timestamp(end).floor("D")]
    frame["is_purchase"] = frame["amount"] >= 0
    days = (
        frame.groupby(["customer_id", "day"], sort=True)
        .agg(amount=("amount", "sum"), quantity=("quantity", "sum"), is_purchase=("is_purchase", "any"))
        .reset_index()
    )
    days = days[days["is_purchase"]].drop(columns="is_purchase")
    return days.reset_index(drop=True)


def customer_summary(transactions: pd.DataFrame, as_of) -> pd.DataFrame:
    """RFM-style summary of every customer with a purchase day on or before ``as_of``.

    Index ``customer_id``; columns :data:`SUMMARY_COLUMNS` (days and the currency of ``amount``).
    """
    as_of = pd.Timestamp(as_of).floor("D")
    days = purchase_days(transactions, end=as_of)
    if days.empty:
        raise ValueError(f"no purchase on or before as_of={as_of.date()} in the transactions table")
    g = days.groupby("customer_id", sort=True)
    first = g["day"].min()
    last = g["day"].max()
    n_days = g.size()
    total = g["amount"].sum()
    first_amount = days.loc[g["day"].idxmin(), ["customer_id", "amount"]].set_index("customer_id")["amount"]
    frequency = n_days - 1
    repeat_total = total - first_amount
    monetary = np.where(frequency > 0, repeat_total / frequency.clip(lower=1), 0.0)
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(float),
            "recency_days": (last - first).dt.days.astype(float),
            "T_days": (as_of - first).dt.days.astype(float),
            "monetary_value": np.clip(monetary, 0.0, None),
            "first_amount": first_amount.clip(lower=0.0),
            "mean_amount": (total / n_days).clip(lower=0.0),
            "mean_quantity": g["quantity"].mean().fillna(0.0),
        }
    )
    out.index.name = "customer_id"
    return out


def interpurchase_gaps(transactions: pd.DataFrame, as_of) -> np.ndarray:
    """All gaps (days) between consecutive purchase days on or before ``as_of``.

    The gaps are right-truncated by the window (a gap longer than the window cannot be seen),
    so high quantiles of them understate the true gap distribution for short histories.
    """
    days = purchase_days(transactions, end=as_of)
    gaps = days.groupby("customer_id")["day"].diff().dt.days.dropna()
    return gaps.to_numpy(dtype=float)


def holdout_actuals(transactions: pd.DataFrame, start, end, customers: pd.Index) -> pd.DataFrame:
    """Purchase days and spend per customer in ``(start, end]`` (days), zero-filled for ``customers``."""
    days = purchase_days(transactions, start=start, end=end)
    g = days.groupby("customer_id")
    out = pd.DataFrame({"purchases": g.size().astype(float), "spend": g["amount"].sum()})
    out = out.reindex(customers).fillna(0.0)
    out.index.name = "customer_id"
    return out
