"""classify_feedback end to end on the tiny model: columns, empty/long/mixed texts, CLI, registry fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.models.text.classify import classify_feedback
from custsat.models.text.sentiment import SentimentClassifier, SentimentConfig
from custsat.models.text.topics import TopicModel
from test_text_fixtures import fixture_reviews, tiny_model_dir  # noqa: F401

COLUMNS = ["language", "sentiment", "sentiment_score", "p_negative", "p_neutral", "p_positive", "topics",
           "urgency", "text_truncated"]


@pytest.fixture(scope="module")
def tiny_models(tiny_model_dir, tmp_path_factory):  # noqa: F811
    zh, en = fixture_reviews()
    d = pd.concat([zh, en])
    clf = SentimentClassifier(SentimentConfig(base_model=tiny_model_dir, max_len=24, epochs=2, seed=0,
                                              freeze_layers=0)).fit(d.text.tolist(), d.label.tolist(),
                                                                    d.text.tolist(), d.label.tolist(),
                                                                    progress=False)
    tm = TopicModel(base_model=tiny_model_dir, max_len=24, seed=0).fit()
    root = tmp_path_factory.mktemp("tiny-text-models")
    return clf, tm, clf.save(root / "sentiment"), tm.save(root / "topics")


def test_classify_feedback_columns_and_edge_cases(tiny_models):
    clf, tm, _, _ = tiny_models
    df = pd.DataFrame({
        "feedback_id": ["f1", "f2", "f3", "f4", "f5", "f6", "f7"],
        "text": ["发货很快，质量很好", "", None, "Great product 👍 but 配送太慢了", "服務態度非常差，我要投訴到消協",
                 "very long " * 200, "🙂🙂"],
    })
    out = classify_feedback(df, sentiment_model=clf, topic_model=tm, batch_size=3, progress=False)
    assert len(out) == len(df) and out["feedback_id"].tolist() == df["feedback_id"].tolist()
    for c in COLUMNS + [f"topic_{t}" for t in tm.tax_.ids]:
        assert c in out.columns, c
    assert out["language"].tolist()[:5] == ["zh", None, None, "mixed", "zh"]
    for i in (1, 2):  # empty / missing text
        assert pd.isna(out.loc[i, "sentiment"]) and pd.isna(out.loc[i, "sentiment_score"])
        assert out.loc[i, "topics"] is None and out.loc[i, "urgency"] == "normal"
        assert not out.loc[i, "text_truncated"]
    ok = out.drop(index=[1, 2])
    np.testing.assert_allclose(ok[["p_negative", "p_neutral", "p_positive"]].sum(1), 1.0, atol=1e-6)
    assert ok["sentiment"].isin(["negative", "neutral", "positive"]).all()
    assert ok["sentiment_score"].between(-1, 1).all()
    assert out["text_truncated"].tolist() == [False, False, False, False, False, True, False]
    assert out.loc[4, "urgency"] == "high"  # legal threat (消协) regardless of the model
    # same rows, different batch size and order -> same numbers (length-sorted batching is exact)
    again = classify_feedback(df.iloc[::-1], sentiment_model=clf, topic_model=tm, batch_size=64, progress=False)
    np.testing.assert_allclose(again.loc[df.index, "p_positive"].astype(float).fillna(-1),
                               out["p_positive"].astype(float).fillna(-1), atol=1e-5)


def test_classify_rejects_missing_column(tiny_models):
    clf, tm, _, _ = tiny_models
    with pytest.raises(KeyError, match="comment"):
        classify_feedback(pd.DataFrame({"text": ["x"]}), text_column="comment", sentiment_model=clf, topic_model=tm)


def test_classify_cli_masks_pii_in_output(tiny_models, tmp_path):
    from typer.testing import CliRunner

    from custsat.cli import app

    _, _, s_dir, t_dir = tiny_models
    src = tmp_path / "fb.csv"
    pd.DataFrame({"text": ["请回电13812345678，物流太慢", "Great taste"]}).to_csv(src, index=False)
    out = tmp_path / "out.parquet"
    res = CliRunner().invoke(app, ["feedback", "classify", str(src), "--out", str(out), "--sentiment-model",
                                   str(s_dir), "--topic-model", str(t_dir)])
    assert res.exit_code == 0, res.output
    got = pd.read_parquet(out)
    assert got.loc[0, "text"] == "请回电<PHONE>，物流太慢"
    assert set(COLUMNS) <= set(got.columns)


def test_topics_fall_back_to_bootstrap_without_registered_model(isolated_settings, tiny_model_dir):  # noqa: F811
    from custsat.models.text.classify import resolve_topic_model

    isolated_settings.base_text_model = tiny_model_dir
    tm = resolve_topic_model(None)  # empty registry -> zero-label bootstrap, cached on disk
    assert tm.mode == "bootstrap"
    assert any((isolated_settings.models_dir / "topics-bootstrap").iterdir())


def test_onnx_fp32_matches_torch_and_int8_is_close(tiny_models, tmp_path):
    import shutil

    clf, tm, s_dir, _ = tiny_models
    d = tmp_path / "s"
    shutil.copytree(s_dir, d)
    texts = ["发货很快，质量很好", "Rude staff and a dirty room", "价格太贵了"]
    ref, ref_emb, _ = clf.forward_texts(texts)
    fp32 = SentimentClassifier.load(d, onnx="fp32")
    lo, emb, _ = fp32.forward_texts(texts)
    np.testing.assert_allclose(lo, ref, atol=1e-4)
    np.testing.assert_allclose(emb, ref_emb, atol=1e-4)
    int8 = SentimentClassifier.load(d, onnx="int8")
    lo8, _, _ = int8.forward_texts(texts)
    assert (d / "onnx" / "model.int8-frozen.onnx").exists()
    assert np.abs(lo8 - ref).max() < 0.5
    out = classify_feedback(pd.DataFrame({"text": texts}), sentiment_model=int8, topic_model=tm, progress=False)
    assert out["sentiment"].notna().all()
