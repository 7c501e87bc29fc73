"""The text models' quality gate on the tiny model: a weak teacher stays challenger and the best
baseline serves; a cut-short run is never promoted; forced promotion; the student/teacher switch."""

from __future__ import annotations

import pandas as pd
import pytest

from custsat.models.text.sentiment import LABELS, SentimentConfig
from custsat.models.text.student import StudentConfig
from custsat.models.text.train_sentiment import SentimentTrainPlan, train_sentiment
from test_text_fixtures import fixture_reviews, tiny_model_dir  # noqa: F401

CRM = ["物流太慢了，等了五天", "客服态度很好", "Fast delivery, thanks", "包装破了", "价格有点贵", "还行吧"]


def _plan(base: str, **kw) -> SentimentTrainPlan:
    # one epoch at a tiny learning rate: a deliberately weak model on a random 2-layer BERT
    return SentimentTrainPlan(val_fraction=0.25, crm_texts=0, **kw,
                              config=SentimentConfig(base_model=base, max_len=32, epochs=1, lr=1e-6, head_lr=1e-6,
                                                     freeze_layers=1),
                              student_config=StudentConfig(layers=(0, 1), max_len=32, epochs=1, lr=1e-6,
                                                           head_lr=1e-6))


def _train(base, **kw):
    zh, en = fixture_reviews()
    plan_kw = {k: kw.pop(k) for k in ("max_minutes",) if k in kw}
    return train_sentiment(plan=_plan(base, **plan_kw), seed=0, threads=1, reviews_zh=zh, reviews_en=en,
                           crm_texts=CRM, progress=False, **kw)


@pytest.fixture
def weak_run(isolated_settings, tiny_model_dir):  # noqa: F811
    isolated_settings.base_text_model = tiny_model_dir
    return _train(tiny_model_dir)


def test_weak_teacher_is_challenger_and_the_best_baseline_serves(weak_run):
    from custsat import tracking
    from custsat.models.registry import SENTIMENT_FAST_MODEL, SENTIMENT_MODEL
    from custsat.models.text.served import load_text_models

    reg = weak_run["registry"]
    assert set(weak_run["metrics"]) == {"teacher", "student", "tfidf_lr", "frozen_probe"}
    assert reg["teacher"]["decision"] == "challenger" and not reg["teacher"]["passed"]
    assert any("does not beat tfidf_lr" in r or "does not beat frozen_probe" in r for r in reg["teacher"]["reasons"])
    # no champion existed: the best baseline was registered and serves
    best = max(("tfidf_lr", "frozen_probe"), key=lambda k: (sum(
        weak_run["metrics"][k][lang]["accuracy"] for lang in ("zh", "en")), k))
    assert reg["baseline"]["decision"] == "champion" and reg["baseline"]["kind"] == best
    assert tracking.champion_version(SENTIMENT_MODEL) == reg["baseline"]["version"]
    tags = tracking.version_tags(SENTIMENT_MODEL, reg["teacher"]["version"])
    assert tags["promotion_decision"] == "challenger" and "does not beat" in tags["gate_reasons"]
    # the weak student has no champion to fall back on: challenger, and scoring uses the baseline
    assert reg["student"]["decision"] == "challenger"
    assert tracking.champion_version(SENTIMENT_FAST_MODEL) is None
    models = load_text_models(model="fast")
    assert models.sentiment_version == f"{SENTIMENT_MODEL}/{reg['baseline']['version']}"
    out = models.classify(pd.DataFrame({"text": ["质量很好，物流也快", "", "Rude staff and a dirty room"]}))
    assert out["sentiment"].iloc[[0, 2]].isin(LABELS).all() and pd.isna(out.loc[1, "sentiment"])
    assert "topics" in out.columns and out["urgency"].notna().all()


def test_retraining_the_same_plan_gives_the_same_metrics_and_does_not_displace(weak_run, tiny_model_dir):  # noqa: F811
    again = _train(tiny_model_dir)
    for model in ("teacher", "student", "tfidf_lr", "frozen_probe"):
        for lang in ("zh", "en"):
            assert again["metrics"][model][lang]["accuracy"] == weak_run["metrics"][model][lang]["accuracy"]
    assert again["registry"]["teacher"]["decision"] == "challenger" and "baseline" not in again["registry"]


def test_cut_short_run_is_never_promoted_even_when_forced(isolated_settings, tiny_model_dir):  # noqa: F811
    from custsat import tracking
    from custsat.models.registry import SENTIMENT_FAST_MODEL
    from custsat.models.text.summary import format_sentiment_summary

    isolated_settings.base_text_model = tiny_model_dir
    s = _train(tiny_model_dir, max_minutes=1e-9, force=True)
    assert not s["complete"] and not s["training"]["teacher"]["complete"]
    assert s["training"]["teacher"]["steps"] < s["training"]["teacher"]["planned_steps"]
    for who in ("teacher", "student"):
        assert s["registry"][who]["decision"] == "challenger" and not s["registry"][who]["forced"]
        assert "cut short" in s["registry"][who]["reasons"][0]
    assert tracking.champion_version(SENTIMENT_FAST_MODEL) is None
    text = format_sentiment_summary(s)
    assert "CUT SHORT by --max-minutes" in text and "never promoted" in text


def test_forced_promotion_is_recorded_and_model_choice_switches(isolated_settings, tiny_model_dir):  # noqa: F811
    from custsat import tracking
    from custsat.models.registry import SENTIMENT_FAST_MODEL, SENTIMENT_MODEL
    from custsat.models.text.served import load_text_models
    from custsat.models.text.student import StudentClassifier

    isolated_settings.base_text_model = tiny_model_dir
    s = _train(tiny_model_dir, force=True)
    for who, name in (("teacher", SENTIMENT_MODEL), ("student", SENTIMENT_FAST_MODEL)):
        d = s["registry"][who]
        assert d["decision"] == "champion" and d["forced"] and not d["passed"]
        assert tracking.version_tags(name, d["version"])["promotion_forced"] == "true"
    assert "baseline" not in s["registry"]
    fast, quality = load_text_models(model="fast"), load_text_models(model="quality")
    assert fast.sentiment_version == f"{SENTIMENT_FAST_MODEL}/{s['registry']['student']['version']}"
    assert quality.sentiment_version == f"{SENTIMENT_MODEL}/{s['registry']['teacher']['version']}"
    assert fast.key != quality.key  # cached labels are kept apart per model
    from custsat.models.text.classify import unwrap_model
    from custsat.models.text.served import sentiment_champion

    assert isinstance(unwrap_model(sentiment_champion("fast")[0]), StudentClassifier)
    with pytest.raises(ValueError, match="fast"):
        load_text_models(model="medium")
    texts = pd.DataFrame({"text": ["质量很好", "Terrible taste"]})
    for models in (fast, quality):
        out = models.classify(texts)
        assert out["sentiment"].isin(LABELS).all()
