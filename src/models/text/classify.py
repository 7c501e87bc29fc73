"""Batch classification of feedback texts: language, sentiment, topics, urgency.

``classify_feedback(df)`` adds the columns ``language, sentiment, sentiment_score,
p_negative, p_neutral, p_positive, topics, topic_<id>..., urgency, text_truncated``.

Model resolution (``sentiment_model`` / ``topic_model`` arguments):

* ``None``  - the registered ``champion`` of ``custsat-sentiment`` / ``custsat-topics``
  (``custsat.tracking.load_champion``); for topics, when none is registered, the zero-label
  bootstrap (fitted once on the taxonomy's seeds and cached under ``settings.models_dir``).
* a string  - an MLflow model URI (``models:/custsat-sentiment-fast/3``, ``runs:/...``) or a local
  folder written by ``save`` of a teacher, student, baseline or topic model.
* an object - a fitted model (or a pyfunc wrapping one).
* ``False`` - skip that part (its columns are not added).

One encoder pass serves both sentiment and topics whenever the models allow it:

* the **student** gives sentiment logits and a topic embedding in the base model's space;
* the **teacher** runs the joint graph (shared frozen layers once, then the fine-tuned and the
  base upper layers; :mod:`custsat.models.text.joint`);
* the **frozen-probe** baseline reads the base embeddings the topic model uses anyway;
* the **TF-IDF** baseline needs no encoder, and keyword-only topics need none either.

Empty or whitespace-only texts get ``language=None``, null sentiment columns, ``topics=None``
and NaN topic probabilities. Texts longer than the model's ``max_len`` tokens are cut (head +
tail) and flagged ``text_truncated=True``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.registry import SENTIMENT_MODEL, TOPIC_MODEL
from custsat.models.text.sentiment import SentimentClassifier, sentiment_frame
from custsat.models.text.topics import SEED_EXAMPLES, TopicModel, load_taxonomy
from custsat.models.text.urgency import assign_urgency
from custsat.privacy import detect_language


def unwrap_model(model):
    """The custsat object inside a loaded pyfunc (or the object itself)."""
    inner = model
    if hasattr(inner, "unwrap_python_model"):
        inner = inner.unwrap_python_model()
    return getattr(inner, "model", inner)


def resolve_sentiment_model(spec=None, runtime: str | None = None):
    """Resolve the sentiment model argument of :func:`classify_feedback` (see module doc)."""
    from custsat import tracking
    from custsat.models.text.loading import load_sentiment_model, with_runtime

    config = {"runtime": runtime} if runtime else None
    if spec is None:
        model, _ = tracking.load_champion(SENTIMENT_MODEL, model_config=config)
        return unwrap_model(model)
    if isinstance(spec, str | Path):
        p = Path(str(spec))
        if p.is_dir():
            return load_sentiment_model(p, runtime)
        return unwrap_model(tracking.load_model_uri(str(spec), model_config=config))
    return with_runtime(unwrap_model(spec), runtime) if runtime else unwrap_model(spec)


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
    tm = TopicModel(taxonomy=load_taxonomy(tax_path), base_model=base_model, seed=settings.seed).fit()
    try:
        tm.save(cache)
    except OSError:  # pragma: no cover - read-only models dir: keep the in-memory model
        pass
    return tm


def resolve_topic_model(spec=None) -> TopicModel:
    from custsat import tracking

    if isinstance(spec, TopicModel):
        return spec
    if spec is None:
        try:
            model, _ = tracking.load_champion(TOPIC_MODEL)
            return unwrap_model(model)
        except tracking.ModelNotFoundError:
            return bootstrap_topic_model()
    if isinstance(spec, str | Path):
        p = Path(str(spec))
        if p.exists() and (p / "topic_model.pkl").exists():
            return TopicModel.load(p)
        return unwrap_model(tracking.load_model_uri(str(spec)))
    return unwrap_model(spec)


def _same_base(a: str | None, b: str | None) -> bool:
    from custsat.models.text.encoder import resolve_base_model

    try:
        return str(resolve_base_model(a)) == str(resolve_base_model(b))
    except FileNotFoundError:
        return False


def sentiment_pass(clf, tm: TopicModel | None, texts: list[str], languages: list[str], *, joint: bool = True,
                   batch_size: int = 64, progress: bool = False):
    """(probabilities n x 3, topic embeddings n x H or None, truncation flags) of non-empty ``texts``.

    Topic embeddings come out of the same pass when the models allow it (see the module doc);
    ``None`` means the topic model must embed the texts itself.
    """
    from custsat.models.text.baselines import EmbeddingProbe, TfidfSentiment
    from custsat.models.text.student import StudentClassifier

    wants_emb = tm is not None and tm.uses_embeddings
    if isinstance(clf, StudentClassifier):
        logits, emb, truncated = clf.forward_texts(texts, progress=progress, batch_size=batch_size)
        shared = wants_emb and _same_base(clf.base_model_, tm.base_model)
        return clf.proba_from_logits(logits), (emb if shared else None), truncated
    if isinstance(clf, SentimentClassifier):
        if joint and wants_emb and _same_base(getattr(clf, "base_model_", None), tm.base_model):
            from custsat.models.text.joint import joint_encoder_for

            je = joint_encoder_for(clf, tm._encoder().model_, getattr(clf, "onnx_flavour_", False), batch_size)
            logits, emb, truncated = je.forward_texts(texts, progress=progress)
            return clf.proba_from_logits(logits), emb, truncated
        logits, _, truncated = clf.forward_texts(texts, progress=progress, batch_size=batch_size)
        return clf.proba_from_logits(logits), None, truncated
    if isinstance(clf, EmbeddingProbe):
        from custsat.models.text.encoder import encode_texts

        shared = wants_emb and _same_base(clf.base_model, tm.base_model)
        encoder = tm._encoder() if shared else clf.encoder()
        emb = encoder.embed(texts, progress=progress)
        truncated = encode_texts(encoder.tokenizer_, texts, encoder.max_len_).truncated
        return clf.predict_proba_embeddings(emb, languages), (emb if shared else None), truncated
    if isinstance(clf, TfidfSentiment):
        return clf.predict_proba(texts, languages), None, np.zeros(len(texts), bool)
    raise TypeError(f"not a custsat sentiment model: {type(clf).__name__}")


def classify_feedback(df: pd.DataFrame, text_column: str = "text", sentiment_model=None, topic_model=None,
                      batch_size: int = 64, progress: bool = True, runtime: str | None = None,
                      joint: bool = True) -> pd.DataFrame:
    """Add language, sentiment, topic and urgency columns to a copy of ``df`` (see module doc).

    Parameters
    ----------
    df : DataFrame with a text column (other columns are kept unchanged).
    batch_size : texts per forward pass (batches are length-sorted).
    runtime : how the encoders run (:mod:`custsat.models.text.loading`); ``None`` keeps the
        models as they were loaded.
    joint : let the teacher compute the topic embeddings in its own pass (its ``max_len``, 128
        tokens by default, instead of the topic model's).
    """
    if text_column not in df.columns:
        raise KeyError(f"classify_feedback: column {text_column!r} not in input (have {list(df.columns)})")
    out = df.copy()
    texts = [v if isinstance(v, str) else ("" if v is None or pd.isna(v) else str(v)) for v in out[text_column]]
    empty = np.array([not t.strip() for t in texts], bool)
    language = [detect_language(t) for t in texts]
    out["language"] = pd.Series(language, index=out.index, dtype=object)
    keep = np.flatnonzero(~empty)
    nonempty = [texts[i] for i in keep]
    routed = ["en" if language[i] == "en" else "zh" for i in keep]
    truncated = np.zeros(len(texts), bool)
    p_neg = None
    clf = resolve_sentiment_model(sentiment_model, runtime) if sentiment_model is not False else None
    tm = resolve_topic_model(topic_model) if topic_model is not False else None
    topic_emb = None
    if clf is not None:
        proba = np.zeros((len(texts), 3))
        if nonempty:
            p, emb, tr = sentiment_pass(clf, tm, nonempty, routed, joint=joint, batch_size=batch_size or 64,
                                        progress=progress)
            proba[keep] = p
            truncated[keep] = tr
            if emb is not None:
                topic_emb = np.zeros((len(texts), emb.shape[1]), np.float32)
                topic_emb[keep] = emb
        sf = sentiment_frame(proba, empty)
        sf.index = out.index
        for c in sf.columns:
            out[c] = sf[c]
        p_neg = out["p_negative"].to_numpy()
    if tm is not None:
        tp = tm.predict_proba(texts, embeddings=topic_emb)
        tf = tm.to_frame(tp)
        tf.index = out.index
        for c in tf.columns:
            out[c] = tf[c]
        if clf is None and nonempty and tm.uses_embeddings:
            from custsat.models.text.encoder import encode_texts

            enc = encode_texts(tm._encoder().tokenizer_, nonempty, tm._encoder().max_len_)
            truncated[keep] = enc.truncated
    prior = out["urgency"] if "urgency" in df.columns else None
    out["urgency"] = assign_urgency(texts, p_neg, prior)
    out["text_truncated"] = truncated
    return out


def classify_file(input_path: str | Path, out_path: str | Path, *, text_column: str = "text",
                  model: str | None = None, sentiment_model: str | None = None, topic_model: str | None = None,
                  runtime: str | None = None, batch_size: int = 64, progress: bool = True,
                  threads: int | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """``custsat feedback classify``: classify a feedback file and write it with PII masked in the text.

    ``model`` (fast | quality, default ``settings.text_model``) picks the registered champion
    unless ``sentiment_model`` names a URI or folder. Returns the written frame and the versions used.
    """
    from custsat.config import get_settings
    from custsat.data.io import read_table, write_table
    from custsat.models.text.encoder import set_threads
    from custsat.models.text.loading import check_runtime
    from custsat.models.text.training import quiet_libraries
    from custsat.privacy import mask_pii

    settings = get_settings()
    runtime = check_runtime(runtime or settings.text_runtime)
    with quiet_libraries():
        set_threads(threads or settings.text_thread_count)
        frame = read_table(input_path)
        if sentiment_model is None:
            from custsat.models.text.served import sentiment_champion

            loaded, s_version = sentiment_champion(model, runtime)
            clf = unwrap_model(loaded)
        else:
            clf, s_version = resolve_sentiment_model(sentiment_model, runtime), str(sentiment_model)
        tm = resolve_topic_model(topic_model)
        result = classify_feedback(frame, text_column=text_column, sentiment_model=clf, topic_model=tm,
                                   batch_size=batch_size, progress=progress)
    result[text_column] = result[text_column].map(mask_pii)
    write_table(result, out_path)
    return result, {"sentiment": s_version, "topics": str(topic_model or "champion/bootstrap")}
