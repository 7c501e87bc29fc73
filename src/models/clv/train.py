"""Train, validate, log and register the survival CLV model (``custsat-clv``).

Validation (the promotion metric): the model is fitted on what was known at
``as_of − validation_days`` and scored on the realised spend of the following
``validation_days`` (the latest window before ``as_of``): ``val_spend_mae`` (lower is
better). The registered model is then refitted on everything up to ``as_of``. Promotion
follows the champion/challenger rule with ``candidate_score=(−val_spend_mae,)``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.config import get_settings

from .estimator import SurvivalCLV, build_scoring_frame
from .evaluate import holdout_metrics
from .summary import holdout_actuals, interpurchase_gaps

log = logging.getLogger(__name__)
MODEL_NAME = "custsat-clv"
TABLES = ("customers", "transactions", "feedback", "contracts")
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


def load_tables(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``<table>.parquet`` (or .csv) files of a CRM export folder."""
    from custsat.data.io import read_table

    data_dir = Path(data_dir)
    tables = {}
    for name in TABLES:
        for suffix in (".parquet", ".csv"):
            path = data_dir / f"{name}{suffix}"
            if path.exists():
                tables[name] = read_table(path, table=name)
                break
    if "transactions" not in tables:
        raise FileNotFoundError(
            f"no transactions.parquet/.csv in {data_dir}; generate the demo data with `make data` "
            "(custsat data synth) or point --data-dir at a CRM export"
        )
    return tables


def satisfaction_features(tables: dict[str, pd.DataFrame], as_of) -> pd.DataFrame | None:
    """Satisfaction/feedback covariates at ``as_of`` (None when there is no feedback table)."""
    if "feedback" not in tables or "customers" not in tables:
        return None
    from custsat.features import build_customer_features

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = build_customer_features(
                {k: v for k, v in tables.items() if k in ("customers", "transactions", "feedback")}, as_of
            )
    except Exception as exc:  # noqa: BLE001 - train on purchase history alone, loudly
        warnings.warn(
            f"satisfaction features unavailable ({type(exc).__name__}: {exc}); the CLV lifetime model "
            "is fitted on purchase-history covariates only",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    cols = [c for c in SATISFACTION_FEATURES if c in feats.columns]
    return feats[["customer_id", *cols]]


def _as_of_tables(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Tables as they were known at ``as_of`` (events on/before the as_of day)."""
    end = as_of.floor("D") + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        if name in ("transactions", "feedback") and "timestamp" in frame:
            out[name] = frame[frame["timestamp"] < end]
        elif name == "contracts" and "start_date" in frame:
            c = frame[frame["start_date"] < end].copy()
            if "cancelled_at" in c:
                c["cancelled_at"] = c["cancelled_at"].where(c["cancelled_at"] < end)
            out[name] = c
        else:
            out[name] = frame
    return out


def fit_at(tables, as_of, params: dict[str, Any]) -> tuple[SurvivalCLV, pd.DataFrame]:
    """Fit on the tables as known at ``as_of``; return the estimator and its scoring frame."""
    known = _as_of_tables(tables, as_of)
    features = satisfaction_features(known, as_of)
    frame = build_scoring_frame(known["transactions"], as_of, features, known.get("contracts"))
    est = SurvivalCLV(**params).fit_frame(frame, gaps=interpurchase_gaps(known["transactions"], as_of))
    return est, frame


def validate(tables, as_of: pd.Timestamp, validation_days: int, params: dict[str, Any]) -> dict[str, float]:
    """Fit at ``as_of − validation_days``, score spend in the following window."""
    start = as_of.floor("D") - pd.Timedelta(days=validation_days)
    est, frame = fit_at(tables, start, params)
    pred = est.predict_frame(frame, horizon_days=float(validation_days))
    actual = holdout_actuals(tables["transactions"], start, as_of, frame.index)
    metrics = holdout_metrics(pred, actual)
    return {f"val_{k}": float(v) for k, v in metrics.items()}


def champion_score(model_name: str = MODEL_NAME) -> tuple[float, ...] | None:
    """(−val_spend_mae,) of the current champion, read from its training run."""
    from custsat import tracking

    version = tracking.champion_version(model_name)
    if version is None:
        return None
    client = tracking._client()
    run_id = client.get_model_version(model_name, version).run_id
    mae = client.get_run(run_id).data.metrics.get("val_spend_mae")
    return None if mae is None else (-float(mae),)


def train_and_register(
    data_dir: str | Path | None = None,
    *,
    as_of: str | None = None,
    validation_days: int = 90,
    force: bool = False,
    register: bool = True,
    **params: Any,
) -> dict[str, Any]:
    """Validate, refit, log to MLflow (experiment ``custsat-clv``) and register ``custsat-clv``."""
    import mlflow
    from mlflow.models import infer_signature

    from custsat import tracking

    from .pyfunc import CLVPyfunc, model_input_example

    settings = get_settings()
    data_dir = Path(data_dir) if data_dir else settings.raw_dir / "synthetic"
    tables = load_tables(data_dir)
    as_of_ts = pd.Timestamp(as_of) if as_of else tables["transactions"]["timestamp"].max().floor("D")
    params = {"seed": settings.seed, **params}
    val = validate(tables, as_of_ts, validation_days, params)
    est, frame = fit_at(tables, as_of_ts, params)
    fingerprint = tracking.fingerprint_frames(*(tables[k] for k in sorted(tables)))
    with tracking.start_run("clv", run_name=f"train-{est.model}", data_fingerprint=fingerprint,
                            params={**{k: v for k, v in params.items()}, "as_of": str(as_of_ts.date()),
                                    "validation_days": validation_days, "data_dir": str(data_dir)}) as run:
        summary = est.summary()
        mlflow.set_tags({"survival_model": est.model, "covariates": summary["covariates"]})
        mlflow.log_metrics({k: v for k, v in val.items() if np.isfinite(v)})
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, float | int) and not isinstance(v, bool)})
        ph = est.diagnostics_.get("ph_test")
        if ph is not None:
            mlflow.log_text(ph.to_string(), "proportional_hazard_test.txt")
            mlflow.log_metric("ph_test_min_p", float(ph["p"].min()))
        example = model_input_example(frame)
        output = CLVPyfunc(est).predict(None, example)
        signature = infer_signature(example, output)
        uri = tracking.log_pyfunc_model(CLVPyfunc(est), signature=signature, input_example=example)
        result = {"run_id": run.info.run_id, "model_uri": uri, "as_of": str(as_of_ts.date()), **val, **summary}
        if register:
            version = tracking.register_model(uri, MODEL_NAME)
            decision = tracking.promote(
                MODEL_NAME, version, candidate_score=(-val["val_spend_mae"],),
                champion_score=champion_score(MODEL_NAME), force=force,
            )
            result.update({"version": version, "decision": decision})
    return result
