"""Churn training runs against a temporary MLflow store: registry, champion/challenger, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custsat import features
from custsat.cli import app
from custsat.data import synth
from custsat.models import churn
from custsat.models.churn import (
    ChurnDataError,
    default_as_of_dates,
    train_churn_from_frame,
    train_churn_from_tables,
)
from custsat.models.registry import CHURN_MODEL as MODEL_NAME
from custsat.serving.models import SchemaMismatchError, load_served, predict_chunks
from test_churn import snapshot

HORIZON = 90

WEAK = {"num_leaves": 2, "n_estimators": 2, "early_stopping_rounds": 1}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One temporary MLflow store for this module (creating a sqlite store costs seconds);
    tests that need an empty registry use their own model name."""
    from custsat.config import get_settings

    patch = pytest.MonkeyPatch()
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    patch.setenv("CUSTSAT_PROJECT_DIR", str(tmp_path_factory.mktemp("churn_store")))
    get_settings.cache_clear()
    yield get_settings()
    patch.undo()
    get_settings.cache_clear()
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.end_run()


def nonlinear_snapshot(n: int, seed: int, as_of: str) -> pd.DataFrame:
    """A snapshot whose churn follows a threshold and an interaction, which trees learn and a
    logistic regression cannot: long silence (> 90 days), and repeated complaints in the south."""
    frame = snapshot(n, seed, as_of)
    rng = np.random.default_rng(seed + 100)
    silent = frame["recency_days"] > 90
    angry_south = (frame["complaints_open"] >= 2) & (frame["region"] == "south")
    logit = -2.2 + 3.0 * silent + 2.5 * angry_south - 0.2 * frame["frequency"]
    p = 1 / (1 + np.exp(-logit))
    return frame.assign(p_true=p, churned=(rng.random(n) < p).astype(int))


def training_frame(n: int = 900, make=nonlinear_snapshot) -> pd.DataFrame:
    dates = ("2024-01-01", "2024-04-01", "2024-07-01")
    return pd.concat(
        [make(n, s, d) for s, d in zip((11, 12, 13), dates, strict=True)], ignore_index=True
    ).drop(columns="p_true")


def registered_versions(name: str = MODEL_NAME) -> list[str]:
    """Versions of ``name`` in the test's MLflow store ([] when the store was never created)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from custsat import tracking
    from custsat.config import get_settings

    if not (get_settings().mlruns_path / "mlflow.db").exists():
        return []
    tracking.configure()
    try:
        return sorted(
            str(v.version) for v in MlflowClient().search_model_versions(f"name='{name}'")
        )
    except MlflowException:
        return []


def run_tags(run_id: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return MlflowClient().get_run(run_id).data.tags


def test_champion_challenger_cycle(store):
    frame = training_frame()
    first = train_churn_from_frame(frame, horizon_days=90, n_trials=0, seed=0, log_plots=False)
    assert (first.model_version, first.decision) == ("1", "champion")
    assert first.champion_metrics is None
    tags = run_tags(first.run_id)
    assert (
        tags["promotion_decision"] == "champion"
        and tags["champion_comparison"] == "no champion yet"
    )
    assert first.metrics["val_roc_auc"] > first.metrics["val_lr_roc_auc"]  # it beat its own baseline
    assert "beats logistic regression (same run)" in tags["gate_reasons"]

    # A deliberately weak candidate loses on the same validation snapshot and stays challenger.
    weak = train_churn_from_frame(
        frame, horizon_days=90, n_trials=0, seed=0, model_params=WEAK, log_plots=False
    )
    assert (weak.model_version, weak.decision) == ("2", "challenger")
    # The champion was re-scored on the new run's validation snapshot: same data, same numbers.
    assert weak.champion_metrics["roc_auc"] == pytest.approx(first.metrics["val_roc_auc"], abs=1e-9)
    assert weak.champion_metrics["brier"] == pytest.approx(first.metrics["val_brier"], abs=1e-9)
    assert weak.metrics["val_roc_auc"] < first.metrics["val_roc_auc"]
    tags = run_tags(weak.run_id)
    assert tags["promotion_decision"] == "challenger" and tags["previous_champion_version"] == "1"
    assert f"does not beat champion v1 ({first.metrics['val_roc_auc']:.4f})" in tags["gate_reasons"]
    from custsat import tracking

    assert tracking.champion_version(MODEL_NAME) == "1"

    # A human forces the weak model: recorded as forced.
    forced = train_churn_from_frame(
        frame, horizon_days=90, n_trials=0, seed=0, model_params=WEAK, force=True, log_plots=False
    )
    assert forced.decision == "champion" and tracking.champion_version(MODEL_NAME) == "3"
    assert run_tags(forced.run_id)["promotion_forced"] == "true"
    assert run_tags(forced.run_id)["mlflow.runName"] is not None

    # The good model wins back: strictly better ROC-AUC than the forced weak champion.
    again = train_churn_from_frame(frame, horizon_days=90, n_trials=0, seed=0, log_plots=False)
    assert again.decision == "champion" and tracking.champion_version(MODEL_NAME) == "4"
    assert registered_versions() == ["1", "2", "3", "4"]

    # The champion needs a column the new data no longer have: it cannot serve them, so the
    # comparison is recorded as impossible and the candidate takes over.
    gone = train_churn_from_frame(
        frame.drop(columns="spend"), horizon_days=90, n_trials=0, seed=0, log_plots=False
    )
    assert gone.champion_metrics is None and gone.decision == "champion"
    assert "missing column(s) ['spend']" in run_tags(gone.run_id)["champion_comparison"]


def test_logged_run_has_metrics_plots_and_signature(store):
    from mlflow import MlflowClient

    name = "custsat-churn-signature"
    result = train_churn_from_frame(
        training_frame(), horizon_days=90, n_trials=1, seed=0, model_name=name
    )
    client = MlflowClient()
    run = client.get_run(result.run_id)
    for key in (
        "val_roc_auc",
        "val_pr_auc",
        "val_brier",
        "val_log_loss",
        "val_lift_at_10pct",
        "val_capture_at_20pct",
        "val_raw_brier",
        "val_lr_roc_auc",
        "val_lr_brier",
    ):
        assert key in run.data.metrics, key
    assert run.data.params["split_valid_as_of"] == "2024-07-01"
    assert run.data.params["split_fold_as_of"] == "2024-04-01"
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {
        f"plots/{n}.png" for n in ("roc", "pr", "calibration", "gains", "contributions_summary")
    }
    assert result.metrics["val_brier"] < result.metrics["val_raw_brier"]
    assert set(result.validation["as_of"]) == {pd.Timestamp("2024-07-01")}
    assert {"churn_probability", "risk_tier", "churn_reason_1", "churn_reasons"} <= set(
        result.validation.columns
    )

    # Scoring with the champion: same probabilities as the in-memory model, reasons included.
    latest = training_frame()
    latest = latest[latest["as_of"] == latest["as_of"].max()].drop(columns="churned").head(50)
    served = load_served(name)
    scored = predict_chunks(served, latest, params={"top_k": 5, "reasons": "all"})
    np.testing.assert_allclose(
        scored["churn_probability"].to_numpy(),
        result.model.predict_proba(latest[result.model.feature_names_])[:, 1],
    )
    assert (scored["risk_tier"] == "high").sum() == 5
    assert served.version == result.model_version

    # The recorded signature refuses a mismatched schema.
    with pytest.raises(SchemaMismatchError, match=r"Missing column\(s\) \(1\): region"):
        predict_chunks(served, latest.drop(columns="region"))
    from custsat import tracking
    from custsat.models.registry import ModelInputError

    model, _ = tracking.load_champion(name)
    frame = churn.signature_frame(latest, result.model.feature_names_)
    with pytest.raises(ModelInputError, match="reads numbers in column"):
        model.predict(frame.assign(spend=["a lot"] * len(frame)))  # text where the model reads numbers
    assert model.predict(frame.astype({"spend": object})).shape[0] == len(frame)  # numbers as objects are read


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(churned=1), "single class"),
        (lambda f: f.assign(churned=np.nan), "empty after exclusions"),
        (lambda f: f.assign(nps_last=np.nan), "entirely null"),
        (lambda f: f.assign(feature_time=f["as_of"]), "leakage guard"),
        (lambda f: f.assign(customer_id="c00001"), "duplicated"),
        (
            lambda f: f.assign(churned=np.where(f["as_of"] == f["as_of"].max(), 0, f["churned"])),
            "validation part",
        ),
    ],
    ids=[
        "single-class",
        "empty",
        "null-feature",
        "leakage",
        "duplicate-ids",
        "single-class-in-validation",
    ],
)
def test_bad_input_is_refused_and_nothing_registered(isolated_settings, mutate, message):
    with pytest.raises(ChurnDataError, match=message):
        train_churn_from_frame(
            mutate(training_frame(300)), horizon_days=90, n_trials=0, seed=0, log_plots=False
        )
    assert registered_versions() == []
    assert not (isolated_settings.mlruns_path / "mlflow.db").exists()  # no run was even started


def test_cli_help_documents_every_option():
    result = CliRunner().invoke(app, ["train", "churn", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--table",
        "--label",
        "--id-column",
        "--test-size",
        "--seed",
        "--force",
        "--exclude",
        "--as-of",
        "--horizon-days",
        "--n-trials",
        "--high-threshold",
        "--medium-threshold",
        "--model-name",
        "--scores-out",
        "--data-dir",
        "--time-column",
        "--categorical",
        "--capacity",
        "--n-customers",
    ):
        assert option in result.output, option


def prepared_table(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A Telco-like prepared table: Yes/No label, numbers stored as text with blanks, an id."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    monthly = rng.uniform(20, 110, n).round(2)
    logit = -0.5 - 0.05 * tenure + 1.5 * (contract == "Month-to-month") + 0.01 * (monthly - 60)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    total = np.where(tenure == 0, " ", (tenure * monthly).round(2).astype(str))
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-ABCD" for i in range(n)],
            "tenure": tenure,
            "Contract": contract,
            "MonthlyCharges": monthly,
            "TotalCharges": total,
            "Churn": np.where(churned, "Yes", "No"),
        }
    )


def test_cli_trains_from_prepared_table(store, tmp_path):
    path = tmp_path / "accounts.csv"
    prepared_table().to_csv(path, index=False)
    scores = tmp_path / "scores.csv"
    args = [
        "train",
        "churn",
        "--table",
        str(path),
        "--label",
        "Churn",
        "--id-column",
        "customerID",
        "--test-size",
        "0.25",
        "--seed",
        "1",
        "--n-trials",
        "0",
        "--scores-out",
        str(scores),
        "--capacity",
        "25",
    ]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "custsat-churn-accounts v1 -> " in result.output  # champion, or challenger with the baseline serving
    out = pd.read_csv(scores)
    assert len(out) == 300 and out["Churn"].isin([0, 1]).all()
    assert (out["risk_tier"] == "high").sum() == 25
    assert (
        out.loc[out["risk_tier"] == "high", "churn_probability"].min()
        >= out.loc[out["risk_tier"] != "high", "churn_probability"].max()
    )
    assert out["churn_reasons"].str.contains(r"(?:raises|lowers) risk").all()
    assert registered_versions("custsat-churn-accounts") in (["1"], ["1", "2"])
    # the registered model scores the same export read the plain pandas way (int and float columns)
    from custsat import tracking

    model, _ = tracking.load_champion("custsat-churn-accounts")
    plain = pd.read_csv(path)
    assert plain["tenure"].dtype == "int64"
    scored = model.predict(plain.drop(columns="Churn"))
    assert len(scored) == len(plain) and scored["churn_probability"].between(0, 1).all()


def test_cli_refuses_duplicate_ids_in_table(isolated_settings, tmp_path):
    frame = prepared_table(300)
    frame.loc[5, "customerID"] = frame.loc[4, "customerID"]
    path = tmp_path / "dups.parquet"
    frame.to_parquet(path)
    result = CliRunner().invoke(
        app, ["train", "churn", "--table", str(path), "--label", "Churn", "--id-column", "customerID"]
    )
    assert result.exit_code == 1
    assert "duplicated" in result.output and "error:" in result.output
    assert registered_versions("custsat-churn-dups") == []


def test_cli_table_with_snapshots_splits_by_time(store, tmp_path):
    path = tmp_path / "stacked.parquet"
    training_frame(400).to_parquet(path)
    args = ["train", "churn", "--table", str(path), "--id-column", "customer_id", "--time-column", "as_of"]
    result = CliRunner().invoke(app, [*args, "--n-trials", "0"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "'valid_as_of': '2024-07-01'" in result.output
    assert "custsat-churn-stacked v1 -> " in " ".join(result.output.split())


def test_train_from_tables_registers_champion(store):
    crm = synth.generate_crm(5000, seed=7)
    result = train_churn_from_tables(
        crm.tables,
        horizon_days=HORIZON,
        n_trials=0,
        seed=0,
        log_plots=False,
        model_name="custsat-churn-crm",
    )
    from custsat import tracking

    assert result.model_version == "1" and tracking.champion_version("custsat-churn-crm") == result.served_version
    assert result.split["valid_as_of"] == str(default_as_of_dates(crm.tables, HORIZON)[-1].date())
    assert result.metrics["val_roc_auc"] > 0.7 and result.metrics["val_lr_roc_auc"] > 0.65
    assert result.metrics["val_lift_at_10pct"] > 1.5
    # Text-model features are missing in raw synthetic data: recorded, not fatal.
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(result.run_id).data.tags
    assert "sentiment_mean" in tags["unavailable_features"]
    assert result.validation["churn_reasons"].str.len().gt(0).all()

    # Scoring today's customers with the registered champion (schema from the signature).
    as_of = default_as_of_dates(crm.tables, HORIZON)[-1] + pd.Timedelta(days=HORIZON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        today = features.build_customer_features(crm.tables, as_of)
    served = load_served("custsat-churn-crm")
    scored = predict_chunks(served, today)
    assert len(scored) == len(today) and scored["churn_probability"].between(0, 1).all()
    assert set(scored["risk_tier"]) <= {"high", "medium", "low"}
    assert served.version == result.served_version


def test_cli_demo_reads_synthetic_parquet_folder(store, tmp_path):
    folder = tmp_path / "synthetic"
    synth.write_crm(synth.generate_crm(1500, seed=3), folder)
    args = ["train", "churn", "--data-dir", str(folder), "--n-trials", "0", "--model-name", "custsat-churn-disk"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"CRM data: {folder}" in result.output
    assert (
        "'split': 'time'" in result.output and "custsat-churn-disk v1 -> " in result.output
    )
    missing = CliRunner().invoke(app, ["train", "churn", "--data-dir", str(tmp_path / "nowhere")], terminal_width=200)
    assert missing.exit_code == 1 and "no customers table" in " ".join(missing.output.split())


def test_crm_without_complaints_trains_without_the_empty_complaint_features(store):
    """No negative feedback ever: days_since_last_negative is empty in every snapshot, so it is
    left out and recorded instead of refusing the whole training set."""
    crm = synth.generate_crm(1500, seed=5)
    tables = {**crm.tables, "feedback": crm.tables["feedback"].assign(sentiment="positive", sentiment_score=0.8,
                                                                         rating=5.0, topics="")}
    result = train_churn_from_tables(tables, horizon_days=HORIZON, n_trials=0, seed=0, log_plots=False,
                                     model_name="custsat-churn-no-complaints")
    assert result.model_version == "1"
    unavailable = run_tags(result.run_id)["unavailable_features"].split(",")
    assert "days_since_last_negative" in unavailable and "top_negative_topic" in unavailable
    assert "days_since_last_negative" not in result.model.feature_names_


def test_the_logistic_baseline_serves_when_lightgbm_loses_the_first_run(store):
    """On data a logistic regression describes exactly, LightGBM does not beat it: LightGBM is
    registered as challenger and the baseline, registered beside it, serves as champion."""
    from custsat import tracking

    name = "custsat-churn-linear"
    frame = training_frame(make=snapshot)
    result = train_churn_from_frame(frame, horizon_days=90, n_trials=0, seed=0, log_plots=False, model_name=name)
    assert result.metrics["val_roc_auc"] <= result.metrics["val_lr_roc_auc"]
    assert (result.model_version, result.decision, result.served_version) == ("1", "challenger", "2")
    assert tracking.champion_version(name) == "2" and tracking.alias_version(name, "challenger") == "1"
    assert tracking.version_tags(name, "2")["model_kind"] == "logistic_regression"
    served = load_served(name)
    latest = frame[frame["as_of"] == frame["as_of"].max()].drop(columns="churned").head(40)
    scored = predict_chunks(served, latest, params={"reasons": "all"})
    expected = result.baseline.predict_proba(result.model.encoder_.transform(latest[result.model.feature_names_]))[:, 1]
    np.testing.assert_allclose(scored["churn_probability"].to_numpy(), expected)
    assert scored["churn_reasons"].str.contains(r"(?:raises|lowers) risk").all()
