"""Every text estimator is a scikit-learn estimator: get_params / set_params / clone, no fitted state in __init__."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from custsat.models.text.baselines import EmbeddingProbe, TfidfSentiment
from custsat.models.text.sentiment import SentimentClassifier, SentimentConfig
from custsat.models.text.student import StudentClassifier, StudentConfig
from custsat.models.text.topics import TopicModel

ESTIMATORS = [
    (SentimentClassifier, {"config": SentimentConfig(max_len=64, seed=3)}),
    (StudentClassifier, {"config": StudentConfig(layers=(0, 5, 11)), "int8": False}),
    (TopicModel, {"mode": "keywords", "threshold": 0.4, "seed": 7}),
    (TfidfSentiment, {"C": 2.0, "min_df": 1}),
    (EmbeddingProbe, {"C": 3.0, "max_len": 64}),
]


@pytest.mark.parametrize("cls, params", ESTIMATORS, ids=[c.__name__ for c, _ in ESTIMATORS])
def test_estimator_contract(cls, params):
    est = cls(**params)
    assert isinstance(est, BaseEstimator)
    got = est.get_params()
    for k, v in params.items():
        assert got[k] is v  # __init__ stores its arguments as given
    twin = clone(est)
    assert type(twin) is cls and twin is not est
    for k, v in params.items():
        assert twin.get_params()[k] == v
    assert not [k for k in vars(twin) if k.endswith("_") and not k.startswith("_")]  # nothing learned yet
    first = next(iter(params))
    assert est.set_params(**{first: params[first]}) is est


def test_tfidf_baseline_routes_languages_and_keeps_probabilities(tmp_path):
    from custsat.models.text.baselines import load_baseline

    texts = ["质量很好", "质量太差", "服务很好", "服务太差", "good taste", "bad taste", "good value", "bad value"]
    labels = ["positive", "negative"] * 4
    m = TfidfSentiment(min_df=1).fit(texts, labels)
    assert set(m.models_) == {"zh", "en"}
    p = m.predict_proba(["质量很好", "bad value", "🙂"])
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p[:, 1] == 0).all()  # no neutral in the labels -> probability 0
    assert p[0, 2] > p[0, 0] and p[1, 0] > p[1, 2]
    again = load_baseline(m.save(tmp_path / "b"))
    np.testing.assert_allclose(again.predict_proba(["质量很好", "bad value"]), p[:2])
    with pytest.raises(ValueError, match="two classes"):
        TfidfSentiment(min_df=1).fit(["好", "很好"], ["positive", "positive"], ["zh", "zh"])
