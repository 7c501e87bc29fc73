"""A data-profile run: validate the input tables and track what was seen in MLflow."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from custsat import tracking
from custsat.data.catalog import resolve_inputs
from custsat.data.contracts import ContractError
from custsat.data.ingest import load_validated
from custsat.privacy import mask_pii


def profile_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Row counts, customers, date ranges and null shares: a flat metrics dict."""
    metrics: dict[str, float] = {}
    for name, frame in tables.items():
        metrics[f"{name}_rows"] = float(len(frame))
        if "customer_id" in frame.columns:
            metrics[f"{name}_customers"] = float(frame["customer_id"].nunique())
        for column in ("timestamp", "signup_date", "start_date"):
            if column in frame.columns and frame[column].notna().any():
                span = frame[column].max() - frame[column].min()
                metrics[f"{name}_{column}_span_days"] = float(span.days)
        for column in frame.columns:
            share = float(frame[column].isna().mean())
            if share > 0:
                metrics[f"{name}_{column}_null_share"] = round(share, 6)
    if "transactions" in tables:
        amounts = tables["transactions"]["amount"]
        metrics["transactions_refund_share"] = float((amounts < 0).mean())
        metrics["transactions_amount_total"] = float(amounts.sum())
    return metrics


def run_data_profile(input_dir: str | Path, *, unknown_customers: str | None = None) -> dict:
    """Validate the tables in ``input_dir`` and log a tracked ``data-profile`` run.

    A failed validation is logged too (``validation_passed=0`` and the error text) and
    then re-raised, so nothing downstream runs on bad data.
    """
    paths = resolve_inputs(input_dir)
    fingerprint = tracking.fingerprint_files(*paths.values())
    with tracking.start_run("data-profile", run_name=Path(input_dir).name, data_fingerprint=fingerprint) as run:
        tracking.log_params({f"{name}_file": str(path) for name, path in paths.items()})
        try:
            tables = load_validated(paths, unknown_customers=unknown_customers)
        except (ContractError, ValueError) as error:
            tracking.log_metrics({"validation_passed": 0.0})
            tracking.log_text(mask_pii(str(error)), "validation_error.txt")
            raise
        metrics = profile_tables(tables)
        tracking.log_metrics({"validation_passed": 1.0, **metrics})
        return {"run_id": run.info.run_id, "fingerprint": fingerprint, "metrics": metrics}
