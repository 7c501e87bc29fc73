"""Topics: taxonomy validation, seeds vs evaluation sample, keyword matching, model output format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from custsat.config import DEFAULT_TAXONOMY
from custsat.models.text.topics import (
    SEED_EXAMPLES,
    KeywordMatcher,
    TaxonomyError,
    TopicModel,
    load_seed_examples,
    load_taxonomy,
    multilabel_scores,
    parse_taxonomy,
    parse_topic_labels,
)
from test_text_fixtures import tiny_model_dir  # noqa: F401

IDS = ["product_quality", "functionality", "usability", "service_attitude", "delivery", "price_value",
       "after_sales", "packaging", "environment_facilities"]


def test_default_taxonomy_loads_with_keywords():
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    assert tax.ids == IDS
    for t in tax.topics:
        assert t.zh and t.en and t.covers and t.keywords_zh and t.keywords_en


@pytest.mark.parametrize(
    "topics, message",
    [
        ([{"id": "a", "zh": "甲", "en": "A", "covers": "x"}, {"id": "a", "zh": "乙", "en": "B", "covers": "y"}],
         "duplicate id"),
        ([{"id": "Bad-Id", "zh": "甲", "en": "A", "covers": "x"}], "must match"),
        ([{"id": "a", "en": "A", "covers": "x"}], "'zh'"),
        ([{"id": "a", "zh": "甲", "en": "A", "covers": "x", "keywords": {"zh": "发货"}}], "keywords.zh"),
        ([{"id": "a", "zh": "甲", "en": "A", "covers": "x", "keywords": {"fr": ["x"]}}], "keys zh/en"),
        ([], "non-empty list"),
    ],
)
def test_taxonomy_validation_errors(topics, message):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy({"topics": topics}, "my.yaml")


def test_taxonomy_file_errors(tmp_path):
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="bad.yaml"):
        load_taxonomy(bad)


def test_parse_topic_labels_rejects_unknown_ids_naming_rows():
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    df = pd.DataFrame({"text": ["a", "b", " "], "topics": ["delivery;price_value", "weather", "delivery"]})
    with pytest.raises(TaxonomyError, match=r"weather.*rows \[1\]"):
        parse_topic_labels(df, tax)
    ok = parse_topic_labels(df.iloc[[0, 2]], tax)
    assert ok["topics"].tolist() == [["delivery", "price_value"]]  # whitespace text dropped


def test_seed_examples_are_valid_and_disjoint_from_eval_sample():
    from custsat.config import get_settings

    tax = load_taxonomy(DEFAULT_TAXONOMY)
    seeds = load_seed_examples(tax)
    raw = yaml.safe_load(SEED_EXAMPLES.read_text(encoding="utf-8"))["examples"]
    assert len(seeds) == len(raw) >= 60
    covered = {t for ts in seeds["topics"] for t in ts}
    assert covered == set(IDS)
    assert not seeds["id"].str.contains("test").any()  # seeds come from the train splits
    eval_path = get_settings().data_path / "labels" / "topics_eval.csv"
    if not eval_path.exists():
        eval_path = DEFAULT_TAXONOMY.parents[3] / "data" / "labels" / "topics_eval.csv"
    if eval_path.exists():
        ev = pd.read_csv(eval_path, keep_default_na=False)
        assert not set(ev["review_id"]) & set(seeds["id"])
        assert not set(ev["text"]) & set(seeds["text"])
        assert 150 <= len(ev) <= 300
        parse_topic_labels(ev, tax)  # every label is a taxonomy id


def test_keyword_matcher_counts_zh_substrings_and_en_word_starts():
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    km = KeywordMatcher(tax)
    c = km.counts(["发货很快，包装很好", "It arrived quickly; shipping was cheap", "unshipped", ""])
    j = {t: i for i, t in enumerate(tax.ids)}
    assert c[0, j["delivery"]] >= 1 and c[0, j["packaging"]] >= 1
    assert c[1, j["delivery"]] >= 2 and c[1, j["price_value"]] >= 1
    assert c[2, j["delivery"]] == 0  # "ship" must start a word
    assert c[3].sum() == 0


def test_multilabel_scores_hand_computed():
    ids = ["a", "b", "c"]
    s = multilabel_scores([["a"], ["a", "b"], []], [["a"], ["b", "c"], []], ids)
    # tp: a=1, b=1; fp: c=1; fn: a=1  -> micro F1 = 2*2 / (2*2 + 1 + 1) = 0.6667
    assert s["micro_f1"] == pytest.approx(4 / 6)
    # per-topic F1: a = 2/3, b = 1, c = 0 (c not present in truth -> excluded from macro)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)


@pytest.fixture(scope="module")
def tiny_topics(tiny_model_dir):  # noqa: F811
    return TopicModel(base_model=tiny_model_dir, max_len=32, seed=0).fit()


def test_bootstrap_output_format(tiny_topics):
    texts = ["发货很快，包装很好，价格便宜", "", "   ", "Rude staff and the room was dirty", "👍"]
    proba = tiny_topics.predict_proba(texts)
    assert proba.shape == (5, 9)
    assert np.isnan(proba[1]).all() and np.isnan(proba[2]).all()
    assert ((proba[[0, 3, 4]] >= 0) & (proba[[0, 3, 4]] <= 1)).all()
    df = tiny_topics.to_frame(proba)
    assert list(df.columns) == ["topics"] + [f"topic_{t}" for t in IDS]
    assert df.loc[1, "topics"] is None
    first = df.loc[0, "topics"].split(";")
    # with a random tiny encoder only the keyword signal is informative: the three keyword-backed
    # topics must be the three most probable ones
    top3 = {IDS[j] for j in np.argsort(-proba[0])[:3]}
    assert top3 == {"delivery", "packaging", "price_value"}
    assert first[0] in top3
    p0 = [proba[0, IDS.index(t)] for t in first]
    assert p0 == sorted(p0, reverse=True)  # most probable first
    assert IDS[int(np.argmax(proba[3]))] in {"service_attitude", "environment_facilities"}


def test_fewshot_and_supervised_modes_and_roundtrip(tiny_model_dir, tmp_path):  # noqa: F811
    rows = []
    for i in range(4):
        rows += [(f"快递{i}天才到，太慢了", "delivery"), (f"客服第{i}次不理人", "service_attitude"),
                 (f"价格贵了{i}百元", "price_value"), (f"包装盒第{i}次压坏", "packaging;delivery")]
    labels = pd.DataFrame(rows, columns=["text", "topics"])  # single- and multi-label rows
    few = TopicModel(base_model=tiny_model_dir, max_len=32, seed=0).fit(labels)
    assert few.n_seeds_ > len(load_seed_examples(load_taxonomy(DEFAULT_TAXONOMY)))
    sup = TopicModel(base_model=tiny_model_dir, max_len=32, mode="supervised", seed=0).fit(labels)
    p = sup.predict_proba(["快递太慢了", ""])
    assert p.shape == (2, 9) and np.isnan(p[1]).all()
    assert sup.to_frame(p).loc[0, "topics"].split(";")[0] in IDS
    sup.save(tmp_path / "tm")
    again = TopicModel.load(tmp_path / "tm")
    again.encoder_ = sup.encoder_
    np.testing.assert_allclose(again.predict_proba(["快递太慢了", ""]), p)
    with pytest.raises(TaxonomyError, match="at least 10"):
        TopicModel(base_model=tiny_model_dir, mode="supervised").fit(labels.head(3))
