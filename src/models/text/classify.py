"""Batch classification of feedback texts: language, sentiment, topics, urgency.

``classify_feedback(df)`` adds the columns ``language, sentiment, sentiment_score,
p_negative, p_neutral, p_positive, topics, topic_<id>..., urgency, text_truncated``.

Model resolution (``sentiment_model`` / ``topic_model`` arguments):

* ``None``  - the registered ``champion`` of ``custsat-sentiment`` / ``custsat-topics``
  (``custsat.tracking.load_champion``); for topics, when none is registered, the zero-label
  bootstrap (fitted once on the taxonomy's seeds and cached under ``settings.models_dir``).
* a string  - an MLflow model URI (``models:/custsat-sentiment/3``, ``runs:/...``) or a local
  folder written by ``SentimentClassifier.save`` / ``TopicModel.save``.
* an object - a fitted ``SentimentClassifier`` / ``TopicModel`` (or a pyfunc wrapping one).
* ``False`` - skip that part (its columns are not added).

Empty or whitespace-only texts get ``language=None``, null sentiment columns, ``topics=None``
and NaN topic probabilities. Texts longer than the model's ``max_len`` tokens are cut (head +
tail) and flagged ``text_truncated=True``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.text.sentiment import SentimentClassifier, sentiment_frame
from custsat.models.text.topics import SEED_EXAMPLES, TopicModel, load_taxonomy
from custsat.models.text.urgency import assign_urgency
from custsat.privacy import detect_language

SENTIMENT_MODEL = "custsat-sentiment"
TOPIC_MODEL = "custsat-topics"


def _unwrap(model):
    inner = model
    if hasattr(inner, "unwrap_python_model"):
        inner = inner.unwrap_python_model()
    return getattr(inner, "model", inner)


def resolve_sentiment_model(spec=None, onnx: bool | str = False) -> SentimentClassifier:
    """Resolve the sentiment model argument of :func:`classify_feedback` (see module doc)."""
    if isinstance(spec, SentimentClassifier):
        return spec
    if spec is None:
        from custsat.tracking import load_champion

        if onnx:
            os.environ["CUSTSAT_TEXT_ONNX"] = str(onnx if isinstance(onnx, str) else "int8")
        model, _ = load_champion(SENTIMENT_MODEL)
        return _unwrap(model)
    if isinstance(spec, str | Path):
        p = Path(str(spec))
        if p.exists() and (p / "sentiment_meta.json").exists():
            return SentimentClassifier.load(p, onnx=onnx)
        import mlflow

        from custsat.tracking import configure

        configure()
        if onnx:
            os.environ["CUSTSAT_TEXT_ONNX"] = str(onnx if isinstance(onnx, str) else "int8")
        return _unwrap(mlflow.pyfunc.load_model(str(spec)))
    return _unwrap(spec)


def bootstrap_topic_model(taxonomy_path: str | Path | None = None, base_model: str | None = None) -> TopicModel:
    """The zero-label bootstrap, fitted once per (taxonomy, seeds, base model) and cached on disk."""
    from custsat.config import get_settings

    settings = get_settings()
    tax_path = Path(taxonomy_path) if taxonomy_path else Path(settings.taxonomy_path)
    base = base_model or settings.base_text_model
    h = hashlib.sha256()
    for p in (tax_path, SEED_EXAMPLES):
        if p.exists():
            h.update(p.read_bytes())
    h.update(base.encode())
    cache = settings.models_dir / "topics-bootstrap" / h.hexdigest()[:16]
    if (cache / "topic_model.pkl").exists():
        return TopicModel.load(cache)
    tm = TopicModel(taxonomy=load_taxonomy(tax_path), base_model=base_model).fit()
    try:
        tm.save(cache)
    except OSError:  # pragma: no cover - read-only models dir: keep the in-memory model
        pass
    return tm


def resolve_topic_model(spec=None) -> TopicModel:
    if isinstance(spec, TopicModel):
        return spec
    if spec is None:
        from custsat.tracking import ModelNotFoundError, load_champion

        try:
            model, _ = load_champion(TOPIC_MODEL)
            return _unwrap(model)
        except ModelNotFoundError:
            return bootstrap_topic_model()
    if isinstance(spec, str | Path):
        p = Path(str(spec))
        if p.exists() and (p / "topic_model.pkl").exists():
            return TopicModel.load(p)
        import mlflow

        from custsat.tracking import configure

        configure()
        return _unwrap(mlflow.pyfunc.load_model(str(spec)))
    return _unwrap(spec)


def _same_base(clf: SentimentClassifier, tm: TopicModel) -> bool:
    from custsat.models.text.encoder import resolve_base_model

    try:
        return str(resolve_base_model(getattr(clf, "base_model_", None))) == str(resolve_base_model(tm.base_model))
    except FileNotFoundError:
        return False


def classify_feedback(df: pd.DataFrame, text_column: str = "text", sentiment_model=None, topic_model=None,
                      batch_size: int = 64, progress: bool = True, onnx: bool | str = False,
                      joint: bool = True) -> pd.DataFrame:
    """Add language, sentiment, topic and urgency columns to a copy of ``df`` (see module doc).

    Parameters
    ----------
    df : DataFrame with a text column (other columns are kept unchanged).
    batch_size : texts per forward pass (batches are length-sorted).
    onnx : run the encoders with ONNX Runtime (``True``/``'int8'`` dynamic int8, ``'fp32'``).
    joint : when both models use the same base encoder, get the sentiment logits and the topic
        embeddings from one pass (:mod:`custsat.models.text.joint`); the topic embeddings then use
        the sentiment model's ``max_len`` (128 tokens by default) instead of the topic model's.
    """
    if text_column not in df.columns:
        raise KeyError(f"classify_feedback: column {text_column!r} not in input (have {list(df.columns)})")
    out = df.copy()
    texts = out[text_column].map(lambda v: v if isinstance(v, str) else ("" if v is None or pd.isna(v) else str(v)))
    texts = texts.tolist()
    empty = np.array([not t.strip() for t in texts], bool)
    out["language"] = pd.Series([detect_language(t) for t in texts], index=out.index, dtype=object)
    nonempty = [t for t, e in zip(texts, empty, strict=True) if not e]
    truncated = np.zeros(len(texts), bool)
    p_neg = None
    clf = resolve_sentiment_model(sentiment_model, onnx=onnx) if sentiment_model is not False else None
    tm = resolve_topic_model(topic_model) if topic_model is not False else None
    topic_emb = None
    if clf is not None:
        if batch_size:
            clf.config.infer_batch_size = batch_size
        proba = np.full((len(texts), 3), np.nan)
        if nonempty:
            if joint and tm is not None and _same_base(clf, tm):
                from custsat.models.text.joint import JointEncoder

                je = JointEncoder(clf, tm._encoder().model_, onnx=onnx, batch_size=batch_size or 64)
                logits, emb, tr = je.forward_texts(nonempty, progress=progress)
                topic_emb = np.zeros((len(texts), emb.shape[1]), np.float32)
                topic_emb[~empty] = emb
            else:
                logits, _, tr = clf.forward_texts(nonempty, progress=progress)
            proba[~empty] = clf.proba_from_logits(logits)
            truncated[~empty] = tr
        sf = sentiment_frame(np.nan_to_num(proba), empty)
        sf.index = out.index
        for c in sf.columns:
            out[c] = sf[c]
        p_neg = out["p_negative"].to_numpy()
    if tm is not None:
        if topic_emb is None and onnx and getattr(getattr(tm, "encoder_", None), "onnx", False) != onnx:
            from custsat.models.text.encoder import TextEncoder

            tm.encoder_ = TextEncoder(tm.base_model, max_len=tm.max_len, batch_size=batch_size or 64,
                                      onnx=onnx).load()
        tp = tm.predict_proba(texts, embeddings=topic_emb)
        tf = tm.to_frame(tp)
        tf.index = out.index
        for c in tf.columns:
            out[c] = tf[c]
        if sentiment_model is False and nonempty:
            from custsat.models.text.encoder import encode_texts

            enc = encode_texts(tm._encoder().tokenizer_, nonempty, tm._encoder().max_len_)
            truncated[~empty] = enc.truncated
    prior = out["urgency"] if "urgency" in df.columns else None
    out["urgency"] = assign_urgency(texts, p_neg, prior)
    out["text_truncated"] = truncated
    return out
