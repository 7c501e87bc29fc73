"""One-pass sentiment + topics (custsat.models.text.joint): same numbers as two separate passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.models.text.classify import classify_feedback
from custsat.models.text.encoder import TextEncoder
from custsat.models.text.joint import JointEncoder, shared_prefix
from custsat.models.text.sentiment import SentimentClassifier, SentimentConfig
from custsat.models.text.topics import TopicModel
from test_text_fixtures import fixture_reviews, tiny_model_dir  # noqa: F401

TEXTS = ["发货很快，质量很好", "Rude staff and a dirty room", "价格太贵了，包装也破了", "ok", "very long " * 40]


@pytest.fixture(scope="module")
def models(tiny_model_dir, tmp_path_factory):  # noqa: F811
    zh, en = fixture_reviews()
    d = pd.concat([zh, en])
    # lower layer (of 2) and embeddings frozen -> one layer shared with the base model
    clf = SentimentClassifier(SentimentConfig(base_model=tiny_model_dir, max_len=24, epochs=2, seed=0,
                                              freeze_layers=1)).fit(d.text.tolist(), d.label.tolist(), progress=False)
    tm = TopicModel(base_model=tiny_model_dir, max_len=24, seed=0).fit()
    root = tmp_path_factory.mktemp("joint")
    clf.save(root / "sentiment")
    return SentimentClassifier.load(root / "sentiment"), tm, tiny_model_dir


def test_shared_prefix_is_measured(models):
    clf, tm, base_dir = models
    base = TextEncoder(base_dir, max_len=24).load().model_
    assert shared_prefix(clf.net_.encoder, base) == 1
    assert shared_prefix(base, base) == 2


@pytest.mark.parametrize("onnx", [False, "fp32"])
def test_joint_pass_equals_two_passes(models, onnx):
    clf, tm, base_dir = models
    enc = TextEncoder(base_dir, max_len=24).load()
    ref_logits, _, ref_trunc = clf.forward_texts(TEXTS)
    ref_emb = enc.embed(TEXTS)
    je = JointEncoder(clf, enc.model_, onnx=onnx, batch_size=2).load()
    logits, emb, trunc = je.forward_texts(TEXTS)
    assert je.shared_layers_ == 1
    np.testing.assert_allclose(logits, ref_logits, atol=1e-4)
    np.testing.assert_allclose(emb, ref_emb, atol=1e-4)
    assert trunc.tolist() == ref_trunc.tolist() == [False, False, False, False, True]


def test_classify_joint_and_separate_agree(models):
    clf, tm, _ = models
    df = pd.DataFrame({"text": TEXTS + ["", None]})
    tm.max_len = clf.config.max_len  # same truncation on both paths
    a = classify_feedback(df, sentiment_model=clf, topic_model=tm, progress=False, joint=True)
    b = classify_feedback(df, sentiment_model=clf, topic_model=tm, progress=False, joint=False)
    num = [c for c in a.columns if c.startswith(("p_", "topic_")) or c == "sentiment_score"]
    np.testing.assert_allclose(a[num].astype(float).fillna(-1), b[num].astype(float).fillna(-1), atol=1e-4)
    assert a["topics"].tolist() == b["topics"].tolist()


def test_int8_quantizes_only_the_shared_frozen_trunk(models, tmp_path):
    import onnx

    clf, _, base_dir = models
    enc = TextEncoder(base_dir, max_len=24).load()
    je = JointEncoder(clf, enc.model_, onnx="int8").load()
    logits, emb, _ = je.forward_texts(TEXTS)
    ref_logits, _, _ = clf.forward_texts(TEXTS)
    assert np.abs(logits - ref_logits).max() < 0.5
    folder = next((clf.path_ / "onnx").glob("joint-*"))
    graph = onnx.load(str(folder / "model.int8-frozen.onnx")).graph
    quantized = [n.name for n in graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    fp32 = [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and "/self/MatMul" not in n.name]
    assert quantized and all(n.startswith("/trunk.0/") for n in quantized)
    assert any(n.startswith("/base_upper.0/") for n in fp32) and any(n.startswith("/tuned_upper.0/") for n in fp32)
    assert any(n.startswith("/head/") for n in fp32)
