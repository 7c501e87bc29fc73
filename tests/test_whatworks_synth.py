"""Synthetic truth: a past campaign with known potential outcomes, surveys with known weights,
and the evaluation commands' library entries run end to end on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from custsat import tracking
from custsat.data import synth
from custsat.data.synth_campaigns import HOLDOUT, true_average_effects
from custsat.features.outcomes import customer_outcomes


@pytest.fixture(scope="module")
def crm():
    return synth.generate_crm(3000, seed=4, past_campaign=True, surveys=True)


def test_off_by_default_and_company_otherwise_unchanged():
    plain = synth.generate_crm(400, seed=9)
    with_surveys = synth.generate_crm(400, seed=9, surveys=True)
    assert "campaign_list" not in plain.truth and "surveys" not in plain.tables
    for name, frame in plain.tables.items():  # surveys draw from their own stream
        pd.testing.assert_frame_equal(frame, with_surveys.tables[name])


def test_campaign_groups_random_and_sized(crm):
    listed = crm.truth["campaign_list"]
    shares = listed.groupby("intended_action_id")["treatment_group"].apply(lambda s: s.eq("control").mean())
    assert shares["standard_care"] == 0
    assert abs(shares["retention_call"] - HOLDOUT["retention_call"]) < 0.05
    assert (listed.loc[listed["treatment_group"] == "control", "action_id"] == "standard_care").all()
    assert pd.to_datetime(listed["campaign_start"]).nunique() == 1
    assert crm.truth["campaign_outcomes"]["effect_retained"].ge(0).all()  # actions only lower hazards here


def test_no_effect_means_identical_churn():
    crm_a = synth.generate_crm(300, seed=5, past_campaign=True)
    out = crm_a.truth["campaign_outcomes"]
    none = out["hazard_multiplier"] == 1.0
    assert (out.loc[none, "retained_if_treated"] == out.loc[none, "retained_if_control"]).all()


def test_exported_data_give_the_realised_potential_outcome(crm):
    listed = crm.truth["campaign_list"]
    truth = crm.truth["campaign_outcomes"].set_index("customer_id")
    out = customer_outcomes(crm.tables, listed["customer_id"], listed["campaign_start"].iloc[0], 90)
    treated = truth["treatment_group"].eq("treated")
    realised = np.where(treated, truth["retained_if_treated"], truth["retained_if_control"]).astype(int)
    assert (out.loc[truth.index, "retained"].to_numpy() == realised).all()
    spend = np.where(treated, truth["spend_if_treated"], truth["spend_if_control"])
    np.testing.assert_allclose(out.loc[truth.index, "spend"].to_numpy(), spend, atol=1e-6)


def test_true_effects_heterogeneous(crm):
    effects = true_average_effects(crm.truth["campaign_outcomes"]).set_index("action_id")
    assert effects.loc["standard_care", "true_effect_retained"] == 0
    assert effects.loc["retention_call", "true_effect_retained"] > 0
    call = crm.truth["campaign_outcomes"].query("intended_action_id == 'retention_call'")
    customers = crm.truth["customers"].set_index("customer_id").loc[call["customer_id"]]
    unhappy = customers["satisfaction"].to_numpy() < -0.5
    assert call["effect_retained"][unhappy].mean() > 3 * call["effect_retained"][~unhappy].mean()


def test_survey_weights_recovered(crm):
    from custsat.models.drivers import analyse_drivers

    surveys = crm.tables["surveys"]
    assert surveys["overall_satisfaction"].between(1, 10).all()
    result = analyse_drivers(surveys, "overall_satisfaction", n_boot=0)
    truth = crm.truth["survey_weights"].set_index("attribute")
    estimated = result.table.set_index("attribute").loc[truth.index, "weight"]
    assert spearmanr(estimated, truth["true_weight"]).statistic >= 0.9


def test_evaluate_actions_and_drivers_end_to_end(crm, tmp_path):
    from custsat.serving.evaluate_actions import ActionEvaluationError, evaluate_actions
    from custsat.serving.evaluate_drivers import evaluate_drivers
    from custsat.serving.whatworks_report import write_whatworks_report

    folder = synth.write_crm(crm, tmp_path / "company")
    listed = folder / "truth" / "campaign_list.parquet"
    result = evaluate_actions(listed, folder, "90d", out=tmp_path / "effects.csv", log_run=False)
    retention = result.retention.set_index("action_id")
    assert set(retention.index) == {"retention_call", "onboarding", "win_back", "nurture"}
    sizes = result.group_sizes.set_index("intended_action_id")
    assert retention.loc["retention_call", "n_control"] == sizes.loc["retention_call", "control"]
    assert result.metadata["window_complete"] and result.metadata["customers_not_in_new_data"] == 0
    csv = pd.read_csv(tmp_path / "effects.csv")
    assert {"value_tier", "churn_risk_tier", "lifecycle_stage"} <= set(csv["segment"])

    drivers = evaluate_drivers(folder / "surveys.parquet", out=tmp_path / "drivers.csv", n_boot=50, seed=1,
                               log_run=False)
    assert drivers.analysis.overall == "overall_satisfaction" and len(drivers.analysis.attributes) == 5
    page = write_whatworks_report(tmp_path / "whatworks.html", evaluation=result, drivers=drivers.analysis,
                                  scored=pd.read_parquet(listed))
    text = page.read_text(encoding="utf-8")
    assert "Actions: did they work?" in text and "What drives satisfaction" in text and "优先改进" in text

    no_groups = tmp_path / "plain.csv"
    pd.DataFrame({"customer_id": ["C1"], "action_id": ["x"]}).to_csv(no_groups, index=False)
    with pytest.raises(ActionEvaluationError, match="no control groups"):
        evaluate_actions(no_groups, folder, 90, log_run=False)
    with pytest.raises(ActionEvaluationError, match="number of days"):
        evaluate_actions(listed, folder, "three months", log_run=False)


@pytest.mark.slow
def test_evaluations_logged_to_mlflow(crm, isolated_settings, tmp_path):
    from custsat.serving.evaluate_actions import evaluate_actions
    from custsat.serving.evaluate_drivers import evaluate_drivers

    folder = synth.write_crm(crm, tmp_path / "company")
    result = evaluate_actions(folder / "truth" / "campaign_list.parquet", folder, 90, out=tmp_path / "effects.csv")
    drivers = evaluate_drivers(folder / "surveys.parquet", n_boot=20, seed=1)
    mlflow = tracking._mlflow()
    runs = mlflow.search_runs(experiment_names=["custsat-actions"])
    assert len(runs) == 1 and runs["run_id"].iloc[0] == result.mlflow_run_id
    row = result.retention.set_index("action_id").loc["retention_call"]
    assert runs["metrics.past_campaign.retention_call.retained.difference"].iloc[0] == pytest.approx(row["difference"])
    assert runs["metrics.past_campaign.retention_call.retained.n_control"].iloc[0] == row["n_control"]
    runs = mlflow.search_runs(experiment_names=["custsat-drivers"])
    assert runs["metrics.r2"].iloc[0] == pytest.approx(drivers.analysis.r2)
