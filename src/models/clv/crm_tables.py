"""CRM tables for the CLV model: cutting them at a day, and the satisfaction features."""

from __future__ import annotations

import warnings

import pandas as pd

# Satisfaction / feedback covariates taken from custsat.features.build_customer_features.
SATISFACTION_FEATURES = (
    "feedback_count",
    "complaints_total",
    "complaints_open",
    "resolution_hours_mean",
    "sentiment_mean",
    "negative_share",
    "csat_mean",
    "nps_last",
    "refund_share",
)


def tables_known_at(tables: dict[str, pd.DataFrame], day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Tables as they were known at the end of ``day`` (events on/before it)."""
    end = pd.Timestamp(day).floor("D") + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        if name in ("transactions", "feedback") and "timestamp" in frame:
            out[name] = frame[frame["timestamp"] < end]
        elif name == "contracts" and "start_date" in frame:
            known = frame[frame["start_date"] < end].copy()
            if "cancelled_at" in known:
                known["cancelled_at"] = known["cancelled_at"].where(known["cancelled_at"] < end)
            out[name] = known
        else:
            out[name] = frame
    return out


def satisfaction_features(tables: dict[str, pd.DataFrame], day) -> pd.DataFrame | None:
    """Satisfaction/feedback covariates as known at the end of ``day`` (None without feedback)."""
    if "feedback" not in tables or "customers" not in tables:
        return None
    from custsat.features import build_customer_features

    day = pd.Timestamp(day).floor("D")
    known = tables_known_at({k: v for k, v in tables.items() if k in ("customers", "transactions", "feedback")}, day)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = build_customer_features(known, day + pd.Timedelta(days=1))
    except Exception as exc:  # noqa: BLE001 - fit on purchase history alone, loudly
        warnings.warn(
            f"satisfaction features unavailable ({type(exc).__name__}: {exc}); the CLV model is fitted "
            "on purchase histories only",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    cols = [c for c in SATISFACTION_FEATURES if c in feats.columns]
    return feats[["customer_id", *cols]]


def satisfaction_source(tables: dict[str, pd.DataFrame]):
    """A function ``day -> satisfaction features known at the end of that day`` (or None)."""
    if "feedback" not in tables or "customers" not in tables:
        return None
    return lambda day: satisfaction_features(tables, day)
