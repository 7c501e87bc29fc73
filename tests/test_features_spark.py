"""DuckDB and Spark run the same feature SQL and must give the same table (one Spark start)."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from custsat.features import build_training_set
from custsat.features.engine import to_spark_sql
from custsat.features.sample import random_crm

pytestmark = pytest.mark.spark

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (none found)")
    from custsat.features.engine import get_spark

    session = get_spark("local[2]", shuffle_partitions=2)
    # tiny test data: query compilation, not execution, dominates -- skip code generation and AQE
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    session.conf.set("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    session.conf.set("spark.sql.adaptive.enabled", "false")
    yield session


def test_transpiled_sql_uses_spark_epoch():
    assert "UNIX_MICROS(ts)" in to_spark_sql("SELECT EPOCH_US(ts) FROM t")


def test_duckdb_and_spark_give_equal_features_and_labels(spark, tmp_path):
    from test_features import hand_tables  # same folder; hand-computed data with contracts

    rnd = random_crm(150, 2500, 300, seed=21)
    hand = hand_tables()
    tables = {k: pd.concat([hand[k], rnd[k]], ignore_index=True) for k in ("customers", "transactions", "feedback")}
    tables["contracts"] = hand["contracts"]
    paths = {}
    for name, frame in tables.items():  # Spark reads Parquet paths, DuckDB the DataFrames
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name])
    duck = build_training_set(tables, ["2024-07-01"], horizon_days=90, engine="duckdb")
    sprk = build_training_set(paths, ["2024-07-01"], horizon_days=90, engine="spark")
    assert len(duck) > 60 and duck["churned"].nunique() == 2
    pd.testing.assert_frame_equal(duck, sprk, check_exact=False, rtol=1e-9, atol=1e-9)
