"""Churn model on the synthetic CRM: labels and features from custsat.features, time split.

(The end-to-end run through the MLflow registry is in test_churn_registry.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from custsat import features
from custsat.data import synth
from custsat.models.churn import (
    ChurnModel,
    default_as_of_dates,
    unavailable_feature_columns,
)

HORIZON = 90


@pytest.fixture(scope="module")
def crm():
    return synth.generate_crm(5000, seed=7)


@pytest.fixture(scope="module")
def training(crm):
    dates = default_as_of_dates(crm.tables, HORIZON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return features.build_training_set(crm.tables, dates, horizon_days=HORIZON), dates


def test_default_as_of_dates_leave_full_label_windows(crm):
    dates = default_as_of_dates(crm.tables, HORIZON)
    last_tx = crm.tables["transactions"]["timestamp"].max()
    assert len(dates) == 4 and dates == sorted(dates)
    assert dates[-1] + pd.Timedelta(days=HORIZON) <= last_tx
    assert all((b - a).days == HORIZON for a, b in zip(dates, dates[1:], strict=False))


def test_model_recovers_synthetic_ground_truth(crm, training):
    frame, dates = training
    drop = unavailable_feature_columns(frame, crm.tables)
    feats = [c for c in frame.columns if c not in {"customer_id", "as_of", "churned", *drop}]
    train = frame[frame["as_of"] < dates[-2]]
    fold = frame[frame["as_of"] == dates[-2]]
    valid = frame[frame["as_of"] == dates[-1]]
    model = ChurnModel(seed=0).fit(train[feats], train["churned"], fold[feats], fold["churned"])
    p = model.predict_proba(valid[feats])[:, 1]
    from sklearn.metrics import brier_score_loss, roc_auc_score

    assert roc_auc_score(valid["churned"], p) > 0.7
    assert brier_score_loss(valid["churned"], p) < brier_score_loss(
        valid["churned"], model.predict_raw_proba(valid[feats])
    )
    # Risk tracks the hidden satisfaction trait that drives the simulated hazard.
    truth = crm.truth["customers"].set_index("customer_id")["satisfaction"]
    rho = spearmanr(p, truth.loc[valid["customer_id"]].to_numpy()).statistic
    assert rho < -0.2
    # And the true churn time: customers whose simulated churn happened by the end of the label
    # window (before as_of but not yet lapsed, or inside the window) rank higher. (Truly new
    # churn inside the window is much harder: a hazard draw, AUC ~0.57 in this simulation.)
    churn_time = pd.to_datetime(crm.truth["customers"].set_index("customer_id")["churn_time"])
    t = churn_time.loc[valid["customer_id"]].to_numpy()
    churned_by_end = t < np.datetime64(
        dates[-1] + pd.Timedelta(days=HORIZON)
    )  # NaT (never) -> False
    assert roc_auc_score(churned_by_end.astype(int), p) > 0.68


def test_drift_of_the_training_snapshot_itself_is_zero_and_a_real_shift_warns(crm):
    """Drift compares the customers the churn model was trained on: scoring the model's own
    latest snapshot gives PSI 0 for every feature, and a shifted feature still warns."""
    from custsat.features.labels import in_churn_population
    from custsat.models.drift import PSI_WARN, DriftCounter, build_reference

    tables = {k: v for k, v in crm.tables.items() if k != "contracts"}  # purchase rule only
    as_of = default_as_of_dates(tables, HORIZON)[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = features.build_training_set(tables, [as_of], horizon_days=HORIZON)
        scored = features.build_customer_features(tables, as_of)
    columns = ["recency_days", "frequency", "monetary_total", "tenure_days", "lifecycle_stage", "rfm_segment"]
    reference = build_reference(snapshot[columns])
    population = scored[in_churn_population(scored)]
    assert len(population) == len(snapshot) and len(population) < len(scored)  # prospects and lapsed left out
    table = DriftCounter(reference).update(population).table()
    assert table["psi"].max() < 1e-9 and not table["drifted"].any()
    everyone = DriftCounter(reference).update(scored).table().set_index("feature")
    assert everyone.loc["lifecycle_stage", "psi"] > PSI_WARN  # the old comparison: lapsed customers swamp it
    shifted = population.assign(recency_days=population["recency_days"] * 3)
    moved = DriftCounter(reference).update(shifted).table().set_index("feature")
    assert moved.loc["recency_days", "drifted"] and not moved.loc["frequency", "drifted"]
