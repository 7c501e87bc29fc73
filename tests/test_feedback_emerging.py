"""Emerging issues: candidates, deterministic clustering of a planted cluster, names, taxonomy entries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from custsat.config import DEFAULT_TAXONOMY
from custsat.models.text.emerging import (
    EmergingConfig,
    candidate_mask,
    class_tfidf,
    cluster_embeddings,
    find_emerging,
    seed_examples_yaml,
    taxonomy_entries,
    taxonomy_yaml,
    tokenize,
)
from custsat.models.text.topics import KeywordMatcher, load_taxonomy, parse_taxonomy

AS_OF = pd.Timestamp("2026-06-30")
LOGIN = ["App登录不上，一直提示密码错误", "验证码收不到，没法登录", "登录页面一直转圈，登录不了", "账号被锁，登录失败",
         "I can't log in, the login page keeps spinning", "login fails, my account is locked",
         "the login code never arrives, can't log in to my account", "登录总是失败，账号登录不上"]
OTHER = ["太失望了，不会再买了", "整体体验很差", "Very disappointed overall", "worst experience ever, sorry",
         "客服电话打不通", "price went up again", "没有达到预期", "质量一般，不推荐"]


def planted(n_background: int = 120, seed: int = 0):
    """Background complaints spread over 12 weeks plus a new tight cluster in the last two weeks."""
    rng = np.random.default_rng(seed)
    dim = 32
    centre = rng.normal(size=dim)
    rows, emb = [], []
    for i in range(n_background):
        rows.append({"timestamp": AS_OF - pd.Timedelta(days=float(rng.uniform(1, 84))), "text": f"{OTHER[i % 8]} #{i}",
                     "planted": False})
        emb.append(rng.normal(size=dim))
    for i in range(16):
        rows.append({"timestamp": AS_OF - pd.Timedelta(days=float(rng.uniform(0.5, 13))), "text": f"{LOGIN[i % 8]} ({i})",
                     "planted": True})
        emb.append(centre + 0.25 * rng.normal(size=dim))
    frame = pd.DataFrame(rows)
    frame["sentiment"] = "negative"
    frame["topic_delivery"] = 0.1
    frame["language"] = ["zh" if any("\u4e00" <= ch <= "\u9fff" for ch in t) else "en" for t in frame["text"]]
    return frame, np.array(emb, dtype=np.float32)


def test_candidates_are_negative_in_window_and_off_taxonomy():
    frame = pd.DataFrame({
        "timestamp": [AS_OF - pd.Timedelta(days=d) for d in (1, 1, 1, 1, 100, 1)],
        "text": ["a", "b", "c", "d", "e", " "],
        "sentiment": ["negative", "positive", "negative", None, "negative", "negative"],
        "p_negative": [0.9, 0.1, 0.9, 0.8, 0.9, 0.9],
        "topic_delivery": [0.2, 0.2, 0.9, 0.1, 0.1, 0.1],
    })
    assert candidate_mask(frame, AS_OF).tolist() == [True, False, False, True, False, False]


def test_clustering_finds_the_planted_cluster_deterministically():
    frame, emb = planted()
    cfg = EmergingConfig(merge_distance=0.5, micro_size=6, center=False)
    labels = cluster_embeddings(emb, cfg)
    assert (labels == cluster_embeddings(emb, cfg)).all()
    planted_labels = labels[frame["planted"].to_numpy()]
    main = np.bincount(planted_labels[planted_labels >= 0]).argmax()
    members = labels == main
    assert planted_labels.tolist().count(main) >= 14  # recall
    assert frame.loc[members, "planted"].mean() >= 0.9  # purity

    clusters = find_emerging(frame, AS_OF, lambda texts: emb[[frame.index[frame["text"] == t][0] for t in texts]], cfg)
    top = clusters[0]
    assert frame.loc[top.member_rows, "planted"].mean() >= 0.9 and top.recent == top.size and top.previous == 0
    assert "登录" in top.terms_zh and "login" in top.terms_en
    assert top.languages == {"en": int(frame.loc[top.member_rows, "language"].eq("en").sum()),
                             "zh": int(frame.loc[top.member_rows, "language"].eq("zh").sum())}
    assert len(top.examples) == 3 and all(e.split(" (")[0] in LOGIN for e in top.examples)
    assert top.surprise > max(c.surprise for c in clusters[1:])  # new and growing ranks first


def test_examples_are_masked():
    frame, emb = planted()
    frame.loc[frame["planted"], "text"] = [f"登录不上，请回电 1380013{i:04d}" for i in range(16)]
    cfg = EmergingConfig(merge_distance=0.5, micro_size=6, center=False)
    clusters = find_emerging(frame, AS_OF, lambda texts: emb[[frame.index[frame["text"] == t][0] for t in texts]], cfg)
    assert all("<PHONE>" in e and "1380013" not in e for e in clusters[0].examples)


def test_tokenizer_and_class_tfidf_by_hand():
    assert tokenize("物流很快，但是App登录不上！Login failed again") == ["app", "login", "failed", "物流", "很快", "登录", "不上"]
    from collections import Counter

    a, b = Counter({"login": 3, "app": 1}), Counter({"app": 3, "price": 1})
    wa, wb = class_tfidf([a, b])
    # A = 4 terms per class; f(login) = 3, f(app) = 4
    assert wa[0][0] == "login" and np.isclose(wa[0][1], 3 / 4 * np.log(1 + 4 / 3))
    assert dict(wb)["app"] == 3 / 4 * np.log(1 + 4 / 4)


def test_taxonomy_entry_loads_as_a_valid_topic_and_matches_its_texts():
    frame, emb = planted()
    cfg = EmergingConfig(merge_distance=0.5, micro_size=6, center=False)
    clusters = find_emerging(frame, AS_OF, lambda texts: emb[[frame.index[frame["text"] == t][0] for t in texts]], cfg)
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    entries = taxonomy_entries(clusters[:2], taxonomy)
    assert entries[0]["id"] == "emerging_login" and entries[0]["id"] not in taxonomy.ids
    pasted = yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    pasted["topics"] += yaml.safe_load(taxonomy_yaml(entries))  # what a user pastes under topics:
    extended = parse_taxonomy(pasted, "extended")
    assert extended.ids[-2:] == [e["id"] for e in entries]
    hits = KeywordMatcher(extended).counts(LOGIN)[:, extended.ids.index("emerging_login")]
    assert (hits > 0).all()
    seeds = yaml.safe_load(seed_examples_yaml(entries[:1]))
    assert len(seeds) == 3 and all(s["topics"] == ["emerging_login"] for s in seeds)
