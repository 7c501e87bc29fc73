"""RFM sufficient statistics for CLV models, equal to ``lifetimes`` but computed in DuckDB SQL.

``rfm_summary(tx, calibration_end)`` returns what
``lifetimes.utils.summary_data_from_transaction_data(tx, 'customer_id', 'timestamp',
monetary_value_col='amount', observation_period_end=calibration_end, freq='D')`` returns:

- transactions are cut to calendar days; all transactions on or before the calendar day
  of ``calibration_end`` count (the whole day, as lifetimes truncates timestamps first);
- amounts of one customer on one day are summed (refunds, negative amounts, included);
- ``frequency`` = number of distinct purchase days - 1 (repeat purchase days);
- ``recency`` = days between the first and the last purchase day;
- ``T`` = days between the first purchase day and the day of ``calibration_end``;
- ``monetary_value`` = mean of the day totals over the repeat days (the first day is
  excluded), 0 when ``frequency`` is 0.

With ``observation_end`` it returns what ``lifetimes.utils.calibration_and_holdout_data``
returns (columns ``*_cal``, ``frequency_holdout``, ``monetary_value_holdout``,
``duration_holdout``), including lifetimes' quirks: the calibration set is
``timestamp <= calibration_end`` on raw timestamps, the holdout set is
``calibration_end < timestamp <= observation_end``, ``frequency_holdout`` counts distinct
holdout days and ``monetary_value_holdout`` is the mean over holdout *transactions*.

Only ``freq='D'`` is supported. Sums use Kahan summation (``fsum``) in the row order
pandas uses, so results are bit-identical to lifetimes (checked on CDNOW).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .builder import FeatureInputError, to_timestamp, ts_literal
from .engine import DuckDBEngine

_DAY = "CAST(FLOOR(EPOCH_US(ts) / 86400000000.0) AS BIGINT)"


def _day_number(ts: pd.Timestamp) -> int:
    return int((ts.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))


def _calibration_sql(filter_sql: str, end_day: int, suffix: str = "", exact: bool = True) -> str:
    day_order = " ORDER BY ts, amount" if exact else ""
    mean_order = " ORDER BY day_idx" if exact else ""
    return f"""
WITH daily AS (
  SELECT customer_id, {_DAY} AS day_idx, FSUM(amount{day_order}) AS amt
  FROM tx WHERE {filter_sql} GROUP BY customer_id, {_DAY}
), ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day_idx) AS rn FROM daily
)
SELECT customer_id,
  CAST(COUNT(*) - 1 AS DOUBLE) AS frequency{suffix},
  CAST(MAX(day_idx) - MIN(day_idx) AS DOUBLE) AS recency{suffix},
  CAST({end_day} - MIN(day_idx) AS DOUBLE) AS T{suffix},
  COALESCE(FSUM(CASE WHEN rn > 1 THEN amt END{mean_order}) / NULLIF(COUNT(CASE WHEN rn > 1 THEN amt END), 0), 0.0)
    AS monetary_value{suffix}
FROM ranked GROUP BY customer_id"""


def rfm_summary(
    transactions: pd.DataFrame | str | Path,
    calibration_end: Any,
    observation_end: Any = None,
    freq: str = "D",
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: str = "amount",
    exact: bool = True,
) -> pd.DataFrame:
    """Per-customer frequency/recency/T/monetary_value in days, indexed by customer_id (sorted).

    transactions: DataFrame or Parquet path with the customer id, timestamp and amount columns.
    calibration_end: end of the calibration period (inclusive, see module docstring).
    observation_end: if given, also the holdout columns of lifetimes' calibration_and_holdout_data.
    exact: sum amounts in pandas' order so that monetary values are bit-identical to lifetimes
        (default); ``False`` is about 2x faster and may differ in the last bit (~1e-16 relative).
    All output columns are float64, as in lifetimes.
    """
    if freq != "D":
        raise NotImplementedError(f"rfm_summary supports freq='D' only, got {freq!r}")
    cal = to_timestamp(calibration_end, "calibration_end")
    obs = to_timestamp(observation_end, "observation_end") if observation_end is not None else None
    if obs is not None and obs < cal:
        raise ValueError(f"observation_end {obs} is before calibration_end {cal}")
    eng = DuckDBEngine()
    try:
        if isinstance(transactions, pd.DataFrame):
            # lifetimes averages holdout amounts in the input's row order: keep it for bit-equal sums
            keep = [c for c in (customer_id_col, datetime_col, monetary_value_col) if c in transactions.columns]
            frame = transactions[keep]
            eng.register("raw_tx", frame.assign(__row_nr=np.arange(len(frame), dtype=np.int64)))
        else:
            eng.register("raw_tx_file", transactions)
            eng.view("raw_tx", "SELECT *, ROW_NUMBER() OVER () - 1 AS __row_nr FROM raw_tx_file")
        cols = eng.columns("raw_tx")
        missing = [c for c in (customer_id_col, datetime_col, monetary_value_col) if c not in cols]
        if missing:
            raise FeatureInputError(f"table 'transactions': missing column(s) {missing} for rfm_summary; has {cols}")
        eng.view(
            "tx",
            f'SELECT CAST("{customer_id_col}" AS VARCHAR) AS customer_id, CAST("{datetime_col}" AS TIMESTAMP) AS ts, '
            f'CAST("{monetary_value_col}" AS DOUBLE) AS amount, __row_nr AS row_nr FROM raw_tx WHERE "{datetime_col}" IS NOT NULL',
        )
        cal_day = _day_number(cal)
        if obs is None:
            sql = _calibration_sql(f"{_DAY} <= {cal_day}", cal_day, exact=exact) + " ORDER BY customer_id"
            out = eng.query(sql)
            columns = ["frequency", "recency", "T", "monetary_value"]
        else:
            obs_day = _day_number(obs)
            c, o = ts_literal(cal), ts_literal(obs)
            sql = f"""
WITH cal AS ({_calibration_sql(f"ts <= {c}", cal_day, "_cal", exact=exact)}),
hold AS (
  SELECT customer_id, CAST(COUNT(DISTINCT {_DAY}) AS DOUBLE) AS frequency_holdout,
    FSUM(amount{' ORDER BY row_nr' if exact else ''}) / COUNT(amount) AS monetary_value_holdout
  FROM tx WHERE ts > {c} AND ts <= {o} GROUP BY customer_id
)
SELECT cal.*, COALESCE(hold.frequency_holdout, 0.0) AS frequency_holdout,
  COALESCE(hold.monetary_value_holdout, 0.0) AS monetary_value_holdout,
  CAST({obs_day - cal_day} AS DOUBLE) AS duration_holdout
FROM cal LEFT JOIN hold ON hold.customer_id = cal.customer_id ORDER BY cal.customer_id"""
            out = eng.query(sql)
            columns = [
                "frequency_cal", "recency_cal", "T_cal", "monetary_value_cal",
                "frequency_holdout", "monetary_value_holdout", "duration_holdout",
            ]
    finally:
        eng.close()
    out = out.set_index("customer_id")
    out.index = pd.Index(out.index.astype(str).to_numpy(dtype=object), name=customer_id_col)
    return out[columns].astype("float64").sort_index()
