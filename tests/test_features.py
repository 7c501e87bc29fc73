"""Customer features, labels, RFM summary and NPS (DuckDB engine; Spark in test_features_spark.py)."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custsat.features import (
    FeatureConfig,
    FeatureInputError,
    LeakageError,
    SentimentUnavailableWarning,
    assert_point_in_time,
    build_customer_features,
    build_training_set,
    churn_label,
    company_nps,
    load_segments,
    output_columns,
    rfm_summary,
)
from custsat.features.builder import check_point_in_time, register_tables
from custsat.features.config import RFM_SEGMENTS_PATH
from custsat.features.engine import DuckDBEngine
from custsat.features.sample import random_crm

AS_OF = pd.Timestamp("2024-07-01")
TOPICS = ("delivery", "price_value", "product_quality")
CFG = FeatureConfig(topics=TOPICS)
T = pd.Timestamp


def hand_tables() -> dict[str, pd.DataFrame]:
    """A small CRM whose features are computed by hand in the tests below (as_of 2024-07-01)."""
    customers = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E", "F", "G"],
            "signup_date": pd.to_datetime(
                ["2023-01-01", None, "2024-01-01", "2024-07-01", "2022-01-01", "2023-06-01", "2023-06-01"]
            ),
            "segment": ["retail", "retail", "retail", "corporate", "corporate", "corporate", "retail"],
        }
    )
    tx = [
        ("A", "2024-01-10 10:00", 100.0),
        ("A", "2024-01-10 15:00", 50.0),
        ("A", "2024-03-01 09:00", 30.0),
        ("A", "2024-03-05 12:00", -20.0),
        ("A", "2024-06-29 23:00", 20.0),
        ("A", "2024-07-01 00:00", 999.0),  # at as_of: future
        ("A", "2024-08-01 00:00", 500.0),  # future
        ("B", "2024-06-15 12:00", 40.0),
        ("E", "2022-06-01 00:00", 100.0),
        ("E", "2023-01-01 00:00", 100.0),
        ("F", "2024-01-01 08:00", 10.0),
        ("F", "2024-02-01 08:00", 10.0),
        ("F", "2024-03-01 08:00", 10.0),
        ("F", "2024-04-01 08:00", 10.0),
        ("F", "2024-06-01 08:00", 10.0),
        ("F", "2024-07-10 08:00", 10.0),  # future
        ("G", "2024-02-01 00:00", 500.0),
        ("G", "2024-09-29 00:00", 70.0),  # future, just outside a 90-day label window
        ("D", "2024-07-05 00:00", 10.0),  # future customer
    ]
    transactions = pd.DataFrame(tx, columns=["customer_id", "timestamp", "amount"])
    transactions["timestamp"] = pd.to_datetime(transactions["timestamp"])
    fb = [
        ("F1", "A", "2024-02-01 00:00", "chat", np.nan, np.nan, "2024-02-02 12:00", "negative", -0.8, "delivery;price_value"),
        ("F2", "A", "2024-05-01 00:00", "email", np.nan, np.nan, "2024-07-05 00:00", "negative", -0.4, "delivery"),
        ("F3", "A", "2024-06-01 00:00", "survey", 5.0, 9.0, None, "positive", 0.6, ""),
        ("F4", "A", "2024-07-02 00:00", "phone", 1.0, 0.0, None, "negative", -0.9, "price_value"),  # future
        ("F5", "B", "2024-06-20 00:00", "review", 2.0, np.nan, None, None, np.nan, None),
        ("F6", "C", "2024-03-01 00:00", "app", np.nan, np.nan, None, "neutral", 0.1, "product_quality"),
        ("F7", "F", "2024-05-05 00:00", "survey", np.nan, 6.0, None, "neutral", 0.0, ""),
    ]
    feedback = pd.DataFrame(
        fb,
        columns=["feedback_id", "customer_id", "timestamp", "channel", "rating", "nps", "resolved_at",
                 "sentiment", "sentiment_score", "topics"],
    )
    feedback["timestamp"] = pd.to_datetime(feedback["timestamp"])
    feedback["resolved_at"] = pd.to_datetime(feedback["resolved_at"])
    feedback["text"] = "text"
    contracts = pd.DataFrame(
        {
            "customer_id": ["F", "G"],
            "start_date": pd.to_datetime(["2024-01-01", "2023-06-01"]),
            "end_date": pd.to_datetime([None, None]),
            "cancelled_at": pd.to_datetime(["2024-08-15", "2024-05-01"]),
        }
    )
    return {"customers": customers, "transactions": transactions, "feedback": feedback, "contracts": contracts}


@pytest.fixture(scope="module")
def hand_features() -> pd.DataFrame:
    return build_customer_features(hand_tables(), AS_OF, config=CFG).set_index("customer_id")


# ---------------------------------------------------------------------------------- RFM & value
def test_rows_one_per_existing_customer_sorted(hand_features):
    assert list(hand_features.index) == ["A", "B", "C", "E", "F", "G"]  # D joins at as_of: not yet a customer


def test_transaction_features_hand_computed(hand_features):
    a = hand_features.loc["A"]
    assert a.recency_days == 1  # 25 h before as_of; DuckDB date_diff('day') would say 2
    assert a.frequency == 3 and a.n_purchases == 4  # two purchases on 2024-01-10 are one purchase day
    assert a.monetary_total == 180.0 and a.gross_spend == 200.0 and a.monetary_avg == 50.0
    assert a.tenure_days == 547 and a.days_since_first_purchase == 172
    assert a.gap_mean_days == 85.5 and math.isclose(a.gap_std_days, 69 / math.sqrt(2))
    assert a.spend_last_window == 20.0 and a.spend_prev_window == 180.0
    assert math.isclose(a.spend_trend, -0.8)
    assert a.refund_share == 0.1 and a.refund_count == 1 and a.refund_amount == 20.0
    b = hand_features.loc["B"]
    assert (b.recency_days, b.frequency, b.tenure_days) == (15, 1, 15)  # no signup: first event
    assert np.isnan(b.gap_mean_days) and np.isnan(b.gap_std_days) and b.spend_trend == 1.0
    c = hand_features.loc["C"]
    assert np.isnan(c.recency_days) and c.frequency == 0 and c.monetary_total == 0.0
    assert np.isnan(c.monetary_avg) and c.tenure_days == 182


def test_sums_are_exact_and_independent_of_row_order_and_threads():
    """Money and scores are summed exactly: ten purchases of 0.1 make 1.0 (a float sum says
    0.9999999999999999), a refunded purchase nets to 0, and neither the order of the input rows
    nor DuckDB's thread count changes a single bit of the features (the scored list relies on it)."""
    tables = random_crm(300, 20_000, 3_000, seed=5)
    tx = tables["transactions"]
    extra = pd.DataFrame({
        "customer_id": ["C0000001"] * 10 + ["C0000002", "C0000002"],
        "timestamp": pd.to_datetime(["2023-05-01"] * 10 + ["2023-05-02", "2023-05-03"]),
        "amount": [0.1] * 10 + [0.3, -0.3],
    })
    tables["transactions"] = pd.concat([tx[~tx["customer_id"].isin(["C0000001", "C0000002"])], extra],
                                       ignore_index=True)
    as_of = "2024-01-01"
    reference = build_customer_features(tables, as_of).set_index("customer_id")
    assert reference.loc["C0000001", "monetary_total"] == 1.0
    assert reference.loc["C0000002", "monetary_total"] == 0.0
    shuffled = {name: frame.sample(frac=1.0, random_state=3).reset_index(drop=True) for name, frame in tables.items()}
    for threads in (1, 2):
        eng = DuckDBEngine(threads=threads)
        try:
            other = build_customer_features(shuffled, as_of, engine=eng).set_index("customer_id")
        finally:
            eng.close()
        pd.testing.assert_frame_equal(other, reference, check_exact=True)


def test_non_finite_values_count_as_missing_in_exact_sums(tmp_path):
    """NaN and inf have no exact (decimal) value: like pandas NaN, they are skipped, also when
    they come from a Parquet file (where DuckDB reads NaN as a number, not as NULL)."""
    tables = hand_tables()
    extra = pd.DataFrame({"customer_id": ["E", "E"], "timestamp": pd.to_datetime(["2023-02-01", "2023-03-01"]),
                          "amount": [np.nan, np.inf]})
    tables["transactions"] = pd.concat([tables["transactions"], extra], ignore_index=True)
    tables["feedback"].loc[tables["feedback"]["feedback_id"] == "F3", "sentiment_score"] = np.inf
    paths = {}
    for name, frame in tables.items():
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    for source in (tables, paths):
        f = build_customer_features(source, AS_OF, config=CFG).set_index("customer_id")
        assert f.loc["E", "monetary_total"] == 200.0 and f.loc["E", "gross_spend"] == 200.0
        assert math.isclose(f.loc["A", "sentiment_mean"], (-0.8 - 0.4) / 2)


def test_rfm_scores_segments_and_abc_hand_computed(hand_features):
    f = hand_features
    purchasers = ["A", "B", "E", "F", "G"]
    assert f.loc[purchasers, "r_score"].tolist() == [5, 4, 1, 3, 2]
    assert f.loc[purchasers, "f_score"].tolist() == [4, 1, 3, 5, 2]  # tie B/G (1 day) broken by customer_id
    assert f.loc[purchasers, "m_score"].tolist() == [3, 1, 4, 2, 5]
    assert f.loc[purchasers, "fm_score"].tolist() == [4, 1, 4, 4, 4]  # round half up of (F+M)/2
    assert f.loc[purchasers, "rfm_segment"].tolist() == [
        "Champions", "Promising", "At Risk", "Loyal Customers", "At Risk"
    ]
    # revenue shares before each customer (desc): G 0, E .515, A .722, F .907, B .959
    assert f.loc[purchasers, "abc_class"].tolist() == ["A", "C", "A", "B", "A"]
    assert f.loc[purchasers, "value_tier"].tolist() == ["high", "low", "high", "medium", "high"]
    c = f.loc["C"]
    assert np.isnan(c.r_score) and c.rfm_segment is None and c.abc_class is None and c.value_tier is None


def test_abc_thresholds_configurable_and_boundaries():
    customers = pd.DataFrame({"customer_id": list("VWXYZ")})
    amounts = {"V": 50.0, "W": 30.0, "X": 10.0, "Y": 5.0, "Z": 5.0}
    tx = pd.DataFrame(
        {"customer_id": list(amounts), "timestamp": pd.Timestamp("2024-01-01"), "amount": list(amounts.values())}
    )
    fb = pd.DataFrame(columns=["customer_id", "timestamp", "channel"])
    tables = {"customers": customers, "transactions": tx, "feedback": fb}
    f = build_customer_features(tables, "2024-02-01", config=CFG)
    # cumulative share before: 0, .5, .8, .9, .95 -> X opens at exactly 0.8 (B), Z at exactly .95 (C)
    assert f["abc_class"].tolist() == ["A", "A", "B", "B", "C"]
    f2 = build_customer_features(tables, "2024-02-01", config=FeatureConfig(topics=TOPICS, abc_thresholds=(0.5, 0.85)))
    assert f2["abc_class"].tolist() == ["A", "B", "B", "C", "C"]


def test_lifecycle_stages(hand_features):
    stages = hand_features["lifecycle_stage"].to_dict()
    assert stages == {"A": "repeat", "B": "new", "C": "prospect", "E": "lapsed", "F": "loyal", "G": "one_time"}
    loose = build_customer_features(
        hand_tables(), AS_OF, config=FeatureConfig(topics=TOPICS, loyal_min_purchases=3, lapsed_days=600, new_days=200)
    ).set_index("customer_id")["lifecycle_stage"]
    assert loose["A"] == "new" and loose["E"] == "repeat" and loose["G"] == "new"


def test_segment_map_covers_each_cell_once_and_matches_regex():
    segments = load_segments(str(RFM_SEGMENTS_PATH))
    assert len({s["segment"] for s in segments}) == 11
    for r in range(1, 6):
        for fm in range(1, 6):
            by_range = [s["segment"] for s in segments if s["r"][0] <= r <= s["r"][1] and s["fm"][0] <= fm <= s["fm"][1]]
            by_regex = [s["segment"] for s in segments if re.fullmatch(s["regex"], f"{r}{fm}")]
            assert by_range == by_regex and len(by_range) == 1, (r, fm)


def test_segment_map_rejects_gaps(tmp_path):
    bad = tmp_path / "seg.yaml"
    bad.write_text("segments:\n  - {segment: All, regex: '[1-5][1-4]', r: [1, 5], fm: [1, 4]}\n")
    with pytest.raises(ValueError, match="without a segment"):
        load_segments(str(bad))


def test_scores_are_quintiles_and_segments_follow_the_map():
    tables = random_crm(400, 6000, 500, seed=3)
    f = build_customer_features(tables, "2024-03-01")
    buyers = f[f["frequency"] > 0]
    assert f.loc[f["frequency"] == 0, ["r_score", "f_score", "m_score"]].isna().all().all()
    for col in ("r_score", "f_score", "m_score"):
        counts = buyers[col].value_counts()
        assert sorted(counts.index) == [1, 2, 3, 4, 5] and counts.max() - counts.min() <= 1
    # higher score = more recent / more frequent / more spend, strictly across quintile boundaries
    assert buyers.groupby("r_score")["recency_days"].max().is_monotonic_decreasing
    assert (buyers.groupby("r_score")["recency_days"].min().iloc[:-1].to_numpy()
            >= buyers.groupby("r_score")["recency_days"].max().iloc[1:].to_numpy()).all()
    assert (buyers.groupby("m_score")["monetary_total"].max().iloc[:-1].to_numpy()
            <= buyers.groupby("m_score")["monetary_total"].min().iloc[1:].to_numpy()).all()
    segments = load_segments(str(RFM_SEGMENTS_PATH))
    for _, row in buyers.iterrows():
        key = f"{int(row.r_score)}{int(row.fm_score)}"
        assert row.rfm_segment == next(s["segment"] for s in segments if re.fullmatch(s["regex"], key))
    # A is the smallest set of top customers reaching 80 % of revenue
    top = buyers.sort_values(["monetary_total", "customer_id"], ascending=[False, True])
    share = top["monetary_total"].clip(lower=0).cumsum() / top["monetary_total"].clip(lower=0).sum()
    n_a = int((share.shift(fill_value=0) < 0.8).sum())
    assert (top["abc_class"].iloc[:n_a] == "A").all() and (top["abc_class"].iloc[n_a:] != "A").all()


# ---------------------------------------------------------------------------------- feedback
def test_feedback_features_hand_computed(hand_features):
    a = hand_features.loc["A"]
    assert a.feedback_count == 3 and (a.feedback_chat_count, a.feedback_email_count, a.feedback_survey_count) == (1, 1, 1)
    assert a.feedback_phone_count == 0  # the phone call is after as_of
    assert a.complaints_total == 2
    assert a.complaints_open == 1  # F2 is resolved only after as_of: still open at as_of
    assert a.resolution_hours_mean == 36.0  # only F1 was resolved before as_of
    assert math.isclose(a.sentiment_mean, -0.2) and math.isclose(a.negative_share, 2 / 3)
    assert a.last_sentiment == "positive" and a.days_since_last_negative == 61
    assert a.topic_delivery_count == 2 and math.isclose(a.topic_delivery_share, 2 / 3)
    assert a.topic_price_value_count == 1 and a.topic_product_quality_count == 0
    assert a.top_negative_topic == "delivery"
    assert a.csat_mean == 5.0 and a.nps_last == 9 and a.nps_category == "promoter"
    assert (a.satisfaction_tier, a.satisfaction_source) == ("high", "csat")
    b = hand_features.loc["B"]  # review without a sentiment label: rating 2 makes it a complaint
    assert (b.complaints_total, b.complaints_open, b.negative_share) == (1, 1, 1.0)
    assert b.last_sentiment is None and np.isnan(b.sentiment_mean) and b.days_since_last_negative == 11
    assert b.topic_delivery_count == 0 and b.top_negative_topic is None
    assert (b.satisfaction_tier, b.satisfaction_source) == ("low", "csat")
    c = hand_features.loc["C"]
    assert (c.satisfaction_tier, c.satisfaction_source) == ("medium", "sentiment")
    f = hand_features.loc["F"]
    assert f.nps_category == "detractor" and (f.satisfaction_tier, f.satisfaction_source) == ("low", "nps")
    e = hand_features.loc["E"]
    assert e.feedback_count == 0 and np.isnan(e.topic_delivery_share) and e.topic_delivery_count == 0
    assert e.satisfaction_tier is None and e.satisfaction_source == "none"


def test_missing_sentiment_and_topics_degrade_gracefully():
    tables = hand_tables()
    tables["feedback"] = tables["feedback"].drop(columns=["sentiment", "sentiment_score", "topics"])
    with pytest.warns(SentimentUnavailableWarning) as record:
        f = build_customer_features(tables, AS_OF, config=CFG).set_index("customer_id")
    messages = " | ".join(str(w.message) for w in record)
    assert "no sentiment labels" in messages and "no 'topics' column" in messages
    assert f.attrs["sentiment_available"] is False and f.attrs["topics_available"] is False
    assert f["sentiment_mean"].isna().all() and f["last_sentiment"].isna().all()
    a = f.loc["A"]
    assert a.complaints_total == 0 and a.csat_mean == 5.0  # no sentiment, no rating <= 2 before as_of
    assert f.loc["B", "complaints_total"] == 1  # rating 2
    assert np.isnan(a.topic_delivery_count) and f.loc["E", "topic_delivery_count"] == 0
    assert f.loc["C", "satisfaction_source"] == "none"
    assert list(f.reset_index().columns) == list(output_columns(CFG))


def test_output_schema_is_deterministic_with_empty_feedback():
    tables = hand_tables()
    tables["feedback"] = tables["feedback"].iloc[0:0]
    f = build_customer_features(tables, AS_OF, config=CFG)
    full = build_customer_features(hand_tables(), AS_OF, config=CFG)
    schema = output_columns(CFG)
    assert list(f.columns) == list(schema) == list(full.columns)
    assert f.dtypes.astype(str).tolist() == full.dtypes.astype(str).tolist() == list(schema.values())
    assert (f["feedback_count"] == 0).all()


# ---------------------------------------------------------------------------------- leakage
def _shift_future(tables, as_of, seed):
    """Move, change and add events at/after as_of (and resolutions after as_of)."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in tables.items()}
    tx = out["transactions"]
    fut = tx["timestamp"] >= as_of
    tx.loc[fut, "timestamp"] = tx.loc[fut, "timestamp"] + pd.to_timedelta(rng.integers(0, 30, fut.sum()), unit="D")
    tx.loc[fut, "amount"] = tx.loc[fut, "amount"] * 3
    extra = tx.sample(200, random_state=seed, replace=True).assign(timestamp=as_of, amount=1e6)
    out["transactions"] = pd.concat([tx, extra], ignore_index=True)
    fb = out["feedback"]
    fb.loc[fb["timestamp"] >= as_of, "sentiment"] = "negative"
    late = fb["resolved_at"] >= as_of
    fb.loc[late, "resolved_at"] = fb.loc[late, "resolved_at"] + pd.Timedelta(days=400)
    extra_fb = fb.sample(50, random_state=seed, replace=True).assign(
        timestamp=as_of + pd.Timedelta(hours=1), channel="phone", rating=1.0, nps=0.0, sentiment="negative",
        sentiment_score=-1.0, topics="delivery"
    )
    out["feedback"] = pd.concat([fb, extra_fb], ignore_index=True)
    return out


def test_events_after_as_of_change_no_feature():
    tables = random_crm(300, 5000, 800, seed=11)
    as_of = pd.Timestamp("2023-11-15 13:30")
    before = build_customer_features(tables, as_of)
    after = build_customer_features(_shift_future(tables, as_of, 1), as_of)
    pd.testing.assert_frame_equal(before, after)
    # while a past event does change features (the test can fail)
    changed = {k: v.copy() for k, v in tables.items()}
    changed["transactions"].loc[changed["transactions"]["timestamp"] < as_of, "amount"] += 1.0
    assert not build_customer_features(changed, as_of)["monetary_total"].equals(before["monetary_total"])


def test_leakage_guard_rejects_unfiltered_inputs():
    tables = hand_tables()
    eng = DuckDBEngine()
    try:
        cols = register_tables(eng, tables)
        assert "feedback" in cols
        eng.view("unfiltered_tx", "SELECT CAST(timestamp AS TIMESTAMP) AS ts FROM raw_transactions")
        with pytest.raises(LeakageError, match=r"unfiltered_tx\.ts has 5 value\(s\) at or after"):
            check_point_in_time(eng, AS_OF, {"unfiltered_tx": ("ts",)})
        eng.view("past_tx", f"SELECT ts FROM unfiltered_tx WHERE ts < TIMESTAMP '{AS_OF}'")
        check_point_in_time(eng, AS_OF, {"past_tx": ("ts",)})
    finally:
        eng.close()
    with pytest.raises(LeakageError, match="resolved_at"):
        past = {
            "transactions": tables["transactions"][tables["transactions"]["timestamp"] < AS_OF],
            "feedback": tables["feedback"][tables["feedback"]["timestamp"] < AS_OF],
        }
        assert_point_in_time(past, AS_OF)  # F2 resolved after as_of
    past["feedback"] = past["feedback"].assign(resolved_at=past["feedback"]["resolved_at"].where(lambda s: s < AS_OF))
    assert_point_in_time(past, AS_OF)


# ---------------------------------------------------------------------------------- labels
def test_churn_label_hand_computed():
    tables = hand_tables()
    labels = churn_label(tables, AS_OF, 90)
    # C prospect, D joins at as_of, E lapsed: excluded. A buys at as_of (window start is inclusive),
    # G only at the window end (exclusive), F's contract is cancelled inside the window.
    assert labels.to_dict("list") == {"customer_id": ["A", "B", "F", "G"], "churned": [0, 1, 1, 1]}
    assert labels.dtypes.astype(str).tolist() == ["object", "int64"]
    no_contracts = churn_label(tables, AS_OF, 90, contracts=None).set_index("customer_id")["churned"]
    assert no_contracts["F"] == 0  # by purchases F stays
    with_lapsed = churn_label(tables, AS_OF, 90, exclude_lapsed=False).set_index("customer_id")["churned"]
    assert with_lapsed["E"] == 1 and len(with_lapsed) == 5
    assert churn_label(tables, AS_OF, 91).set_index("customer_id").loc["G", "churned"] == 0


def test_churn_label_ignores_events_outside_window_and_warns_on_censoring():
    tables = hand_tables()
    base = churn_label(tables, AS_OF, 30)
    moved = {k: v.copy() for k, v in tables.items()}
    late = pd.DataFrame({"customer_id": ["B", "G"], "timestamp": [T("2024-07-31"), T("2025-01-01")], "amount": [5.0, 5.0]})
    moved["transactions"] = pd.concat([moved["transactions"], late], ignore_index=True)
    pd.testing.assert_frame_equal(base, churn_label(moved, AS_OF, 30))
    with pytest.warns(UserWarning, match="censored"):
        churn_label(tables, "2024-09-15", 90)


def test_training_set_stacks_point_in_time_snapshots():
    tables = random_crm(250, 4000, 500, seed=5)
    dates = ["2023-06-01", "2023-12-01"]
    ts = build_training_set(tables, dates, horizon_days=60)
    assert ts.columns[0] == "as_of" and ts.columns[-1] == "churned"
    assert list(ts["as_of"].drop_duplicates()) == [T(d) for d in dates]
    for d in dates:
        part = ts[ts["as_of"] == T(d)].drop(columns=["as_of", "churned"]).reset_index(drop=True)
        labels = churn_label(tables, d, 60)
        feats = build_customer_features(tables, d)
        expected = feats[feats["customer_id"].isin(labels["customer_id"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)
        assert ts.loc[ts["as_of"] == T(d), "churned"].tolist() == labels["churned"].tolist()
        assert (part["frequency"] > 0).all() and (part["recency_days"] < 180).all()


# ---------------------------------------------------------------------------------- rfm_summary
def _lifetimes_summary(tx, end):
    lu = pytest.importorskip("lifetimes.utils")
    return lu.summary_data_from_transaction_data(
        tx, "customer_id", "timestamp", monetary_value_col="amount", observation_period_end=end, freq="D"
    ).sort_index()


def test_rfm_summary_hand_computed():
    tx = pd.DataFrame(
        {
            "customer_id": ["x", "x", "x", "x", "y", "z"],
            "timestamp": pd.to_datetime(
                ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-04 10:00", "2024-01-11 23:59", "2024-01-05 00:00", "2024-01-20 00:00"]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0],
        }
    )
    out = rfm_summary(tx, "2024-01-11 08:00")  # the whole day of 2024-01-11 counts, 2024-01-20 does not
    expected = pd.DataFrame(
        {"frequency": [2.0, 0.0], "recency": [10.0, 0.0], "T": [10.0, 6.0], "monetary_value": [30.0, 0.0]},
        index=pd.Index(["x", "y"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(out, expected)
    with pytest.raises(NotImplementedError):
        rfm_summary(tx, "2024-01-11", freq="W")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rfm_summary_equals_lifetimes_on_random_data(seed):
    tx = random_crm(500, 6000, 0, seed=seed)["transactions"]
    end = "2024-02-15 10:00"
    ref = _lifetimes_summary(tx, end)
    pd.testing.assert_frame_equal(rfm_summary(tx, end), ref, check_names=False, check_exact=True)
    fast = rfm_summary(tx, end, exact=False)  # unordered Kahan sums: equal up to the last bits
    pd.testing.assert_frame_equal(fast, ref, check_names=False, check_exact=False, rtol=1e-12, atol=0)


def test_rfm_summary_holdout_equals_lifetimes():
    lu = pytest.importorskip("lifetimes.utils")
    tx = random_crm(300, 4000, 0, seed=4)["transactions"]
    ref = lu.calibration_and_holdout_data(
        tx, "customer_id", "timestamp", "2023-09-30 12:00", "2024-03-31", monetary_value_col="amount"
    ).sort_index()
    mine = rfm_summary(tx, "2023-09-30 12:00", "2024-03-31")
    pd.testing.assert_frame_equal(mine, ref[mine.columns], check_names=False, check_exact=True)


def test_rfm_summary_reads_parquet(tmp_path):
    tx = random_crm(100, 1000, 0, seed=9)["transactions"]
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    pd.testing.assert_frame_equal(rfm_summary(path, "2024-01-01"), rfm_summary(tx, "2024-01-01"))


def test_rfm_summary_matches_lifetimes_on_cdnow():
    from custsat.data import fetch
    try:
        tx = fetch.load_cdnow()["transactions"]
    except Exception as exc:  # DatasetNotFetchedError
        pytest.skip(f"CDNOW not fetched (run `make data`): {exc}")
    ref = _lifetimes_summary(tx, "1997-09-30")
    mine = rfm_summary(tx, "1997-09-30")
    assert len(mine) == 23_570
    pd.testing.assert_frame_equal(mine, ref, check_names=False, check_exact=True)


# ---------------------------------------------------------------------------------- NPS
def test_company_nps_overall_by_segment_and_last_answer():
    feedback = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "d", "e", "f"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01"]),
            "nps": [0.0, 10.0, 9.0, 8.0, 6.0, 0.0, np.nan],
        }
    )
    customers = pd.DataFrame({"customer_id": list("abcdef"), "segment": ["s1", "s1", "s1", "s2", "s2", "s2"]})
    overall = company_nps(feedback)
    assert overall.loc[0, ["responses", "promoters", "passives", "detractors"]].tolist() == [6, 2, 1, 3]
    assert math.isclose(overall.loc[0, "nps"], 100 * (2 - 3) / 6)
    by = company_nps(feedback, by="segment", customers=customers).set_index("segment")
    assert by.loc["s1", "responses"] == 4 and by.loc["s1", "nps"] == 25.0  # 10, 9 | 8 | 0
    assert by.loc["s2", "responses"] == 2 and by.loc["s2", "nps"] == -100.0  # 6, 0
    last = company_nps(feedback, per_customer="last")
    assert last.loc[0, "responses"] == 5 and math.isclose(last.loc[0, "nps"], 100 * (2 - 2) / 5)
    with pytest.raises(ValueError, match="0-10"):
        company_nps(feedback.assign(nps=[11.0, 0, 0, 0, 0, 0, 0]))


# ---------------------------------------------------------------------------------- inputs & CLI
def test_parquet_inputs_equal_dataframe_inputs(tmp_path):
    tables = random_crm(150, 2000, 300, seed=8)
    paths = {}
    for name, df in tables.items():
        paths[name] = tmp_path / f"{name}.parquet"
        df.to_parquet(paths[name])
    pd.testing.assert_frame_equal(
        build_customer_features(paths, "2024-01-01"), build_customer_features(tables, "2024-01-01")
    )


def test_a_business_without_feedback_gets_every_feature():
    """Feedback is optional: without it, feedback counts are 0 and purchase features are unchanged."""
    tables = hand_tables()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = build_customer_features(tables, AS_OF)
        without = build_customer_features({k: tables[k] for k in ("customers", "transactions")}, AS_OF)
    assert list(without.columns) == list(full.columns) and len(without) == len(full)
    assert (without["feedback_count"] == 0).all() and (without["complaints_total"] == 0).all()
    pd.testing.assert_series_equal(without["monetary_total"], full["monetary_total"])
    pd.testing.assert_series_equal(without["recency_days"], full["recency_days"])


def test_bad_inputs_are_rejected_with_clear_messages(tmp_path):
    tables = hand_tables()
    with pytest.raises(FeatureInputError, match=r"table 'transactions': missing required column\(s\) \['amount'\]"):
        build_customer_features({**tables, "transactions": tables["transactions"].drop(columns="amount")}, AS_OF)
    with pytest.raises(FeatureInputError, match="missing table 'customers'"):
        build_customer_features({k: tables[k] for k in ("transactions", "feedback")}, AS_OF)
    with pytest.raises(ValueError, match="engine must be"):
        build_customer_features(tables, AS_OF, engine="pandas")
    with pytest.raises(ValueError, match="as_of: cannot parse"):
        build_customer_features(tables, "not a date")
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        build_customer_features({**tables, "customers": tmp_path / "nope.parquet"}, AS_OF)
    with pytest.raises(ValueError, match="abc_thresholds"):
        FeatureConfig(abc_thresholds=(0.95, 0.8))


def test_cli_build_writes_features(tmp_path):
    from typer.testing import CliRunner

    from custsat.cli import app

    tables = random_crm(80, 800, 100, seed=2)
    for name in ("customers", "transactions", "feedback"):
        tables[name].to_parquet(tmp_path / f"{name}.parquet")
    out = tmp_path / "out" / "features.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(
            app, ["features", "build", "--as-of", "2024-01-01", "--out", str(out), "--input-dir", str(tmp_path)]
        )
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, build_customer_features(tables, "2024-01-01"))
    missing = CliRunner().invoke(app, ["features", "build", "--as-of", "2024-01-01", "--out", str(out),
                                       "--input-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert Path(out).exists()


def test_a_topic_complains_by_its_own_polarity_where_the_text_models_gave_one():
    """"物流很快，但是包装破了": a positive text that complains about packaging, not delivery.
    Rows without per-topic polarity keep the text's sentiment for each of their topics."""
    from custsat.features.signals import feedback_signals

    fb = pd.DataFrame({
        "feedback_id": ["a", "b", "c"], "customer_id": ["A", "A", "B"],
        "timestamp": pd.to_datetime(["2024-06-01", "2024-06-02", "2024-06-03"]),
        "channel": ["chat", "chat", "app"], "text": ["物流很快，但是包装破了", "again late", "late"],
        "sentiment": ["positive", "negative", "negative"], "sentiment_score": [0.4, -0.8, -0.7],
        "topics": ["delivery;packaging", "delivery", "delivery"],
        "topic_sentiments": ["delivery:positive;packaging:negative", None, None],
    })
    signals = feedback_signals(fb, pd.Index(["A", "B"]), pd.Timestamp(AS_OF), recent_days=30)
    assert signals.loc["A", "complaint_topic_packaging_count"] == 1
    assert signals.loc["A", "complaint_topic_delivery_count"] == 1  # only the negative text "again late"
    assert signals.loc["B", "complaint_topic_delivery_count"] == 1
    tables = hand_tables()
    customers = pd.DataFrame({"customer_id": ["A", "B"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = build_customer_features({"customers": customers, "transactions": tables["transactions"],
                                            "feedback": fb}, AS_OF).set_index("customer_id")
        whole_text = build_customer_features({"customers": customers, "transactions": tables["transactions"],
                                              "feedback": fb.drop(columns="topic_sentiments")}, AS_OF).set_index(
            "customer_id")
    assert features.loc["A", "top_negative_topic"] in ("delivery", "packaging")
    assert features.loc["A", "complaints_total"] == whole_text.loc["A", "complaints_total"] == 1
    # with per-topic polarity packaging is a complaint topic of A; by the whole text it is not
    assert whole_text.loc["A", "top_negative_topic"] == "delivery"
