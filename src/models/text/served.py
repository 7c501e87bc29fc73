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


def classify_feedback_cached(
    feedback: pd.DataFrame, text_models: TextModels | None, *, cache_path: Path | None, progress: bool = False
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """Fill sentiment/topics for unlabelled feedback rows (cached); return frame, stats, versions.

    Rows that already carry labels keep them; versions then read ``<version>+input``.
    """
    todo = needs_classification(feedback)
    if not todo.any():
        return feedback, {"rows": len(feedback), "rows_prelabelled": len(feedback), "classified": 0}, {
            "sentiment_model_version": "input", "topic_model_version": "input"}
    if text_models is None:
        text_models = load_text_models(progress=progress)
    out, stats = classify_with_cache(feedback, text_models.classify, cache_path=cache_path, model_key=text_models.key)
    versions = {
        "sentiment_model_version": text_models.sentiment_version,
        "topic_model_version": text_models.topic_version,
    }
    if int((~todo).sum()):
        versions = {k: f"{v}+input" for k, v in versions.items()}
    return out, stats.as_dict(), versions
