"""Sentiment per topic: "物流很快，但是包装破了" is positive about delivery, negative about packaging.

Method (clause segmentation; only the public ``predict_proba`` of the sentiment and topic models
is used, so any fitted model with those methods serves):

1. A text with one topic (or none) gives that topic the text's overall sentiment.
2. A text with several topics is cut into clauses: sentences end at ``。！？!?;；`` and line
   breaks; within a sentence a clause ends at a comma (``，,、``) and before a contrast word
   (但是, 不过, 可是, 可惜, 然而, 只是, 就是, 但; but, however, although, though, except, yet,
   unfortunately, sadly, whereas). A piece with fewer than two Chinese characters and fewer than
   two words (a lone "though") joins the next clause, or the previous one at a sentence end.
3. Each clause gets the topic model's probability for each of the text's topics, plus
   ``keyword_bonus`` when a taxonomy keyword of the topic occurs in it. The clause belongs to
   its best topic if that score reaches ``min_affinity``; otherwise it continues the previous
   clause's topic within the same sentence (a clause like "还把箱子扔在门口" goes on about
   what the sentence began with); otherwise it is left out.
4. A topic's polarity comes from ``(1 - text_weight) x`` the mean sentiment probabilities of
   its clauses ``+ text_weight x`` the text's sentiment probabilities: neutral when that
   vector's neutral probability reaches ``neutral_min``, else the larger of negative and
   positive (``neutral_min=None``: the arg-max). With ``mixed_min`` set, a topic with one clause
   at least that negative and one at least that positive is neutral (a mixed stance). A topic
   without clauses takes the text's probabilities through the same rule.

Output per feedback row: ``topic_sentiments`` = ``topic:polarity`` pairs in the order of the
row's ``topics`` (most probable first), e.g. ``delivery:positive;packaging:negative``.
Defaults were chosen on a development set of hand-labelled reviews from the training split
(:func:`choose_defaults`), never on the real evaluation sample, which measures them
(:func:`evaluate_aspects`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

POLARITIES = ("negative", "neutral", "positive")
_SENTENCE = re.compile(r"[。！？!?;；\n]+|\.(?=\s|$)|\.{2,}|…+")
_CLAUSE = re.compile(r"[，,、：:]+")
_CONTRAST_ZH = ("但是", "不过", "可是", "可惜", "然而", "只是", "就是", "但")
_CONTRAST_EN = ("but", "however", "although", "though", "except", "yet", "unfortunately", "sadly", "whereas")
_CONTRAST = re.compile(
    "(?=" + "|".join(_CONTRAST_ZH) + ")|(?<![A-Za-z])(?=(?:" + "|".join(_CONTRAST_EN) + r")\b)", re.IGNORECASE)


@dataclass(frozen=True)
class AspectConfig:
    """Decision parameters (see the module doc).

    Defaults: chosen by :func:`choose_defaults` on 62 hand-labelled multi-topic reviews of the
    training split (``data/labels/aspects_dev.csv``), with the sentiment teacher and the zero-label
    topic model; the evaluation sample played no part.
    """

    min_affinity: float = 0.5
    keyword_bonus: float = 0.3
    text_weight: float = 0.2
    neutral_min: float | None = 0.7
    mixed_min: float | None = None
    max_clauses: int = 24


def decide_polarity(proba: np.ndarray, neutral_min: float | None = None) -> np.ndarray:
    """Polarity labels of (n, 3) probabilities: the arg-max (``neutral_min=None``), or neutral only
    when its probability reaches ``neutral_min`` and otherwise the larger of negative/positive."""
    proba = np.atleast_2d(np.asarray(proba, dtype=np.float64))
    labels = np.array(POLARITIES, dtype=object)
    if neutral_min is None:
        return labels[np.nanargmax(np.nan_to_num(proba, nan=-1.0), axis=1)]
    polar = np.where(proba[:, 2] >= proba[:, 0], "positive", "negative").astype(object)
    return np.where(proba[:, 1] >= neutral_min, "neutral", polar).astype(object)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9']+")


def _substantial(piece: str) -> bool:
    return len(_CJK.findall(piece)) >= 2 or len(_WORD.findall(piece)) >= 2


def split_clauses(text: str) -> list[tuple[int, str]]:
    """``(sentence number, clause)`` pairs of a text, in order (see the module doc)."""
    if not isinstance(text, str):
        return []
    out: list[tuple[int, str]] = []
    for s, sentence in enumerate(p for p in _SENTENCE.split(text) if p and p.strip()):
        pieces = []
        for part in _CLAUSE.split(sentence):
            pieces.extend(x for x in _CONTRAST.split(part) if x and x.strip())
        pending = ""
        for piece in pieces:
            pending = (pending + " " + piece.strip()).strip() if pending else piece.strip()
            if _substantial(pending):
                out.append((s, pending))
                pending = ""
        if pending:
            if out and out[-1][0] == s:
                out[-1] = (s, out[-1][1] + " " + pending)
            else:
                out.append((s, pending))
    return out


def parse_topics(value) -> list[str]:
    """Topic ids of a ``topics`` cell ("a;b", a list, or empty/None)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value if str(v)]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [t for t in str(value).replace(" ", "").split(";") if t]


def format_topic_sentiments(polarities: dict[str, str], order: Sequence[str]) -> str:
    return ";".join(f"{t}:{polarities[t]}" for t in order if t in polarities)


class AspectSentiment:
    """Per-topic polarity from a sentiment model and a topic model (see the module doc).

    Parameters
    ----------
    sentiment_model : object with ``predict_proba(texts) -> (n, 3)`` in negative/neutral/positive order.
    topic_model : object with ``predict_proba(texts) -> (n, T)`` and ``tax_.ids`` (the T topic ids).
    config : :class:`AspectConfig`.
    """

    def __init__(self, sentiment_model, topic_model, config: AspectConfig | None = None):
        self.sentiment_model = sentiment_model
        self.topic_model = topic_model
        self.config = config or AspectConfig()
        self._ids = list(topic_model.tax_.ids)
        from custsat.models.text.topics import KeywordMatcher

        self._keywords = KeywordMatcher(topic_model.tax_)

    def clause_table(self, texts: Sequence[str], topics: Sequence[Sequence[str]]) -> pd.DataFrame:
        """The clauses of the multi-topic texts: text, sentence, clause, sentiment and topic scores."""
        rows = []
        for i, (text, ts) in enumerate(zip(texts, topics, strict=True)):
            if len(ts) < 2:
                continue
            clauses = split_clauses(text)[: self.config.max_clauses]
            if len(clauses) < 2:
                continue
            rows.extend((i, s, c) for s, c in clauses)
        table = pd.DataFrame(rows, columns=["text", "sentence", "clause"])
        if not len(table):
            return table
        clauses = table["clause"].tolist()
        senti = np.asarray(self.sentiment_model.predict_proba(clauses), dtype=np.float64)
        for j, name in enumerate(POLARITIES):
            table[f"p_{name}"] = senti[:, j]
        topic_p = np.asarray(self.topic_model.predict_proba(clauses), dtype=np.float64)
        hits = self._keywords.counts(clauses) > 0
        score = np.nan_to_num(topic_p) + self.config.keyword_bonus * hits
        for j, t in enumerate(self._ids):
            table[f"affinity_{t}"] = score[:, j]
        return table

    def polarities(self, texts: Sequence[str], topics: Sequence[Sequence[str]],
                   text_proba: np.ndarray | None = None) -> list[dict[str, str]]:
        """Per text, ``{topic: polarity}`` for its ``topics``.

        ``text_proba``: the texts' overall sentiment probabilities (n, 3), if already known.
        """
        texts = ["" if t is None else str(t) for t in texts]
        topics = [list(t) for t in topics]
        if text_proba is None:
            need = [i for i, (t, ts) in enumerate(zip(texts, topics, strict=True)) if ts and t.strip()]
            text_proba = np.full((len(texts), 3), np.nan)
            if need:
                text_proba[need] = self.sentiment_model.predict_proba([texts[i] for i in need])
        text_proba = np.asarray(text_proba, dtype=np.float64)
        clauses = self.clause_table(texts, topics)
        by_text = dict(tuple(clauses.groupby("text", sort=False))) if len(clauses) else {}
        out = []
        for i, ts in enumerate(topics):
            overall = text_proba[i]
            label = decide_polarity(overall, self.config.neutral_min)[0] if np.isfinite(overall).any() else "neutral"
            result = {t: label for t in ts}
            part = by_text.get(i)
            if part is not None:
                result.update(self._from_clauses(part, ts, overall))
            out.append(result)
        return out

    def _from_clauses(self, part: pd.DataFrame, topics: list[str], overall: np.ndarray) -> dict[str, str]:
        cfg = self.config
        known = [t for t in topics if t in self._ids]
        if not known:
            return {}
        aff = part[[f"affinity_{t}" for t in known]].to_numpy()
        senti = part[[f"p_{p}" for p in POLARITIES]].to_numpy()
        sentence = part["sentence"].to_numpy()
        owner = np.full(len(part), -1)
        for r in range(len(part)):
            best = int(aff[r].argmax())
            if aff[r, best] >= cfg.min_affinity:
                owner[r] = best
            elif r > 0 and sentence[r] == sentence[r - 1]:
                owner[r] = owner[r - 1]
        result = {}
        base = np.nan_to_num(overall, nan=1 / 3)
        for k, t in enumerate(known):
            mine = owner == k
            if not mine.any():
                continue
            if cfg.mixed_min is not None and (senti[mine, 0].max() >= cfg.mixed_min) and (
                    senti[mine, 2].max() >= cfg.mixed_min):
                result[t] = "neutral"  # praised and criticised on the same topic: a mixed stance
                continue
            vec = (1 - cfg.text_weight) * senti[mine].mean(0) + cfg.text_weight * base
            result[t] = decide_polarity(vec, cfg.neutral_min)[0]
        return result


def add_topic_sentiments(frame: pd.DataFrame, sentiment_model, topic_model, *, text_column: str = "text",
                         config: AspectConfig | None = None) -> pd.DataFrame:
    """A copy of a classified feedback frame with ``topic_sentiments`` (see the module doc).

    Reads the row's ``topics`` and, when present, its ``p_negative/p_neutral/p_positive`` (the
    overall sentiment, so single-topic rows need no model call). Rows without topics get "";
    rows without text (topics None) get None.
    """
    out = frame.copy()
    topics = [parse_topics(v) for v in out["topics"].tolist()]
    proba = None
    if {"p_negative", "p_neutral", "p_positive"} <= set(out.columns):
        proba = out[["p_negative", "p_neutral", "p_positive"]].to_numpy(dtype=np.float64)
        missing = np.isnan(proba).any(1) & np.array([bool(t) for t in topics])
        if missing.any():
            texts = out[text_column].astype(str).to_numpy()[missing].tolist()
            proba[missing] = sentiment_model.predict_proba(texts)
    model = AspectSentiment(sentiment_model, topic_model, config)
    pols = model.polarities(out[text_column].tolist(), topics, proba)
    values = [format_topic_sentiments(p, ts) for p, ts in zip(pols, topics, strict=True)]
    out["topic_sentiments"] = pd.Series(values, index=out.index, dtype=object).where(out["topics"].notna(), None)
    return out


# --------------------------------------------------------------------------- evaluation
def parse_aspects(value: str) -> dict[str, str]:
    """``"delivery:positive;packaging:negative"`` -> ``{"delivery": "positive", "packaging": "negative"}``."""
    out = {}
    for item in str(value or "").replace(" ", "").split(";"):
        if ":" in item:
            topic, pol = item.split(":", 1)
            out[topic] = pol
    return out


def aspect_pairs(labels: pd.DataFrame, predicted: Sequence[dict[str, str]], baseline: Sequence[dict[str, str]]) -> pd.DataFrame:
    """One row per gold (text, topic): language, topic, gold, predicted, baseline polarity."""
    rows = []
    for i, (gold_s, pred, base) in enumerate(zip(labels["aspects"], predicted, baseline, strict=True)):
        for topic, gold in parse_aspects(gold_s).items():
            rows.append((i, labels["language"].iloc[i], topic, gold, pred.get(topic), base.get(topic)))
    return pd.DataFrame(rows, columns=["text", "language", "topic", "gold", "predicted", "baseline"])


def bootstrap_ci(correct_a: np.ndarray, correct_b: np.ndarray, groups: np.ndarray, *, n_boot: int = 2000,
                 seed: int = 0) -> dict[str, float]:
    """Accuracy of a and b and a 95% CI of their difference, resampling texts (clusters of pairs)."""
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(groups, return_inverse=True)
    sa = np.bincount(inv, weights=correct_a)
    sb = np.bincount(inv, weights=correct_b)
    n = np.bincount(inv)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        diffs[b] = (sa[pick].sum() - sb[pick].sum()) / n[pick].sum()
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"accuracy": float(correct_a.mean()), "baseline_accuracy": float(correct_b.mean()),
            "difference": float(correct_a.mean() - correct_b.mean()), "difference_ci_low": float(lo),
            "difference_ci_high": float(hi)}


def evaluate_aspects(labels: pd.DataFrame, sentiment_model, topic_model, *, config: AspectConfig | None = None,
                     progress: bool = False) -> dict:
    """Per-topic polarity against hand labels (columns ``language, text, aspects``).

    The gold topics of each text are given to the method (the task is the polarity of each
    topic; topic detection is measured separately), and the baseline gives every topic the
    text's overall sentiment (arg-max) from the same sentiment model; ``against_same_rule_baseline``
    compares with the text's probabilities through the method's own polarity rule. Returns overall and per-language
    accuracy with a bootstrap CI of the difference (texts resampled), and accuracy per
    (topic, gold polarity).
    """
    texts = labels["text"].astype(str).tolist()
    gold_topics = [list(parse_aspects(a)) for a in labels["aspects"]]
    text_proba = np.asarray(sentiment_model.predict_proba(texts), dtype=np.float64)
    model = AspectSentiment(sentiment_model, topic_model, config)
    predicted = model.polarities(texts, gold_topics, text_proba)
    overall = [POLARITIES[int(p.argmax())] for p in text_proba]
    baseline = [{t: o for t in ts} for ts, o in zip(gold_topics, overall, strict=True)]
    same_rule = decide_polarity(text_proba, model.config.neutral_min)
    pairs = aspect_pairs(labels.reset_index(drop=True), predicted, baseline)
    pairs["correct"] = pairs["predicted"] == pairs["gold"]
    pairs["baseline_correct"] = pairs["baseline"] == pairs["gold"]
    pairs["baseline_same_rule_correct"] = same_rule[pairs["text"].to_numpy()] == pairs["gold"].to_numpy()
    result = {"pairs": int(len(pairs)), "texts": int(len(labels)),
              "overall": bootstrap_ci(pairs["correct"].to_numpy(float), pairs["baseline_correct"].to_numpy(float),
                                      pairs["text"].to_numpy()),
              # the text's probabilities through the same polarity rule: what segmentation adds on its own
              "against_same_rule_baseline": bootstrap_ci(pairs["correct"].to_numpy(float),
                                                         pairs["baseline_same_rule_correct"].to_numpy(float),
                                                         pairs["text"].to_numpy())}
    result["by_language"] = {
        lang: {**bootstrap_ci(g["correct"].to_numpy(float), g["baseline_correct"].to_numpy(float), g["text"].to_numpy()),
               "pairs": int(len(g))}
        for lang, g in pairs.groupby("language")}
    mixed = pairs.groupby("text")["gold"].transform(lambda s: s.nunique() > 1)
    result["mixed_texts"] = {**bootstrap_ci(pairs.loc[mixed, "correct"].to_numpy(float),
                                            pairs.loc[mixed, "baseline_correct"].to_numpy(float),
                                            pairs.loc[mixed, "text"].to_numpy()), "pairs": int(mixed.sum())}
    per = pairs.groupby(["topic", "gold"]).agg(pairs=("correct", "size"), accuracy=("correct", "mean"),
                                               baseline_accuracy=("baseline_correct", "mean")).reset_index()
    result["per_topic_polarity"] = per.rename(columns={"gold": "polarity"}).to_dict("records")
    result["per_polarity"] = pairs.groupby("gold").agg(pairs=("correct", "size"), accuracy=("correct", "mean"),
                                                       baseline_accuracy=("baseline_correct", "mean")
                                                       ).reset_index().rename(columns={"gold": "polarity"}).to_dict("records")
    result["frame"] = pairs
    return result


def choose_defaults(texts: Sequence[str], aspects: Sequence[str], sentiment_model, topic_model, *,
                    grid: dict[str, Sequence] | None = None) -> tuple[AspectConfig, pd.DataFrame]:
    """Pick ``min_affinity`` / ``text_weight`` / ``neutral_min`` by accuracy on a development set.

    ``texts`` / ``aspects`` (``topic:polarity;...``) must be kept apart from the evaluation data
    (e.g. hand-labelled reviews of the training split, or synthetic texts). Returns the best
    config (ties: the first in grid order) and the table of every grid point.
    """
    grid = grid or {"min_affinity": (0.2, 0.35, 0.5), "text_weight": (0.2, 0.4, 0.6),
                    "neutral_min": (None, 0.5, 0.6, 0.7), "mixed_min": (None, 0.6, 0.7)}
    labels = pd.DataFrame({"text": list(texts), "aspects": list(aspects)})
    gold_topics = [list(parse_aspects(a)) for a in labels["aspects"]]
    text_proba = np.asarray(sentiment_model.predict_proba(labels["text"].tolist()), dtype=np.float64)
    base_cfg = AspectConfig()
    model = AspectSentiment(sentiment_model, topic_model, base_cfg)
    clauses = model.clause_table(labels["text"].tolist(), gold_topics)  # the expensive part, computed once
    by_text = dict(tuple(clauses.groupby("text", sort=False))) if len(clauses) else {}
    rows = []
    for aff in grid["min_affinity"]:
        for tw in grid["text_weight"]:
            for nm, mm in [(a, b) for a in grid["neutral_min"] for b in grid["mixed_min"]]:
                model.config = AspectConfig(min_affinity=aff, text_weight=tw, neutral_min=nm, mixed_min=mm,
                                            keyword_bonus=base_cfg.keyword_bonus)
                correct = total = 0
                for i, ts in enumerate(gold_topics):
                    overall = decide_polarity(text_proba[i], nm)[0]
                    pred = {t: overall for t in ts}
                    if i in by_text:
                        pred.update(model._from_clauses(by_text[i], ts, text_proba[i]))
                    gold = parse_aspects(labels["aspects"].iloc[i])
                    correct += sum(pred.get(t) == p for t, p in gold.items())
                    total += len(gold)
                rows.append({"min_affinity": aff, "text_weight": tw, "neutral_min": nm, "mixed_min": mm,
                             "accuracy": correct / max(total, 1)})
    table = pd.DataFrame(rows)
    best = table.iloc[int(table["accuracy"].to_numpy().argmax())]
    def opt(value):
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)

    return AspectConfig(min_affinity=float(best["min_affinity"]), text_weight=float(best["text_weight"]),
                        neutral_min=opt(best["neutral_min"]), mixed_min=opt(best["mixed_min"])), table
