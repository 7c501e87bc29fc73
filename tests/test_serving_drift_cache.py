"""PSI against hand-computed values; text classification cache (only new texts classified)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from custsat.models.drift import PSI_WARN, build_reference, psi, psi_table
from custsat.models.text.cache import classify_with_cache, text_hash


def test_psi_hand_computed():
    e, a = [0.5, 0.5], [0.25, 0.75]
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(e, a) == pytest.approx(expected)
    assert psi(e, e) == 0.0


def test_reference_bins_and_psi_table():
    train = pd.DataFrame({
        "customer_id": [str(i) for i in range(1000)],
        "x": np.arange(1000, dtype=float),
        "tier": ["high"] * 500 + ["low"] * 500,
    })
    ref = build_reference(train, bins=4)
    assert ref["features"]["x"]["edges"] == pytest.approx([249.75, 499.5, 749.25])
    assert ref["features"]["x"]["shares"] == pytest.approx([0.25, 0.25, 0.25, 0.25, 0.0])
    assert "customer_id" not in ref["features"]
    same = psi_table(ref, train)
    assert (same["psi"] < 1e-9).all() and not same["drifted"].any()
    # all scoring rows in the top bin: PSI = 3*(1e-4-0.25)*ln(1e-4/0.25) + (1-0.25)*ln(1/0.25)
    shifted = train.assign(x=2000.0, tier="low")
    table = psi_table(ref, shifted).set_index("feature")
    hand = 3 * (1e-4 - 0.25) * math.log(1e-4 / 0.25) + 0.75 * math.log(1 / 0.25)
    assert table.loc["x", "psi"] == pytest.approx(hand, rel=1e-3)
    assert table.loc["x", "drifted"] and table.loc["x", "psi"] > PSI_WARN
    hand_tier = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(1 / 0.5)
    assert table.loc["tier", "psi"] == pytest.approx(hand_tier, rel=1e-3)
    missing = psi_table(ref, train.drop(columns=["tier"])).set_index("feature")
    assert missing.loc["tier", "note"] == "missing at scoring time"


def _fake_classifier(calls):
    def classify(frame):
        calls.append(list(frame["text"]))
        neg = frame["text"].str.contains("bad")
        return frame.assign(
            sentiment=np.where(neg, "negative", "positive"),
            sentiment_score=np.where(neg, -0.8, 0.7),
            topics=np.where(neg, "delivery", ""),
            urgency="normal",
        )
    return classify


def _feedback(texts):
    return pd.DataFrame({
        "feedback_id": [f"f{i}" for i in range(len(texts))],
        "customer_id": "c1",
        "timestamp": pd.Timestamp("2026-01-01"),
        "channel": "email",
        "text": texts,
    })


def test_cache_classifies_only_new_texts(tmp_path):
    cache = tmp_path / "processed" / "text_cache.parquet"
    calls: list[list[str]] = []
    classify = _fake_classifier(calls)
    first, stats = classify_with_cache(_feedback(["bad delivery", "great", "bad delivery"]), classify,
                                       cache_path=cache, model_key="s=1;t=1")
    assert calls == [["bad delivery", "great"]] or calls == [["great", "bad delivery"]]
    assert stats.unique_texts == 2 and stats.classified == 2 and stats.cache_hits == 0
    assert first["sentiment"].tolist() == ["negative", "positive", "negative"]
    # the cache holds hashes and outputs, never the texts
    stored = pd.read_parquet(cache)
    assert "text" not in stored.columns and set(stored["text_hash"]) == set(text_hash(pd.Series(["bad delivery", "great"])))

    calls.clear()
    second, stats = classify_with_cache(_feedback(["great", "bad delivery", "new and bad"]), classify,
                                        cache_path=cache, model_key="s=1;t=1")
    assert calls == [["new and bad"]]
    assert stats.cache_hits == 2 and stats.classified == 1
    assert second["sentiment"].tolist() == ["positive", "negative", "negative"]

    calls.clear()
    _, stats = classify_with_cache(_feedback(["great"]), classify, cache_path=cache, model_key="s=2;t=1")
    assert calls == [["great"]], "a new model version re-classifies"


def test_prelabelled_rows_kept_and_crm_urgency_wins(tmp_path):
    calls: list[list[str]] = []
    fb = _feedback(["bad one", "fine"]).assign(sentiment=["positive", None], topics=["price_value", None],
                                                urgency=["normal", "high"])
    out, stats = classify_with_cache(fb, _fake_classifier(calls), cache_path=None, model_key="k")
    assert calls == [["fine"]]
    assert out["sentiment"].tolist() == ["positive", "positive"]
    assert out["topics"].tolist() == ["price_value", ""]
    assert out["urgency"].tolist() == ["normal", "high"]
    assert stats.rows_prelabelled == 1


def test_text_adapter_uses_champions_and_bootstrap_fallback(monkeypatch):
    """Wiring: sentiment champion required, topic champion optional (bootstrap), versions recorded."""
    from custsat import tracking
    from custsat.models.text import classify as classify_mod
    from custsat.models.text.served import load_text_models

    sentiment = object()
    seen = {}

    def fake_load_champion(name, model_config=None):
        if name == "custsat-sentiment":
            return sentiment, "7"
        raise tracking.ModelNotFoundError(f"No champion version of model '{name}'")

    def fake_classify(frame, text_column="text", sentiment_model=None, topic_model=None, progress=True, **kw):
        seen.update(sentiment=sentiment_model, topics=topic_model)
        return frame.assign(sentiment="neutral", topics="")

    monkeypatch.setattr(tracking, "load_champion", fake_load_champion)
    monkeypatch.setattr(tracking, "champion_version", lambda name: "7" if name == "custsat-sentiment" else None)
    monkeypatch.setattr(classify_mod, "bootstrap_topic_model", lambda: "bootstrap-model")
    monkeypatch.setattr(classify_mod, "classify_feedback", fake_classify)
    models = load_text_models()
    # no student promoted yet: the default (fast) falls back to the teacher's champion
    assert models.sentiment_version == "custsat-sentiment/7" and models.topic_version.startswith("bootstrap-")
    out = models.classify(pd.DataFrame({"text": ["a", "b"]}))
    assert seen == {"sentiment": sentiment, "topics": "bootstrap-model"} and len(out) == 2

    def no_models(name, model_config=None):
        raise tracking.ModelNotFoundError(f"No champion version of model '{name}'. Train it with `make train-sentiment`")

    monkeypatch.setattr(tracking, "load_champion", no_models)
    with pytest.raises(tracking.ModelNotFoundError, match="custsat-sentiment"):
        load_text_models()


def test_newly_classified_texts_get_a_polarity_per_topic_and_labelled_input_keeps_its_own(tmp_path):
    """Single-topic texts give their topic the text's polarity; without the models' objects the
    topics of a multi-topic text take it too; rows that came labelled are left as they are."""
    from custsat.models.text.served import FeedbackLabeller, TextModels

    def classify(frame):
        n = len(frame)
        topics = frame["text"].map({"a": "delivery;packaging", "b": "delivery"})
        return frame.assign(sentiment=["negative"] * n, p_negative=[0.9] * n, p_neutral=[0.05] * n,
                            p_positive=[0.05] * n, topics=topics.to_numpy())

    feedback = pd.DataFrame({"text": ["a", "b", "c"], "sentiment": [None, None, "positive"],
                             "topics": [None, None, "price_value"]})
    labeller = FeedbackLabeller(TextModels(classify=classify, sentiment_version="s", topic_version="t"),
                                cache_path=None)
    out = labeller.label(feedback)
    assert out["topic_sentiments"].tolist()[:2] == ["delivery:negative;packaging:negative", "delivery:negative"]
    assert pd.isna(out["topic_sentiments"].iloc[2])
