"""Sentiment: calibration helpers, tiny end-to-end fine-tune, MLflow registration, urgency rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.models.text.sentiment import (
    LABELS,
    SentimentClassifier,
    SentimentConfig,
    _neutral_from_band,
    fit_temperature,
    ratings_to_labels,
    sentiment_frame,
    tune_band,
)
from custsat.models.text.urgency import assign_urgency, urgency_flags, urgency_reasons
from test_text_fixtures import fixture_reviews, tiny_model_dir  # noqa: F401


def test_band_probabilities_sum_to_one_and_neutral_wins_exactly_inside_band():
    p = np.linspace(0.0, 1.0, 201)
    b = 0.3
    pr = _neutral_from_band(p, b)
    np.testing.assert_allclose(pr.sum(1), 1.0, atol=1e-12)
    assert (pr >= 0).all()
    x = np.abs(2 * p - 1)
    is_neutral = pr.argmax(1) == 1
    assert (is_neutral == (x < b - 1e-9))[np.abs(x - b) > 1e-6].all()
    score = pr[:, 2] - pr[:, 0]
    assert score.min() >= -1 and score.max() <= 1 and np.all(np.diff(score) >= -1e-12)  # monotone in p
    np.testing.assert_allclose(_neutral_from_band(p, 0.0)[:, 1], 0.0)


def test_fit_temperature_recovers_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-z))).astype(int)
    assert abs(fit_temperature(z * 2.0, y) - 2.0) < 0.15


def test_tune_band_respects_max_share():
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    b = tune_band(p, y, target_acc=0.99, max_share=0.10)
    assert (np.abs(2 * p - 1) < b).mean() <= 0.10
    assert tune_band(np.array([0.99, 0.01]), np.array([1, 0]), 0.95, 0.5) == 0.0  # already accurate


def test_ratings_to_weak_labels():
    r = pd.Series([1, 2, 3, 4, 5, np.nan, 7])
    assert ratings_to_labels(r).tolist()[:5] == ["negative", "negative", "neutral", "positive", "positive"]
    assert ratings_to_labels(r).isna().tolist()[5:] == [True, True]


def test_sentiment_frame_nulls_for_empty():
    pr = np.array([[0.7, 0.1, 0.2], [0.0, 0.0, 0.0]])
    df = sentiment_frame(pr, empty=np.array([False, True]))
    assert df.loc[0, "sentiment"] == "negative" and df.loc[0, "sentiment_score"] == pytest.approx(-0.5)
    assert df.loc[1].isna().all()


@pytest.fixture(scope="module")
def tiny_sentiment(tiny_model_dir):  # noqa: F811
    zh, en = fixture_reviews()
    data = pd.concat([zh, en], ignore_index=True)
    cfg = SentimentConfig(base_model=tiny_model_dir, max_len=32, epochs=25, lr=2e-3, head_lr=1e-2, seed=0,
                          batch_tokens=128, freeze_embeddings=False, freeze_layers=0, dropout=0.0)
    tr = data[data.split == "train"]
    clf = SentimentClassifier(cfg).fit(tr.text.tolist(), tr.label.tolist(), tr.text.tolist(), tr.label.tolist(),
                                       progress=False)
    return clf, data


def test_tiny_fine_tune_learns_training_data_and_roundtrips(tiny_sentiment, tmp_path):
    clf, data = tiny_sentiment
    tr = data[data.split == "train"]
    pr = clf.predict_proba(tr.text.tolist())
    np.testing.assert_allclose(pr.sum(1), 1.0, atol=1e-6)
    acc = ((pr[:, 2] >= pr[:, 0]) == (tr.label == "positive").to_numpy()).mean()
    assert acc >= 0.75, acc  # 25 epochs with a high learning rate fit the tiny training set
    assert clf.neutral_mode_ == "band" and clf.temperature_ > 0
    clf.save(tmp_path / "m")
    again = SentimentClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(tr.text.tolist()), pr, atol=1e-5)


def test_learned_neutral_keeps_polarity_and_folds_into_the_head(tiny_model_dir):  # noqa: F811
    zh, en = fixture_reviews()
    d = pd.concat([zh, en])
    neutral = ["还行吧", "一般般", "It's okay", "Average, nothing special", "凑合", "not bad, not great"]
    texts = d.text.tolist() + neutral
    labels = d.label.tolist() + ["neutral"] * len(neutral)
    cfg = SentimentConfig(base_model=tiny_model_dir, max_len=16, epochs=2, seed=0, freeze_layers=0)
    clf = SentimentClassifier(cfg).fit(texts, labels, progress=False)
    assert clf.neutral_mode_ == "learned" and clf.neutral_head_.scale > 0
    raw, pooled = clf.pooled_logits(texts)
    # the folded head gives exactly the fitted neutral head's logits ...
    np.testing.assert_allclose(raw[:, 1], pooled @ clf.neutral_head_.w + clf.neutral_head_.b + clf.neutral_head_.bias,
                               atol=1e-3)
    # ... and polarity is the fine-tuned model's, only rescaled
    polar = clf.predict_proba(texts)
    assert ((polar[:, 2] >= polar[:, 0]) == (raw[:, 2] >= raw[:, 0])).all()
    assert clf.predict(["还行吧"])[0] in LABELS


def test_single_class_training_rejected(tiny_model_dir):  # noqa: F811
    with pytest.raises(ValueError, match="negative and positive rows"):
        SentimentClassifier(SentimentConfig(base_model=tiny_model_dir)).fit(["a", "b"], ["positive", "positive"])


def test_urgency_rules():
    assert urgency_flags("产品起火了，差点烧到孩子")["safety"]
    assert urgency_flags("I will contact my lawyer")["legal"]
    assert urgency_flags("第三次投诉了，至今没人理")["repeated"]
    assert urgency_flags("THIS IS THE WORST SERVICE EVER")["anger"]
    assert not any(urgency_flags("").values())
    # anger / repeated need model negativity; safety and legal do not
    assert urgency_reasons("Called again, still not fixed", 0.9) == ["repeated+negative"]
    assert urgency_reasons("Called again, still not fixed", 0.1) == []
    assert urgency_reasons("The charger caught fire", 0.1) == ["safety"]
    u = assign_urgency(["要去消协投诉", "很好", "气死了，垃圾", "fine"], [0.2, 0.1, 0.95, 0.0],
                       prior=[None, None, None, "urgent"])
    assert u.tolist() == ["high", "normal", "high", "high"]


def test_learned_neutral_is_capped_on_clear_reviews():
    """The neutral offset is lowered until at most 10% of the polar validation rows are neutral,
    and left at 0 when the head already calls fewer; polarity rows decide, neutral rows do not."""
    from custsat.models.text.sentiment import (
        calibrate_logits,
        calibrated_proba,
        neutral_offset_for_share,
    )

    rng = np.random.default_rng(0)
    polar = np.column_stack([rng.normal(0, 1, 1000), rng.normal(0.5, 1, 1000), rng.normal(0, 1, 1000)])
    offset = neutral_offset_for_share(polar, 0.10)
    assert offset < 0
    called = (calibrated_proba(polar, "learned", 1.0, 0.0, offset).argmax(1) == 1).mean()
    assert 0.09 <= called <= 0.10
    quiet = polar - [0, 5, 0]
    assert neutral_offset_for_share(quiet, 0.10) == 0.0
    labels = ["positive"] * 1000 + ["neutral"] * 500
    both = np.vstack([polar, np.tile([0.0, 9.0, 0.0], (500, 1))])
    assert calibrate_logits(both, labels, "learned", 0.95, 0.15) == (1.0, 0.0, offset)
