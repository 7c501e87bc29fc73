"""Point-in-time customer features, written once as SQL and run on DuckDB or Spark.

Time semantics
--------------
``as_of`` is a timestamp (a date means its midnight). Features read only events with
``timestamp < as_of`` (strictly before): transactions, feedback and the resolution
times of feedback (a ``resolved_at`` at or after ``as_of`` is treated as "not resolved
yet"). Customers whose ``signup_date`` is at or after ``as_of`` do not exist yet and get
no row. Naive timestamps are wall-clock times; a "day" is a calendar date of the
timestamp. Whole-day durations are floors: ``recency_days = floor((as_of - last
purchase) / 24 h)``, computed from epoch microseconds (not DuckDB's boundary-counting
``date_diff``).

A purchase is a transaction with ``amount > 0``; a refund one with ``amount < 0``.
Every column, its unit and its time window are listed in docs/features.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .config import FeatureConfig
from .engine import DuckDBEngine, SparkEngine, TableSource, open_engine, sql_str

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
#: Money and scores are summed as exact decimals: a float sum depends on the order its terms
#: are added in, which on several threads changes from run to run; an exact sum does not,
#: so features are byte-identical whatever the thread count (and no less accurate).
EXACT = "DECIMAL(38, 10)"


class LeakageError(RuntimeError):
    """A feature input contains an event at or after ``as_of``."""


class FeatureInputError(ValueError):
    """An input table misses a required column or is otherwise unusable."""


class SentimentUnavailableWarning(UserWarning):
    """Feedback carries no sentiment labels; sentiment features are NaN."""


REQUIRED = {
    "customers": ("customer_id",),
    "transactions": ("customer_id", "timestamp", "amount"),
    "feedback": ("customer_id", "timestamp", "channel"),
}

# Optional columns and the type they get when absent (all NULL).
OPTIONAL = {
    "customers": {"signup_date": "TIMESTAMP"},
    "feedback": {
        "feedback_id": "VARCHAR",
        "rating": "DOUBLE",
        "nps": "DOUBLE",
        "resolved_at": "TIMESTAMP",
        "sentiment": "VARCHAR",
        "sentiment_score": "DOUBLE",
        "topics": "VARCHAR",
        "topic_sentiments": "VARCHAR",
    },
}


# --------------------------------------------------------------------------- helpers
def to_timestamp(value: Any, name: str = "as_of") -> pd.Timestamp:
    """Parse a date/datetime/str into a naive pandas Timestamp (tz-aware -> UTC wall time)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: cannot parse {value!r} as a date or timestamp") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name}: must be a date or timestamp, got NaT")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def ts_literal(ts: pd.Timestamp) -> str:
    return f"TIMESTAMP '{ts.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _days_floor(later: str, earlier: str) -> str:
    """SQL: whole days between two timestamps, floored (epoch-microsecond arithmetic)."""
    return f"CAST(FLOOR((EPOCH_US({later}) - EPOCH_US({earlier})) / CAST({US_PER_DAY} AS DOUBLE)) AS BIGINT)"


def _day_index(ts: str) -> str:
    """SQL: calendar day number of a timestamp (days since 1970-01-01)."""
    return f"CAST(FLOOR(EPOCH_US({ts}) / CAST({US_PER_DAY} AS DOUBLE)) AS BIGINT)"


def _finite(expr: str) -> str:
    """``expr`` where it is a finite number a decimal can hold, else NULL (missing).

    NaN and ±inf have no decimal value; pandas NaN already reaches SQL as NULL, and a NaN read
    from Parquet now counts as missing too. (NaN compares greater than every number in DuckDB
    and Spark, so the range test excludes it.)
    """
    return f"CASE WHEN ({expr}) BETWEEN -1e27 AND 1e27 THEN ({expr}) END"


def _exact_sum(expr: str) -> str:
    """``SUM(expr)`` in exact decimal arithmetic (see ``EXACT``); non-finite values are skipped."""
    return f"SUM(CAST({_finite(expr)} AS {EXACT}))"


def _exact_mean(expr: str) -> str:
    """``AVG(expr)`` from an exact sum: the same value in any summation order."""
    return f"CAST({_exact_sum(expr)} AS DOUBLE) / NULLIF(COUNT({_finite(expr)}), 0)"


def _column_or_null(columns: list[str], name: str, sql_type: str, cast: str | None = None) -> str:
    if name in columns:
        return f"CAST({name} AS {cast or sql_type})"
    return f"CAST(NULL AS {sql_type})"


def empty_feedback() -> pd.DataFrame:
    """A feedback table without rows: a business without feedback still gets every feature
    (feedback counts 0, satisfaction from other sources or none)."""
    return pd.DataFrame({
        "feedback_id": pd.Series(dtype=object),
        "customer_id": pd.Series(dtype=object),
        "timestamp": pd.Series(dtype="datetime64[ns]"),
        "channel": pd.Series(dtype=object),
        "text": pd.Series(dtype=object),
    })


#: Tables a company may lack; they are read as empty.
OPTIONAL_TABLES = {"feedback": empty_feedback}


def register_tables(eng, tables: Mapping[str, TableSource]) -> dict[str, list[str]]:
    """Register the raw tables as ``raw_<name>`` and check required columns.

    ``customers`` and ``transactions`` are required; a missing ``feedback`` table is read as
    an empty one; ``contracts`` are not used by the features.
    """
    if not isinstance(tables, Mapping):
        raise TypeError("tables must be a dict with keys 'customers', 'transactions' (optionally 'feedback')")
    tables = {**{name: make() for name, make in OPTIONAL_TABLES.items() if tables.get(name) is None},
              **{name: frame for name, frame in tables.items() if frame is not None}}
    cols: dict[str, list[str]] = {}
    for name in ("customers", "transactions", "feedback", "contracts"):
        if name not in tables or tables[name] is None:
            if name in REQUIRED:
                raise FeatureInputError(f"tables: missing table '{name}' (got keys {sorted(tables)})")
            continue
        eng.register(f"raw_{name}", tables[name])
        cols[name] = eng.columns(f"raw_{name}")
        missing = [c for c in REQUIRED.get(name, ()) if c not in cols[name]]
        if missing:
            raise FeatureInputError(f"table '{name}': missing required column(s) {missing}; has {cols[name]}")
    return cols


# --------------------------------------------------------------------------- SQL steps
def pit_views(eng, cols: dict[str, list[str]], as_of: pd.Timestamp, config: FeatureConfig) -> None:
    """Create the point-in-time input views ``pit_customers``, ``pit_transactions``, ``pit_feedback``."""
    a = ts_literal(as_of)
    c = cols["customers"]
    signup = _column_or_null(c, "signup_date", "TIMESTAMP")
    eng.view(
        "pit_customers",
        f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {signup} AS signup_date "
        f"FROM raw_customers WHERE customer_id IS NOT NULL AND ({signup} IS NULL OR {signup} < {a})",
    )
    from custsat.features.signals import complaint_sql

    eng.view(
        "pit_transactions",
        f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(timestamp AS TIMESTAMP) AS ts, "
        f"CAST(amount AS DOUBLE) AS amount, {_day_index('CAST(timestamp AS TIMESTAMP)')} AS day_idx "
        f"FROM raw_transactions WHERE CAST(timestamp AS TIMESTAMP) < {a}",
    )
    f = cols["feedback"]
    opt = {k: _column_or_null(f, k, t) for k, t in OPTIONAL["feedback"].items()}
    sentiment = f"LOWER({opt['sentiment']})"
    is_negative = complaint_sql(sentiment, opt["rating"], config.complaint_max_rating)
    # a row without topics has none (''); only a missing column makes topic features unknown (NULL)
    # wrapped in ';' once here, so that a topic test is a single LIKE '%;id;%'
    topics = f"';' || COALESCE(REPLACE({opt['topics']}, ' ', ''), '') || ';'" if "topics" in f else opt["topics"]
    # each topic's own polarity where the text models gave one (NULL: the text's sentiment counts)
    own = (f"CASE WHEN {opt['topic_sentiments']} IS NOT NULL THEN ';' || REPLACE({opt['topic_sentiments']}, ' ', '') || ';' END"
           if "topic_sentiments" in f else "CAST(NULL AS VARCHAR)")
    eng.view(
        "pit_feedback",
        f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
        f"COALESCE({opt['feedback_id']}, '') AS feedback_id, CAST(timestamp AS TIMESTAMP) AS ts, "
        f"LOWER(CAST(channel AS VARCHAR)) AS channel, {opt['rating']} AS rating, {opt['nps']} AS nps, "
        f"CASE WHEN {opt['resolved_at']} < {a} THEN {opt['resolved_at']} END AS resolved_at, "
        f"{sentiment} AS sentiment, {opt['sentiment_score']} AS sentiment_score, "
        f"{topics} AS topics, {own} AS topic_sentiments, {is_negative} AS is_negative "
        f"FROM raw_feedback WHERE CAST(timestamp AS TIMESTAMP) < {a}",
    )


#: (view, timestamp columns) read by the feature SQL; checked by the leakage guard.
PIT_INPUTS: dict[str, tuple[str, ...]] = {
    "pit_transactions": ("ts",),
    "pit_feedback": ("ts", "resolved_at"),
    "pit_customers": ("signup_date",),
}


def check_point_in_time(eng, as_of: pd.Timestamp, inputs: Mapping[str, tuple[str, ...]] = PIT_INPUTS) -> None:
    """Raise ``LeakageError`` if any of ``inputs`` (view -> time columns) has a time >= as_of."""
    a = ts_literal(as_of)
    items = [(i, view, c) for i, (view, cols) in enumerate(inputs.items()) for c in cols]
    if not items:
        return
    parts = []
    for i, (view, time_cols) in enumerate(inputs.items()):
        if time_cols:
            aggs = ", ".join(
                f"SUM(CASE WHEN {c} >= {a} THEN 1 ELSE 0 END) AS n_{i}_{c}, MAX({c}) AS max_{i}_{c}" for c in time_cols
            )
            parts.append(f"(SELECT {aggs} FROM {view}) AS q{i}")
    row = eng.query("SELECT * FROM " + " CROSS JOIN ".join(parts)).iloc[0]
    for i, view, c in items:
        n = row[f"n_{i}_{c}"]
        if pd.notna(n) and int(n) > 0:
            raise LeakageError(
                f"point-in-time violation: {view}.{c} has {int(n)} value(s) at or after as_of={as_of} "
                f"(latest {row[f'max_{i}_{c}']}); feature inputs must be strictly before as_of"
            )


def _feature_sql(as_of: pd.Timestamp, config: FeatureConfig) -> dict[str, str]:
    """The feature SQL, step by step: per-customer transaction and feedback aggregates, the
    joined base row, the RFM/ABC scores and the final tiers."""
    return {
        "tx_agg": _transaction_aggregates_sql(as_of, config),
        "fb_agg": _feedback_aggregates_sql(config),
        "base": _customer_base_sql(as_of, config),
        "scores": _value_scores_sql(config),
        "final": _final_sql(config),
    }


def _transaction_aggregates_sql(as_of: pd.Timestamp, config: FeatureConfig) -> str:
    """Per customer: spend, refunds, purchase days, first/last purchase, windowed spend, gaps."""
    t1 = ts_literal(as_of - pd.Timedelta(days=config.trend_days))
    t2 = ts_literal(as_of - pd.Timedelta(days=2 * config.trend_days))
    # one pass over the transactions: per customer and calendar day, then per customer
    cust_day = f"""
SELECT customer_id, day_idx,
  {_exact_sum("CASE WHEN amount > 0 THEN amount ELSE 0 END")} AS gross,
  {_exact_sum("CASE WHEN amount < 0 THEN -amount ELSE 0 END")} AS refund,
  {_exact_sum("amount")} AS net,
  SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS n_purch,
  SUM(CASE WHEN amount < 0 THEN 1 ELSE 0 END) AS n_refund,
  MAX(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS is_pday,
  MIN(ts) AS first_ts,
  MIN(CASE WHEN amount > 0 THEN ts END) AS first_p_ts,
  MAX(CASE WHEN amount > 0 THEN ts END) AS last_p_ts,
  {_exact_sum(f"CASE WHEN amount > 0 AND ts >= {t1} THEN amount ELSE 0 END")} AS last_w,
  {_exact_sum(f"CASE WHEN amount > 0 AND ts >= {t2} AND ts < {t1} THEN amount ELSE 0 END")} AS prev_w
FROM pit_transactions GROUP BY customer_id, day_idx"""

    tx_agg = f"""
SELECT customer_id,
  CAST(SUM(gross) AS DOUBLE) AS gross_spend, CAST(SUM(refund) AS DOUBLE) AS refund_amount,
  CAST(SUM(net) AS DOUBLE) AS net_spend,
  SUM(n_purch) AS n_purchases, SUM(n_refund) AS refund_count, SUM(is_pday) AS frequency,
  MIN(first_ts) AS first_tx_ts, MIN(first_p_ts) AS first_purchase_ts, MAX(last_p_ts) AS last_purchase_ts,
  CAST(SUM(last_w) AS DOUBLE) AS spend_last_window, CAST(SUM(prev_w) AS DOUBLE) AS spend_prev_window,
  {_exact_mean("gap")} AS gap_mean_days,
  -- sample standard deviation from exact integer sums of the gaps (whole days) and their squares
  SQRT(CAST(COUNT(gap) * SUM(CAST(gap * gap AS DECIMAL(38, 0))) - SUM(CAST(gap AS DECIMAL(38, 0)))
            * SUM(CAST(gap AS DECIMAL(38, 0))) AS DOUBLE)
       / NULLIF(CAST(COUNT(gap) AS DOUBLE) * (COUNT(gap) - 1), 0)) AS gap_std_days
FROM (
  SELECT *, CASE WHEN is_pday = 1 THEN
      day_idx - LAG(day_idx) OVER (PARTITION BY customer_id, is_pday ORDER BY day_idx) END AS gap
  FROM ({cust_day}) AS cd
) AS g
GROUP BY customer_id"""
    return tx_agg


def _feedback_aggregates_sql(config: FeatureConfig) -> str:
    """Per customer: feedback counts by channel, complaints, resolution, sentiment, CSAT, topics."""
    from custsat.features.signals import topic_complaint_sql

    topics = config.topic_ids()
    channels = config.channels

    def has_topic(t: str) -> str:
        return f"topics LIKE '%;{t};%'"

    chan_cols = ",\n  ".join(
        f"SUM(CASE WHEN channel = {sql_str(ch)} THEN 1 ELSE 0 END) AS feedback_{ch}_count" for ch in channels
    )
    topic_cols = ",\n  ".join(
        f"SUM(CASE WHEN topics IS NULL THEN NULL WHEN {has_topic(t)} THEN 1 ELSE 0 END) AS topic_{t}_count,\n  "
        f"SUM(CASE WHEN {topic_complaint_sql(t, topics='topics', topic_sentiments='topic_sentiments', is_negative='is_negative')} "
        f"THEN 1 ELSE 0 END) AS topic_{t}_neg"
        for t in topics
    )
    fb_agg = f"""
SELECT customer_id,
  COUNT(*) AS feedback_count,
  {chan_cols},
  SUM(CASE WHEN is_negative THEN 1 ELSE 0 END) AS complaints_total,
  SUM(CASE WHEN is_negative AND resolved_at IS NULL THEN 1 ELSE 0 END) AS complaints_open,
  {_exact_mean("CASE WHEN resolved_at IS NOT NULL THEN EPOCH_US(resolved_at) - EPOCH_US(ts) END")}
    / CAST({US_PER_HOUR} AS DOUBLE) AS resolution_hours_mean,
  {_exact_mean("sentiment_score")} AS sentiment_mean,
  AVG(CASE WHEN is_negative THEN CAST(1 AS DOUBLE) WHEN NOT is_negative THEN CAST(0 AS DOUBLE) END) AS negative_share,
  MAX(CASE WHEN is_negative THEN ts END) AS last_negative_ts,
  MIN(ts) AS first_fb_ts,
  {_exact_mean("rating")} AS csat_mean{"," if topics else ""}
  {topic_cols}
FROM pit_feedback GROUP BY customer_id"""
    neg_max = ("GREATEST(" + ", ".join(f"topic_{t}_neg" for t in topics) + ")") if len(topics) > 1 else (
        f"topic_{topics[0]}_neg" if topics else "0"
    )
    top_neg = ("CASE " + " ".join(
        f"WHEN neg_max > 0 AND topic_{t}_neg = neg_max THEN {sql_str(t)}" for t in topics
    ) + " END") if topics else "CAST(NULL AS VARCHAR)"
    fb_agg = f"""
SELECT *, {top_neg} AS top_negative_topic FROM (SELECT *, {neg_max} AS neg_max FROM ({fb_agg}) AS a0) AS a1"""
    return fb_agg


def _customer_base_sql(as_of: pd.Timestamp, config: FeatureConfig) -> str:
    """One row per known customer: RFM, tenure, spend trend, refunds, feedback and satisfaction."""
    a = ts_literal(as_of)
    topics = config.topic_ids()
    channels = config.channels

    def last_value(col: str, alias: str) -> str:
        return f"""
SELECT customer_id, {col} AS {alias} FROM (
  SELECT customer_id, {col},
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts DESC, feedback_id DESC) AS rn
  FROM pit_feedback WHERE {col} IS NOT NULL
) AS x WHERE rn = 1"""

    first_event = (
        "CASE WHEN t.first_tx_ts IS NULL THEN f.first_fb_ts WHEN f.first_fb_ts IS NULL THEN t.first_tx_ts "
        "WHEN t.first_tx_ts < f.first_fb_ts THEN t.first_tx_ts ELSE f.first_fb_ts END"
    )
    start = (
        "CASE WHEN signup_date IS NULL THEN first_event_ts WHEN first_event_ts IS NULL THEN signup_date "
        "WHEN signup_date < first_event_ts THEN signup_date ELSE first_event_ts END"
    )
    fcount = "COALESCE(f.feedback_count, 0)"
    topic_out = ",\n  ".join(
        f"CAST(CASE WHEN {fcount} = 0 THEN 0 ELSE f.topic_{t}_count END AS DOUBLE) AS topic_{t}_count,\n  "
        f"CAST(f.topic_{t}_count AS DOUBLE) / NULLIF({fcount}, 0) AS topic_{t}_share"
        for t in topics
    )
    chan_out = ",\n  ".join(f"COALESCE(f.feedback_{ch}_count, 0) AS feedback_{ch}_count" for ch in channels)
    nps_cat = (
        "CASE WHEN l2.nps_last IS NULL THEN NULL WHEN l2.nps_last >= 9 THEN 'promoter' "
        "WHEN l2.nps_last >= 7 THEN 'passive' ELSE 'detractor' END"
    )

    base = f"""
SELECT c.customer_id,
  {_days_floor(a, 't.last_purchase_ts')} AS recency_days,
  COALESCE(t.frequency, 0) AS frequency,
  COALESCE(t.n_purchases, 0) AS n_purchases,
  COALESCE(t.net_spend, CAST(0 AS DOUBLE)) AS monetary_total,
  t.gross_spend / NULLIF(t.n_purchases, 0) AS monetary_avg,
  COALESCE(t.gross_spend, CAST(0 AS DOUBLE)) AS gross_spend,
  c.signup_date, {first_event} AS first_event_ts,
  {_days_floor(a, 't.first_purchase_ts')} AS days_since_first_purchase,
  t.gap_mean_days, t.gap_std_days,
  COALESCE(t.spend_last_window, CAST(0 AS DOUBLE)) AS spend_last_window,
  COALESCE(t.spend_prev_window, CAST(0 AS DOUBLE)) AS spend_prev_window,
  (t.spend_last_window - t.spend_prev_window) / NULLIF(t.spend_last_window + t.spend_prev_window, 0) AS spend_trend,
  t.refund_amount / NULLIF(t.gross_spend, 0) AS refund_share,
  COALESCE(t.refund_count, 0) AS refund_count,
  COALESCE(t.refund_amount, CAST(0 AS DOUBLE)) AS refund_amount,
  {fcount} AS feedback_count,
  {chan_out},
  COALESCE(f.complaints_total, 0) AS complaints_total,
  COALESCE(f.complaints_open, 0) AS complaints_open,
  f.resolution_hours_mean,
  f.sentiment_mean, f.negative_share,
  l1.last_sentiment,
  {_days_floor(a, 'f.last_negative_ts')} AS days_since_last_negative,
  {topic_out}{"," if topics else ""}
  f.top_negative_topic,
  f.csat_mean,
  l2.nps_last,
  {nps_cat} AS nps_category
FROM pit_customers AS c
LEFT JOIN tx_agg AS t ON t.customer_id = c.customer_id
LEFT JOIN fb_agg AS f ON f.customer_id = c.customer_id
LEFT JOIN ({last_value('sentiment', 'last_sentiment')}) AS l1 ON l1.customer_id = c.customer_id
LEFT JOIN ({last_value('nps', 'nps_last')}) AS l2 ON l2.customer_id = c.customer_id"""
    base = f"""
SELECT b0.*, {_days_floor(a, start)} AS tenure_days
FROM ({base}) AS b0"""
    return base


def _value_scores_sql(config: FeatureConfig) -> str:
    """RFM quintile scores, the segment map, the ABC class and the value tier of purchasers."""
    a_thr, b_thr = config.abc_thresholds
    revenue = "CASE WHEN monetary_total > 0 THEN monetary_total ELSE 0 END"
    scores = f"""
SELECT customer_id, monetary_total,
  NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r_score,
  NTILE(5) OVER (ORDER BY frequency, customer_id) AS f_score,
  NTILE(5) OVER (ORDER BY monetary_total, customer_id) AS m_score,
  CAST(COALESCE({_exact_sum(revenue)} OVER (
      ORDER BY monetary_total DESC, customer_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS DOUBLE)
    AS revenue_before,
  CAST({_exact_sum(revenue)} OVER () AS DOUBLE) AS revenue_all
FROM base WHERE frequency > 0"""

    fm = "CAST(FLOOR((f_score + m_score) / CAST(2 AS DOUBLE) + CAST(0.5 AS DOUBLE)) AS INT)"
    seg_case = "CASE " + " ".join(
        f"WHEN r_score BETWEEN {int(e['r'][0])} AND {int(e['r'][1])} AND fm_score BETWEEN {int(e['fm'][0])} AND {int(e['fm'][1])} "
        f"THEN {sql_str(e['segment'])}"
        for e in config.segments()
    ) + " END"
    abc = (
        f"CASE WHEN monetary_total > 0 AND revenue_share_before < {float(a_thr)} THEN 'A' "
        f"WHEN monetary_total > 0 AND revenue_share_before < {float(b_thr)} THEN 'B' ELSE 'C' END"
    )
    scores = f"""
SELECT customer_id, r_score, f_score, m_score, fm_score, {seg_case} AS rfm_segment, abc_class,
  CASE abc_class WHEN 'A' THEN 'high' WHEN 'B' THEN 'medium' WHEN 'C' THEN 'low' END AS value_tier,
  revenue_share_before
FROM (
  SELECT *, {fm} AS fm_score, {abc} AS abc_class FROM (
    SELECT customer_id, monetary_total, r_score, f_score, m_score,
      revenue_before / NULLIF(revenue_all, 0) AS revenue_share_before
    FROM ({scores}) AS s0
  ) AS s1
) AS s2"""
    return scores


def _final_sql(config: FeatureConfig) -> str:
    """The base row with its scores, lifecycle stage and satisfaction tier (and its source)."""
    lifecycle = (
        f"CASE WHEN b.frequency = 0 THEN 'prospect' "
        f"WHEN b.recency_days >= {int(config.lapsed_days)} THEN 'lapsed' "
        f"WHEN b.days_since_first_purchase < {int(config.new_days)} THEN 'new' "
        f"WHEN b.frequency >= {int(config.loyal_min_purchases)} THEN 'loyal' "
        f"WHEN b.frequency >= 2 THEN 'repeat' ELSE 'one_time' END"
    )

    def tier(x: str, hi: float, lo: float) -> str:
        return f"CASE WHEN {x} >= {float(hi)} THEN 'high' WHEN {x} >= {float(lo)} THEN 'medium' ELSE 'low' END"

    nps_tier = "CASE WHEN b.nps_category = 'promoter' THEN 'high' WHEN b.nps_category = 'passive' THEN 'medium' ELSE 'low' END"
    sat_tier = (
        f"CASE WHEN b.csat_mean IS NOT NULL THEN {tier('b.csat_mean', config.csat_high, config.csat_low)} "
        f"WHEN b.nps_last IS NOT NULL THEN {nps_tier} "
        f"WHEN b.sentiment_mean IS NOT NULL THEN {tier('b.sentiment_mean', config.sentiment_high, config.sentiment_low)} END"
    )
    sat_source = (
        "CASE WHEN b.csat_mean IS NOT NULL THEN 'csat' WHEN b.nps_last IS NOT NULL THEN 'nps' "
        "WHEN b.sentiment_mean IS NOT NULL THEN 'sentiment' ELSE 'none' END"
    )
    final = f"""
SELECT b.*, s.r_score, s.f_score, s.m_score, s.fm_score, s.rfm_segment, s.abc_class, s.value_tier,
  s.revenue_share_before,
  {lifecycle} AS lifecycle_stage,
  {sat_tier} AS satisfaction_tier,
  {sat_source} AS satisfaction_source
FROM base AS b LEFT JOIN scores AS s ON s.customer_id = b.customer_id"""
    return final


# --------------------------------------------------------------------------- output schema


def output_columns(config: FeatureConfig) -> dict[str, str]:
    """Column name -> pandas dtype of the feature table, in output order."""
    cols: dict[str, str] = {
        "customer_id": "object",
        "recency_days": "float64",
        "frequency": "int64",
        "n_purchases": "int64",
        "monetary_total": "float64",
        "monetary_avg": "float64",
        "gross_spend": "float64",
        "tenure_days": "float64",
        "days_since_first_purchase": "float64",
        "gap_mean_days": "float64",
        "gap_std_days": "float64",
        "spend_last_window": "float64",
        "spend_prev_window": "float64",
        "spend_trend": "float64",
        "refund_share": "float64",
        "refund_count": "int64",
        "refund_amount": "float64",
        "r_score": "float64",
        "f_score": "float64",
        "m_score": "float64",
        "fm_score": "float64",
        "rfm_segment": "object",
        "abc_class": "object",
        "value_tier": "object",
        "revenue_share_before": "float64",
        "lifecycle_stage": "object",
        "feedback_count": "int64",
    }
    cols.update({f"feedback_{ch}_count": "int64" for ch in config.channels})
    cols.update(
        {
            "complaints_total": "int64",
            "complaints_open": "int64",
            "resolution_hours_mean": "float64",
            "sentiment_mean": "float64",
            "negative_share": "float64",
            "last_sentiment": "object",
            "days_since_last_negative": "float64",
        }
    )
    for t in config.topic_ids():
        cols[f"topic_{t}_count"] = "float64"
        cols[f"topic_{t}_share"] = "float64"
    cols.update(
        {
            "top_negative_topic": "object",
            "csat_mean": "float64",
            "nps_last": "float64",
            "nps_category": "object",
            "satisfaction_tier": "object",
            "satisfaction_source": "object",
        }
    )
    return cols


def _coerce(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:  # pragma: no cover - programming error
        raise RuntimeError(f"feature SQL did not produce columns {missing}")
    out = {}
    for col, dtype in schema.items():
        s = frame[col]
        if dtype == "object":
            s = s.astype(object)
            out[col] = s.where(s.notna(), None)
        elif dtype == "int64":
            out[col] = pd.to_numeric(s).fillna(0).astype("int64")
        else:
            out[col] = pd.to_numeric(s).astype("float64")
    result = pd.DataFrame(out, index=frame.index)
    if not result["customer_id"].is_monotonic_increasing:
        result = result.sort_values("customer_id", kind="stable")
    return result.reset_index(drop=True)


# --------------------------------------------------------------------------- public API
def prepare_features(eng, cols: dict[str, list[str]], as_of: pd.Timestamp, config: FeatureConfig) -> str:
    """Create the point-in-time views and aggregates; return the SQL of the final feature rows."""
    pit_views(eng, cols, as_of, config)
    check_point_in_time(eng, as_of)
    sql = _feature_sql(as_of, config)
    for name in ("tx_agg", "fb_agg", "base"):
        eng.table(name, sql[name])
    eng.table("scores", sql["scores"])
    return sql["final"]


def coerce_features(raw: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """Feature rows from SQL in the documented dtypes and column order, sorted by customer_id."""
    return _coerce(raw, output_columns(config))


def text_availability(
    feedback_columns: list[str], *, sentiment_values: int, feedback_rows: int, config: FeatureConfig
) -> dict[str, bool]:
    """Whether sentiment and topic features could be computed; warns when they could not.

    ``sentiment_values``: customers with a sentiment_mean or last_sentiment;
    ``feedback_rows``: feedback rows counted in the features.
    """
    sentiment_available = ("sentiment" in feedback_columns or "sentiment_score" in feedback_columns) and sentiment_values > 0
    topics_available = "topics" in feedback_columns
    if not sentiment_available and feedback_rows > 0:
        warnings.warn(
            "feedback has no sentiment labels (columns 'sentiment'/'sentiment_score' absent or empty): "
            "sentiment_mean, last_sentiment are NaN; complaints fall back to rating <= "
            f"{config.complaint_max_rating}. Run the text models first to fill them.",
            SentimentUnavailableWarning,
            stacklevel=3,
        )
    if not topics_available and feedback_rows > 0:
        warnings.warn(
            "feedback has no 'topics' column: topic_<id>_count/share are NaN for customers with feedback",
            SentimentUnavailableWarning,
            stacklevel=3,
        )
    return {"sentiment_available": bool(sentiment_available), "topics_available": bool(topics_available)}


def build_features_on(eng, cols: dict[str, list[str]], as_of: pd.Timestamp, config: FeatureConfig) -> pd.DataFrame:
    """Build the feature table on an engine whose raw tables are registered."""
    final = prepare_features(eng, cols, as_of, config)
    # DuckDB sorts in parallel; Spark's global sort costs a shuffle, pandas sorts its result instead
    raw = eng.query(final + (" ORDER BY b.customer_id" if eng.name == "duckdb" else ""))
    out = coerce_features(raw, config)
    available = text_availability(
        cols["feedback"],
        sentiment_values=int((out["sentiment_mean"].notna() | out["last_sentiment"].notna()).sum()),
        feedback_rows=int(out["feedback_count"].sum()),
        config=config,
    )
    out.attrs.update({"as_of": as_of.isoformat(), "engine": eng.name, **available})
    return out


def build_customer_features(
    tables: Mapping[str, TableSource],
    as_of: Any,
    *,
    engine: str = "duckdb",
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """One row per customer known at ``as_of``, from events strictly before ``as_of``.

    tables: dict with 'customers', 'transactions', 'feedback' (DataFrames or Parquet paths).
    as_of: snapshot time (str/date/datetime); a date means its midnight.
    engine: 'duckdb' (default) or 'spark'; both run the same SQL and give equal results.
    Returns a DataFrame sorted by customer_id with the columns of ``output_columns(config)``
    (documented in docs/features.md). ``.attrs`` tells whether sentiment/topics were available.
    Raises ``FeatureInputError`` for missing tables/columns and ``LeakageError`` if the
    point-in-time filter was bypassed.
    """
    config = config or FeatureConfig()
    ts = to_timestamp(as_of)
    eng = open_engine(engine)
    try:
        cols = register_tables(eng, tables)
        return build_features_on(eng, cols, ts, config)
    finally:
        if not isinstance(engine, (DuckDBEngine, SparkEngine)):
            eng.close()


def events_before(frame: pd.DataFrame, as_of: pd.Timestamp, column: str = "timestamp") -> pd.DataFrame:
    """The rows of ``frame`` strictly before ``as_of``; ``frame`` itself (no copy) when all are.

    Scoring's default ``as_of`` follows every event, so the copy is usually not needed (copying
    10M transactions took seconds).
    """
    before = frame[column] < as_of
    return frame if bool(before.all()) else frame[before]


def assert_point_in_time(tables: Mapping[str, TableSource], as_of: Any) -> None:
    """Raise ``LeakageError`` if any transaction/feedback event (or resolution) is at or after ``as_of``.

    Use it on tables that were filtered elsewhere before they are treated as point-in-time
    inputs; the feature builder runs the same check on its own filtered inputs.
    """
    ts = to_timestamp(as_of)
    eng = DuckDBEngine()
    try:
        inputs: dict[str, tuple[str, ...]] = {}
        for name, time_cols in (("transactions", ("timestamp",)), ("feedback", ("timestamp", "resolved_at"))):
            if name in tables and tables[name] is not None:
                eng.register(f"raw_{name}", tables[name])
                present = eng.columns(f"raw_{name}")
                inputs[f"raw_{name}"] = tuple(c for c in time_cols if c in present)
        check_point_in_time(eng, ts, inputs)
    finally:
        eng.close()
