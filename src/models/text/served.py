"""The registered text champions as one ``classify(frame)``, and feedback labelled through the cache.

Which sentiment model classifies (``model``, default ``settings.text_model``):

* ``fast`` (default) - the champion of ``custsat-sentiment-fast``, the distilled 6-layer student,
  which also gives the topic embeddings in the same pass. Until a student has been promoted,
  the ``custsat-sentiment`` champion serves instead.
* ``quality`` - the champion of ``custsat-sentiment``: the 12-layer teacher (or, when no
  teacher has passed the gate yet, the best baseline).

Topics come from the ``custsat-topics`` champion; a missing one falls back to the zero-label
bootstrap topic model (version ``bootstrap-<taxonomy hash>``). A missing sentiment champion is
an error that names the model and ``make train``. Versions are recorded as ``<model>/<version>``
(e.g. ``custsat-sentiment-fast/3``) in the scored list and the scoring run.

Scoring and churn training both label feedback through :func:`classify_feedback_cached`, so
the features a churn model is trained on carry the same text labels that scoring gives them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.config import TEXT_MODELS, get_settings
from custsat.models.registry import SENTIMENT_FAST_MODEL, SENTIMENT_MODEL, TOPIC_MODEL
from custsat.models.text.cache import classify_with_cache, needs_classification


@dataclass
class TextModels:
    """How feedback texts are classified: a function and the versions it stands for."""

    classify: Callable[[pd.DataFrame], pd.DataFrame]
    sentiment_version: str
    topic_version: str
    runtime: str = "torch"
    #: the loaded sentiment and topic models, for the sentiment of each topic of a multi-topic text
    sentiment_model: Any = None
    topic_model: Any = None

    @property
    def aspect_models(self) -> tuple[Any, Any, str] | None:
        if self.sentiment_model is None or self.topic_model is None:
            return None
        return self.sentiment_model, self.topic_model, f"aspects-v1;{self.key}"

    @property
    def key(self) -> str:
        # int8 outputs differ slightly from fp32: cached results are kept apart per runtime
        suffix = "" if self.runtime == "torch" else f";runtime={self.runtime}"
        return f"sentiment={self.sentiment_version};topics={self.topic_version}{suffix}"


def sentiment_champion(model: str | None = None, runtime: str | None = None) -> tuple[Any, str]:
    """(loaded champion, ``<registered name>/<version>``) for ``model`` = fast | quality."""
    model = model or get_settings().text_model
    if model not in TEXT_MODELS:
        raise ValueError(f"text model must be one of {list(TEXT_MODELS)}, got {model!r}")
    config = {"runtime": runtime} if runtime else None
    if model == "fast" and tracking.champion_version(SENTIMENT_FAST_MODEL) is not None:
        loaded, version = tracking.load_champion(SENTIMENT_FAST_MODEL, model_config=config)
        return loaded, f"{SENTIMENT_FAST_MODEL}/{version}"
    loaded, version = tracking.load_champion(SENTIMENT_MODEL, model_config=config)
    return loaded, f"{SENTIMENT_MODEL}/{version}"


def load_text_models(*, model: str | None = None, runtime: str | None = None, progress: bool = False) -> TextModels:
    """The text champions behind one ``classify(frame)``; ``model`` and ``runtime`` default to the settings."""
    from custsat.models.text.classify import bootstrap_topic_model, classify_feedback, unwrap_model

    runtime = runtime or get_settings().text_runtime
    sentiment, s_version = sentiment_champion(model, runtime)
    s_obj = unwrap_model(sentiment)
    try:
        topics, t_version = tracking.load_champion(TOPIC_MODEL)
        t_obj = unwrap_model(topics)
    except tracking.ModelNotFoundError:
        t_obj, t_version = bootstrap_topic_model(), f"bootstrap-{taxonomy_digest()}"

    def classify(frame: pd.DataFrame) -> pd.DataFrame:
        out = classify_feedback(frame, text_column="text", sentiment_model=s_obj, topic_model=t_obj,
                                progress=progress)
        return out.reset_index(drop=True)

    return TextModels(classify=classify, sentiment_version=s_version, topic_version=str(t_version), runtime=runtime,
                      sentiment_model=s_obj, topic_model=t_obj)


def taxonomy_digest() -> str:
    """Short hash of the taxonomy file: the bootstrap topic model changes with it."""
    path = Path(get_settings().taxonomy_path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8] if path.exists() else "none"


def text_cache_path(text_cache: str | Path | None | bool) -> Path | None:
    """True = ``<processed_dir>/text_cache.parquet``, a path = that file, False/None = no cache."""
    if text_cache is True:
        return get_settings().processed_dir / "text_cache.parquet"
    return Path(text_cache) if text_cache else None


class FeedbackLabeller:
    """Fills sentiment/topics of unlabelled feedback, one frame (or batch) at a time, through the
    text cache; adds up what it did over every frame it was given.

    The text models load at the first frame that needs them. ``stats`` and ``versions`` describe
    all frames: versions read ``input`` when no row needed the models, ``<version>+input``
    when some rows came labelled.
    """

    def __init__(self, text_models: TextModels | None, *, cache_path: Path | None, progress: bool = False):
        self.text_models = text_models
        self.cache_path = cache_path
        self.progress = progress
        self.totals: dict[str, int] = {}
        self.frames = 0
        self.rows_to_classify = 0
        self.rows_prelabelled = 0

    def label(self, feedback: pd.DataFrame) -> pd.DataFrame:
        self.frames += 1
        todo = needs_classification(feedback)
        self.rows_to_classify += int(todo.sum())
        self.rows_prelabelled += int((~todo).sum())
        if not todo.any():
            self._add({"rows": len(feedback), "rows_prelabelled": len(feedback)})
            return feedback
        if self.text_models is None:
            self.text_models = load_text_models(progress=self.progress)
        out, stats = classify_with_cache(feedback, self.text_models.classify, cache_path=self.cache_path,
                                         model_key=self.text_models.key)
        self._add(stats.as_dict())
        # each topic of a newly classified text gets its own polarity; labelled input keeps its own
        out, _ = fill_topic_sentiments(out, todo.to_numpy(), aspect_models=self.text_models.aspect_models,
                                       cache_path=self.cache_path, load_champions=False)
        return out

    def _add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.totals[key] = self.totals.get(key, 0) + int(value)

    @property
    def stats(self) -> dict[str, int]:
        """Rows, prelabelled rows, unique texts, cache hits and texts classified ({} without feedback)."""
        if not self.frames:
            return {}
        return self.totals if self.rows_to_classify else {**self.totals, "classified": 0}

    @property
    def versions(self) -> dict[str, str]:
        """Text model versions behind the labels: ``none`` without feedback, ``input`` when it came labelled."""
        if not self.frames:
            return {"sentiment_model_version": "none", "topic_model_version": "none"}
        if not self.rows_to_classify:
            return {"sentiment_model_version": "input", "topic_model_version": "input"}
        assert self.text_models is not None
        versions = {"sentiment_model_version": self.text_models.sentiment_version,
                    "topic_model_version": self.text_models.topic_version}
        return {k: f"{v}+input" for k, v in versions.items()} if self.rows_prelabelled else versions


def classify_feedback_cached(
    feedback: pd.DataFrame, text_models: TextModels | None, *, cache_path: Path | None, progress: bool = False
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """Fill sentiment/topics for unlabelled feedback rows (cached); return frame, stats, versions."""
    labeller = FeedbackLabeller(text_models, cache_path=cache_path, progress=progress)
    out = labeller.label(feedback)
    return out, labeller.stats, labeller.versions


def with_text_labels(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], str]:
    """The tables with feedback labelled by the registered text champions, when there are any.

    Training must see the same sentiment and topic features that scoring will build;
    otherwise those features are empty at training time and full at scoring time (train/serve
    skew, flagged by the drift check). The scoring's text cache is used, so texts are classified
    once for both. Returns the tables and a line saying what was done.
    """
    feedback = tables.get("feedback")
    if feedback is None or tracking.champion_version(SENTIMENT_MODEL) is None:
        return tables, f"no {SENTIMENT_MODEL} champion: training without text-model features"
    labelled, stats, versions = classify_feedback_cached(feedback, None, cache_path=text_cache_path(True), progress=True)
    return {**tables, "feedback": labelled}, f"feedback classified for training: {stats} {versions}"


# --------------------------------------------------------------------------- sentiment per topic

_SEP = "\x1f"
PROBABILITIES = ["p_negative", "p_neutral", "p_positive"]


def champion_aspect_models() -> tuple[Any, Any, str] | None:
    """(sentiment model, topic model, cache key naming their versions) of the registered
    champions, or None when there are none."""
    import logging

    try:
        models = load_text_models()
    except Exception as err:  # noqa: BLE001 - any missing model means: fall back and say so
        logging.getLogger(__name__).warning("per-topic sentiment falls back to the overall sentiment: %s", err)
        return None
    return models.aspect_models


def fill_topic_sentiments(
    frame: pd.DataFrame,
    rows: Any,
    *,
    aspect_models: tuple | None = None,
    cache_path: Path | None = None,
    load_champions: bool = True,
) -> tuple[pd.DataFrame, str]:
    """``frame`` with ``topic_sentiments`` filled on ``rows`` (a boolean mask) that have topics.

    A single-topic text gives its topic the text's polarity (the per-topic rule applied to its
    probabilities); a text with several topics is split into clauses and each topic gets the
    polarity of its own clauses (:mod:`custsat.models.text.aspects`), cached per (text, topics,
    probabilities) and model versions next to the text cache. Without ``aspect_models`` (and with
    ``load_champions``, without registered champions either) the topics of a multi-topic text take
    the text's polarity. Returns the frame and a note of what was done.
    """
    import numpy as np

    from custsat.models.text.aspects import (
        AspectConfig,
        decide_polarity,
        format_topic_sentiments,
        parse_topics,
    )

    out = frame.copy()
    rows = np.asarray(rows, dtype=bool) & out["topics"].notna().to_numpy() if "topics" in out else np.zeros(len(out), bool)
    result = (out["topic_sentiments"].astype(object) if "topic_sentiments" in out
              else pd.Series(None, index=out.index, dtype=object))
    if not rows.any():
        out["topic_sentiments"] = result
        return out, ""
    topics = out["topics"].map(parse_topics)
    multi = rows & topics.map(len).ge(2).to_numpy()
    single = rows & ~multi
    overall = out["sentiment"].astype(object).where(out["sentiment"].notna(), "neutral") if "sentiment" in out else (
        pd.Series("neutral", index=out.index, dtype=object))
    if set(PROBABILITIES) <= set(out.columns):  # the per-topic polarity rule, on the text's probabilities
        proba = out[PROBABILITIES].to_numpy(dtype=np.float64)
        known = ~np.isnan(proba).any(axis=1)
        if known.any():
            overall = overall.copy()
            overall[known] = decide_polarity(proba[known], AspectConfig().neutral_min)
    result[single] = [format_topic_sentiments({t: s for t in ts}, ts)
                      for ts, s in zip(topics[single], overall[single], strict=True)]
    note = ""
    if multi.any():
        models = aspect_models or (champion_aspect_models() if load_champions else None)
        if models is None:
            note = "no text models: topics of multi-topic texts take the overall sentiment"
            result[multi] = [format_topic_sentiments({t: s for t in ts}, ts)
                             for ts, s in zip(topics[multi], overall[multi], strict=True)]
        else:
            key = models[2] if len(models) > 2 else None
            cache = cache_path.with_name("aspect_cache.parquet") if cache_path is not None and key else None
            result[multi] = cached_topic_sentiments(out.loc[multi], models[0], models[1], cache, key)
            note = f"{int(multi.sum())} multi-topic texts segmented into clauses"
    out["topic_sentiments"] = result.where(out["topics"].notna(), None)
    return out, note


def cached_topic_sentiments(part: pd.DataFrame, sentiment_model, topic_model, cache_path: Path | None,
                            model_key: str | None):
    """``topic_sentiments`` of multi-topic rows, cached per (text, topics, probabilities) and model versions."""
    from custsat.models.text.aspects import add_topic_sentiments

    proba = part[PROBABILITIES].round(4).astype(str).agg(",".join, axis=1) if set(PROBABILITIES) <= set(part.columns) else ""
    composite = part["text"].astype(str) + _SEP + part["topics"].astype(str) + _SEP + proba

    def classify(frame: pd.DataFrame) -> pd.DataFrame:
        fields = frame["text"].str.split(_SEP, n=2, expand=True)
        sub = pd.DataFrame({"text": fields[0], "topics": fields[1]})
        p = fields[2].str.split(",", expand=True)
        if p.shape[1] == 3:
            for j, col in enumerate(PROBABILITIES):
                sub[col] = pd.to_numeric(p[j], errors="coerce")
        labelled = add_topic_sentiments(sub, sentiment_model, topic_model)
        return pd.DataFrame({"text": frame["text"].to_numpy(), "topic_sentiments": labelled["topic_sentiments"].to_numpy()})

    if cache_path is None:
        return classify(pd.DataFrame({"text": composite.to_numpy()}))["topic_sentiments"].to_numpy()
    done, _ = classify_with_cache(pd.DataFrame({"text": composite.to_numpy()}), classify, cache_path=cache_path,
                                  model_key=str(model_key))
    return done["topic_sentiments"].to_numpy()
