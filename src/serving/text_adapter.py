"""Load the registered text champions and expose one ``classify(frame)`` for scoring.

Sentiment (``custsat-sentiment``) and topics (``custsat-topics``) are registered by the text
training code; :func:`custsat.models.text.classify.classify_feedback` runs them (plus
language detection and urgency) on a frame with a ``text`` column. As in
``classify_feedback``, a missing topic champion falls back to the zero-label bootstrap
topic model (version ``bootstrap``); a missing sentiment champion is an error that names
the model and ``make train``.
"""

from __future__ import annotations

import pandas as pd

from custsat import tracking

SENTIMENT_MODEL = "custsat-sentiment"
TOPIC_MODEL = "custsat-topics"


def load_text_models(*, progress: bool = False):
    """Return :class:`custsat.serving.score.TextModels` backed by the text champions."""
    from custsat.models.text.classify import _unwrap, bootstrap_topic_model
    from custsat.serving.score import TextModels

    sentiment, s_version = tracking.load_champion(SENTIMENT_MODEL)
    s_obj = _unwrap(sentiment)
    try:
        topics, t_version = tracking.load_champion(TOPIC_MODEL)
        t_obj = _unwrap(topics)
    except tracking.ModelNotFoundError:
        t_obj, t_version = bootstrap_topic_model(), f"bootstrap-{_taxonomy_digest()}"

    def classify(frame: pd.DataFrame) -> pd.DataFrame:
        from custsat.config import get_settings
        from custsat.models.text.classify import classify_feedback

        out = classify_feedback(frame, text_column="text", sentiment_model=s_obj, topic_model=t_obj, progress=progress,
                                onnx=get_settings().text_onnx)
        return out.reset_index(drop=True)

    from custsat.config import get_settings

    return TextModels(classify=classify, sentiment_version=str(s_version), topic_version=str(t_version),
                      runtime=get_settings().text_runtime)


def _taxonomy_digest() -> str:
    """Short hash of the taxonomy file: the bootstrap topic model changes with it."""
    import hashlib
    from pathlib import Path

    from custsat.config import get_settings

    path = Path(get_settings().taxonomy_path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8] if path.exists() else "none"
