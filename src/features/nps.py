"""Company-level Net Promoter Score.

NPS = % promoters (9-10) - % detractors (0-6) among NPS answers, in points from -100 to 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def nps_category(score: pd.Series) -> pd.Series:
    """'promoter' (9-10), 'passive' (7-8), 'detractor' (0-6), None for missing answers."""
    s = pd.to_numeric(score, errors="coerce")
    out = np.where(s >= 9, "promoter", np.where(s >= 7, "passive", "detractor")).astype(object)
    out[s.isna().to_numpy()] = None
    return pd.Series(out, index=score.index, dtype=object)


def company_nps(
    feedback: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    customers: pd.DataFrame | None = None,
    per_customer: str = "all",
    start=None,
    end=None,
) -> pd.DataFrame:
    """NPS overall (``by=None``) or per group.

    feedback: rows with an ``nps`` answer (0-10; NaN rows are ignored) and ``timestamp``.
    by: column(s) of ``feedback`` -- or of ``customers`` (e.g. 'segment', 'region'), which is
        then joined on customer_id.
    per_customer: 'all' counts every answer; 'last' only each customer's latest answer.
    start/end: optional time window ``start <= timestamp < end``.
    Returns columns [*by, responses, promoters, passives, detractors, pct_promoters,
    pct_detractors, nps]; percentages and NPS in points (0-100, -100..100).
    """
    if "nps" not in feedback.columns:
        raise ValueError(f"table 'feedback': column 'nps' is required for company_nps; has {list(feedback.columns)}")
    if per_customer not in ("all", "last"):
        raise ValueError(f"per_customer must be 'all' or 'last', got {per_customer!r}")
    keys = [by] if isinstance(by, str) else list(by or [])
    df = feedback
    if start is not None or end is not None:
        ts = pd.to_datetime(df["timestamp"])
        mask = pd.Series(True, index=df.index)
        if start is not None:
            mask &= ts >= pd.Timestamp(start)
        if end is not None:
            mask &= ts < pd.Timestamp(end)
        df = df[mask]
    df = df[pd.to_numeric(df["nps"], errors="coerce").notna()]
    bad = df[(df["nps"] < 0) | (df["nps"] > 10)]
    if len(bad):
        raise ValueError(f"table 'feedback': column 'nps' must be within 0-10; e.g. rows {bad.head(3).to_dict('records')}")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        if customers is None:
            raise ValueError(f"company_nps: by column(s) {missing} not in feedback; pass customers= to join them")
        absent = [k for k in missing if k not in customers.columns]
        if absent:
            raise ValueError(f"company_nps: by column(s) {absent} in neither feedback nor customers")
        df = df.merge(customers[["customer_id", *missing]].drop_duplicates("customer_id"), on="customer_id", how="left")
    if per_customer == "last":
        order = ["customer_id", "timestamp"] + (["feedback_id"] if "feedback_id" in df.columns else [])
        df = df.sort_values(order, kind="stable").drop_duplicates("customer_id", keep="last")
    cat = nps_category(df["nps"])
    work = pd.DataFrame(
        {
            "promoters": (cat == "promoter").astype("int64"),
            "passives": (cat == "passive").astype("int64"),
            "detractors": (cat == "detractor").astype("int64"),
        },
        index=df.index,
    )
    for k in keys:
        work[k] = df[k].astype(object).where(df[k].notna(), "(missing)")
    if keys:
        agg = work.groupby(keys, sort=True, dropna=False)[["promoters", "passives", "detractors"]].sum().reset_index()
    else:
        agg = work[["promoters", "passives", "detractors"]].sum().to_frame().T.astype("int64")
    agg.insert(len(keys), "responses", agg["promoters"] + agg["passives"] + agg["detractors"])
    n = agg["responses"].replace(0, np.nan)
    agg["pct_promoters"] = 100.0 * agg["promoters"] / n
    agg["pct_detractors"] = 100.0 * agg["detractors"] / n
    agg["nps"] = agg["pct_promoters"] - agg["pct_detractors"]
    return agg.reset_index(drop=True)
