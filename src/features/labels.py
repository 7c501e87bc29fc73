"""Churn labels from the window after ``as_of`` and stacked training snapshots.

Label window: ``[as_of, as_of + horizon_days)``. Only events in that window decide the
label; events before ``as_of`` only decide who is eligible.

Eligible customers (everyone else gets no label row):
- exists at as_of: ``signup_date`` missing or before ``as_of`` (joined on/after as_of: excluded);
- and either holds a contract active at as_of (contract rule below), or has at least one
  purchase (``amount > 0``) before as_of (prospects without a purchase: excluded);
- purchase-rule customers who are already lapsed at as_of (``recency_days >= lapsed_days``,
  default 180) are excluded by default (``exclude_lapsed=True``): they churned before the
  snapshot, so predicting it would be trivial and would swamp the training set.

Rules:
- contract customers (a contract with ``start_date < as_of``, ``end_date`` missing or
  ``>= as_of`` and ``cancelled_at`` missing or ``>= as_of``): churned = 1 when every such
  contract has ``cancelled_at`` inside the window. A contract merely reaching ``end_date``
  is not a cancellation.
- everybody else (non-contractual): churned = 1 when there is no purchase in the window.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .builder import (
    _column_or_null,
    build_features_on,
    register_tables,
    to_timestamp,
    ts_literal,
)
from .config import FeatureConfig
from .engine import DuckDBEngine, SparkEngine, TableSource, open_engine


class LabelCensoringWarning(UserWarning):
    """The data end before the label window does: labels may say churned wrongly."""


def _label_sql(cols: dict[str, list[str]], as_of: pd.Timestamp, horizon_days: int, use_contracts: bool,
               exclude_lapsed: bool, config: FeatureConfig) -> str:
    a = ts_literal(as_of)
    end = ts_literal(as_of + pd.Timedelta(days=horizon_days))
    lapse_cut = ts_literal(as_of - pd.Timedelta(days=config.lapsed_days))
    signup = _column_or_null(cols["customers"], "signup_date", "TIMESTAMP")
    ts = "CAST(timestamp AS TIMESTAMP)"
    lapsed_filter = f"AND p.last_purchase_ts > {lapse_cut}" if exclude_lapsed else ""
    if use_contracts:
        cc = cols["contracts"]
        start = _column_or_null(cc, "start_date", "TIMESTAMP")
        end_date = _column_or_null(cc, "end_date", "TIMESTAMP")
        cancel = _column_or_null(cc, "cancelled_at", "TIMESTAMP")
        contract_sql = f"""
SELECT CAST(customer_id AS VARCHAR) AS customer_id,
  SUM(CASE WHEN {cancel} >= {a} AND {cancel} < {end} THEN 1 ELSE 0 END) AS n_cancelled,
  COUNT(*) AS n_active
FROM raw_contracts
WHERE ({start} IS NULL OR {start} < {a}) AND ({end_date} IS NULL OR {end_date} >= {a})
  AND ({cancel} IS NULL OR {cancel} >= {a})
GROUP BY CAST(customer_id AS VARCHAR)"""
    else:
        contract_sql = "SELECT CAST(NULL AS VARCHAR) AS customer_id, 0 AS n_cancelled, 0 AS n_active FROM raw_customers WHERE 1 = 0"
    return f"""
SELECT c.customer_id,
  CASE WHEN k.customer_id IS NOT NULL THEN CASE WHEN k.n_cancelled = k.n_active THEN 1 ELSE 0 END
       WHEN fut.customer_id IS NULL THEN 1 ELSE 0 END AS churned
FROM (SELECT CAST(customer_id AS VARCHAR) AS customer_id FROM raw_customers
      WHERE customer_id IS NOT NULL AND ({signup} IS NULL OR {signup} < {a})) AS c
LEFT JOIN ({contract_sql}) AS k ON k.customer_id = c.customer_id
LEFT JOIN (SELECT CAST(customer_id AS VARCHAR) AS customer_id, MAX({ts}) AS last_purchase_ts
           FROM raw_transactions WHERE amount > 0 AND {ts} < {a}
           GROUP BY CAST(customer_id AS VARCHAR)) AS p ON p.customer_id = c.customer_id
LEFT JOIN (SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id
           FROM raw_transactions WHERE amount > 0 AND {ts} >= {a} AND {ts} < {end}) AS fut
       ON fut.customer_id = c.customer_id
WHERE k.customer_id IS NOT NULL OR (p.customer_id IS NOT NULL {lapsed_filter})
ORDER BY c.customer_id"""


def _labels_on(eng, cols, as_of, horizon_days, use_contracts, exclude_lapsed, config) -> pd.DataFrame:
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    end = as_of + pd.Timedelta(days=horizon_days)
    last = eng.query("SELECT MAX(CAST(timestamp AS TIMESTAMP)) AS m FROM raw_transactions")["m"].iloc[0]
    if pd.notna(last) and pd.Timestamp(last) < end - pd.Timedelta(days=1):
        warnings.warn(
            f"transactions end at {pd.Timestamp(last)}, before the label window [{as_of}, {end}) does: "
            "customers will look churned for lack of data (censored labels)",
            LabelCensoringWarning,
            stacklevel=3,
        )
    out = eng.query(_label_sql(cols, as_of, horizon_days, use_contracts, exclude_lapsed, config))
    out = pd.DataFrame(
        {"customer_id": out["customer_id"].astype(str).to_numpy(dtype=object), "churned": out["churned"].astype("int64").to_numpy()}
    )
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _use_contracts(tables: Mapping[str, TableSource], contracts: Any) -> Mapping[str, TableSource]:
    tables = dict(tables)
    if contracts is None or contracts is False:
        tables.pop("contracts", None)
    elif contracts == "auto":
        pass
    elif isinstance(contracts, (pd.DataFrame, str)) or hasattr(contracts, "__fspath__"):
        tables["contracts"] = contracts
    else:
        raise TypeError("contracts must be 'auto', None/False, a DataFrame or a Parquet path")
    return tables


def churn_label(
    tables: Mapping[str, TableSource],
    as_of: Any,
    horizon_days: int = 90,
    *,
    contracts: Any = "auto",
    exclude_lapsed: bool = True,
    engine: str = "duckdb",
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """Churn label per eligible customer: DataFrame[customer_id (str), churned (int64 0/1)].

    Uses only events in ``[as_of, as_of + horizon_days)`` (see the module docstring for the
    eligibility and contract rules). ``contracts='auto'`` uses ``tables['contracts']`` when
    present; ``None`` ignores contracts; a DataFrame/path supplies them. Warns with
    ``LabelCensoringWarning`` when transactions end before the window does.
    """
    config = config or FeatureConfig()
    ts = to_timestamp(as_of)
    tables = _use_contracts(tables, contracts)
    eng = open_engine(engine)
    try:
        cols = register_tables(eng, tables)
        return _labels_on(eng, cols, ts, int(horizon_days), "contracts" in cols, exclude_lapsed, config)
    finally:
        if not isinstance(engine, (DuckDBEngine, SparkEngine)):
            eng.close()


def build_training_set(
    tables: Mapping[str, TableSource],
    as_of_dates: Sequence[Any],
    horizon_days: int = 90,
    engine: str = "duckdb",
    *,
    contracts: Any = "auto",
    exclude_lapsed: bool = True,
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """Stack (features at as_of, churn label over the following horizon) snapshots.

    Returns columns ``as_of`` (datetime64[ns]), the feature columns, ``churned``; one row per
    eligible customer and snapshot, ordered by as_of then customer_id. Features use only
    events before each as_of; labels only the window after it.
    """
    if not as_of_dates:
        raise ValueError("as_of_dates must name at least one snapshot date")
    config = config or FeatureConfig()
    stamps = sorted({to_timestamp(d, "as_of_dates") for d in as_of_dates})
    tables = _use_contracts(tables, contracts)
    eng = open_engine(engine)
    parts = []
    try:
        cols = register_tables(eng, tables)
        for ts in stamps:
            feats = build_features_on(eng, cols, ts, config)
            labels = _labels_on(eng, cols, ts, int(horizon_days), "contracts" in cols, exclude_lapsed, config)
            part = feats.merge(labels, on="customer_id", how="inner", validate="one_to_one")
            part.insert(0, "as_of", pd.DatetimeIndex([ts] * len(part)).astype("datetime64[ns]").to_numpy())
            parts.append(part)
    finally:
        if not isinstance(engine, (DuckDBEngine, SparkEngine)):
            eng.close()
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(parts[-1].attrs if parts else {})
    out.attrs["horizon_days"] = int(horizon_days)
    return out


def in_churn_population(features: pd.DataFrame, config: FeatureConfig | None = None) -> pd.Series:
    """Customers of a feature table whom churn training would have labelled (purchase rule):
    at least one purchase before as_of and not lapsed yet (``recency_days < lapsed_days``).

    Drift is measured on them, so the comparison with the training reference (the latest
    training snapshot, which holds only eligible customers) compares like with like. Contract
    holders without a purchase are labelled in training but not counted here: the feature
    table does not carry contract status.
    """
    config = config or FeatureConfig()
    recency = pd.to_numeric(features["recency_days"], errors="coerce")
    return (features["frequency"] > 0) & (recency < config.lapsed_days)
