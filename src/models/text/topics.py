"""Multi-label feedback topics over a configurable taxonomy (Chinese + English).

Taxonomy YAML (``settings.taxonomy_path``, default ``resources/taxonomy/default_topics.yaml``)::

    topics:
      - id: delivery                 # [a-z][a-z0-9_]*, unique
        zh: 物流配送                  # names (required)
        en: Delivery and fulfilment
        covers: delivery speed, ...  # English description (required)
        description_zh: 物流配送：...   # optional
        keywords: {zh: [发货, ...], en: [shipping, ...]}   # optional seed keywords

Modes of :class:`TopicModel`:

* ``bootstrap`` (zero labels; the default when no supervised model is registered). Per
  (text, topic) pair it computes keyword hits (zh substrings, en word-start matches),
  cosine similarity of the e5 embedding to the topic's names/descriptions, and similarity to
  the real seed examples shipped with the taxonomy (``seed_examples.yaml``: max and top-3
  mean, and both relative to the text's mean over topics). A pooled logistic regression
  (shared weights + one intercept per topic) maps these features to a probability; it is
  fitted on the seed examples themselves with leave-one-out similarities, so no labelled
  data beyond the seeds is used. A text gets every topic with ``p >= threshold``; if none
  passes, the most probable topic is kept when ``p >= top1_floor``.
* few-shot: ``fit(labels_df, mode="bootstrap")`` adds a handful of labelled examples per topic to
  the seeds before fitting the combiner.
* ``keywords``: the keyword-only baseline. A topic is given when one of its seed keywords
  occurs (``p = hits / (hits + 1)``, so one hit reaches the 0.5 threshold), most hits first; no encoder. A trained topic model must
  beat it on the labelled evaluation sample to become the champion.
* ``supervised``: one-vs-rest logistic regression per topic on [embedding, keyword features,
  seed similarities]; per-topic thresholds tuned on a validation split (max F1). Single-label
  data is accepted (a ``topics`` cell with one id).

Output: ``topics`` (semicolon-joined ids, most probable first; ``""`` for none) and
``topic_<id>`` probabilities; empty/whitespace texts get ``None`` topics and NaN probabilities.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator

from custsat.config import DEFAULT_TAXONOMY
from custsat.data.io import atomic_write_dir

SEED_EXAMPLES = DEFAULT_TAXONOMY.parent / "seed_examples.yaml"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """A taxonomy or seed-example file is malformed (message names file, topic and field)."""


@dataclass
class Topic:
    id: str
    zh: str
    en: str
    covers: str
    description_zh: str = ""
    keywords_zh: list[str] = field(default_factory=list)
    keywords_en: list[str] = field(default_factory=list)

    def descriptions(self) -> list[str]:
        out = [f"{self.en}: {self.covers}", f"{self.zh}", self.en]
        if self.description_zh:
            out.append(self.description_zh)
        return out


@dataclass
class Taxonomy:
    topics: list[Topic]
    source: str = "<memory>"

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.topics]

    def to_dict(self) -> dict:
        return {"topics": [
            {"id": t.id, "zh": t.zh, "en": t.en, "covers": t.covers, "description_zh": t.description_zh,
             "keywords": {"zh": t.keywords_zh, "en": t.keywords_en}} for t in self.topics]}


def parse_taxonomy(data, source: str = "<memory>") -> Taxonomy:
    """Validate a taxonomy mapping; raises :class:`TaxonomyError` naming the file/topic/field."""
    if not isinstance(data, dict) or not isinstance(data.get("topics"), list) or not data["topics"]:
        raise TaxonomyError(f"{source}: expected a mapping with a non-empty list 'topics'")
    topics, seen = [], set()
    for i, t in enumerate(data["topics"]):
        where = f"{source}: topics[{i}]"
        if not isinstance(t, dict):
            raise TaxonomyError(f"{where}: expected a mapping, got {type(t).__name__}")
        tid = t.get("id")
        if not isinstance(tid, str) or not _ID_RE.match(tid):
            raise TaxonomyError(f"{where}: 'id' must match [a-z][a-z0-9_]*, got {tid!r}")
        where = f"{source}: topic {tid!r}"
        if tid in seen:
            raise TaxonomyError(f"{where}: duplicate id")
        seen.add(tid)
        for key in ("zh", "en", "covers"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                raise TaxonomyError(f"{where}: missing or empty field {key!r}")
        kw = t.get("keywords") or {}
        if not isinstance(kw, dict) or set(kw) - {"zh", "en"}:
            raise TaxonomyError(f"{where}: 'keywords' must be a mapping with keys zh/en, got {kw!r}")
        for lang in ("zh", "en"):
            vals = kw.get(lang) or []
            if not isinstance(vals, list) or not all(isinstance(v, str) and v.strip() for v in vals):
                raise TaxonomyError(f"{where}: keywords.{lang} must be a list of non-empty strings")
        topics.append(Topic(tid, t["zh"].strip(), t["en"].strip(), t["covers"].strip(),
                            str(t.get("description_zh") or ""), [str(v) for v in kw.get("zh") or []],
                            [str(v) for v in kw.get("en") or []]))
    return Taxonomy(topics, source)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML (default: ``get_settings().taxonomy_path``)."""
    from custsat.config import get_settings

    path = Path(path) if path else Path(get_settings().taxonomy_path)
    if not path.exists():
        raise TaxonomyError(f"taxonomy file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML ({exc})") from exc
    return parse_taxonomy(data, str(path))


def load_seed_examples(taxonomy: Taxonomy, path: str | Path | None = None) -> pd.DataFrame:
    """Seed examples (text, topics list, id); topics outside the taxonomy are dropped.

    The default seed file matches the default taxonomy; with a custom taxonomy, seeds whose
    topics are all unknown are kept as negatives only if they had no topics at all.
    """
    path = Path(path) if path else SEED_EXAMPLES
    if not path.exists():
        return pd.DataFrame({"id": [], "text": [], "topics": []})
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rows = []
    for i, ex in enumerate(data.get("examples") or []):
        if not isinstance(ex, dict) or not isinstance(ex.get("text"), str) or not isinstance(ex.get("topics"), list):
            raise TaxonomyError(f"{path}: examples[{i}] needs 'text' (str) and 'topics' (list)")
        known = [t for t in ex["topics"] if t in taxonomy.ids]
        if ex["topics"] and not known:
            continue
        rows.append({"id": str(ex.get("id", i)), "text": ex["text"], "topics": known})
    return pd.DataFrame(rows, columns=["id", "text", "topics"])


def parse_topic_labels(labels: pd.DataFrame, taxonomy: Taxonomy, *, source: str = "labels",
                       text_column: str = "text", topics_column: str = "topics") -> pd.DataFrame:
    """Validate a labels table (text + semicolon-joined topic ids) -> DataFrame[text, topics(list)]."""
    for col in (text_column, topics_column):
        if col not in labels.columns:
            raise TaxonomyError(f"{source}: missing column {col!r} (have {list(labels.columns)})")
    topics = labels[topics_column].fillna("").astype(str).map(
        lambda s: [x.strip() for x in re.split(r"[;,]", s) if x.strip()])
    unknown = topics.map(lambda ts: [t for t in ts if t not in taxonomy.ids])
    bad = unknown.map(bool)
    if bad.any():
        rows = list(labels.index[bad][:5])
        raise TaxonomyError(f"{source}: column {topics_column!r} has topic ids not in the taxonomy "
                            f"{taxonomy.ids}: {sorted({u for us in unknown[bad] for u in us})[:5]} (rows {rows})")
    text = labels[text_column].fillna("").astype(str)
    out = pd.DataFrame({"text": text, "topics": topics})
    return out[text.str.strip().ne("")].reset_index(drop=True)


# ----------------------------------------------------------------------------- keywords
_LATIN_LETTER = re.compile("[a-z]")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class KeywordMatcher:
    """Per-topic keyword hit counts: zh keywords as substrings, en keywords at a word start."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self._zh = [[_norm(k) for k in t.keywords_zh] for t in taxonomy.topics]
        # an ASCII-only text cannot contain a keyword with a non-ASCII character
        self._zh_ascii = [[k for k in ks if k.isascii()] for ks in self._zh]
        self._en = []
        self._en_needs_latin = []
        for t in taxonomy.topics:
            kws = [_norm(k) for k in t.keywords_en]
            pats = [re.escape(k) for k in kws]
            self._en.append(re.compile(r"(?<![a-z])(?:" + "|".join(pats) + ")") if pats else None)
            # when every keyword has a Latin letter, a text without one cannot match (skip the scan)
            self._en_needs_latin.append(bool(kws) and all(_LATIN_LETTER.search(k) for k in kws))

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self._zh)), np.float32)
        for i, text in enumerate(texts):
            t = _norm(text or "")
            zh_lists = self._zh_ascii if t.isascii() else self._zh
            latin = _LATIN_LETTER.search(t) is not None
            for j, (zh, en, needs_latin) in enumerate(zip(zh_lists, self._en, self._en_needs_latin, strict=True)):
                n = sum(t.count(k) for k in zh)
                if en is not None and (latin or not needs_latin):
                    n += len(en.findall(t))
                out[i, j] = n
        return out


# ----------------------------------------------------------------------------- model
def _pair_features(kw: np.ndarray, sim_seed_max: np.ndarray, sim_seed_top: np.ndarray, sim_desc: np.ndarray) -> np.ndarray:
    """(n, T, F) features per (text, topic) pair; see module doc."""
    rel = lambda s: s - s.mean(1, keepdims=True)  # noqa: E731
    feats = [(kw > 0).astype(np.float32), np.log1p(kw), sim_seed_max, rel(sim_seed_max), rel(sim_seed_top),
             rel(sim_desc), sim_desc]
    return np.stack(feats, axis=2)


class TopicModel(BaseEstimator):
    """Multi-label topic model (see module doc for the modes); a scikit-learn estimator.

    Parameters
    ----------
    taxonomy : Taxonomy or path, default settings.taxonomy_path
    base_model : str, base encoder setting/path (default settings.base_text_model)
    mode : 'bootstrap', 'supervised' or 'keywords'
    threshold, top1_floor : decision rule of the bootstrap (probabilities in [0, 1])
    max_len : tokens per text for the encoder
    seed_examples : DataFrame[text, topics] or path; default the file shipped with the taxonomy
    seed : validation split of the supervised heads (callers pass the project seed)
    """

    def __init__(self, taxonomy: Taxonomy | str | Path | None = None, base_model: str | None = None,
                 mode: str = "bootstrap", threshold: float = 0.5, top1_floor: float = 0.2, max_len: int = 256,
                 seed_examples: pd.DataFrame | str | Path | None = None, C: float = 1.0, seed: int = 0):
        self.taxonomy = taxonomy
        self.base_model = base_model
        self.mode = mode
        self.threshold = threshold
        self.top1_floor = top1_floor
        self.max_len = max_len
        self.seed_examples = seed_examples
        self.C = C
        self.seed = seed

    @property
    def uses_embeddings(self) -> bool:
        """False for the keyword-only model, which needs no encoder."""
        return self.mode != "keywords"

    # -- helpers
    def _encoder(self):
        if getattr(self, "encoder_", None) is None:
            from custsat.models.text.encoder import TextEncoder

            self.encoder_ = TextEncoder(self.base_model, max_len=self.max_len).load()
        return self.encoder_

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encoder embeddings; reuses ``encoder_.memo_`` (a dict text -> vector) when one is attached."""
        enc = self._encoder()
        memo = getattr(enc, "memo_", None)
        if memo is None:
            return enc.embed(list(texts), progress=progress)
        missing = list(dict.fromkeys(t for t in texts if t not in memo))
        if missing:
            memo.update(zip(missing, enc.embed(missing, progress=progress), strict=True))
        return np.stack([memo[t] for t in texts]) if len(texts) else np.zeros((0, enc.dim_), np.float32)

    def _sims(self, emb: np.ndarray, exclude: np.ndarray | None = None):
        """Per topic: max and top-3-mean cosine to that topic's seeds, and max cosine to descriptions."""
        n, T = len(emb), len(self.tax_.ids)
        s = emb @ self.seed_emb_.T  # (n, S)
        if exclude is not None:  # leave-one-out for seeds scoring themselves
            s[np.arange(n)[exclude >= 0], exclude[exclude >= 0]] = -1.0
        smax = np.zeros((n, T), np.float32)
        stop = np.zeros((n, T), np.float32)
        for j in range(T):
            cols = np.flatnonzero(self.seed_y_[:, j])
            if len(cols) == 0:
                continue
            sj = np.sort(s[:, cols], axis=1)[:, ::-1]
            smax[:, j] = sj[:, 0]
            stop[:, j] = sj[:, : min(3, sj.shape[1])].mean(1)
        d = emb @ self.desc_emb_.T
        sdesc = np.stack([d[:, self.desc_topic_ == j].max(1) for j in range(T)], axis=1)
        return smax, stop, sdesc

    def _features(self, texts: Sequence[str], emb: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        kw = self.kw_.counts(texts)
        return _pair_features(kw, *self._sims(emb, exclude))

    def _design(self, feats: np.ndarray) -> np.ndarray:
        n, T, F = feats.shape
        onehot = np.broadcast_to(np.eye(T, dtype=np.float32), (n, T, T))
        return np.concatenate([feats, onehot], axis=2).reshape(n * T, F + T)

    # -- fitting
    def fit(self, labels: pd.DataFrame | None = None, embeddings: np.ndarray | None = None,
            validation_fraction: float = 0.25) -> TopicModel:
        """Fit the bootstrap combiner (on seeds [+ few-shot labels]) or the supervised heads.

        ``labels``: DataFrame[text, topics] with topics as a list or a semicolon-joined string.
        """
        from sklearn.linear_model import LogisticRegression

        seed = self.seed
        tax = self.taxonomy if isinstance(self.taxonomy, Taxonomy) else load_taxonomy(self.taxonomy)
        self.tax_ = tax
        self.kw_ = KeywordMatcher(tax)
        if isinstance(self.seed_examples, pd.DataFrame):
            seeds = self.seed_examples[["text", "topics"]].copy()
        else:
            seeds = load_seed_examples(tax, self.seed_examples)[["text", "topics"]]
        lab = None
        if labels is not None and len(labels):
            if labels["topics"].map(lambda v: isinstance(v, list)).all():
                lab = labels[["text", "topics"]].copy()
            else:
                lab = parse_topic_labels(labels, tax)
        T = len(tax.ids)
        if self.mode == "keywords":
            return self
        desc_texts, desc_topic = [], []
        for j, t in enumerate(tax.topics):
            for d in t.descriptions():
                desc_texts.append(d)
                desc_topic.append(j)
        self.desc_emb_ = self.embed(desc_texts)
        self.desc_topic_ = np.array(desc_topic)
        if self.mode == "bootstrap":
            if lab is not None:  # few-shot: labelled examples join the seeds
                seeds = pd.concat([seeds, lab], ignore_index=True)
            if seeds.empty:
                raise TaxonomyError("bootstrap topics need seed examples (seed_examples.yaml) or labels")
            self.seed_texts_ = seeds["text"].tolist()
            self.seed_y_ = self._multi_hot(seeds["topics"])
            self.seed_emb_ = self.embed(self.seed_texts_)
            feats = self._features(self.seed_texts_, self.seed_emb_, exclude=np.arange(len(seeds)))
            X, y = self._design(feats), self.seed_y_.reshape(-1)
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            self.combiner_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000)).fit(X, y)
            self.n_seeds_ = len(seeds)
        elif self.mode == "supervised":
            if lab is None or len(lab) < 10:
                raise TaxonomyError("supervised topics need a labels table with at least 10 rows")
            self.seed_texts_ = seeds["text"].tolist()
            self.seed_y_ = self._multi_hot(seeds["topics"]) if len(seeds) else np.zeros((0, T), np.int64)
            self.seed_emb_ = self.embed(self.seed_texts_) if len(seeds) else np.zeros((0, self.desc_emb_.shape[1]), np.float32)
            y = self._multi_hot(lab["topics"])
            emb = embeddings if embeddings is not None else self.embed(lab["text"].tolist())
            X = self._supervised_X(lab["text"].tolist(), emb)
            rng = np.random.default_rng(seed)
            is_val = rng.random(len(lab)) < validation_fraction
            self.heads_, self.thresholds_ = [], np.full(T, 0.5)
            for j in range(T):
                yj = y[:, j]
                if yj.sum() == 0 or yj.sum() == len(yj):
                    self.heads_.append(float(yj.mean()))
                    continue
                clf = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced")
                tr = ~is_val if (yj[~is_val].min() != yj[~is_val].max()) else np.ones(len(yj), bool)
                clf.fit(X[tr], yj[tr])
                if is_val.any() and yj[is_val].sum() > 0:
                    self.thresholds_[j] = _best_threshold(clf.predict_proba(X[is_val])[:, 1], yj[is_val])
                clf.fit(X, yj)  # refit on all rows, keep the tuned threshold
                self.heads_.append(clf)
            self.n_labels_ = len(lab)
        else:
            raise ValueError(f"mode must be 'bootstrap', 'supervised' or 'keywords', got {self.mode!r}")
        return self

    def _supervised_X(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        kw = self.kw_.counts(texts)
        parts = [emb, (kw > 0).astype(np.float32), np.log1p(kw)]
        if len(self.seed_texts_):
            smax, stop, sdesc = self._sims(emb)
            parts += [smax, sdesc]
        return np.concatenate(parts, axis=1)

    def _multi_hot(self, topics: pd.Series) -> np.ndarray:
        idx = {t: j for j, t in enumerate(self.tax_.ids)}
        y = np.zeros((len(topics), len(idx)), np.int64)
        for i, ts in enumerate(topics):
            for t in ts:
                y[i, idx[t]] = 1
        return y

    # -- inference
    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """(n, T) topic probabilities in taxonomy order; rows of empty texts are NaN."""
        texts = ["" if t is None else str(t) for t in texts]
        T = len(self.tax_.ids)
        out = np.full((len(texts), T), np.nan)
        keep = np.array([bool(t.strip()) for t in texts], bool)
        if not keep.any():
            return out
        kt = [t for t, k in zip(texts, keep, strict=True) if k]
        if self.mode == "keywords":
            hits = self.kw_.counts(kt)
            out[keep] = hits / (hits + 1.0)  # 1 hit -> 0.5 (the threshold), more hits rank higher
            return out
        emb = embeddings[keep] if embeddings is not None else self.embed(kt)
        if self.mode == "bootstrap":
            X = self._design(self._features(kt, emb))
            out[keep] = self.combiner_.predict_proba(X)[:, 1].reshape(len(kt), T)
        else:
            X = self._supervised_X(kt, emb)
            cols = [np.full(len(kt), h) if isinstance(h, float) else h.predict_proba(X)[:, 1] for h in self.heads_]
            out[keep] = np.stack(cols, axis=1)
        return out

    def decide(self, proba: np.ndarray) -> list[list[str] | None]:
        """Topic id lists, most probable first; None for NaN rows (empty text)."""
        ids = np.array(self.tax_.ids)
        thr = self.thresholds_ if self.mode == "supervised" else np.full(len(ids), self.threshold)
        proba = np.asarray(proba, float)
        empty = np.isnan(proba).all(1)
        filled = np.where(np.isnan(proba), -np.inf, proba)
        order = np.argsort(-filled, axis=1, kind="stable")
        ranked = np.take_along_axis(filled, order, 1)
        passes = ranked >= thr[order]
        if self.mode == "bootstrap":  # nothing passes: keep the top topic when it reaches the floor
            passes[:, 0] |= ~passes.any(1) & (ranked[:, 0] >= self.top1_floor)
        out: list[list[str] | None] = []
        for row_order, row_pass, is_empty in zip(order, passes, empty, strict=True):
            out.append(None if is_empty else ids[row_order[row_pass]].tolist())
        return out

    def to_frame(self, proba: np.ndarray, texts: Sequence[str] | None = None) -> pd.DataFrame:
        """``topics`` (semicolon-joined, most probable first) + ``topic_<id>`` columns."""
        dec = self.decide(proba)
        df = pd.DataFrame({"topics": [None if d is None else ";".join(d) for d in dec]}, dtype=object)
        for j, t in enumerate(self.tax_.ids):
            df[f"topic_{t}"] = proba[:, j]
        return df

    # -- persistence
    def save(self, path: str | Path) -> Path:
        import pickle

        path = Path(path)
        with atomic_write_dir(path) as tmp:
            (tmp / "taxonomy.yaml").write_text(yaml.safe_dump(self.tax_.to_dict(), allow_unicode=True, sort_keys=False),
                                               encoding="utf-8")
            state = {k: v for k, v in self.__dict__.items() if k not in ("encoder_", "kw_", "tax_", "taxonomy")}
            state["seed_examples"] = None
            with open(tmp / "topic_model.pkl", "wb") as fh:
                pickle.dump(state, fh)
            (tmp / "topic_meta.json").write_text(json.dumps({
                "mode": self.mode, "base_model": self.base_model or "settings.base_text_model", "topics": self.tax_.ids,
                "threshold": self.threshold, "top1_floor": self.top1_floor,
                "thresholds": getattr(self, "thresholds_", np.array([])).tolist()}, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, encoder=None) -> TopicModel:
        import pickle

        path = Path(path)
        with open(path / "topic_model.pkl", "rb") as fh:
            state = pickle.load(fh)
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        obj.tax_ = load_taxonomy(path / "taxonomy.yaml")
        obj.taxonomy = str(path / "taxonomy.yaml")
        obj.kw_ = KeywordMatcher(obj.tax_)
        obj.encoder_ = encoder
        return obj


def _best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    best_t, best_f = 0.5, -1.0
    for t in np.arange(0.1, 0.91, 0.05):
        pred = p >= t
        tp = (pred & (y == 1)).sum()
        f = 2 * tp / max(1, pred.sum() + y.sum())
        if f > best_f:
            best_t, best_f = float(t), f
    return best_t


def multilabel_scores(true: Sequence[list[str]], pred: Sequence[list[str]], ids: Sequence[str]) -> dict:
    """Micro/macro F1, precision, recall and per-topic F1 of topic id lists."""
    idx = {t: j for j, t in enumerate(ids)}
    Y = np.zeros((len(true), len(ids)), int)
    P = np.zeros_like(Y)
    for i, (a, b) in enumerate(zip(true, pred, strict=True)):
        for t in a:
            Y[i, idx[t]] = 1
        for t in b or []:
            P[i, idx[t]] = 1
    tp, fp, fn = (Y & P).sum(0), ((1 - Y) & P).sum(0), (Y & (1 - P)).sum(0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(1, 2 * tp + fp + fn), np.nan)
    present = Y.sum(0) > 0
    micro_p = tp.sum() / max(1, tp.sum() + fp.sum())
    micro_r = tp.sum() / max(1, tp.sum() + fn.sum())
    return {
        "micro_f1": float(2 * tp.sum() / max(1, 2 * tp.sum() + fp.sum() + fn.sum())),
        "macro_f1": float(np.nanmean(f1[present])) if present.any() else float("nan"),
        "micro_precision": float(micro_p), "micro_recall": float(micro_r),
        "per_topic_f1": {t: (None if np.isnan(f1[j]) else float(f1[j])) for t, j in idx.items()},
        "n": int(len(true)),
    }
