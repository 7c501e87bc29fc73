"""What happened to each customer after a campaign started: the outcomes an action is judged by.

For customers of an old scored list, from newer data, over the window
``[start, start + window_days)`` (``start`` = the old list's ``as_of``; a date means its
midnight):

* ``retained`` (0/1): not churned in the window, by the churn labels' rule
  (:func:`custsat.features.labels.churn_label`, lapsed customers included): a customer
  with a contract active at ``start`` is retained unless every such contract is cancelled
  in the window; anyone else is retained when they buy in the window (for a prospect
  that is a first purchase);
* ``purchased`` (0/1), ``purchases`` (orders with ``amount > 0``), ``spend`` (net amount,
  refunds included, in the data's currency);
* ``csat_before`` / ``csat_after`` / ``csat_change``: mean CSAT rating (1-5) in the
  ``baseline_days`` before ``start`` and in the window, and their difference (missing
  unless the customer rated in both); the same for ``nps_*`` (0-10 answers);
* ``complaints_new``: complaints given in the window (negative sentiment, or a rating at
  most ``complaint_max_rating`` where there is no sentiment label), ``complained`` (0/1).

Nothing before ``start`` decides an outcome (the baseline scores are only compared with).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .builder import to_timestamp
from .config import FeatureConfig
from .labels import LabelCensoringWarning, churn_label

OUTCOME_COLUMNS = (
    "retained", "purchased", "purchases", "spend", "csat_before", "csat_after", "csat_change",
    "nps_before", "nps_after", "nps_change", "complaints_new", "complained",
)


class OutcomeInputError(ValueError):
    """Tables that cannot give outcomes (missing columns, a window not covered)."""


def _window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    ts = pd.to_datetime(frame["timestamp"])
    return frame.loc[(ts >= start) & (ts < end)]


def _per_customer_mean(frame: pd.DataFrame, column: str, index: pd.Index) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=index)
    values = pd.to_numeric(frame[column], errors="coerce")
    means = values.groupby(frame["customer_id"].astype(str)).mean()
    return means.reindex(index)


def is_complaint(feedback: pd.DataFrame, complaint_max_rating: float) -> pd.Series:
    """The feature builder's rule: negative sentiment, else a rating <= ``complaint_max_rating``."""
    if "sentiment" in feedback.columns:
        sentiment = feedback["sentiment"].astype("string").str.lower()
    else:
        sentiment = pd.Series(pd.NA, index=feedback.index, dtype="string")
    if "rating" in feedback.columns:
        by_rating = pd.to_numeric(feedback["rating"], errors="coerce") <= complaint_max_rating
    else:
        by_rating = pd.Series(False, index=feedback.index)
    return (sentiment.eq("negative").fillna(False) | (sentiment.isna() & by_rating.fillna(False))).astype(bool)


def customer_outcomes(
    tables: Mapping[str, pd.DataFrame],
    customer_ids: Iterable[Any],
    start: Any,
    window_days: int = 90,
    *,
    baseline_days: int = 365,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """One row per customer of ``customer_ids`` (index ``customer_id``, as text) with the
    columns of :data:`OUTCOME_COLUMNS`; see the module docstring.

    ``tables``: validated contract tables of the newer data (``customers`` and
    ``transactions`` required, ``feedback`` and ``contracts`` used when present). Warns
    (:class:`~custsat.features.labels.LabelCensoringWarning`) when the transactions end
    before the window does.
    """
    if window_days < 1:
        raise OutcomeInputError(f"window_days must be >= 1, got {window_days}")
    config = config or FeatureConfig()
    start = to_timestamp(start, "start")
    end = start + pd.Timedelta(days=int(window_days))
    index = pd.Index(pd.Series(list(customer_ids), dtype=object).astype(str).unique(), name="customer_id")
    for name in ("customers", "transactions"):
        if name not in tables or tables[name] is None:
            raise OutcomeInputError(f"outcomes need the '{name}' table of the new data")
    tx = tables["transactions"]
    out = pd.DataFrame(index=index)

    in_window = _window(tx, start, end)
    ids = in_window["customer_id"].astype(str)
    bought = in_window["amount"] > 0
    out["purchases"] = bought.groupby(ids).sum().reindex(index, fill_value=0).astype("int64")
    out["purchased"] = (out["purchases"] > 0).astype("int64")
    out["spend"] = in_window["amount"].groupby(ids).sum().reindex(index, fill_value=0.0).astype("float64")

    label_tables = {k: v for k, v in tables.items() if k in ("customers", "transactions", "contracts") and v is not None}
    # the label reads no feedback, but the table registry wants one
    label_tables["feedback"] = pd.DataFrame({c: pd.Series(dtype=object) for c in ("feedback_id", "customer_id", "channel", "text")}
                                            ).assign(timestamp=pd.Series(dtype="datetime64[ns]"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LabelCensoringWarning)
        labels = churn_label(label_tables, start, int(window_days), exclude_lapsed=False, config=config)
    for warning in caught:
        warnings.warn(str(warning.message), LabelCensoringWarning, stacklevel=2)
    churned = labels.set_index("customer_id")["churned"].reindex(index)
    # customers the label leaves out (no purchase and no contract before start): a purchase decides
    out["retained"] = np.where(churned.isna(), out["purchased"], 1 - churned.fillna(0)).astype("int64")

    feedback = tables.get("feedback")
    fb_after = _window(feedback, start, end) if feedback is not None else pd.DataFrame(columns=["customer_id", "timestamp"])
    fb_before = (_window(feedback, start - pd.Timedelta(days=int(baseline_days)), start)
                 if feedback is not None else fb_after.iloc[:0])
    for score, column in (("csat", "rating"), ("nps", "nps")):
        out[f"{score}_before"] = _per_customer_mean(fb_before, column, index).to_numpy()
        out[f"{score}_after"] = _per_customer_mean(fb_after, column, index).to_numpy()
        out[f"{score}_change"] = out[f"{score}_after"] - out[f"{score}_before"]
    if len(fb_after):
        complaint = is_complaint(fb_after, config.complaint_max_rating)
        counts = complaint.groupby(fb_after["customer_id"].astype(str)).sum()
        out["complaints_new"] = counts.reindex(index, fill_value=0).astype("int64")
    else:
        out["complaints_new"] = 0
    out["complained"] = (out["complaints_new"] > 0).astype("int64")
    return out[list(OUTCOME_COLUMNS)]
