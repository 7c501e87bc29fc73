"""Sentiment per topic: clause segmentation, clause-to-topic attribution and the per-topic decision.

The text models here are small rule-based stand-ins with the same public ``predict_proba``
interface, so the aggregation logic is tested exactly; the real models are measured on the
hand-labelled sample by ``bench/bench_feedback_ops.py`` / :func:`evaluate_aspects`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.config import DEFAULT_TAXONOMY
from custsat.models.text.aspects import (
    AspectConfig,
    AspectSentiment,
    add_topic_sentiments,
    bootstrap_ci,
    decide_polarity,
    evaluate_aspects,
    parse_aspects,
    split_clauses,
)
from custsat.models.text.topics import KeywordMatcher, load_taxonomy

POS = ("快", "好", "great", "fast", "不错", "love", "friendly")
NEG = ("破", "慢", "差", "torn", "slow", "rude", "broken", "吵")


class RuleSentiment:
    calls = 0

    def predict_proba(self, texts):
        RuleSentiment.calls += 1
        out = []
        for t in texts:
            t = t.lower()
            score = sum(w in t for w in POS) - sum(w in t for w in NEG)
            out.append([0.8, 0.1, 0.1] if score < 0 else [0.1, 0.1, 0.8] if score > 0 else [0.2, 0.6, 0.2])
        return np.array(out)


class KeywordTopics:
    def __init__(self):
        self.tax_ = load_taxonomy(DEFAULT_TAXONOMY)
        self._kw = KeywordMatcher(self.tax_)

    def predict_proba(self, texts):
        return np.clip(self._kw.counts(list(texts)) * 0.6, 0, 0.95)


@pytest.mark.parametrize(("text", "clauses"), [
    ("物流很快，但是包装破了", [(0, "物流很快"), (0, "但是包装破了")]),
    ("房间很大但很吵。早餐一般般", [(0, "房间很大"), (0, "但很吵"), (1, "早餐一般般")]),
    ("The coffee tastes great, but the bag arrived torn. Shipping was fast though!",
     [(0, "The coffee tastes great"), (0, "but the bag arrived torn"), (1, "Shipping was fast though")]),
    ("好，便宜", [(0, "好 便宜")]),  # a one-character piece joins its neighbour
    ("", []),
])
def test_split_clauses(text, clauses):
    assert split_clauses(text) == clauses


def test_each_topic_gets_its_own_polarity():
    model = AspectSentiment(RuleSentiment(), KeywordTopics())
    texts = ["物流很快，但是包装破了", "The staff were rude. The room was great, very clean and quiet",
             "快递很快", "包装破了，还把盒子压扁了"]
    topics = [["delivery", "packaging"], ["service_attitude", "environment_facilities"], ["delivery"],
              ["packaging", "delivery"]]
    out = model.polarities(texts, topics)
    assert out[0] == {"delivery": "positive", "packaging": "negative"}
    assert out[1] == {"service_attitude": "negative", "environment_facilities": "positive"}
    assert out[2] == {"delivery": "positive"}  # one topic: the text's sentiment
    # "还把盒子压扁了" has a packaging keyword (盒子); delivery has no clause: it takes the text's sentiment
    assert out[3] == {"packaging": "negative", "delivery": "negative"}


def test_a_clause_without_topic_words_continues_the_sentences_topic():
    model = AspectSentiment(RuleSentiment(), KeywordTopics(), AspectConfig(text_weight=0.0))
    out = model.polarities(["包装很好，服务员态度差，太慢"], [["packaging", "service_attitude"]],
                           text_proba=np.array([[0.5, 0.2, 0.3]]))
    # "太慢" (no topic word) belongs to the service clause before it: service is negative twice over
    assert out[0] == {"packaging": "positive", "service_attitude": "negative"}


def test_add_topic_sentiments_keeps_order_and_skips_single_topic_rows():
    RuleSentiment.calls = 0
    frame = pd.DataFrame({"text": ["物流很快，但是包装破了", "快递很快", "", "随便说说"],
                          "topics": ["packaging;delivery", "delivery", None, ""],
                          "p_negative": [0.6, 0.1, np.nan, 0.3], "p_neutral": [0.1, 0.1, np.nan, 0.4],
                          "p_positive": [0.3, 0.8, np.nan, 0.3]})
    out = add_topic_sentiments(frame, RuleSentiment(), KeywordTopics())
    assert out["topic_sentiments"].tolist() == ["packaging:negative;delivery:positive", "delivery:positive", None, ""]
    assert RuleSentiment.calls == 1  # only the clauses of the two-topic text went to the model


def test_evaluation_against_the_overall_sentiment_baseline():
    labels = pd.DataFrame({
        "language": ["zh", "zh", "en"],
        "text": ["物流很快，但是包装破了", "房间很吵，但是服务员很好", "Shipping was fast and the staff were friendly"],
        "aspects": ["delivery:positive;packaging:negative", "environment_facilities:negative;service_attitude:positive",
                    "delivery:positive;service_attitude:positive"],
    })
    res = evaluate_aspects(labels, RuleSentiment(), KeywordTopics())
    assert res["pairs"] == 6 and res["overall"]["accuracy"] == 1.0
    # a mixed text's overall sentiment is neutral here (one praise word, one complaint word): wrong for both topics
    assert res["overall"]["baseline_accuracy"] == pytest.approx(2 / 6)
    assert res["mixed_texts"]["pairs"] == 4 and res["mixed_texts"]["baseline_accuracy"] == 0.0
    per = {(r["topic"], r["polarity"]): r["accuracy"] for r in res["per_topic_polarity"]}
    assert per[("packaging", "negative")] == 1.0
    assert parse_aspects("a:positive; b:negative") == {"a": "positive", "b": "negative"}


def test_polarity_rule_and_mixed_stance():
    proba = np.array([[0.2, 0.6, 0.2], [0.1, 0.75, 0.15], [0.5, 0.3, 0.2], [0.3, 0.5, 0.2]])
    assert decide_polarity(proba, None).tolist() == ["neutral", "neutral", "negative", "neutral"]
    assert decide_polarity(proba, 0.7).tolist() == ["positive", "neutral", "negative", "negative"]
    model = AspectSentiment(RuleSentiment(), KeywordTopics(), AspectConfig(mixed_min=0.7))
    out = model.polarities(["位置好，但是交通慢。服务员态度差"], [["environment_facilities", "service_attitude"]])
    # 位置好 (+) and 交通慢 (-) are both about the premises: a mixed stance
    assert out[0] == {"environment_facilities": "neutral", "service_attitude": "negative"}


def test_bootstrap_ci_resamples_texts():
    a = np.array([1, 1, 1, 0, 1, 1], float)
    b = np.array([1, 0, 1, 0, 0, 1], float)
    res = bootstrap_ci(a, b, np.array([0, 0, 1, 1, 2, 2]), n_boot=500)
    assert res["difference"] == pytest.approx(2 / 6)
    assert res["difference_ci_low"] <= res["difference"] <= res["difference_ci_high"]


def test_development_sample_is_real_training_data_apart_from_the_evaluation():
    from pathlib import Path

    import yaml

    from custsat.models.text.topics import SEED_EXAMPLES

    root = Path(__file__).resolve().parents[1]
    if not (root / "data/interim/reviews_zh.parquet").exists():
        pytest.skip("the real review datasets have not been fetched (custsat data fetch)")
    dev = pd.read_csv(root / "data/labels/aspects_dev.csv")
    ids = load_taxonomy(DEFAULT_TAXONOMY).ids
    for lang, rows in dev.groupby("language"):
        source = pd.read_parquet(root / f"data/interim/reviews_{lang}.parquet").set_index("review_id")
        matched = source.loc[rows["review_id"]]
        assert (matched["split"] == "train").all() and (matched["text"].to_numpy() == rows["text"].to_numpy()).all()
    for value in dev["aspects"]:
        pairs = parse_aspects(value)
        assert len(pairs) >= 2 and set(pairs) <= set(ids) and set(pairs.values()) <= {"negative", "neutral", "positive"}
    others = set()
    for name in ("aspects_eval.csv", "sentiment_3class_eval.csv", "sentiment_3class_train.csv", "topics_eval.csv"):
        path = root / "data/labels" / name
        if path.exists():
            others |= set(pd.read_csv(path)["review_id"].astype(str))
    seeds = yaml.safe_load(SEED_EXAMPLES.read_text(encoding="utf-8"))["examples"]
    assert not set(dev["review_id"]) & others
    assert not set(dev["text"]) & {s["text"] for s in seeds}
