"""MLflow pyfunc wrappers for the text models (loadable with ``mlflow.pyfunc.load_model``).

``predict(df)`` takes a DataFrame with a ``text`` column and returns a DataFrame:
sentiment -> sentiment, sentiment_score, p_negative, p_neutral, p_positive, text_truncated;
topics -> topics (semicolon-joined ids, most probable first) and topic_<id> probabilities.
``unwrap_python_model().model`` gives the underlying custsat object.

The sentiment artifact may be the teacher, the student or a baseline (whichever was
registered); the runtime (:mod:`custsat.models.text.loading`) is a load-time argument,
``model_config={"runtime": "onnx-int8"}``, never an environment variable.
"""

from __future__ import annotations

import pandas as pd

from custsat import tracking

SENTIMENT_COLUMNS = ["sentiment", "sentiment_score", "p_negative", "p_neutral", "p_positive", "text_truncated"]


def _texts(model_input) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        col = "text" if "text" in model_input.columns else model_input.columns[0]
        s = model_input[col]
    else:
        s = pd.Series(model_input)
    return s.fillna("").astype(str).tolist()


class SentimentPyfunc(tracking.PythonModel):
    """Pyfunc around a saved sentiment model folder (artifact ``sentiment``)."""

    def load_context(self, context):
        from custsat.models.text.loading import load_sentiment_model

        runtime = (getattr(context, "model_config", None) or {}).get("runtime")
        self.model = load_sentiment_model(context.artifacts["sentiment"], runtime=runtime)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from custsat.models.text.classify import classify_feedback

        df = pd.DataFrame({"text": _texts(model_input)})
        out = classify_feedback(df, sentiment_model=self.model, topic_model=False, progress=False)
        return out[SENTIMENT_COLUMNS]


class TopicPyfunc(tracking.PythonModel):
    """Pyfunc around :class:`custsat.models.text.topics.TopicModel` (artifact ``topics``)."""

    def load_context(self, context):
        from custsat.models.text.topics import TopicModel

        self.model = TopicModel.load(context.artifacts["topics"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        texts = _texts(model_input)
        proba = self.model.predict_proba(texts)
        return self.model.to_frame(proba, texts)
