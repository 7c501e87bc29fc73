"""Shared fixtures. Every test gets its own data and MLflow folders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Point custsat's settings (data/, mlruns/ and the MLflow store) at a temp folder."""
    from custsat.config import get_settings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CUSTSAT_PROJECT_DIR", str(tmp_path))
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    get_settings.cache_clear()
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.end_run()
