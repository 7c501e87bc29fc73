"""MLflow: tracked runs carry their tags; register, alias and load round-trip on SQLite."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from custsat import tracking


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["x"] + 1


def test_default_store_is_sqlite_under_mlruns(isolated_settings):
    uri = isolated_settings.resolved_tracking_uri
    assert uri.startswith("sqlite:///") and uri.endswith("mlruns/mlflow.db")


def test_env_variable_overrides_the_tracking_uri(isolated_settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert isolated_settings.resolved_tracking_uri == "http://mlflow.example:5000"


def test_run_is_tagged_and_model_round_trips_through_the_registry(isolated_settings):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with tracking.start_run("unit", data_fingerprint=tracking.fingerprint_frames(frame)) as run:
        uri = tracking.log_pyfunc_model(AddOne(), input_example=frame)
        version = tracking.register_model(uri, "custsat-unit")
        assert tracking.promote("custsat-unit", version, candidate_score=(0.7,), champion_score=None) == "champion"
    stored = mlflow.get_run(run.info.run_id)
    assert stored.data.tags["data_fingerprint"] == tracking.fingerprint_frames(frame)
    assert stored.data.tags["custsat_version"]
    assert stored.data.tags["promotion_decision"] == "champion"
    assert mlflow.get_experiment(stored.info.experiment_id).name == "custsat-unit"
    model, loaded_version = tracking.load_champion("custsat-unit")
    assert loaded_version == version
    assert model.predict(frame).tolist() == [2.0, 3.0]
    requirements = (isolated_settings.mlruns_path).rglob("requirements.txt")
    assert any("torch==2.13.0" in p.read_text() for p in requirements)


def test_worse_candidate_becomes_challenger_and_force_is_recorded(isolated_settings):
    with tracking.start_run("unit"):
        first = tracking.register_model(tracking.log_pyfunc_model(AddOne()), "custsat-unit")
        tracking.promote("custsat-unit", first, candidate_score=(0.8, -0.1), champion_score=None)
        second = tracking.register_model(tracking.log_pyfunc_model(AddOne()), "custsat-unit")
        decision = tracking.promote("custsat-unit", second, candidate_score=(0.8, -0.2), champion_score=(0.8, -0.1))
        assert decision == "challenger" and tracking.champion_version("custsat-unit") == first
        forced = tracking.promote("custsat-unit", second, candidate_score=(0.8, -0.2), champion_score=(0.8, -0.1), force=True)
    assert forced == "champion" and tracking.champion_version("custsat-unit") == second
    tags = mlflow.MlflowClient().get_model_version("custsat-unit", second).tags
    assert tags["promotion_forced"] == "true"


def test_missing_champion_says_how_to_train(isolated_settings):
    with pytest.raises(tracking.ModelNotFoundError, match="make train-churn"):
        tracking.load_champion("custsat-churn")
    # every family names a command that exists (the Makefile's targets, or the CLI's)
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text(encoding="utf-8")
    for name in ("custsat-sentiment", "custsat-sentiment-fast", "custsat-topics", "custsat-churn", "custsat-clv"):
        target = tracking.train_command(name).removeprefix("make ")
        assert f"\n{target}:" in makefile, name
    assert tracking.train_command("custsat-uplift-retention_call").startswith("custsat train uplift --action retention_call")


def test_fingerprints_change_with_the_data():
    a = pd.DataFrame({"x": [1, 2]})
    assert tracking.fingerprint_frames(a) == tracking.fingerprint_frames(a.copy())
    assert tracking.fingerprint_frames(a) != tracking.fingerprint_frames(a.assign(x=[1, 3]))


def test_an_unreachable_tracking_server_is_refused_before_any_request(monkeypatch):
    """The connection probe answers (not MLflow's minutes of retries), naming the URI."""
    from custsat.config import get_settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    get_settings.cache_clear()
    try:
        with pytest.raises(tracking.TrackingUnavailableError, match=r"http://127\.0\.0\.1:1"):
            tracking.champion_version("custsat-churn")
    finally:
        get_settings.cache_clear()
