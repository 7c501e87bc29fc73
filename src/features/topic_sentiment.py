"""Per-topic polarity of feedback rows: parse ``topic_sentiments`` and count topic complaints.

A feedback row's ``topic_sentiments`` holds each detected topic with its own polarity, most
probable topic first: ``delivery:positive;packaging:negative`` (written by
:func:`custsat.models.text.aspects.add_topic_sentiments`). When a frame has no such column, a
topic takes the text's overall ``sentiment`` (the older behaviour).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def topic_polarity_pairs(feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per (feedback row, mentioned topic): columns ``row``, ``topic``, ``sentiment``.

    Reads ``topic_sentiments`` ("topic:polarity;...") when present, else ``topics`` with the
    row's overall ``sentiment``. Rows without topics give no pairs. ``row`` is the position of
    the feedback row. Distinct values are split once (a million rows hold few distinct lists).
    """
    n = len(feedback)
    if "topic_sentiments" in feedback:
        raw = feedback["topic_sentiments"].astype(object).where(feedback["topic_sentiments"].notna(), "")
        codes, uniques = pd.factorize(raw.astype(str), sort=False)
        parts = []
        for code, value in enumerate(uniques):
            for item in str(value).replace(" ", "").split(";"):
                if ":" in item:
                    topic, pol = item.split(":", 1)
                    parts.append((code, topic, pol))
        table = pd.DataFrame(parts, columns=["code", "topic", "sentiment"])
    elif "topics" in feedback:
        sentiment = feedback["sentiment"] if "sentiment" in feedback else pd.Series(None, index=feedback.index)
        key = feedback["topics"].astype(object).where(feedback["topics"].notna(), "").astype(str) + "|" + (
            sentiment.astype(object).where(sentiment.notna(), "unlabelled").astype(str))
        codes, uniques = pd.factorize(key, sort=False)
        parts = []
        for code, value in enumerate(uniques):
            topics, pol = str(value).rsplit("|", 1)
            for topic in topics.replace(" ", "").split(";"):
                if topic:
                    parts.append((code, topic, pol))
        table = pd.DataFrame(parts, columns=["code", "topic", "sentiment"])
    else:
        return pd.DataFrame({"row": np.zeros(0, np.int64), "topic": [], "sentiment": []})
    rows = pd.DataFrame({"row": np.arange(n, dtype=np.int64), "code": codes})
    out = rows.merge(table, on="code", how="inner", sort=False).drop(columns="code")
    return out.sort_values(["row", "topic"], kind="stable").reset_index(drop=True)


def topic_complaint_counts(feedback: pd.DataFrame, by: str = "customer_id") -> pd.DataFrame:
    """Negative mentions per ``by`` value (rows) and topic (columns ``topic_<id>_count``).

    A mention counts when the topic's own polarity is negative (see :func:`topic_polarity_pairs`).
    """
    pairs = topic_polarity_pairs(feedback.reset_index(drop=True))
    pairs = pairs[pairs["sentiment"] == "negative"]
    if not len(pairs):
        return pd.DataFrame(index=pd.Index([], name=by))
    keys = feedback[by].astype(str).to_numpy()[pairs["row"].to_numpy()]
    table = pd.crosstab(pd.Series(keys, name=by), pairs["topic"].to_numpy())
    table.columns = [f"topic_{c}_count" for c in table.columns]
    return table.astype("int64")
