"""The sentiment baselines: real, servable models that the fine-tuned models must beat.

* :class:`TfidfSentiment` - TF-IDF + logistic regression, one per language (Chinese: character
  1-3-grams; English: word 1-2-grams; sublinear tf, ``min_df`` 2, ``C`` 4).
* :class:`EmbeddingProbe` - logistic regression (``C`` 10) on the frozen base encoder's
  L2-normalised mean-pooled embeddings, one per language.

Both predict ``(n, 3)`` probabilities in ``LABELS`` order (negative, neutral, positive); a class
absent from the training labels gets probability 0. A text is routed to the Chinese model when
:func:`custsat.privacy.detect_language` says ``zh`` or ``mixed`` (or nothing: emoji only, digits),
to the English model when it says ``en``. When no champion beats them, the best baseline is
registered and served as the sentiment champion (``custsat feedback classify``, ``custsat score``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from custsat.data.io import atomic_write_dir
from custsat.models.text.sentiment import LABELS

META_FILE = "baseline_meta.json"
MODEL_LANGUAGES = ("zh", "en")


def model_language(text: str) -> str:
    """Which per-language model a text goes to: 'en' for English, else 'zh'."""
    from custsat.privacy import detect_language

    return "en" if detect_language(text) == "en" else "zh"


def _proba3(lr, x) -> np.ndarray:
    """(n, 3) in LABELS order from a fitted classifier whose classes are a subset of LABELS."""
    p = lr.predict_proba(x)
    out = np.zeros((p.shape[0], len(LABELS)))
    for j, c in enumerate(lr.classes_):
        out[:, LABELS.index(str(c))] = p[:, j]
    return out


def _route(texts: Sequence[str], languages: Sequence[str] | None) -> np.ndarray:
    if languages is None:
        return np.array([model_language(t) for t in texts], dtype=object)
    return np.array(["en" if lang == "en" else "zh" for lang in languages], dtype=object)


class _PerLanguage(BaseEstimator):
    """Shared fit/predict/persistence of the per-language baselines (``_features`` differs)."""

    kind = "baseline"

    def _fit_languages(self, x_by_lang, labels, languages, make_lr) -> None:
        labels = np.asarray([str(v) for v in labels], dtype=object)
        langs = _route([""] * len(labels), languages)
        self.models_ = {}
        for lang in MODEL_LANGUAGES:
            rows = np.flatnonzero(langs == lang)
            if len(rows) == 0:
                continue
            if len(set(labels[rows])) < 2:
                raise ValueError(f"{type(self).__name__}: the {lang} training rows need two classes, "
                                 f"got {sorted(set(labels[rows]))}")
            self.models_[lang] = x_by_lang(lang, rows, make_lr(), labels[rows])
        if not self.models_:
            raise ValueError(f"{type(self).__name__}: no training rows")

    def _model_for(self, lang: str):
        return self.models_.get(lang) or next(iter(self.models_.values()))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_write_dir(path) as tmp:
            with open(tmp / "baseline.pkl", "wb") as fh:
                pickle.dump(self, fh)
            (tmp / META_FILE).write_text(json.dumps({"kind": self.kind, "params": self.get_params(),
                                                     "languages": sorted(self.models_)}, indent=2, default=str))
        return path

    @staticmethod
    def load(path: str | Path):
        with open(Path(path) / "baseline.pkl", "rb") as fh:
            obj = pickle.load(fh)
        obj.path_ = Path(path)
        return obj

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.array(LABELS)[self.predict_proba(texts).argmax(1)]


class TfidfSentiment(_PerLanguage):
    """TF-IDF + logistic regression per language (see the module doc)."""

    kind = "tfidf_lr"

    def __init__(self, C: float = 4.0, min_df: int = 2, max_iter: int = 3000):
        self.C = C
        self.min_df = min_df
        self.max_iter = max_iter

    def fit(self, texts: Sequence[str], labels: Sequence[str], languages: Sequence[str] | None = None) -> TfidfSentiment:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = [str(t) for t in texts]
        langs = _route(texts, languages)

        def fit_one(lang, rows, lr, y):
            vec = (TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=self.min_df, sublinear_tf=True)
                   if lang == "zh" else
                   TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=self.min_df, sublinear_tf=True))
            return make_pipeline(vec, lr).fit([texts[i] for i in rows], y)

        self._fit_languages(fit_one, labels, langs, lambda: LogisticRegression(C=self.C, max_iter=self.max_iter))
        return self

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
        texts = [str(t) for t in texts]
        langs = _route(texts, languages)
        out = np.zeros((len(texts), len(LABELS)))
        for lang in set(langs.tolist()):
            rows = np.flatnonzero(langs == lang)
            out[rows] = _proba3(self._model_for(lang), [texts[i] for i in rows])
        return out


class EmbeddingProbe(_PerLanguage):
    """Logistic regression on frozen base-encoder embeddings, per language (see the module doc).

    ``base_model`` and ``max_len`` say which encoder made the embeddings (it embeds texts at
    prediction time when no embeddings are given).
    """

    kind = "frozen_probe"

    def __init__(self, C: float = 10.0, base_model: str | None = None, max_len: int = 128, max_iter: int = 3000):
        self.C = C
        self.base_model = base_model
        self.max_len = max_len
        self.max_iter = max_iter

    def fit(self, embeddings: np.ndarray, labels: Sequence[str], languages: Sequence[str]) -> EmbeddingProbe:
        from sklearn.linear_model import LogisticRegression

        emb = np.asarray(embeddings, np.float32)
        self._fit_languages(lambda lang, rows, lr, y: lr.fit(emb[rows], y), labels, languages,
                            lambda: LogisticRegression(C=self.C, max_iter=self.max_iter))
        return self

    def predict_proba_embeddings(self, embeddings: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        emb = np.asarray(embeddings, np.float32)
        langs = _route([""] * len(emb), languages)
        out = np.zeros((len(emb), len(LABELS)))
        for lang in set(langs.tolist()):
            rows = np.flatnonzero(langs == lang)
            out[rows] = _proba3(self._model_for(lang), emb[rows])
        return out

    def encoder(self):
        """The frozen base encoder the probe reads (loaded once)."""
        if getattr(self, "encoder_", None) is None:
            from custsat.models.text.encoder import TextEncoder

            self.encoder_ = TextEncoder(self.base_model, max_len=self.max_len).load()
        return self.encoder_

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> np.ndarray:
        texts = [str(t) for t in texts]
        return self.predict_proba_embeddings(self.encoder().embed(texts), _route(texts, languages))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("encoder_", None)  # the encoder is the base model on disk, never pickled
        return state


def load_baseline(path: str | Path):
    """A saved :class:`TfidfSentiment` or :class:`EmbeddingProbe`."""
    return _PerLanguage.load(path)
