"""Survival CLV on the synthetic CRM (known churn times) and the MLflow train/register path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

synth = pytest.importorskip("custsat.data.synth")


@pytest.fixture(scope="module")
def crm():
    return synth.generate_crm(600, seed=11)


def test_lifetime_signal_on_synthetic_crm(crm):
    from sklearn.metrics import roc_auc_score

    from custsat.models.clv import SurvivalCLV

    tables, as_of = crm.tables, crm.as_of
    fb = tables["feedback"]
    fb = fb[fb["timestamp"] <= as_of]
    # satisfaction covariates straight from the feedback table (CSAT mean, feedback count)
    features = (
        fb.groupby("customer_id")
        .agg(csat_mean=("rating", "mean"), feedback_count=("feedback_id", "size"))
        .reindex(tables["customers"]["customer_id"])
        .fillna({"feedback_count": 0})
    )
    est = SurvivalCLV(horizon_months=12, em_tol=1e-2, n_param_draws=5, n_process_draws=10, seed=1)
    est.fit(tables["transactions"], as_of, features=features, contracts=tables["contracts"])
    pred = est.predict(tables["transactions"], as_of, features=features, contracts=tables["contracts"], intervals=False)
    truth = crm.truth["customers"].set_index("customer_id").reindex(pred.index)
    churn = pd.to_datetime(truth["churn_time"])
    alive = (churn.isna() | (churn > as_of)).to_numpy()
    assert roc_auc_score(alive, pred["p_alive"]) > 0.75
    # among customers alive at as_of, longer predicted remaining life ↔ later true churn
    from lifelines.utils import concordance_index

    remaining = ((churn - as_of).dt.total_seconds() / 86400).fillna(10_000).to_numpy()
    horizon = 365.0
    observed = remaining[alive] <= horizon
    ci = concordance_index(np.minimum(remaining[alive], horizon), pred["expected_remaining_lifetime_days"].to_numpy()[alive], observed)
    assert ci > 0.55
    # satisfaction covariates were used (they drive churn in the simulator)
    assert {"csat_mean", "feedback_count"} <= set(est.covariate_names_)


@pytest.mark.slow  # ~20 s alone, ~60 s on a loaded 2-core box (MLflow model logging x2)
def test_train_register_and_promote(crm, tmp_path, monkeypatch):
    from custsat.config import get_settings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CUSTSAT_MLRUNS_DIR", str(tmp_path / "mlruns"))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    get_settings.cache_clear()
    try:
        from custsat import tracking
        from custsat.models.clv.train import train_and_register

        data_dir = tmp_path / "synthetic"
        synth.write_crm(crm, data_dir)
        fast = {"em_iterations": 4, "n_param_draws": 3, "n_process_draws": 6}
        first = train_and_register(data_dir, validation_days=60, **fast)
        assert first["decision"] == "champion"
        assert np.isfinite(first["val_spend_mae"]) and first["val_spend_mae"] > 0
        second = train_and_register(data_dir, validation_days=60, model="loglogistic_aft", **fast)
        expected = "champion" if second["val_spend_mae"] < first["val_spend_mae"] else "challenger"
        assert second["decision"] == expected
        model, version = tracking.load_champion("custsat-clv")
        from custsat.models.clv import build_scoring_frame
        from custsat.models.clv.train import satisfaction_features

        t = crm.tables
        feats = satisfaction_features(t, crm.as_of)
        frame = build_scoring_frame(t["transactions"], crm.as_of, feats, t["contracts"]).head(20).reset_index()
        out = model.predict(frame)
        assert {"customer_id", "clv", "clv_low", "clv_high", "clv_tier"} <= set(out.columns)
        assert len(out) == 20
    finally:
        get_settings.cache_clear()
