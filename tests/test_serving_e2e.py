"""End-to-end scoring with small real models trained in a temporary MLflow store.

The churn model is trained with the churn helper's ``train_churn_from_tables``, the CLV
model with the CLV helper's ``train_and_register`` (small simulation budgets for speed). Feedback texts are labelled by an oracle built from
the synthetic ground truth (it stands in for the text models, which take minutes to train).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest

AS_OF = pd.Timestamp("2026-06-30")
N_CUSTOMERS = 400


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A temp project with champion churn and CLV models; yields (tables, truth feedback)."""
    from custsat.config import get_settings

    root = tmp_path_factory.mktemp("serving_project")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("CUSTSAT_PROJECT_DIR", str(root))
    get_settings.cache_clear()
    try:
        from custsat.data.synth import generate_crm

        crm = generate_crm(N_CUSTOMERS, seed=11, as_of=AS_OF)
        tables = dict(crm.tables)
        truth = crm.truth["feedback"].set_index("feedback_id")
        labelled = dict(tables)
        lab = truth.loc[tables["feedback"]["feedback_id"]]
        labelled["feedback"] = tables["feedback"].assign(
            sentiment=lab["sentiment"].to_numpy(), topics=lab["topics"].to_numpy(),
            sentiment_score=lab["latent_score"].clip(-1, 1).to_numpy(),
        )
        from custsat.models.churn import train_churn_from_tables

        train_churn_from_tables(labelled, n_trials=0, model_params={"n_estimators": 300, "early_stopping_rounds": 30})
        _train_clv(tables, root / "crm")
        yield {"root": root, "tables": tables, "truth": truth}
    finally:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.end_run()
        mp.undo()
        get_settings.cache_clear()


@pytest.fixture
def project(store, monkeypatch):
    from custsat.config import get_settings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CUSTSAT_PROJECT_DIR", str(store["root"]))
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def _train_clv(tables, folder):
    """Register a CLV champion with the CLV training code (short bootstrap)."""
    from custsat.models.clv.train import train_and_register

    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    train_and_register(folder, as_of=str((AS_OF - pd.Timedelta(days=1)).date()), n_boot=20)


def oracle_text_models(truth: pd.DataFrame, calls: list | None = None):
    """Text 'models' that return the synthetic ground truth for each text."""
    from custsat.models.text.served import TextModels

    by_text = {}
    for row in truth.itertuples():
        by_text.setdefault(row.text if hasattr(row, "text") else None, row)

    def classify(frame):
        if calls is not None:
            calls.append(len(frame))
        rows = [by_text[t] for t in frame["text"]]
        score = {"negative": -0.8, "neutral": 0.0, "positive": 0.8}
        return frame.assign(
            language=[r.language for r in rows], sentiment=[r.sentiment for r in rows],
            sentiment_score=[score[r.sentiment] for r in rows], topics=[r.topics for r in rows],
            urgency=[r.urgency for r in rows],
        )

    return TextModels(classify=classify, sentiment_version="oracle-1", topic_version="oracle-1")


@pytest.fixture
def text_models(project):
    truth = project["truth"].copy()
    fb = project["tables"]["feedback"].set_index("feedback_id")
    truth["text"] = fb.loc[truth.index.intersection(fb.index), "text"].reindex(truth.index)
    return oracle_text_models(truth.dropna(subset=["text"]))


def test_score_end_to_end(project, text_models, tmp_path):
    import mlflow

    from custsat.serving.outputs import SCORED_LIST_COLUMNS
    from custsat.serving.score import score_tables

    tables = project["tables"]
    result = score_tables(tables, AS_OF, text_models=text_models, text_cache=tmp_path / "cache.parquet", chunk_size=97)
    scored = result.scored
    known = tables["customers"]
    assert len(scored) == int((known["signup_date"].isna() | (known["signup_date"] < AS_OF)).sum())
    assert scored["customer_id"].is_unique
    assert list(scored.columns[: len(SCORED_LIST_COLUMNS)]) == list(SCORED_LIST_COLUMNS)
    assert scored["priority"].is_monotonic_increasing
    assert scored["recommended_action"].notna().all() and scored["action_reason"].str.len().gt(0).all()
    assert scored["churn_probability"].between(0, 1).all()
    assert set(scored["churn_risk_tier"]) <= {"high", "medium", "low"}
    buyers = scored["lifecycle_stage"] != "prospect"
    assert scored.loc[buyers, "clv"].notna().all() and scored.loc[~buyers, "clv"].isna().all()
    assert (scored.loc[buyers, "clv_low"] <= scored.loc[buyers, "clv_high"] + 1e-9).all()
    from custsat import tracking

    churn_version = tracking.champion_version("custsat-churn")  # LightGBM, or the baseline that beat it
    assert scored["churn_model_version"].eq(churn_version).all() and scored["clv_model_version"].eq(
        tracking.champion_version("custsat-clv")).all()
    assert scored["sentiment_model_version"].eq("oracle-1").all()
    assert scored["scoring_run_id"].nunique() == 1

    # top_topics, hand-computed for one customer from the feedback complaints before as_of
    fb = result.feedback
    fb = fb[(fb["timestamp"] < AS_OF) & (fb["sentiment"] == "negative")]
    cid = fb["customer_id"].value_counts().index[0]
    counts = fb.loc[fb["customer_id"] == cid, "topics"].str.split(";").explode()
    counts = counts[counts != ""].value_counts()
    expected = "; ".join(f"{t}:{n}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    assert scored.set_index("customer_id").loc[cid, "top_topics"] == expected

    # the run is recorded in MLflow with fingerprints, versions, counts and tier distributions
    run = mlflow.get_run(result.mlflow_run_id)
    assert run.data.params["churn_model_version"] == churn_version
    assert run.data.params["scoring_run_id"] == result.run_id
    assert "input_transactions" in run.data.params
    assert run.data.metrics["customers_scored"] == len(scored)
    assert run.data.metrics["rows_feedback"] == len(tables["feedback"])
    n_high = int((scored["churn_risk_tier"] == "high").sum())
    assert run.data.metrics.get("n_churn_risk_tier_high", 0) == n_high
    assert sum(v for k, v in run.data.metrics.items() if k.startswith("n_action_id_")) == len(scored)


def test_deterministic_outputs(project, text_models, tmp_path):
    from custsat.serving.outputs import write_scored
    from custsat.serving.score import score_tables

    digests = []
    for run in range(2):
        result = score_tables(project["tables"], AS_OF, text_models=text_models, text_cache=False, log_run=run == 0)
        csv = write_scored(result.scored, tmp_path / f"r{run}.csv")
        pq = write_scored(result.scored, tmp_path / f"r{run}.parquet")
        digests.append((hashlib.sha256(csv.read_bytes()).hexdigest(), hashlib.sha256(pq.read_bytes()).hexdigest(),
                        result.run_id))
    assert digests[0] == digests[1]
    other = score_tables(project["tables"], AS_OF - pd.Timedelta(days=7), text_models=text_models,
                         text_cache=False, log_run=False)
    assert other.run_id != digests[0][2], "the run id depends on as_of"


def test_text_cache_daily_increment(project, tmp_path):
    from custsat.serving.score import score_tables

    truth = project["truth"].copy()
    fb = project["tables"]["feedback"]
    truth["text"] = fb.set_index("feedback_id")["text"].reindex(truth.index)
    calls: list[int] = []
    models = oracle_text_models(truth.dropna(subset=["text"]), calls)
    cache = tmp_path / "text_cache.parquet"
    early = dict(project["tables"], feedback=fb[fb["timestamp"] < AS_OF - pd.Timedelta(days=30)])
    first = score_tables(early, AS_OF, text_models=models, text_cache=cache, log_run=False)
    second = score_tables(project["tables"], AS_OF, text_models=models, text_cache=cache, log_run=False)
    new_texts = set(fb["text"]) - set(early["feedback"]["text"])
    assert first.metadata["text"]["classified"] == early["feedback"]["text"].nunique()
    assert second.metadata["text"]["classified"] == len(new_texts) == calls[-1]
    assert second.metadata["text"]["cache_hits"] == early["feedback"]["text"].nunique()


def test_missing_champion_names_model_and_make_train(project, text_models):
    from mlflow import MlflowClient

    from custsat.serving.score import score_tables
    from custsat.tracking import ModelNotFoundError, champion_version

    client = MlflowClient()
    version = champion_version("custsat-clv")
    client.delete_registered_model_alias("custsat-clv", "champion")
    try:
        with pytest.raises(ModelNotFoundError) as info:
            score_tables(project["tables"], AS_OF, text_models=text_models, text_cache=False, log_run=False)
    finally:
        client.set_registered_model_alias("custsat-clv", "champion", version)
    message = str(info.value)
    assert "custsat-clv" in message and "make train" in message


def test_schema_mismatch_refused(project, text_models, monkeypatch):
    from custsat.features import build_customer_features
    from custsat.serving import score as score_mod
    from custsat.serving.models import SchemaMismatchError, load_served, predict_chunks

    churn = load_served("custsat-churn")
    needed = churn.input_names[0]

    def drifted_schema(tables, as_of, **kwargs):
        features = build_customer_features(tables, as_of, **kwargs)
        return features.drop(columns=[needed]).assign(loyalty_points=1.0)

    monkeypatch.setattr("custsat.features.build_customer_features", drifted_schema)
    with pytest.raises(SchemaMismatchError) as info:
        score_mod.score_tables(project["tables"], AS_OF, text_models=text_models, text_cache=False, log_run=False)
    message = str(info.value)
    assert f"Missing column(s) (1): {needed}" in message
    assert "loyalty_points" in message and f"custsat-churn v{churn.version}" in message and "make train" in message

    frame = pd.DataFrame({name: ["many"] * 3 for name in churn.input_names})
    with pytest.raises(SchemaMismatchError, match=f"custsat-churn v{churn.version} refused the features.*reads numbers"):
        predict_chunks(churn, frame)


def test_drift_warning_reaches_metadata(project, text_models, monkeypatch):
    from custsat.models import drift
    from custsat.serving.score import score_tables

    reference = {"n_rows": 100, "features": {
        "recency_days": {"kind": "numeric", "edges": [1e6], "shares": [0.0, 1.0, 0.0]},  # all "above 1e6"
        "frequency": {"kind": "numeric", "edges": [], "shares": [1.0, 0.0]},
    }}
    monkeypatch.setattr(drift, "find_reference", lambda model: reference)
    result = score_tables(project["tables"], AS_OF, text_models=text_models, text_cache=False, log_run=False)
    assert result.metadata["drifted_features"] == ["recency_days"]
    assert result.drift.set_index("feature").loc["frequency", "psi"] < 0.2


def test_reference_found_on_logged_pyfunc(project):
    """A reference stored on the python model survives MLflow logging and loading."""
    import mlflow

    from custsat import tracking
    from custsat.models.drift import build_reference, find_reference

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    model = Model()
    model.feature_reference = build_reference(pd.DataFrame({"x": np.arange(50.0)}))
    with tracking.start_run("test"):
        uri = tracking.log_pyfunc_model(model)
    loaded = mlflow.pyfunc.load_model(uri)
    assert find_reference(loaded) == model.feature_reference


def test_cli_score_files(project, tmp_path):
    from typer.testing import CliRunner

    from custsat.cli import app

    tables = project["tables"]
    truth = project["truth"]
    lab = truth.loc[tables["feedback"]["feedback_id"]]
    folder = tmp_path / "in"
    folder.mkdir()
    tables["customers"].to_csv(folder / "customers.csv", index=False)
    tables["transactions"].to_parquet(folder / "transactions.parquet", index=False)
    tables["feedback"].assign(sentiment=lab["sentiment"].to_numpy(), topics=lab["topics"].to_numpy()).to_parquet(
        folder / "feedback.parquet", index=False)
    out, report = tmp_path / "out" / "scored.xlsx", tmp_path / "out" / "report.html"
    result = CliRunner().invoke(app, ["score", "--input-dir", str(folder), "--as-of", "2026-06-30", "--out", str(out),
                                      "--report", str(report), "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert out.exists() and report.exists()
    from openpyxl import load_workbook

    wb = load_workbook(out, read_only=True)
    assert wb.sheetnames == ["customers", "summary"]
    html = report.read_text(encoding="utf-8")
    assert 'id="actions"' in html and "input" in html  # prelabelled feedback: text versions "input"

    bad = CliRunner().invoke(app, ["score", "--input-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "nowhere does not exist" in " ".join(bad.output.split())
    bad = CliRunner().invoke(app, ["score", "--input-dir", str(folder), "--as-of", "30/13/2026", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "is not a date" in " ".join(bad.output.split())
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.spark
def test_spark_matches_duckdb(project, text_models):
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from custsat.serving.score import score_tables

    kwargs = dict(text_models=text_models, text_cache=False, log_run=False)
    duck = score_tables(project["tables"], AS_OF, engine="duckdb", **kwargs).scored.set_index("customer_id").sort_index()
    spark = score_tables(project["tables"], AS_OF, engine="spark", **kwargs).scored.set_index("customer_id").sort_index()
    assert list(duck.index) == list(spark.index)
    exact = ["rfm_segment", "abc_class", "value_tier", "lifecycle_stage", "satisfaction_tier", "nps_category",
             "complaints_open", "top_topics", "churn_risk_tier", "clv_tier", "action_id", "priority",
             "scoring_run_id"]
    pd.testing.assert_frame_equal(duck[exact], spark[exact], check_dtype=False)
    # reasons print feature values rounded; sums in another order may round the last digit differently
    drivers = lambda s: s.str.replace(r"=[^ ]+ ", " ", regex=True)  # noqa: E731
    pd.testing.assert_series_equal(drivers(duck["churn_reasons"]), drivers(spark["churn_reasons"]))
    for col in ("churn_probability", "sentiment_mean", "clv", "expected_remaining_lifetime_days"):
        np.testing.assert_allclose(duck[col].to_numpy(float), spark[col].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=col)


# --------------------------------------------------------------------------- streamed (out-of-core) scoring
def _parquet_inputs(tables, folder):
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        paths[name] = folder / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    return paths


def test_stream_matches_in_memory(project, text_models, tmp_path):
    """Chunked scoring gives the in-memory list: same rows, order, run id and values.

    The CLV interval bounds are Monte-Carlo draws seeded per block of customers, so chunks
    change them; they must still bracket the CLV and repeat exactly on a rerun.
    """
    from custsat.serving.score import score_files

    paths = _parquet_inputs(project["tables"], tmp_path / "in")
    common = {"as_of": AS_OF, "text_models": text_models, "text_cache": False, "log_run": False}
    whole = score_files(paths, out=tmp_path / "whole.csv", **common)
    streamed = score_files(paths, out=tmp_path / "stream.csv", stream=True, chunk_size=97, batch_rows=150, workers=2,
                           **common)
    assert streamed.metadata["chunks"] == 5 and streamed.metadata["workers"] == 2
    assert streamed.run_id == whole.run_id  # batch fingerprints equal whole-table ones
    a = pd.read_csv(tmp_path / "whole.csv")
    b = pd.read_csv(tmp_path / "stream.csv")
    assert list(b.columns) == list(a.columns)
    bounds = ["clv_low", "clv_high"]
    # CLV point values may differ in the last bit (vector arithmetic over other block shapes)
    pd.testing.assert_frame_equal(b.drop(columns=bounds), a.drop(columns=bounds), check_exact=False, rtol=1e-12)
    # other draws, the same distribution: bounds ordered and close to the in-memory ones
    scored = b["clv"].notna()
    assert scored.any() and (b.loc[scored, "clv_low"] <= b.loc[scored, "clv_high"]).all()
    assert b["clv_high"].corr(a["clv_high"]) > 0.95 and b["clv_low"].corr(a["clv_low"]) > 0.9

    # the report and the MLflow summary see the same tiers as the in-memory path
    assert streamed.scored["action_id"].value_counts().to_dict() == whole.scored["action_id"].value_counts().to_dict()
    assert streamed.drift is not None
    pd.testing.assert_frame_equal(streamed.drift, whole.drift)

    # chunks scored in this process instead of two workers: the same bytes
    again = score_files(paths, out=tmp_path / "again.csv", stream=True, chunk_size=97, batch_rows=150, workers=1,
                        **common)
    assert again.metadata["workers"] == 1
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "stream.csv").read_bytes()
    assert again.run_id == streamed.run_id
    score_files(paths, out=tmp_path / "s1.parquet", stream=True, chunk_size=97, **common)
    score_files(paths, out=tmp_path / "s2.parquet", stream=True, chunk_size=97, **common)
    assert (tmp_path / "s1.parquet").read_bytes() == (tmp_path / "s2.parquet").read_bytes()
    score_files(paths, out=tmp_path / "whole.parquet", **common)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "s1.parquet").drop(columns=bounds),
        pd.read_parquet(tmp_path / "whole.parquet").drop(columns=bounds), check_exact=False, rtol=1e-12,
    )


def test_stream_without_feedback_or_contracts(project, tmp_path):
    """Only the two required tables: the streamed list still equals the in-memory one."""
    from custsat.serving.score import score_files

    tables = {k: project["tables"][k] for k in ("customers", "transactions")}
    paths = _parquet_inputs(tables, tmp_path / "in")
    common = {"as_of": AS_OF, "text_cache": False, "log_run": False}
    whole = score_files(paths, out=tmp_path / "whole.csv", **common)
    streamed = score_files(paths, out=tmp_path / "stream.csv", stream=True, chunk_size=150, **common)
    assert streamed.run_id == whole.run_id and streamed.metadata["model_versions"]["sentiment_model_version"] == "none"
    bounds = ["clv_low", "clv_high"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "stream.csv").drop(columns=bounds),
                                  pd.read_csv(tmp_path / "whole.csv").drop(columns=bounds), check_exact=False, rtol=1e-12)


def test_stream_classifies_each_new_text_once(project, tmp_path):
    """Feedback batches share one run cache: a text repeated in later batches is not classified again."""
    from custsat.serving.score import score_files

    truth = project["truth"].copy()
    feedback = project["tables"]["feedback"]
    truth["text"] = feedback.set_index("feedback_id")["text"].reindex(truth.index)
    calls: list[int] = []
    models = oracle_text_models(truth.dropna(subset=["text"]), calls)
    paths = _parquet_inputs(project["tables"], tmp_path / "in")
    result = score_files(paths, out=tmp_path / "s.csv", as_of=AS_OF, stream=True, batch_rows=60, text_models=models,
                         text_cache=False, log_run=False)
    assert len(calls) > 1  # several batches
    assert sum(calls) == result.metadata["text"]["classified"] == feedback["text"].fillna("").nunique()
    assert result.metadata["model_versions"]["sentiment_model_version"] == "oracle-1"


def test_worker_pool_keeps_task_order_and_raises_the_first_error():
    """Batches and chunks go through WorkerPool.map: results in task order from two processes,
    the first failing task's error, and no processes at all for a single task."""
    from custsat.serving.stream import WorkerPool

    with WorkerPool(2) as pool:
        assert list(pool.map(pow, [(2, i) for i in range(9)])) == [2**i for i in range(9)]
        assert pool.started and len(pool.peaks) >= 1
        with pytest.raises(ValueError, match="'x'"):
            list(pool.map(int, [("1",), ("x",), ("3",), ("y",)]))
    with WorkerPool(2) as single:
        assert list(single.map(pow, [(2, 5)])) == [32] and not single.started


def test_stream_errors_name_the_input_rows(project, tmp_path):
    """Checks across batches (duplicates, unknown customers) and in later batches report input rows."""
    from custsat.data.contracts import ContractError
    from custsat.serving.score import score_files

    tables = project["tables"]
    out = tmp_path / "scored.csv"

    def run(**changed):
        paths = _parquet_inputs({**tables, **changed}, tmp_path / f"in{len(list(tmp_path.iterdir()))}")
        with pytest.raises(ContractError) as info:
            score_files(paths, out=out, as_of=AS_OF, stream=True, batch_rows=150, log_run=False)
        assert not out.exists()
        return " ".join(str(info.value).split())

    tx = tables["transactions"].copy()
    tx.loc[300, "order_id"] = tx.loc[5, "order_id"]  # batches 1 and 3: only the cross-batch check sees it
    message = run(transactions=tx)
    assert "'transactions'" in message and "'order_id'" in message and "duplicate id" in message
    assert "2 offending row(s)" in message and "row 7 " in message and "row 302 " in message

    tx = tables["transactions"].copy()
    tx["amount"] = tx["amount"].astype(str)  # as a CSV export gives it
    tx.loc[400, "amount"] = "twelve"
    message = run(transactions=tx)
    assert "'amount'" in message and "row 402 " in message

    fb = tables["feedback"].copy()
    fb.loc[250, "customer_id"] = "C-NOBODY"
    message = run(feedback=fb)
    assert "customer_id not found in the customers table" in message and "row 252 " in message and "C-NOBODY" in message


def test_cli_stream_writes_list_and_report(project, tmp_path):
    from typer.testing import CliRunner

    from custsat.cli import app

    tables = project["tables"]
    lab = project["truth"].loc[tables["feedback"]["feedback_id"]]
    folder = tmp_path / "in"
    _parquet_inputs({**tables, "feedback": tables["feedback"].assign(
        sentiment=lab["sentiment"].to_numpy(), topics=lab["topics"].to_numpy())}, folder)
    (folder / "customers.parquet").unlink()  # a CSV export, read in batches too
    tables["customers"].to_csv(folder / "customers.csv", index=False)
    out, report = tmp_path / "out" / "scored.csv", tmp_path / "out" / "report.html"
    args = ["score", "--input-dir", str(folder), "--as-of", "2026-06-30", "--no-progress", "--stream", "--chunk-size", "120"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--report", str(report), "--csv-bom"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert out.read_bytes().startswith("\ufeffcustomer_id,".encode())
    scored = pd.read_csv(out, encoding="utf-8-sig")
    assert scored["customer_id"].is_unique and scored["priority"].is_monotonic_increasing
    html = report.read_text(encoding="utf-8")
    for section in ('id="actions"', 'id="topics"', 'id="nps-csat"', 'id="examples"', scored["scoring_run_id"].iloc[0]):
        assert section in html
    n_actions = scored["action_id"].value_counts()
    assert f"{n_actions.iloc[0]:,}" in html

    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x.xlsx")])
    assert bad.exit_code == 1 and "CSV or Parquet" in " ".join(bad.output.split())
    assert not (tmp_path / "x.xlsx").exists()
    in_memory = [a for a in args if a != "--stream"]
    misplaced = CliRunner().invoke(app, [*in_memory, "--workers", "2", "--out", str(tmp_path / "y.csv")])
    assert misplaced.exit_code == 2 and "--workers applies to --stream" in " ".join(misplaced.output.split())
    assert not (tmp_path / "y.csv").exists()


# --------------------------------------------------------------------------- uplift in the policy
def test_uplift_champion_feeds_the_policy(project, text_models, tmp_path, monkeypatch):
    """A registered uplift champion adds uplift and expected saved value per customer, before
    the actions, so a rule can call only customers worth a call; both backends agree."""
    import shutil

    import yaml

    from custsat import tracking
    from custsat.config import get_settings
    from custsat.features import build_customer_features
    from custsat.models import uplift as U
    from custsat.serving.policy import DEFAULT_POLICY_PATH, PolicyError
    from custsat.serving.score import score_files

    # a copy of the project's store, so that the other tests keep scoring without uplift
    root = tmp_path / "project"
    shutil.copytree(project["root"], root, ignore=shutil.ignore_patterns("crm"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CUSTSAT_PROJECT_DIR", str(root))
    get_settings.cache_clear()
    tables = project["tables"]
    features = build_customer_features({k: tables[k] for k in ("customers", "transactions", "feedback")}, AS_OF)
    x = U.feature_matrix(features)
    rng = np.random.default_rng(0)
    treated = rng.uniform(size=len(x)) < 0.5
    responds = (x["frequency"] > x["frequency"].median()).to_numpy()
    y = (rng.uniform(size=len(x)) < 0.4 + 0.4 * (treated & responds)).astype(float)
    model = U.TLearner(n_estimators=60, min_child_samples=20).fit(x, treated, y)
    targeting = U.targeting_table({"uplift": model.predict(x), "churn risk": 1 - model.predict_control(x)}, treated, y)
    result = U.UpliftResult(model, targeting, features)
    with tracking.start_run("uplift", run_name="test-uplift"):
        U.register_uplift(result, "retention_call", x, treated, y, force=True)
    assert result.decision == "champion" and tracking.champion_version("custsat-uplift-retention_call") == result.version

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    rule = next(r for r in policy["rules"] if r["id"] == "retention_call")
    rule["when"] = {"all": [rule["when"], {"column": "expected_saved_value_retention_call", "gte": 50}]}
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")

    paths = _parquet_inputs(tables, tmp_path / "in")
    common = {"as_of": AS_OF, "text_models": text_models, "text_cache": False, "log_run": False, "policy": policy_file}
    whole = score_files(paths, out=tmp_path / "whole.csv", **common)
    scored = whole.scored
    saved = scored["expected_saved_value_retention_call"]
    assert np.allclose(saved, scored["uplift_retention_call"] * scored["clv"], equal_nan=True)
    # the model's prediction on the features scoring built (with the feedback it labelled)
    used = build_customer_features({"customers": tables["customers"], "transactions": tables["transactions"],
                                    "feedback": whole.feedback}, AS_OF)
    by_id = pd.Series(model.predict(U.feature_matrix(used)), index=used["customer_id"].astype(str))
    assert np.allclose(scored["uplift_retention_call"], by_id.loc[scored["customer_id"].astype(str)].to_numpy())
    called = scored["intended_action_id"] == "retention_call"
    assert called.any() and (saved[called] >= 50).all()
    assert scored["uplift_retention_call_model_version"].eq(result.version).all()
    assert whole.metadata["models"]["custsat-uplift-retention_call"] == result.version

    streamed = score_files(paths, out=tmp_path / "stream.csv", stream=True, chunk_size=97, batch_rows=150, workers=2,
                           **common)
    assert streamed.run_id == whole.run_id
    a, b = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "stream.csv")
    cols = ["customer_id", "uplift_retention_call", "expected_saved_value_retention_call", "action_id"]
    pd.testing.assert_frame_equal(b[cols], a[cols], check_exact=False, rtol=1e-12)

    # without the champion (another store), a rule on uplift is refused, naming the model to train
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow exports the last store it was given
    monkeypatch.setenv("CUSTSAT_PROJECT_DIR", str(project["root"]))
    get_settings.cache_clear()
    with pytest.raises(PolicyError, match="custsat-uplift-retention_call"):
        score_files(paths, out=tmp_path / "none.csv", **common)
    assert not (tmp_path / "none.csv").exists()


def test_uplift_gate_compares_with_churn_risk_targeting():
    from custsat.models import registry
    from custsat.models.uplift import uplift_comparisons

    table = pd.DataFrame({"ranking": ["uplift", "churn risk"], "qini": [0.010, 0.019]})
    lost = registry.gate(uplift_comparisons(table, None, "no champion"))
    assert lost.alias == "challenger" and "does not beat churn risk" in lost.reasons[0]
    table["qini"] = [0.03, 0.019]
    assert registry.gate(uplift_comparisons(table, 0.02, "champion v1")).alias == "champion"
    assert registry.gate(uplift_comparisons(table, 0.05, "champion v1")).alias == "challenger"
