"""The distilled student on the tiny model: built from teacher layers, distilled, int8, saved, served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.models.text.classify import classify_feedback
from custsat.models.text.encoder import TextEncoder
from custsat.models.text.joint import JointEncoder
from custsat.models.text.sentiment import SentimentClassifier, SentimentConfig
from custsat.models.text.student import StudentClassifier, StudentConfig, StudentNet, quantize_int8
from custsat.models.text.topics import TopicModel
from test_text_fixtures import fixture_reviews, tiny_model_dir  # noqa: F401


@pytest.fixture(scope="module")
def distilled(tiny_model_dir, tmp_path_factory):  # noqa: F811
    zh, en = fixture_reviews()
    d = pd.concat([zh, en])
    texts, labels = d.text.tolist(), d.label.tolist()
    teacher = SentimentClassifier(SentimentConfig(base_model=tiny_model_dir, max_len=24, epochs=4, lr=1e-3,
                                                  head_lr=1e-2, seed=0, freeze_layers=1)).fit(
        texts, labels, texts, labels, progress=False)
    base = TextEncoder(tiny_model_dir, max_len=24).load()
    logits, emb, _ = JointEncoder(teacher, base.model_).load().forward_texts(texts)
    # pure distillation (kd_weight 1): the tiny teacher is weak, so the labels would pull the student away
    student = StudentClassifier(StudentConfig(layers=(1,), max_len=24, epochs=30, lr=2e-3, head_lr=1e-2, seed=0,
                                              batch_tokens=256, kd_weight=1.0)).fit(
        teacher, texts, logits, emb, labels, texts, labels, progress=False)
    path = student.save(tmp_path_factory.mktemp("student") / "s")
    return teacher, student, path, texts, logits, emb, base


def test_student_starts_as_a_copy_of_the_chosen_teacher_layers(distilled):
    import torch

    teacher = distilled[0]
    net = StudentNet.from_teacher(teacher.net_, [1])
    mine, theirs = net.encoder.encoder.layer[0].state_dict(), teacher.net_.encoder.encoder.layer[1].state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert torch.equal(net.topic_proj.weight, torch.eye(net.topic_proj.in_features))
    for bad in ([], [2], [1, 0], [0, 0]):
        with pytest.raises(ValueError, match="student layers"):
            StudentNet.from_teacher(teacher.net_, bad)


def test_distillation_follows_the_teacher_and_the_base_embeddings(distilled):
    teacher, student, _, texts, logits, emb, _ = distilled
    s_logits, s_emb, _ = student.forward_texts(texts, int8=False)
    corr = np.corrcoef(s_logits[:, 2] - s_logits[:, 0], logits[:, 2] - logits[:, 0])[0, 1]
    assert corr > 0.9, corr  # the student's polarity margin follows the teacher's
    assert (s_emb * emb).sum(1).mean() > 0.95  # topic head lands in the base model's space
    assert student.complete_ and student.training_["steps"] == student.training_["planned_steps"]
    with pytest.raises(ValueError, match="one row per text"):
        StudentClassifier(StudentConfig(layers=(0,))).fit(teacher, texts[:3], logits, emb)


def test_int8_quantizes_linear_layers_and_keeps_the_embedding_lookup(distilled):
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    _, student, _, texts, _, _, _ = distilled
    q = quantize_int8(student.net_)
    kinds = {type(m) for m in q.modules()}
    assert DynamicLinear in kinds and torch.nn.Linear not in kinds
    assert isinstance(q.encoder.embeddings.word_embeddings, torch.nn.Embedding)
    assert q.encoder.embeddings.word_embeddings.weight.dtype == torch.float32
    fp_logits, fp_emb, _ = student.forward_texts(texts, int8=False)
    q_logits, q_emb, _ = student.forward_texts(texts, int8=True)
    assert np.abs(q_logits - fp_logits).max() < 0.25
    assert (q_emb * fp_emb).sum(1).min() > 0.98
    assert not np.array_equal(q_logits, fp_logits)  # it is a different computation


def test_save_load_and_serving_in_one_pass(distilled, tiny_model_dir):  # noqa: F811
    _, student, path, texts, _, _, base = distilled
    again = StudentClassifier.load(path)
    assert again.int8 is student.int8 and StudentClassifier.load(path, int8=True).int8 is True
    np.testing.assert_allclose(again.forward_texts(texts, int8=False)[0], student.forward_texts(texts, int8=False)[0],
                               atol=1e-6)
    tm = TopicModel(base_model=tiny_model_dir, max_len=24, seed=0).fit()
    df = pd.DataFrame({"text": texts[:5] + ["", None]})
    out = classify_feedback(df, sentiment_model=again, topic_model=tm, progress=False)
    _, emb, _ = again.forward_texts(texts[:5])
    expected = tm.to_frame(tm.predict_proba(texts[:5], embeddings=emb))
    assert out["topics"].tolist()[:5] == expected["topics"].tolist() and out.loc[5, "topics"] is None
    np.testing.assert_allclose(out.loc[:4, ["p_negative", "p_neutral", "p_positive"]].to_numpy(float),
                               again.predict_proba(texts[:5]), atol=1e-6)
