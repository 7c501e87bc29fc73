"""Every custsat estimator follows the scikit-learn contract: ``__init__`` stores its arguments
unchanged, ``get_params``/``set_params``/``clone`` work, learned attributes end in ``_`` and
appear only after ``fit``, and ``fit`` returns the estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from custsat.models.churn import ChurnModel, TabularEncoder
from custsat.models.clv import SurvivalCLV


def churn_rows(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency_days": rng.integers(0, 300, n).astype(float),
                      "spend": rng.gamma(2.0, 50.0, n),
                      "region": rng.choice(["north", "south", "east"], n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["recency_days"] - 150) / 50))).astype(int)
    return X, y


def clv_rows(n: int = 300, seed: int = 0):
    from custsat.data.synth import generate_crm

    crm = generate_crm(n, seed=seed)
    tx = crm.tables["transactions"]
    return tx, pd.Timestamp(tx["timestamp"].max()).normalize()


ESTIMATORS = [
    pytest.param(lambda: ChurnModel(n_estimators=30, early_stopping_rounds=5, seed=3), churn_rows, id="ChurnModel"),
    pytest.param(lambda: TabularEncoder(max_categories=5), churn_rows, id="TabularEncoder"),
    pytest.param(lambda: SurvivalCLV(rerank=False, horizon_months=6), clv_rows, id="SurvivalCLV"),
]


@pytest.mark.parametrize(("make", "data"), ESTIMATORS)
def test_estimator_contract(make, data):
    estimator = make()
    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin.get_params() == params and twin is not estimator
    assert not [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")], "learned state before fit"
    assert estimator.set_params(**params) is estimator
    X, y = data()
    assert estimator.fit(X, y) is estimator
    check_is_fitted(estimator)
    assert estimator.get_params() == params  # fit does not change the arguments
    with pytest.raises(Exception):  # noqa: B017 - any "not fitted" error
        check_is_fitted(clone(estimator))
