"""The registered text champions as one ``classify(frame)``, and feedback labelled through the cache.

Which sentiment model classifies (``model``, default ``settings.text_model``):

* ``fast`` (default) - the champion of ``custsat-sentiment-fast``, the distilled student (int8),
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

    return TextModels(classify=classify, sentiment_version=s_version, topic_version=str(t_version), runtime=runtime)


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
