"""Uplift metrics against a known ranking; the learners on data with a planted effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.models import uplift as U

# Eight customers, alternately treated / control; sorted by score (a, b, ..., h).
# Treated a, c, e, g retained 1, 1, 0, 0; control b, d, f, h retained 0, 0, 1, 1:
# the top half responds only when treated, the bottom half only when not.
SCORE = np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
TREATED = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
Y = np.array([1, 0, 1, 0, 0, 1, 0, 1], dtype=float)


def test_qini_curve_by_hand():
    curve = U.qini_curve(SCORE, TREATED, Y)
    # Q(k) = R_T(k) - R_C(k) N_T(k) / N_C(k); at k = 1..8:
    # k=1: 1 - 0 (no control yet: R_T) = 1; k=2: 1 - 0 = 1; k=3: 2 - 0 = 2; k=4: 2 - 0 = 2;
    # k=5: 2 - 0 * 3/2 = 2; k=6: 2 - 1 * 3/3 = 1; k=7: 2 - 1 * 4/3 = 2/3; k=8: 2 - 2 * 4/4 = 0
    expected = np.array([0, 1, 1, 2, 2, 2, 1, 2 / 3, 0]) / 8
    np.testing.assert_allclose(curve["qini"], expected, atol=1e-12)
    # random targeting ends at Q(N) = 0, so the coefficient is the area under the curve:
    # trapezoids of width 1/8 over the values above
    area = np.trapezoid(expected, np.arange(9) / 8)
    assert U.qini_coefficient(SCORE, TREATED, Y) == pytest.approx(area, abs=1e-12)
    assert U.qini_coefficient(-SCORE, TREATED, Y) < 0 < U.qini_coefficient(SCORE, TREATED, Y)


def test_uplift_curve_and_auuc_by_hand():
    curve = U.qini_curve(SCORE, TREATED, Y)
    # at k=4: treated a, c both retained (rate 1), control b, d none (0): (1 - 0) * 4/8 = 0.5
    assert curve.loc[4, "uplift"] == pytest.approx(0.5)
    # at k=8: rates 2/4 and 2/4: 0
    assert curve.loc[8, "uplift"] == pytest.approx(0.0)
    assert U.auuc(SCORE, TREATED, Y) == pytest.approx(np.trapezoid(curve["uplift"], curve["share"]))


def test_value_saved_of_known_ranking():
    effect = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    value = np.array([100, 50, 10, 10, 10, 10, 10, 10], dtype=float)
    top = U.true_value_saved(SCORE, effect, value, share=0.25)
    assert top == {"selected": 2, "value_saved": 150.0, "value_saved_per_100": 7500.0}
    assert U.true_value_saved(-SCORE, effect, value, share=0.25)["value_saved"] == 0.0
    assert U.top_share(SCORE, 0.5).tolist() == [True] * 4 + [False] * 4


def planted(n=6000, seed=0):
    """Retention 0.6 for everyone; treatment adds 0.3 where x0 > 0, nothing elsewhere."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.standard_normal((n, 3)), columns=["x0", "x1", "x2"])
    t = rng.random(n) < 0.5
    p = 0.6 + 0.3 * (t & (x["x0"].to_numpy() > 0))
    return x, t, (rng.random(n) < p).astype(float)


@pytest.mark.parametrize("kind", ["t", "x"])
def test_learners_find_the_planted_effect(kind):
    x, t, y = planted()
    model = U.make_learner(kind, n_estimators=100, learning_rate=0.05, min_child_samples=100).fit(x, t, y)
    test_x, test_t, test_y = planted(seed=1)
    uplift = model.predict(test_x)
    responders = test_x["x0"].to_numpy() > 0
    assert uplift[responders].mean() - uplift[~responders].mean() > 0.15
    assert U.qini_coefficient(uplift, test_t, test_y) > U.qini_coefficient(test_x["x1"].to_numpy(), test_t, test_y)
    assert np.abs(model.predict_control(test_x) - 0.6).mean() < 0.08


def test_learner_rejects_bad_input():
    x, t, y = planted(200)
    with pytest.raises(ValueError, match="one group is empty"):
        U.TLearner().fit(x, np.ones(len(t), bool), y)
    with pytest.raises(ValueError, match="0/1"):
        U.TLearner().fit(x, t, y * 2)
    assert U.TLearner().get_params()["num_leaves"] == 4  # a scikit-learn estimator


def test_true_qini_of_known_ranking():
    effect = np.array([1, 1, 0, 0], dtype=float)
    # perfect ranking: cumulative gain 0, 1/4, 2/4, 2/4, 2/4 over shares 0, 1/4, .., 1; random
    # targeting gains share x 2/4. Trapezoids of (gain - random) = 0, 1/8, 1/4, 1/8, 0:
    # 1/4 * (0/2 + 1/8 + 1/4 + 1/8 + 0/2) = 0.125
    expected = 0.125
    assert U.true_qini_coefficient([4, 3, 2, 1], effect) == pytest.approx(expected)
    assert U.true_qini_coefficient([1, 2, 3, 4], effect) == pytest.approx(-expected)


def test_train_uplift_on_a_synthetic_campaign():
    from custsat.data.synth import generate_crm

    crm = generate_crm(2500, seed=8, past_campaign=True)
    with pytest.warns(UserWarning, match="too few"):  # ~800 training customers, leaves of 500
        result = U.train_uplift(crm.tables, crm.truth["campaign_list"], log_run=False, learner="t")
    model, table, frame = result.model, result.targeting, result.frame
    assert result.version is None  # not logged, not registered
    assert set(table["ranking"]) == {"uplift x clv", "uplift", "churn risk", "churn risk x clv", "list churn score"}
    assert len(model.predict(U.feature_matrix(frame))) == len(frame)
    assert not {"retained", "spend", "clv", "churn_probability"} & set(model.feature_names_in_)  # no leakage
    held = U.split_customers(frame["customer_id"], 0.3, 0)
    assert (held == U.split_customers(frame["customer_id"].iloc[::-1], 0.3, 0)[::-1]).all()
    with pytest.raises(ValueError, match="no customers"):
        U.train_uplift(crm.tables, crm.truth["campaign_list"], action="nope", log_run=False)
