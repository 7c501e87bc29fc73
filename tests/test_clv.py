"""CLV models: purchase histories, lifetime families, SurvivalNBD and BG/NBD, spend, the estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from sklearn.base import clone

from custsat.models.clv import (
    BGNBD,
    GammaGammaModel,
    PurchaseReranker,
    SurvivalCLV,
    SurvivalNBD,
    build_scoring_frame,
    customer_summary,
    discount_factors,
    holdout_actuals,
    inactivity_threshold,
    lifetime_family,
)
from custsat.models.clv.baselines import AllZero, NaiveRecencyRule, ShiftedWindowGBM, bgnbd_gg
from custsat.models.clv.simulation import simulate_customers

AS_OF = pd.Timestamp("2025-12-31")


@pytest.fixture(scope="module")
def simulated():
    return simulate_customers(3000, covariate_effect=0.0, seed=3)


@pytest.fixture(scope="module")
def fitted_champion(simulated):
    sim = simulated
    known = sim.transactions[sim.transactions["timestamp"] <= sim.calibration_end]
    est = SurvivalCLV(horizon_days=180.0, horizon_months=6, seed=1).fit(known, sim.calibration_end)
    return est, known


# ---------------------------------------------------------------------------- purchase histories
def test_summary_counts_purchase_days_windows_and_ignores_future():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a", "b"],
            "timestamp": pd.to_datetime(["2025-01-01 00:00", "2025-01-01 15:00", "2025-01-11 00:00",
                                         "2025-12-01 00:00", "2026-02-01 00:00", "2025-12-31 00:00"]),
            "amount": [10.0, 5.0, 20.0, 30.0, 99.0, 7.0],
        }
    )
    s = customer_summary(tx, AS_OF)
    assert s.loc["a", "frequency"] == 2  # two rows on 2025-01-01 are one purchase day
    assert s.loc["a", "recency_days"] == 334 and s.loc["a", "T_days"] == 364
    assert s.loc["a", "monetary_value"] == 25.0  # mean of the repeat purchase days (20, 30)
    assert s.loc["a", "first_amount"] == 15.0 and s.loc["a", "total_spend"] == 65.0
    assert s.loc["a", "max_amount"] == 30.0
    # the last 30 days are (2025-12-01, 2025-12-31]: 2025-12-01 is 30 days back, outside
    assert s.loc["a", "purchase_days_30d"] == 0 and s.loc["a", "purchase_days_90d"] == 1
    assert s.loc["a", "spend_90d"] == 30.0 and s.loc["a", "spend_180d"] == 30.0
    assert s.loc["b", "T_days"] == 0 and s.loc["b", "purchase_days_30d"] == 1  # a purchase on as_of counts
    actual = holdout_actuals(tx, AS_OF, "2026-12-31", s.index)
    assert actual.loc["a", "spend"] == 99.0 and actual.loc["b", "purchases"] == 0


def test_summary_agrees_with_rfm_summary_without_refunds(simulated):
    from custsat.features import rfm_summary

    tx = simulated.transactions.head(4000)
    ours = customer_summary(tx, simulated.calibration_end)
    theirs = rfm_summary(tx, simulated.calibration_end)
    np.testing.assert_allclose(ours[["frequency", "recency_days", "T_days", "monetary_value"]].to_numpy(),
                               theirs.loc[ours.index, ["frequency", "recency", "T", "monetary_value"]].to_numpy(),
                               rtol=1e-12)


def test_refund_only_day_is_not_a_repeat_purchase():
    tx = pd.DataFrame({"customer_id": ["a", "a"], "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01"]),
                       "amount": [50.0, -50.0]})
    assert customer_summary(tx, AS_OF).loc["a", "frequency"] == 0


def test_bad_transactions_rejected():
    with pytest.raises(ValueError, match="lacks column.*amount"):
        customer_summary(pd.DataFrame({"customer_id": ["a"], "timestamp": [AS_OF]}), AS_OF)
    with pytest.raises(ValueError, match="datetime64"):
        customer_summary(pd.DataFrame({"customer_id": ["a"], "timestamp": ["2025-01-01"], "amount": [1.0]}), AS_OF)
    bad = pd.DataFrame({"frequency": [1.0] * 12, "recency_days": [50.0] * 12, "T_days": [10.0] * 12})
    with pytest.raises(ValueError, match="recency_days ≤ T_days"):
        SurvivalNBD().fit(bad)


# ---------------------------------------------------------------------------- lifetime families
@pytest.mark.parametrize("name, fitter", [("weibull_aft", "WeibullAFTFitter"), ("loglogistic_aft", "LogLogisticAFTFitter")])
def test_lifetime_families_match_lifelines_on_observed_lifetimes(name, fitter):
    import lifelines

    rng = np.random.default_rng(0)
    z = rng.standard_normal(2000)
    t = np.exp(4.0 + 0.5 * z) * rng.weibull(1.4, 2000)
    event = (t < 150).astype(int)
    t = np.minimum(t, 150.0)
    family = lifetime_family(name)

    def nll(theta):
        return -family.log_likelihood(t, event, theta[0] + theta[1] * z, np.exp(theta[2])).sum()

    ours = optimize.minimize(nll, np.array([4.0, 0.0, 0.0]), method="BFGS").x
    ref = getattr(lifelines, fitter)().fit(pd.DataFrame({"t": t, "e": event, "z": z}), "t", "e")
    scale, shape = ("lambda_", "rho_") if name == "weibull_aft" else ("alpha_", "beta_")
    assert ours[0] == pytest.approx(ref.params_[(scale, "Intercept")], abs=2e-3)
    assert ours[1] == pytest.approx(ref.params_[(scale, "z")], abs=2e-3)
    assert np.exp(ours[2]) == pytest.approx(np.exp(ref.params_[(shape, "Intercept")]), rel=2e-3)


def test_unknown_lifetime_rejected():
    with pytest.raises(ValueError, match="unknown lifetime model 'gompertz'.*pareto2_aft"):
        lifetime_family("gompertz")
    frame = pd.DataFrame({"frequency": [1.0] * 12, "recency_days": [5.0] * 12, "T_days": [10.0] * 12})
    with pytest.raises(ValueError, match="unknown lifetime model"):
        SurvivalNBD(lifetime="gompertz").fit(frame)


# ---------------------------------------------------------------------------- SurvivalNBD / BG/NBD
def test_survival_nbd_recovers_simulated_parameters_and_covariate():
    sim = simulate_customers(6000, covariate_effect=0.8, seed=11, calibration_days=400)
    frame = build_scoring_frame(sim.transactions, sim.calibration_end, sim.covariates)
    model = SurvivalNBD(covariates=("z",)).fit(frame)
    assert model.r_ == pytest.approx(0.6, rel=0.15)
    assert model.alpha_ == pytest.approx(80.0, rel=0.2)
    assert model.shape_ == pytest.approx(0.55, rel=0.25)
    # the covariate lengthens lifetimes: coefficient per standard deviation of z ≈ 0.8
    assert model.coef_["z"] == pytest.approx(0.8 * frame["z"].std(ddof=0), abs=0.25)


def test_survival_nbd_forecast_matches_simulation_of_its_own_model(simulated):
    """E[purchases], P(no purchase) and P(alive) against Monte Carlo of the fitted model."""
    frame = build_scoring_frame(simulated.transactions, simulated.calibration_end).head(400)
    model = SurvivalNBD().fit(build_scoring_frame(simulated.transactions, simulated.calibration_end))
    h = 120.0
    f = model.forecast(frame, h)
    rng = np.random.default_rng(0)
    draws = 4000
    x, T = frame["frequency"].to_numpy(), frame["T_days"].to_numpy()
    alive = rng.random((draws, len(x))) < f["p_alive"].to_numpy()
    lam = rng.gamma(model.r_ + x, 1.0 / (model.alpha_ + T), (draws, len(x)))
    beta = np.exp(model.log_scale_)
    # remaining Lomax life given survival to T: Lomax with scale beta + T
    u = rng.random((draws, len(x)))
    remaining = (beta + T) * (u ** (-1.0 / model.shape_) - 1.0)
    count = rng.poisson(lam * np.minimum(remaining, h) * alive)
    np.testing.assert_allclose(count.mean(axis=0).sum(), f["expected_purchases"].sum(), rtol=0.02)
    np.testing.assert_allclose((count == 0).mean(axis=0), f["p_no_purchase"], atol=0.03)
    np.testing.assert_allclose((count**2).mean(axis=0).sum(), f["purchases_second_moment"].sum(), rtol=0.05)
    life = (np.minimum(remaining, h) * alive).mean(axis=0)
    np.testing.assert_allclose(life.sum(), f["expected_remaining_lifetime_days"].sum(), rtol=0.02)


def test_contract_state_overrides_p_alive(simulated):
    frame = build_scoring_frame(simulated.transactions, simulated.calibration_end).head(30).copy()
    model = SurvivalNBD().fit(build_scoring_frame(simulated.transactions, simulated.calibration_end))
    frame["contract_age_days"] = [100.0] * 10 + [np.nan] * 20
    frame["contract_open"] = [1.0] * 5 + [0.0] * 5 + [np.nan] * 20
    p = model.p_alive(frame)
    assert (p[:5] == 1).all() and (p[5:10] == 0).all() and ((p[10:] > 0) & (p[10:] <= 1)).all()


def test_bgnbd_forecast_matches_lifetimes(simulated):
    lifetimes = pytest.importorskip("lifetimes")
    frame = build_scoring_frame(simulated.transactions, simulated.calibration_end)
    ours = BGNBD().fit(frame)
    ref = lifetimes.BetaGeoFitter().fit(frame["frequency"], frame["recency_days"], frame["T_days"])
    assert ours.r_ == pytest.approx(ref.params_["r"], rel=1e-3)
    assert ours.alpha_ == pytest.approx(ref.params_["alpha"], rel=1e-3)
    f = ours.forecast(frame, 90.0)
    expected = ref.conditional_expected_number_of_purchases_up_to_time(90.0, frame["frequency"], frame["recency_days"], frame["T_days"])
    np.testing.assert_allclose(f["expected_purchases"], expected, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(f["p_alive"], ref.conditional_probability_alive(frame["frequency"], frame["recency_days"], frame["T_days"]), atol=1e-4)
    assert (f["purchases_second_moment"] >= f["expected_purchases"] ** 2 / np.maximum(1 - f["p_no_purchase"], 1e-12) - 1e-9).all()


def test_gamma_gamma_recovers_simulated_parameters_and_moments():
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(4.0, 1 / 60.0, n)
    m = np.array([rng.gamma(6.0 * k, 1 / v) / k for k, v in zip(x, nu, strict=True)])
    gg = GammaGammaModel().fit(x, m)
    assert gg.p_ == pytest.approx(6.0, rel=0.15) and gg.q_ == pytest.approx(4.0, rel=0.2)
    pop = gg.p_ * gg.gamma_ / (gg.q_ - 1)
    e = gg.expected_spend_per_purchase([1.0, 0.0], [1000.0, 0.0])
    assert pop < e[0] < 1000.0 and e[1] == pytest.approx(pop)
    mean, second, cross = gg.spend_moments([0.0], [0.0])
    # population: E[z²] = p(p+1) γ²/((q−1)(q−2)), E[z z'] = p² γ²/((q−1)(q−2))
    assert second[0] == pytest.approx(gg.p_ * (gg.p_ + 1) * gg.gamma_**2 / ((gg.q_ - 1) * (gg.q_ - 2)))
    assert cross[0] / second[0] == pytest.approx(gg.p_ / (gg.p_ + 1))


# ---------------------------------------------------------------------------- the estimator
def test_discount_factors_by_hand():
    # P(alive) 1, survival 0.8 then 0.6 at month ends: active 0.9 and 0.7 months; 1% a month
    factor = discount_factors([1.0], np.array([[0.8, 0.6]]), 0.01)
    assert factor[0] == pytest.approx((0.9 / 1.01 + 0.7 / 1.01**2) / 1.6)
    assert discount_factors([1.0], np.array([[1.0, 1.0]]), 0.0)[0] == pytest.approx(1.0)


ESTIMATORS = [SurvivalCLV(), SurvivalCLV(purchase_model=BGNBD(), rerank=False), SurvivalNBD(covariates=("z",)),
              BGNBD(), GammaGammaModel(), PurchaseReranker(), NaiveRecencyRule(), AllZero(), ShiftedWindowGBM()]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimator_contract(estimator):
    from sklearn.base import BaseEstimator

    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params(deep=False)
    twin = clone(estimator)
    assert twin.get_params(deep=False).keys() == params.keys()
    assert all(not k.endswith("_") for k in params)
    twin.set_params(**params)


def test_output_columns_tiers_and_intervals(fitted_champion, simulated):
    est, known = fitted_champion
    pred = est.predict(known, simulated.calibration_end)
    for col in ["expected_remaining_lifetime_days", "survival_at_horizon", "expected_spend_horizon",
                "clv", "clv_low", "clv_high", "clv_tier", "p_alive", "spend_low", "spend_high"]:
        assert col in pred.columns
    assert pred["expected_remaining_lifetime_days"].between(0, 180 + 1e-6).all()
    assert pred["survival_at_horizon"].between(0, 1).all()
    assert (pred["clv_low"] <= pred["clv"] + 1e-9).all() or (pred["clv_low"] <= pred["clv_high"]).all()
    assert (pred["clv_low"] <= pred["clv_high"] + 1e-9).all() and (pred["spend_low"] <= pred["spend_high"] + 1e-9).all()
    means = pred.groupby("clv_tier")["clv"].mean()
    assert means["high"] > means["medium"] > means["low"]
    assert est.training_window_days_ == 135  # half the 270-day history, shorter than the 180-day horizon


def test_point_predictions_do_not_depend_on_the_seed(simulated):
    known = simulated.transactions[simulated.transactions["timestamp"] <= simulated.calibration_end]
    one = SurvivalCLV(horizon_months=3, seed=1).fit(known, simulated.calibration_end).predict(known, simulated.calibration_end)
    two = SurvivalCLV(horizon_months=3, seed=987).fit(known, simulated.calibration_end).predict(known, simulated.calibration_end)
    pd.testing.assert_frame_equal(one, two)


def test_a_customer_gets_the_same_prediction_in_any_chunk(fitted_champion, simulated):
    est, known = fitted_champion
    frame = build_scoring_frame(known, simulated.calibration_end)
    full = est.predict_frame(frame)
    part = est.predict_frame(frame.iloc[::7])
    pd.testing.assert_frame_equal(part, full.iloc[::7])


def test_reranker_keeps_the_expected_total_spend(fitted_champion, simulated):
    est, known = fitted_champion
    frame = build_scoring_frame(known, simulated.calibration_end)
    dist = est.spend_distribution(frame)
    structure = est._structure(frame, est.forecast_horizon_days_)
    assert dist.mean.sum() == pytest.approx(structure["spend"].sum(), rel=1e-6)
    assert not np.allclose(dist.p_buy, structure["p_buy"])  # it does move spend between customers


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon_months": 0}, "horizon_months"), ({"discount_rate": 1.5}, "discount_rate"),
    ({"margin": -1.0}, "margin"), ({"tier_quantiles": (0.9, 0.5)}, "tier_quantiles"), ({"interval": 0.3}, "interval"),
])
def test_bad_parameters_rejected(kwargs, message, simulated):
    with pytest.raises(ValueError, match=message):
        SurvivalCLV(**kwargs).fit(simulated.transactions, simulated.calibration_end)


def test_predict_before_fit_and_wrong_horizon_raise(fitted_champion, simulated):
    with pytest.raises(RuntimeError, match="not fitted"):
        SurvivalCLV().predict(simulated.transactions, simulated.calibration_end)
    est, known = fitted_champion
    with pytest.raises(ValueError, match="centred for horizons"):
        est.spend_distribution(build_scoring_frame(known, simulated.calibration_end), 30.0)


def test_bgnbd_baseline_serves_the_same_columns(simulated):
    known = simulated.transactions[simulated.transactions["timestamp"] <= simulated.calibration_end]
    pred = bgnbd_gg().fit(known, simulated.calibration_end).predict(known, simulated.calibration_end)
    assert {"clv", "clv_low", "clv_high", "clv_tier", "expected_remaining_lifetime_days", "survival_at_horizon",
            "expected_spend_horizon"} <= set(pred.columns)
    assert np.isfinite(pred[["clv", "clv_low", "clv_high"]].to_numpy()).all()


def test_naive_recency_rule_by_hand():
    # gaps on or before 2025-12-31: a: 10, 20 days; b: 40 days; c: none → 90th percentile of
    # (10, 20, 40) = 20 + 0.8 × 20 = 36 days
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "c"],
        "timestamp": pd.to_datetime(["2025-12-01", "2025-12-11", "2025-12-31", "2025-09-22", "2025-11-01",
                                     "2025-12-21", "2026-01-05"]),
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 12.0, 99.0],
    })
    rule = NaiveRecencyRule().fit(tx, AS_OF)
    assert rule.silence_threshold_days_ == pytest.approx(36.0)
    frame = build_scoring_frame(tx, AS_OF)
    spend = pd.Series(rule.predict_spend(frame, 100.0), index=frame.index)
    assert spend["a"] == pytest.approx(60.0 / 30 * 100)  # total 60 over T = 30 days, silent 0 days
    assert spend["b"] == 0.0  # silent 60 days > 28
    assert spend["c"] == pytest.approx(12.0 / 10 * 100)  # silent 10 days, T = 10 (the 2026 purchase is later)
    assert AllZero().fit().forecast(frame, 100.0)[0].tolist() == [0.0, 0.0, 0.0]


def test_inactivity_threshold():
    gaps = np.arange(1, 101, dtype=float)
    assert inactivity_threshold(gaps, 0.9) == pytest.approx(np.quantile(gaps, 0.9))
    assert inactivity_threshold(np.array([10.0, 20.0, 30.0]), 0.9) == 28.0  # fewer than 20 gaps: 4 weeks
    with pytest.raises(ValueError, match="threshold_quantile"):
        inactivity_threshold(gaps, 1.2)
