"""Emerging issues: recurring complaints that no topic of the taxonomy covers, found and named.

Steps (:func:`find_emerging`):

1. **Candidates**: feedback in the ``window_days`` before ``as_of`` that is negative
   (``sentiment == "negative"``, or ``p_negative >= negative_min_p`` when unlabelled) and whose
   best topic probability (``topic_<id>`` columns) is below ``candidate_max_p``.
2. **Clusters** of their embeddings (L2-normalised; deterministic for a seed): k-means
   over-segments them into micro-clusters of about ``micro_size`` texts, then average-linkage
   agglomeration merges micro-clusters whose centroids are closer than ``merge_distance``
   (cosine distance). Clusters under ``min_cluster_size`` texts are dropped. Scales to 100k
   candidates: above 5,000 texts mini-batch k-means seeds on a sample of ``3 k`` texts; the
   agglomeration sees at most ``max_micro`` centroids.
3. **Names**: a class-based TF-IDF in the style of BERTopic. Each cluster is one class and the
   window's other feedback one more (background) class, so words common in all feedback score
   low; ``weight(t, c) = tf(t, c) * log(1 + A / f(t))`` with ``tf`` the term's share of the
   class's terms, ``A`` the mean number of terms per class, ``f(t)`` the term's count in all
   classes. Chinese is tokenised with jieba (words of two or more characters), English into
   lower-case words of three or more letters; stop words are dropped. A name term must occur in
   two or more of the cluster's texts and be ``min_lift`` times as common there as in the
   background.
4. **Size and growth**: ``recent`` = cluster texts in the last ``recent_days``; ``previous`` =
   the rest of the window; ``expected`` = ``previous`` scaled to the recent span; ``growth`` =
   ``(recent + 1) / (expected + 1)``; clusters rank by the Poisson surprise
   ``-log10 P(X >= recent | mean = expected + 0.5)`` (a large cluster that has always been
   there ranks low; a new one of a few items a week ranks high).
5. **Representative examples**: the texts nearest the cluster centroid, PII-masked.
6. **Taxonomy entries** (:func:`taxonomy_entries`, :func:`taxonomy_yaml`): each cluster as a
   ready-to-paste entry (id, zh/en names, covers, keywords, seed examples) that loads with the
   taxonomy. Pasting it into the taxonomy file makes it a topic on the next run (the zero-label
   topic model is refitted when the taxonomy file changes); the seed examples go into
   ``seed_examples.yaml``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from custsat.privacy import mask_pii

EXAMPLE_CHARS = 160

STOP_ZH = frozenset("""
的 了 是 我 也 很 都 就 和 在 有 不 这 那 还 又 太 吧 啊 呢 吗 呀 你 他 她 它 我们 你们 他们 一个 没有 什么 怎么
这个 那个 就是 但是 不过 而且 然后 因为 所以 已经 真的 非常 特别 一直 还是 可以 自己 时候 觉得 感觉 一下 一点
这样 那样 这么 那么 现在 今天 昨天 还有 东西 产品 宝贝 问题 之后 以后 以前 一次 每次 多次 根本 完全 实在 相当
比较 有点 一些 结果 其实 而且 或者 如果 虽然 只是 可是 不会 不能 能够 需要 应该 知道 希望 直接 一样 起来 出来
下次 再也 要求 请问 麻烦 说明 情况 一般 大家 真是 确实 简直 居然 竟然 怎样 为什么 我想 反映 想说 不吐不快
""".split())
STOP_EN = frozenset("""
the and for are but not you all any can had her was one our out has have been were they them their this that
with from what when where which while who whom why how its it's i'm i've don't didn't doesn't can't won't isn't
wasn't just very really also again still even ever never only then than too much many more most some such into
onto over under after before about above below because been being both each few other same so very will would
should could there here these those your yours mine myself we've they're you're it’s let get got getting make
made one two three four five six seven ten item product order thing things time times day days week weeks way
bit lot now today yesterday since last first back said say says like well good bad new once every anything
something nothing everything customer customers please thanks thank hello hi dear star stars buy bought
""".split())
_EN_WORD = re.compile(r"[a-z][a-z'\-]{2,}")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_jieba = None


def _jieba_module():
    global _jieba
    if _jieba is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jieba imports pkg_resources, which warns on import
            import jieba
        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return _jieba


def tokenize(text: str) -> list[str]:
    """Terms of one text: jieba words (2+ Chinese characters) and lower-case English words (3+ letters)."""
    if not isinstance(text, str) or not text.strip():
        return []
    t = unicodedata.normalize("NFKC", text).lower()
    terms = [w for w in _EN_WORD.findall(t) if w not in STOP_EN]
    if _HAN.search(t):
        jieba = _jieba_module()
        for w in jieba.lcut(t):
            w = w.strip()
            if len(w) >= 2 and all(_HAN.match(ch) for ch in w) and w not in STOP_ZH:
                terms.append(w)
    return terms


def class_tfidf(class_terms: Sequence[Counter]) -> list[list[tuple[str, float]]]:
    """c-TF-IDF weights per class (see the module doc), each list sorted by weight, then term."""
    total = Counter()
    for c in class_terms:
        total.update(c)
    sizes = [sum(c.values()) for c in class_terms]
    mean_size = float(np.mean([s for s in sizes if s])) if any(sizes) else 1.0
    out = []
    for c, size in zip(class_terms, sizes, strict=True):
        weights = [(term, (n / size) * np.log(1.0 + mean_size / total[term])) for term, n in c.items()] if size else []
        out.append(sorted(weights, key=lambda x: (-x[1], x[0])))
    return out


@dataclass(frozen=True)
class EmergingConfig:
    """Parameters of :func:`find_emerging` (see the module doc).

    ``merge_distance`` and ``micro_size`` were chosen on development seeds of the synthetic company
    (:func:`custsat.models.feedback_ops_eval.choose_emerging_config`), apart from the seeds the
    detection is measured on.
    """

    window_days: int = 84
    recent_days: int = 14
    candidate_max_p: float = 0.5
    negative_min_p: float = 0.5
    micro_size: int = 6
    max_micro: int = 512
    merge_distance: float = 0.45
    lexical_weight: float = 0.0
    lexical_dims: int = 64
    center: bool = True
    min_cluster_size: int = 5
    top_terms: int = 8
    min_lift: float = 3.0
    examples: int = 3
    seed: int = 0


@dataclass
class EmergingCluster:
    """One emerging cluster; ``examples`` are masked; ``member_rows`` index the input frame."""

    rank: int
    size: int
    recent: int
    previous: int
    expected_recent: float
    growth: float
    surprise: float
    terms: list[str]
    terms_zh: list[str]
    terms_en: list[str]
    examples: list[str]
    languages: dict[str, int]
    first_seen: pd.Timestamp
    member_rows: np.ndarray = field(repr=False)


def candidate_mask(frame: pd.DataFrame, as_of: pd.Timestamp, config: EmergingConfig = EmergingConfig()) -> np.ndarray:
    """Negative feedback in the window whose best topic probability is low (see the module doc)."""
    ts = pd.to_datetime(frame["timestamp"])
    as_of = pd.Timestamp(as_of)
    in_window = ((ts < as_of) & (ts >= as_of - pd.Timedelta(days=config.window_days))).to_numpy()
    sentiment = frame["sentiment"].astype("string").str.lower() if "sentiment" in frame else pd.Series(
        pd.NA, index=frame.index, dtype="string")
    negative = sentiment.eq("negative").fillna(False).to_numpy(dtype=bool)
    if "p_negative" in frame:
        unlabelled = sentiment.isna().to_numpy()
        negative |= unlabelled & (pd.to_numeric(frame["p_negative"], errors="coerce") >= config.negative_min_p).fillna(
            False).to_numpy(dtype=bool)
    topic_cols = [c for c in frame.columns if c.startswith("topic_") and c != "topic_sentiments"]
    if topic_cols:
        best = frame[topic_cols].apply(pd.to_numeric, errors="coerce").max(axis=1).fillna(0.0).to_numpy()
    else:
        best = np.zeros(len(frame))
    has_text = frame["text"].astype("string").str.strip().fillna("").ne("").to_numpy(dtype=bool)
    return in_window & negative & (best < config.candidate_max_p) & has_text


def represent(texts: Sequence[str], emb: np.ndarray, config: EmergingConfig = EmergingConfig(),
              terms: Callable[[str], list[str]] = None) -> np.ndarray:
    """Rows whose cosine similarity is ``(1 - w) cos(embeddings) + w cos(lexical)``, ``w`` = lexical_weight.

    The lexical part is the texts' TF-IDF over :func:`tokenize` terms (sub-linear tf, terms in at
    least two texts), reduced to ``lexical_dims`` dimensions by truncated SVD (seeded).
    """
    x = np.asarray(emb, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if config.center and len(x) > 1:
        # sentence embeddings share a large common direction; without it, distances reflect content
        x = x - x.mean(0, keepdims=True)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    w = config.lexical_weight
    if w <= 0 or len(texts) < 3:
        return x
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    terms = terms or tokenize
    try:
        tfidf = TfidfVectorizer(analyzer=terms, min_df=2, sublinear_tf=True).fit_transform(list(texts))
    except ValueError:  # no term in two texts
        return x
    dims = min(config.lexical_dims, tfidf.shape[1] - 1, len(texts) - 1)
    lex = TruncatedSVD(n_components=dims, random_state=config.seed).fit_transform(tfidf) if dims >= 2 else tfidf.toarray()
    lex = lex / np.maximum(np.linalg.norm(lex, axis=1, keepdims=True), 1e-12)
    return np.hstack([np.sqrt(1 - w) * x, np.sqrt(w) * lex.astype(np.float32)])


def cluster_embeddings(emb: np.ndarray, config: EmergingConfig = EmergingConfig()) -> np.ndarray:
    """Cluster labels (0 = largest, -1 = too small), deterministic for ``config.seed``."""
    from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans

    n = len(emb)
    if n < config.min_cluster_size:
        return np.full(n, -1, dtype=np.int64)
    x = np.asarray(emb, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = int(np.clip(np.ceil(n / config.micro_size), 1, config.max_micro))
    if k == 1:
        micro = np.zeros(n, dtype=np.int64)
    elif n <= 5_000:
        micro = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=config.seed).fit_predict(x)
    else:  # k-means++ seeding over every text costs O(n k); mini-batches seed on a sample of 3k texts
        micro = MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=4096, max_iter=50, random_state=config.seed,
                                init_size=min(n, 3 * k), reassignment_ratio=0.0).fit_predict(x)
    used = np.unique(micro)
    centroids = np.stack([x[micro == m].mean(0) for m in used])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    if len(used) > 1:
        merged = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=config.merge_distance).fit_predict(centroids)
    else:
        merged = np.zeros(1, dtype=np.int64)
    lookup = np.full(micro.max() + 1, -1, dtype=np.int64)
    lookup[used] = merged
    labels = lookup[micro]
    # relabel: largest first, ties by first member; small clusters -> -1
    sizes = np.bincount(labels)
    first = np.array([np.flatnonzero(labels == c)[0] if sizes[c] else n for c in range(len(sizes))])
    order = sorted((c for c in range(len(sizes)) if sizes[c] >= config.min_cluster_size),
                   key=lambda c: (-sizes[c], first[c]))
    remap = np.full(len(sizes), -1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


def _surprise(recent: int, expected: float) -> float:
    return float(-np.log10(max(stats.poisson.sf(recent - 1, expected + 0.5), 1e-300)))


def find_emerging(
    frame: pd.DataFrame,
    as_of: pd.Timestamp,
    embed: Callable[[list[str]], np.ndarray],
    config: EmergingConfig = EmergingConfig(),
    *,
    max_clusters: int | None = 10,
) -> list[EmergingCluster]:
    """Emerging clusters among ``frame``'s candidates, most surprising first (see the module doc).

    ``frame``: classified feedback (``timestamp``, ``text``, ``sentiment`` or ``p_negative``,
    ``topic_<id>`` probabilities). ``embed(texts)`` returns one embedding per text (e.g. the
    topic model's ``embed``).
    """
    as_of = pd.Timestamp(as_of)
    mask = candidate_mask(frame, as_of, config)
    rows = np.flatnonzero(mask)
    if len(rows) < config.min_cluster_size:
        return []
    texts = frame["text"].astype(str).to_numpy()[rows].tolist()
    emb = np.asarray(embed(texts), dtype=np.float32)
    token_cache: dict[str, list[str]] = {}

    def terms_of(text: str) -> list[str]:
        if text not in token_cache:
            token_cache[text] = tokenize(text)
        return token_cache[text]

    labels = cluster_embeddings(represent(texts, emb, config, terms_of), config)
    n_clusters = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if not n_clusters:
        return []
    ts = pd.to_datetime(frame["timestamp"]).to_numpy()[rows]
    recent_start = np.datetime64(as_of - pd.Timedelta(days=config.recent_days))
    is_recent = ts >= recent_start
    ratio = config.recent_days / max(config.window_days - config.recent_days, 1)
    # background class: the window's other feedback
    window = pd.to_datetime(frame["timestamp"])
    in_window = ((window < as_of) & (window >= as_of - pd.Timedelta(days=config.window_days))).to_numpy()
    background_rows = np.flatnonzero(in_window & ~mask)

    class_terms = [Counter() for _ in range(n_clusters)]
    for text, lab in zip(texts, labels, strict=True):
        if lab >= 0:
            class_terms[lab].update(set(terms_of(text)))  # document frequency within the class
    background = Counter()
    all_text = frame["text"].astype(str).to_numpy()
    for r in background_rows:
        background.update(set(terms_of(all_text[r])))
    weights = class_tfidf([*class_terms, background])[:-1]
    xn = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    language = frame["language"].astype(str).to_numpy()[rows] if "language" in frame else np.array(
        ["zh" if _HAN.search(t) else "en" for t in texts])
    clusters = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        recent = int(is_recent[members].sum())
        previous = int(len(members) - recent)
        expected = previous * ratio
        # a name term occurs in two or more of the cluster's texts and is at least min_lift times as
        # common there as in the rest of the window's feedback (boilerplate like "不吐不快" is not)
        n_c, n_bg = len(members), len(background_rows)
        top = [t for t, _ in weights[c] if class_terms[c][t] >= 2
               and (class_terms[c][t] / n_c) >= config.min_lift * (background[t] / n_bg if n_bg else 0.0)
               ][: config.top_terms * 2]
        zh = [t for t in top if _HAN.search(t)][: config.top_terms]
        en = [t for t in top if not _HAN.search(t)][: config.top_terms]
        centre = xn[members].mean(0)
        nearest = members[np.argsort(-(xn[members] @ centre), kind="stable")]
        examples, seen = [], set()
        for m in nearest:
            masked = mask_pii(texts[m])
            if masked not in seen:
                seen.add(masked)
                examples.append(masked[:EXAMPLE_CHARS] + ("…" if len(masked) > EXAMPLE_CHARS else ""))
            if len(examples) >= config.examples:
                break
        clusters.append(EmergingCluster(
            rank=0, size=len(members), recent=recent, previous=previous, expected_recent=expected,
            growth=(recent + 1) / (expected + 1), surprise=_surprise(recent, expected), terms=top[: config.top_terms],
            terms_zh=zh, terms_en=en, examples=examples,
            languages=dict(sorted(Counter(language[members].tolist()).items())),
            first_seen=pd.Timestamp(ts[members].min()), member_rows=rows[members]))
    clusters.sort(key=lambda cl: (-cl.surprise, -cl.size, cl.first_seen))
    for i, cl in enumerate(clusters, start=1):
        cl.rank = i
    return clusters[:max_clusters] if max_clusters else clusters


def clusters_frame(clusters: Sequence[EmergingCluster]) -> pd.DataFrame:
    """The clusters as a table for reports and files (terms and examples joined)."""
    return pd.DataFrame([{
        "rank": c.rank, "size": c.size, "recent": c.recent, "previous": c.previous,
        "expected_recent": round(c.expected_recent, 2), "growth": round(c.growth, 2), "surprise": round(c.surprise, 2),
        "terms": ", ".join(c.terms), "languages": ", ".join(f"{k}:{v}" for k, v in c.languages.items()),
        "first_seen": c.first_seen, "examples": " | ".join(c.examples)} for c in clusters])


# --------------------------------------------------------------------------- taxonomy entries
def _slug(terms: Sequence[str]) -> str:
    for term in terms:
        s = re.sub(r"[^a-z0-9]+", "_", term.lower()).strip("_")
        if s and s[0].isalpha():
            return s[:30]
    return ""


def taxonomy_entries(clusters: Sequence[EmergingCluster], taxonomy=None) -> list[dict]:
    """Each cluster as a taxonomy entry (id, zh, en, covers, description_zh, keywords, seed_examples).

    Ids are ``emerging_<English term>`` (else ``emerging_<rank>``), unique against ``taxonomy``'s
    ids and each other. Review the names before adopting an entry.
    """
    taken = set(getattr(taxonomy, "ids", []) or [])
    out = []
    for c in clusters:
        base = "emerging_" + (_slug(c.terms_en) or str(c.rank))
        tid, k = base, 2
        while tid in taken:
            tid, k = f"{base}_{k}", k + 1
        taken.add(tid)
        zh_terms, en_terms = c.terms_zh[:4], c.terms_en[:4]
        name_zh = "新问题：" + "、".join(zh_terms or en_terms or [str(c.rank)])
        name_en = "Emerging issue: " + ", ".join(en_terms or zh_terms or [str(c.rank)])
        out.append({
            "id": tid,
            "zh": name_zh,
            "en": name_en,
            "covers": "complaints about " + ", ".join(en_terms or zh_terms) + " (found as an emerging issue; edit before adopting)",
            "description_zh": "关于" + "、".join(zh_terms or en_terms) + "的投诉（新发现的问题，采用前请修改）",
            "keywords": {"zh": list(c.terms_zh), "en": list(c.terms_en)},
            "seed_examples": list(c.examples),
        })
    return out


def taxonomy_yaml(entries: Sequence[dict]) -> str:
    """Entries as YAML list items to paste under ``topics:`` of the taxonomy file (without seeds)."""
    clean = [{k: v for k, v in e.items() if k != "seed_examples"} for e in entries]
    return yaml.safe_dump(clean, allow_unicode=True, sort_keys=False, width=1000)


def seed_examples_yaml(entries: Sequence[dict]) -> str:
    """The entries' seed examples as items to paste under ``examples:`` of ``seed_examples.yaml``."""
    items = [{"id": f"{e['id']}-{i + 1}", "text": text, "topics": [e["id"]]}
             for e in entries for i, text in enumerate(e["seed_examples"])]
    return yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=1000)
