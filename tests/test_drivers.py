"""Drivers of satisfaction: relative weights and Shapley against hand-computed cases, CIs, quadrants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custsat.models.drivers import (
    DriversInputError,
    analyse_drivers,
    analyse_drivers_by_segment,
    importance_weights,
    ols_r2,
    pick_overall,
    quadrants,
    relative_weights_from_corr,
    shapley_from_corr,
)

# Two attributes, r12 = 0.5, r1y = 0.6, r2y = 0.4. By hand:
#   R² = (r1² + r2² - 2 r1 r2 r12) / (1 - r12²) = 0.28 / 0.75 = 0.37333
#   Shapley: w1 = (r1² + R² - r2²) / 2 = 0.28667, w2 = (r2² + R² - r1²) / 2 = 0.08667
#   Johnson: R^1/2 = [[c, d], [d, c]], c = (sqrt 1.5 + sqrt 0.5) / 2, d = (sqrt 1.5 - sqrt 0.5) / 2;
#   beta = R^-1/2 r; eps1 = c² b1² + d² b2² = 0.28667 (two attributes: the same as Shapley)
R2_TWO = 0.28 / 0.75
TWO = (np.array([[1.0, 0.5], [0.5, 1.0]]), np.array([0.6, 0.4]), np.array([0.286667, 0.086667]))


def test_two_attributes_by_hand():
    rxx, rxy, expected = TWO
    for fn in (relative_weights_from_corr, shapley_from_corr):
        weights = fn(rxx, rxy)
        np.testing.assert_allclose(weights, expected, atol=2e-6)
        assert weights.sum() == pytest.approx(R2_TWO, abs=1e-12)


def test_three_attributes_by_hand():
    # x3 is uncorrelated with x1, x2: it adds r3y² = 0.09 in every coalition, and x1, x2
    # split their R² as in the two-attribute case.
    rxx = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rxy = np.array([0.6, 0.4, 0.3])
    for fn in (relative_weights_from_corr, shapley_from_corr):
        np.testing.assert_allclose(fn(rxx, rxy), [0.286667, 0.086667, 0.09], atol=2e-6)
    # uncorrelated attributes: both methods give the squared correlations
    np.testing.assert_allclose(relative_weights_from_corr(np.eye(3), rxy), rxy**2, atol=1e-12)
    np.testing.assert_allclose(shapley_from_corr(np.eye(3), rxy), rxy**2, atol=1e-12)


def survey(n=800, seed=3, weights=(0.6, 0.3, 0.1, 0.0)):
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(n)
    x = 0.6 * common[:, None] + 0.8 * rng.standard_normal((n, len(weights)))
    y = x @ np.array(weights) + 0.5 * rng.standard_normal(n)
    frame = pd.DataFrame(x, columns=[f"a{j}" for j in range(len(weights))])
    frame.insert(0, "customer_id", [f"r{i}" for i in range(n)])
    frame["overall_satisfaction"] = y
    return frame


@pytest.mark.parametrize("method", ["relative_weights", "shapley"])
def test_weights_sum_to_ols_r2_and_rank_truth(method):
    frame = survey()
    x = frame[["a0", "a1", "a2", "a3"]].to_numpy()
    y = frame["overall_satisfaction"].to_numpy()
    weights = importance_weights(x, y, method)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(ols_r2(x, y), abs=1e-10)
    result = analyse_drivers(frame, "overall_satisfaction", method=method, n_boot=200, seed=7)
    assert result.table["attribute"].tolist() == ["a0", "a1", "a2", "a3"]
    assert result.table["share"].sum() == pytest.approx(1.0)
    assert (result.table["weight_low"] <= result.table["weight"]).all()
    assert (result.table["weight"] <= result.table["weight_high"]).all()
    assert result.table.loc[0, "rank_low"] == 1 and result.table.loc[0, "rank_high"] == 1
    again = analyse_drivers(frame, "overall_satisfaction", method=method, n_boot=200, seed=7)
    pd.testing.assert_frame_equal(result.table, again.table)  # seeded bootstrap


def test_quadrants_named_in_both_languages():
    share = pd.Series([0.4, 0.3, 0.2, 0.1], index=list("abcd"))
    performance = pd.Series([3.0, 4.5, 3.1, 4.4], index=list("abcd"))
    assert quadrants(share, performance).tolist() == ["fix_first", "keep_up", "low_priority", "possible_overkill"]
    frame = survey()
    frame["a1"] = frame["a1"] + 3  # a highly rated, important attribute
    table = analyse_drivers(frame, "overall_satisfaction", n_boot=0).table.set_index("attribute")
    assert table.loc["a1", "quadrant"] == "keep_up"
    assert table.loc["a0", ["quadrant_en", "quadrant_zh"]].tolist() == ["Fix first", "优先改进"]


def test_bad_surveys_refused():
    frame = survey(n=200)
    with pytest.raises(DriversInputError, match="too few"):
        analyse_drivers(frame.head(20), "overall_satisfaction", n_boot=0)
    const = frame.assign(a2=1.0)
    with pytest.raises(DriversInputError, match=r"\['a2'\]"):
        analyse_drivers(const, "overall_satisfaction", n_boot=0)
    dependent = frame.assign(a3=frame["a0"] + frame["a1"])
    with pytest.raises(DriversInputError, match="linearly dependent"):
        analyse_drivers(dependent, "overall_satisfaction", n_boot=0)
    with pytest.raises(DriversInputError, match="no overall score"):
        pick_overall(frame.drop(columns="overall_satisfaction"))
    assert pick_overall(frame.drop(columns="overall_satisfaction").assign(nps=5)) == "nps"
    holes = frame.copy()
    holes.loc[:9, "a1"] = np.nan
    assert analyse_drivers(holes, "overall_satisfaction", n_boot=0).n_dropped == 10


def test_per_segment():
    frame = pd.concat([survey(400, 1).assign(segment="a"), survey(400, 2, (0.0, 0.1, 0.3, 0.6)).assign(segment="b"),
                       survey(50, 3).assign(segment="tiny")])
    table = analyse_drivers_by_segment(frame, "overall_satisfaction", "segment", n_boot=0)
    assert set(table["segment"]) == {"a", "b"}  # too few respondents in "tiny"
    top = table[table["rank"] == 1].set_index("segment")["attribute"]
    assert top.to_dict() == {"a": "a0", "b": "a3"}


def test_real_customer_sat_when_fetched(monkeypatch):
    from custsat.config import get_settings
    from custsat.data.fetch import load_customer_sat

    repo_data = Path(__file__).resolve().parents[1] / "data"
    if not (repo_data / "interim" / "customer_sat.parquet").exists():
        pytest.skip("customerSat not fetched (run `custsat data fetch`)")
    monkeypatch.setenv("CUSTSAT_DATA_DIR", str(repo_data))
    get_settings.cache_clear()
    try:
        frame = load_customer_sat()
    finally:
        get_settings.cache_clear()
    result = analyse_drivers(frame, "overall_satisfaction", n_boot=100, seed=1)
    assert result.n_respondents == 1_811 and len(result.attributes) == 9
    assert result.r2 == pytest.approx(result.meta["ols_r2"], abs=1e-10)
    assert 0.6 < result.r2 < 0.8
    assert (result.table["rank_low"] <= result.table["rank"]).all() and (result.table["rank"] <= result.table["rank_high"]).all()
