"""Per-customer feedback signals for the action policy, and the one definition of a complaint.

A feedback item is a **complaint** when its sentiment is negative; an item without a
sentiment label is a complaint when its CSAT rating is at most ``complaint_max_rating``
(default 2 of 5); an item with neither is not counted. The feature SQL
(:func:`complaint_sql`) and the signals below (:func:`is_complaint`) both use this rule.

A **complaint about a topic** is a mention whose own polarity is negative when the item has
``topic_sentiments`` ("物流很快，但是包装破了" complains about packaging, not delivery); an
item without them (labelled before per-topic sentiment existed) complains about each of its
topics when it is a complaint (:func:`topic_complaint_sql`, :func:`topic_complaints`).
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


def topic_complaint_sql(topic: str, *, topics: str, topic_sentiments: str | None, is_negative: str) -> str:
    """SQL: the feedback row complains about ``topic`` (``topics``/``topic_sentiments`` are the
    ';'-wrapped columns, e.g. ``';delivery;packaging;'`` and ``';delivery:positive;packaging:negative;'``)."""
    by_text = f"({is_negative} AND {topics} LIKE '%;{topic};%')"
    if topic_sentiments is None:
        return by_text
    return (f"CASE WHEN {topic_sentiments} IS NOT NULL THEN {topic_sentiments} LIKE '%;{topic}:negative;%' "
            f"ELSE {by_text} END")


def topic_complaints(feedback: pd.DataFrame, complaint_max_rating: float) -> pd.DataFrame:
    """One row per complaint about a topic: columns ``customer_id`` and ``topic`` (see the module doc)."""
    from custsat.features.topic_sentiment import topic_polarity_pairs

    has_own = (feedback["topic_sentiments"].notna() if "topic_sentiments" in feedback
               else pd.Series(False, index=feedback.index))
    own = feedback[has_own]
    pairs = topic_polarity_pairs(own.reset_index(drop=True))
    pairs = pairs[pairs["sentiment"] == "negative"]
    parts = [pd.DataFrame({"customer_id": own["customer_id"].astype(str).to_numpy()[pairs["row"].to_numpy()],
                           "topic": pairs["topic"].to_numpy()})]
    rest = feedback[~has_own]
    if "topics" in rest and len(rest):
        complaints = rest.loc[is_complaint(rest, complaint_max_rating), ["customer_id", "topics"]].dropna(subset=["topics"])
        exploded = complaints.assign(topic=complaints["topics"].astype(str).str.replace(" ", "").str.split(";")).explode(
            "topic")
        exploded = exploded[exploded["topic"].astype(str) != ""]
        parts.append(pd.DataFrame({"customer_id": exploded["customer_id"].astype(str).to_numpy(),
                                   "topic": exploded["topic"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


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
    if "topics" in fb or "topic_sentiments" in fb:
        mentions = topic_complaints(fb, complaint_max_rating)
        if len(mentions):
            table = (
                mentions.groupby(["customer_id", "topic"]).size()
                .unstack(fill_value=0).reindex(out.index, fill_value=0).astype("int64")
            )
            table.columns = [f"complaint_topic_{c}_count" for c in table.columns]
            out = pd.concat([out, table], axis=1)
    return out.astype({"negative_feedback_recent": "int64", "urgent_complaints_recent": "int64"})
