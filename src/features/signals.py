"""Per-customer feedback signals for the action policy, and the one definition of a complaint.

A feedback item is a **complaint** when its sentiment is negative; an item without a
sentiment label is a complaint when its CSAT rating is at most ``complaint_max_rating``
(default 2 of 5); an item with neither is not counted. The feature SQL
(:func:`complaint_sql`) and the signals below (:func:`is_complaint`) both use this rule.
"""

from __future__ import annotations

import pandas as pd

from custsat.features.builder import events_before


def complaint_sql(sentiment: str, rating: str, complaint_max_rating: float) -> str:
    """SQL: TRUE for a complaint, FALSE for a non-complaint, NULL when neither label is known."""
    return (
        f"CASE WHEN {sentiment} IS NOT NULL THEN {sentiment} = 'negative' "
        f"WHEN {rating} IS NOT NULL THEN {rating} <= {float(complaint_max_rating)} ELSE NULL END"
    )


def is_complaint(feedback: pd.DataFrame, complaint_max_rating: float) -> pd.Series:
    """Boolean mask of the complaints among ``feedback`` rows (see the module docstring)."""
    index = feedback.index
    sentiment = (feedback["sentiment"].astype("string").str.lower() if "sentiment" in feedback
                 else pd.Series(pd.NA, index=index, dtype="string"))
    by_rating = feedback["rating"] <= complaint_max_rating if "rating" in feedback else pd.Series(False, index=index)
    return (sentiment.eq("negative").fillna(False) | (sentiment.isna() & by_rating.fillna(False))).astype(bool)


def feedback_signals(
    feedback: pd.DataFrame | None,
    customer_ids: pd.Index,
    as_of: pd.Timestamp,
    *,
    recent_days: int,
    complaint_max_rating: float = 2.0,
) -> pd.DataFrame:
    """Per customer, from feedback strictly before ``as_of``:

    * ``complaint_topic_<id>_count`` - complaints mentioning topic ``<id>``, all time before as_of;
    * ``negative_feedback_recent`` - complaints in ``[as_of - recent_days, as_of)``;
    * ``urgent_complaints_recent`` - of those, the ones with ``urgency == 'high'``.
    """
    out = pd.DataFrame(index=pd.Index(customer_ids, name="customer_id"))
    out["negative_feedback_recent"] = 0
    out["urgent_complaints_recent"] = 0
    if feedback is None or not len(feedback):
        return out
    fb = events_before(feedback, as_of)
    complaint = is_complaint(fb, complaint_max_rating)
    recent = fb["timestamp"] >= as_of - pd.Timedelta(days=recent_days)
    urgent = fb["urgency"].astype(str).str.lower().eq("high") if "urgency" in fb else pd.Series(False, index=fb.index)
    counts = pd.DataFrame(
        {
            "customer_id": fb["customer_id"].astype(str),
            "negative_feedback_recent": (complaint & recent).astype(int),
            "urgent_complaints_recent": (complaint & recent & urgent).astype(int),
        }
    ).groupby("customer_id").sum()
    counts = counts.reindex(out.index, fill_value=0)
    for col in counts.columns:
        out[col] = counts[col].to_numpy()
    if "topics" in fb:
        topics = fb.loc[complaint, ["customer_id", "topics"]].dropna(subset=["topics"])
        exploded = topics.assign(topic=topics["topics"].astype(str).str.replace(" ", "").str.split(";")).explode("topic")
        exploded = exploded[exploded["topic"].astype(str) != ""]
        if len(exploded):
            table = (
                exploded.groupby([exploded["customer_id"].astype(str), exploded["topic"]]).size()
                .unstack(fill_value=0).reindex(out.index, fill_value=0).astype("int64")
            )
            table.columns = [f"complaint_topic_{c}_count" for c in table.columns]
            out = pd.concat([out, table], axis=1)
    return out.astype({"negative_feedback_recent": "int64", "urgent_complaints_recent": "int64"})
