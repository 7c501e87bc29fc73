"""MLflow pyfunc wrappers for the text models (loadable with ``mlflow.pyfunc.load_model``).

``predict(df)`` takes a DataFrame with a ``text`` column and returns a DataFrame:
sentiment -> sentiment, sentiment_score, p_negative, p_neutral, p_positive, text_truncated;
topics -> topics (semicolon-joined ids, most probable first) and topic_<id> probabilities.
``unwrap_python_model().model`` gives the underlying custsat object.
"""

from __future__ import annotations

import os

import pandas as pd

try:
    from mlflow.pyfunc import PythonModel
except Exception:  # pragma: no cover - mlflow is a hard dependency
    PythonModel = object


def _texts(model_input) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        col = "text" if "text" in model_input.columns else model_input.columns[0]
        s = model_input[col]
    else:
        s = pd.Series(model_input)
    return s.fillna("").astype(str).tolist()


class SentimentPyfunc(PythonModel):
    """Pyfunc around :class:`custsat.models.text.sentiment.SentimentClassifier` (artifact ``sentiment``)."""

    def load_context(self, context):
        from custsat.models.text.sentiment import SentimentClassifier

        onnx = os.environ.get("CUSTSAT_TEXT_ONNX", "")
        self.model = SentimentClassifier.load(context.artifacts["sentiment"], onnx=onnx or False)

    def predict(self, context, model_input, params=None):
        from custsat.models.text.classify import classify_feedback

        df = pd.DataFrame({"text": _texts(model_input)})
        out = classify_feedback(df, sentiment_model=self.model, topic_model=False, progress=False)
        cols = ["sentiment", "sentiment_score", "p_negative", "p_neutral", "p_positive", "text_truncated"]
        return out[cols]


class TopicPyfunc(PythonModel):
    """Pyfunc around :class:`custsat.models.text.topics.TopicModel` (artifact ``topics``)."""

    def load_context(self, context):
        from custsat.models.text.topics import TopicModel

        self.model = TopicModel.load(context.artifacts["topics"])

    def predict(self, context, model_input, params=None):
        texts = _texts(model_input)
        proba = self.model.predict_proba(texts)
        return self.model.to_frame(proba, texts)
