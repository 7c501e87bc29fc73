"""Trend alerts: the rule on hand-built weekly series (spike, busy week, seasonality) and the counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from custsat.features.topic_sentiment import topic_complaint_counts, topic_polarity_pairs
from custsat.models.trends import (
    AlertRule,
    alert_series,
    trend_alerts,
    weekly_mentions,
    weekly_volume,
)

WEEKS = pd.date_range("2025-01-06", periods=40, freq="7D")  # Mondays
# a steady history: 200 items a week, 6 +- 2 negative mentions (no over-dispersion)
STEADY = np.array([6, 5, 7, 6, 4, 8, 6, 5, 7, 6] * 4)
VOLUME = np.full(40, 200)


def test_spike_alerts_with_the_hand_computed_bound():
    y = STEADY.copy()
    y[30] = 18
    out = alert_series(y, VOLUME, WEEKS).set_index("week")
    row = out.loc[WEEKS[30]]
    base = STEADY[4:30]  # the 26 weeks before
    shape = base.sum() + 0.5
    rate = shape / (200 * 26)
    assert row["baseline_rate"] == pytest.approx(rate)
    assert row["dispersion"] == 0.0  # under-dispersed history: Poisson-like
    assert row["expected"] == pytest.approx(200 * rate)
    size = 1 / (1 / shape)
    assert row["upper"] == stats.nbinom.ppf(0.995, size, size / (size + 200 * rate))
    assert bool(row["alert"]) and row["ratio"] == pytest.approx(18 / (200 * rate))
    assert out["alert"].sum() == 1  # nothing else alerts


def test_busy_week_alone_does_not_alert_but_the_same_count_in_a_normal_week_does():
    y, n = STEADY.copy(), VOLUME.copy()
    n[30], y[30] = 600, 18  # three times the feedback, three times the complaints
    busy = alert_series(y, n, WEEKS).set_index("week").loc[WEEKS[30]]
    assert not busy["alert"] and busy["expected"] == pytest.approx(3 * 200 * busy["baseline_rate"])
    n[30] = 200
    assert alert_series(y, n, WEEKS).set_index("week").loc[WEEKS[30], "alert"]


def test_an_alerted_week_stays_out_of_the_next_baseline_and_small_counts_never_alert():
    y = STEADY.copy()
    y[30] = y[31] = 18  # a two-week spike: both weeks alert
    out = alert_series(y, VOLUME, WEEKS).set_index("week")
    assert out.loc[WEEKS[30], "alert"] and out.loc[WEEKS[31], "alert"]
    assert out.loc[WEEKS[31], "baseline_rate"] == pytest.approx(out.loc[WEEKS[30], "baseline_rate"], rel=0.05)
    rare = np.zeros(40, dtype=int)
    rare[35] = 2  # from 0 to 2 mentions: far above the bound, but below min_count
    assert not alert_series(rare, VOLUME, WEEKS)["alert"].any()


def test_yearly_season_is_expected():
    weeks = pd.date_range("2023-01-02", periods=160, freq="7D")
    y = np.full(160, 6)
    peak = [i for i, w in enumerate(weeks) if w.isocalendar().week in (47, 48)]  # e.g. a yearly sales event
    y[peak] = 20
    out = alert_series(y, np.full(160, 200), weeks).set_index("week")
    first_year, third_year = weeks[peak[0]], weeks[peak[-2]]
    assert out.loc[first_year, "alert"]  # no history of the season yet
    assert not out.loc[third_year, "alert"] and out.loc[third_year, "seasonality"] > 2
    flat = alert_series(y, np.full(160, 200), weeks, AlertRule(seasonal_kappa=1e9)).set_index("week")
    assert flat.loc[third_year, "alert"]  # without seasonality it would alert every year


def feedback_rows():
    rows = []
    for week in range(30):
        monday = pd.Timestamp("2026-01-05") + pd.Timedelta(weeks=week)
        for i in range(50):
            ts = monday + pd.Timedelta(hours=3 * i)
            # every item praises delivery; three a week (from week 28: twelve) complain about packaging
            packaging = "packaging:negative" if i < (12 if week >= 28 else 3) else "packaging:positive"
            rows.append({"timestamp": ts, "channel": "chat", "topics": "delivery;packaging", "sentiment": "negative",
                         "topic_sentiments": f"delivery:positive;{packaging}"})
    return pd.DataFrame(rows)


def test_alerts_use_each_topics_own_polarity():
    fb = feedback_rows()
    as_of = pd.Timestamp("2026-08-03")  # the Monday after week 29
    alerts = trend_alerts(fb, as_of, recent_weeks=2)
    assert set(alerts["topic"]) == {"packaging"} and len(alerts) == 2
    assert alerts["count"].tolist() == [12, 12]
    # with the overall sentiment, every delivery and packaging mention would be negative: no change, no alert
    overall = trend_alerts(fb.drop(columns="topic_sentiments"), as_of, recent_weeks=2)
    assert overall.empty


def test_weekly_counts_and_a_partial_week():
    fb = feedback_rows()
    as_of = pd.Timestamp("2026-07-29 12:00")  # Wednesday of week 29: that week is partial
    volume = weekly_volume(fb, as_of)
    assert len(volume) == 30 and volume.iloc[-1] == int((fb["timestamp"] >= "2026-07-27").sum() - (
        fb["timestamp"] >= as_of).sum())
    mentions = weekly_mentions(fb, as_of, by_channel=True)
    week0 = mentions[mentions["week"] == pd.Timestamp("2026-01-05")]
    assert dict(zip(week0["topic"] + ":" + week0["sentiment"], week0["mentions"], strict=True)) == {
        "delivery:positive": 50, "packaging:negative": 3, "packaging:positive": 47}
    pairs = topic_polarity_pairs(pd.DataFrame({"topics": ["a;b", None, ""], "sentiment": ["negative", "positive", "neutral"]}))
    assert pairs.values.tolist() == [[0, "a", "negative"], [0, "b", "negative"]]


def test_topic_complaint_counts_use_the_topics_own_polarity():
    fb = pd.DataFrame({"customer_id": ["c1", "c1", "c2"], "sentiment": ["negative", "positive", "negative"],
                       "topics": ["delivery;packaging", "packaging", "delivery"],
                       "topic_sentiments": ["delivery:positive;packaging:negative", "packaging:negative",
                                            "delivery:negative"]})
    counts = topic_complaint_counts(fb)
    assert counts.loc["c1"].to_dict() == {"topic_delivery_count": 0, "topic_packaging_count": 2}
    assert counts.loc["c2"].to_dict() == {"topic_delivery_count": 1, "topic_packaging_count": 0}
    overall = topic_complaint_counts(fb.drop(columns="topic_sentiments"))
    assert overall.loc["c1"].to_dict() == {"topic_delivery_count": 1, "topic_packaging_count": 1}
