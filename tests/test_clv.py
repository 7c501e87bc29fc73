"""Survival CLV: formula, model registry, spend models, lifetime recovery and interval coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from custsat.models.clv import (
    MODELS,
    GammaGammaModel,
    PurchaseRateModel,
    SurvivalCLV,
    churn_labels,
    clv_from_survival,
    inactivity_threshold,
    make_lifetime_model,
)
from custsat.models.clv.evaluate import holdout_metrics, top_share
from custsat.models.clv.summary import customer_summary, holdout_actuals

AS_OF = pd.Timestamp("2025-12-31")
HOLDOUT_DAYS = 180


def simulate(n: int = 1200, seed: int = 7):
    """Customers with a known lifetime driven by an observed covariate ``satisfaction``.

    Births uniform over the 240 days before ``as_of``; activity lifetime Weibull(shape 1.3,
    scale exp(5.3 + 0.7·satisfaction)) days; repeat purchases Poisson(λ) while active with
    λ ~ Gamma(2, rate 40) per day; spend per purchase Gamma(6, ν), ν ~ Gamma(4, rate 60).
    Returns (transactions incl. the holdout, features, truth).
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    birth = rng.uniform(0, 240, n)
    life = np.exp(5.3 + 0.7 * z) * rng.weibull(1.3, n)
    lam = rng.gamma(2.0, 1 / 40.0, n)
    nu = rng.gamma(4.0, 1 / 60.0, n)
    end = 240 + HOLDOUT_DAYS
    rows = []
    for i in range(n):
        stop = min(birth[i] + life[i], end)
        k = rng.poisson(lam[i] * max(stop - birth[i], 0))
        times = np.concatenate([[birth[i]], np.sort(rng.uniform(birth[i], stop, k))])
        for t in times:
            rows.append((f"c{i:05d}", t, rng.gamma(6.0, 1 / nu[i])))
    tx = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    start = AS_OF - pd.Timedelta(days=240)
    tx["timestamp"] = start + pd.to_timedelta(np.floor(tx["day"]), unit="D")
    tx = tx.drop(columns="day")
    ids = [f"c{i:05d}" for i in range(n)]
    features = pd.DataFrame({"customer_id": ids, "satisfaction": z})
    truth = pd.DataFrame(
        {"churn_day": birth + life - 240, "alive_at_as_of": birth + life > 240}, index=pd.Index(ids, name="customer_id")
    )
    return tx, features, truth


@pytest.fixture(scope="module")
def fitted():
    tx, features, truth = simulate()
    calib = tx[tx["timestamp"] <= AS_OF]
    # the simulated lifetimes are Weibull, so the correctly specified lifetime model is used here
    est = SurvivalCLV(model="weibull_aft", horizon_months=6, em_tol=5e-3, n_param_draws=10, n_process_draws=20, seed=3)
    est.fit(calib, AS_OF, features=features)
    pred = est.predict(calib, AS_OF, features=features, horizon_days=HOLDOUT_DAYS)
    actual = holdout_actuals(tx, AS_OF, AS_OF + pd.Timedelta(days=HOLDOUT_DAYS), pred.index)
    return est, pred, actual, truth.reindex(pred.index)


def test_clv_formula_matches_hand_computation():
    # S = (0.9, 0.8, 0.5) at month ends, 100/month spend, margin 0.5, 1% monthly discount:
    # 0.9*50/1.01 + 0.8*50/1.01**2 + 0.5*50/1.01**3 = 44.5545 + 39.2118 + 24.2648
    value = clv_from_survival(np.array([[0.9, 0.8, 0.5]]), np.array([100.0]), margin=0.5, discount_rate=0.01)
    assert value[0] == pytest.approx(108.03105112, rel=1e-9)
    # no discount, full survival: H * spend * margin
    assert clv_from_survival(np.ones((1, 12)), np.array([10.0]), 1.0, 0.0)[0] == pytest.approx(120.0)


def test_model_selection_by_name_and_bad_name():
    assert set(MODELS) == {"weibull_aft", "loglogistic_aft", "pareto2_aft", "coxph"}
    for name, cls in MODELS.items():
        assert isinstance(make_lifetime_model(name), cls)
    with pytest.raises(ValueError, match="unknown survival model 'weibul'.*coxph.*loglogistic_aft.*weibull_aft"):
        make_lifetime_model("weibul")
    tx, features, _ = simulate(n=50)
    with pytest.raises(ValueError, match="unknown survival model 'gompertz'"):
        SurvivalCLV(model="gompertz").fit(tx, AS_OF)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"horizon_months": 0}, "horizon_months"),
        ({"discount_rate": 1.5}, "discount_rate"),
        ({"margin": -1.0}, "margin"),
        ({"tier_quantiles": (0.9, 0.5)}, "tier_quantiles"),
    ],
)
def test_bad_parameters_rejected(kwargs, message):
    tx, _, _ = simulate(n=50)
    with pytest.raises(ValueError, match=message):
        SurvivalCLV(**kwargs).fit(tx, AS_OF)


def test_bad_transactions_rejected():
    with pytest.raises(ValueError, match="lacks column.*amount"):
        customer_summary(pd.DataFrame({"customer_id": ["a"], "timestamp": [AS_OF]}), AS_OF)
    with pytest.raises(ValueError, match="datetime64"):
        customer_summary(pd.DataFrame({"customer_id": ["a"], "timestamp": ["2025-01-01"], "amount": [1.0]}), AS_OF)


def test_summary_counts_purchase_days_and_ignores_future():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2025-01-01 00:00", "2025-01-01 15:00", "2025-01-11 00:00", "2026-02-01 00:00", "2025-12-31 00:00"]
            ),
            "amount": [10.0, 5.0, 20.0, 99.0, 7.0],
        }
    )
    s = customer_summary(tx, AS_OF)
    assert s.loc["a", "frequency"] == 1  # two rows on 2025-01-01 are one purchase day
    assert s.loc["a", "recency_days"] == 10
    assert s.loc["a", "T_days"] == 364
    assert s.loc["a", "monetary_value"] == 20.0  # mean of repeat purchase days
    assert s.loc["a", "first_amount"] == 15.0
    assert s.loc["b", "T_days"] == 0  # a purchase on as_of counts
    assert s["frequency"].sum() == 1  # the 2026 purchase is after as_of


def test_churn_labels_and_threshold():
    summary = pd.DataFrame({"recency_days": [10.0, 100.0, 0.0], "T_days": [300.0, 150.0, 20.0]})
    labels = churn_labels(summary, threshold_days=60)
    assert labels["event"].tolist() == [1, 0, 0]  # gaps 290 > 60, 50, 20
    assert labels["duration_days"].tolist() == [70.0, 150.0, 20.0]
    gaps = np.arange(1, 101, dtype=float)
    assert inactivity_threshold(gaps, 0.9) == pytest.approx(np.quantile(gaps, 0.9))
    with pytest.raises(ValueError, match="threshold_quantile"):
        inactivity_threshold(gaps, 1.2)


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(4.0, 1 / 60.0, n)
    m = np.array([rng.gamma(6.0 * k, 1 / v) / k for k, v in zip(x, nu, strict=True)])
    gg = GammaGammaModel().fit(x, m)
    assert gg.p_ == pytest.approx(6.0, rel=0.15)
    assert gg.q_ == pytest.approx(4.0, rel=0.2)
    # posterior mean shrinks a one-purchase customer towards the population mean p*gamma/(q-1)
    pop = gg.p_ * gg.gamma_ / (gg.q_ - 1)
    e = gg.expected_spend_per_purchase([1.0, 0.0], [1000.0, 0.0])
    assert pop < e[0] < 1000.0
    assert e[1] == pytest.approx(pop)


def test_purchase_rate_shrinkage():
    rng = np.random.default_rng(1)
    lam = rng.gamma(2.0, 1 / 40.0, 5000)
    e = rng.uniform(50, 300, 5000)
    x = rng.poisson(lam * e)
    model = PurchaseRateModel().fit(x, e)
    assert model.r_ == pytest.approx(2.0, rel=0.15)
    assert model.alpha_ == pytest.approx(40.0, rel=0.2)
    rate = model.expected_rate([0, 10], [100, 100])
    assert 0 < rate[0] < 2.0 / 40.0 < rate[1] < 10 / 100


def test_output_columns_and_tiers(fitted):
    est, pred, _, _ = fitted
    for col in ["expected_remaining_lifetime_days", "survival_at_horizon", "expected_spend_horizon",
                "clv", "clv_low", "clv_high", "clv_tier"]:
        assert col in pred.columns
    assert pred["expected_remaining_lifetime_days"].between(0, HOLDOUT_DAYS + 1e-6).all()
    assert pred["survival_at_horizon"].between(0, 1).all()
    assert (pred["clv_low"] <= pred["clv_high"] + 1e-9).all()
    assert set(pred["clv_tier"]) == {"high", "medium", "low"}
    assert pred.groupby("clv_tier")["clv"].mean().is_monotonic_increasing is False  # order high/low/medium
    means = pred.groupby("clv_tier")["clv"].mean()
    assert means["high"] > means["medium"] > means["low"]
    assert pred.attrs["horizon_days"] == HOLDOUT_DAYS
    # learned attributes end in "_" and the lifetime model logged its fit statistics
    assert {"aic", "concordance"} <= set(est.diagnostics_)


def test_recovers_lifetime_signal(fitted):
    est, pred, _, truth = fitted
    # the covariate lengthens lifetimes (AFT: positive coefficient on the scale)
    assert est.lifetime_model_.params_[("lambda_", "satisfaction")] > 0.2
    # P(alive at as_of) separates customers alive at as_of from those already gone
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(truth["alive_at_as_of"], pred["p_alive"]) > 0.8
    alive = truth["alive_at_as_of"].to_numpy()
    remaining = np.minimum(truth["churn_day"].to_numpy(), HOLDOUT_DAYS)
    rho = stats.spearmanr(pred["expected_remaining_lifetime_days"].to_numpy()[alive], remaining[alive]).statistic
    assert rho > 0.25
    assert est.diagnostics_["concordance"] > 0.6


def test_holdout_forecast_and_interval_coverage(fitted):
    _, pred, actual, _ = fitted
    metrics = holdout_metrics(pred, actual)
    assert abs(metrics["total_spend_error_pct"]) < 20
    assert 0.72 <= metrics["interval80_coverage"] <= 0.88
    assert metrics["top10_spend_capture"] > 0.3


def test_top_share():
    assert top_share([0, 0, 10, 30], [0.1, 0.2, 0.3, 0.9], 0.25) == pytest.approx(0.75)


def test_predict_before_fit_raises():
    tx, _, _ = simulate(n=20)
    with pytest.raises(RuntimeError, match="not fitted"):
        SurvivalCLV().predict(tx, AS_OF)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_fits_by_name(name):
    tx, features, _ = simulate(n=200, seed=5)
    calib = tx[tx["timestamp"] <= AS_OF]
    est = SurvivalCLV(model=name, em_iterations=1, horizon_months=3, seed=0).fit(calib, AS_OF, features=features)
    pred = est.predict(calib, AS_OF, features=features, intervals=False)
    assert type(est.lifetime_model_) is MODELS[name]
    assert np.isfinite(pred["clv"]).all() and (pred["clv"] >= 0).all()
    assert np.isfinite(est.diagnostics_["aic"]) and 0.5 < est.diagnostics_["concordance"] <= 1
    # every model finds that satisfaction lengthens lifetimes (AFT scale up / Cox hazard down)
    scale_param = {"weibull_aft": "lambda_", "loglogistic_aft": "alpha_", "pareto2_aft": "beta_"}
    params = est.lifetime_model_.params_
    if name == "coxph":
        assert params[("beta_", "satisfaction")] < 0
    else:
        assert params[(scale_param[name], "satisfaction")] > 0
    if name == "coxph":  # the proportional-hazards check is part of the Cox diagnostics
        ph = est.diagnostics_["ph_test"]
        assert {"test_statistic", "p"} <= set(ph.columns) and "satisfaction" in ph.index


def test_interval_tails_fixed_at_fit_so_chunks_agree():
    tx, features, _ = simulate(n=300, seed=11)
    calib = tx[tx["timestamp"] <= AS_OF]
    est = SurvivalCLV(horizon_months=3, em_iterations=2, n_param_draws=4, n_process_draws=10, seed=1)
    est.fit(calib, AS_OF, features=features)
    assert all(0 < t < 0.5 for t in est.interval_tails_)
    full = est.predict(calib, AS_OF, features=features)
    ids = full.index[:40]
    part = est.predict(calib[calib["customer_id"].isin(ids)], AS_OF, features=features)
    # the interval's quantile level is the model's, not the chunk's; the point estimate is per customer
    assert part.attrs["interval_tail_clv"] == full.attrs["interval_tail_clv"] == est.interval_tails_[1]
    np.testing.assert_allclose(part["clv"], full.loc[part.index, "clv"], rtol=1e-9)
    # memory-bounded blocks inside predict give the same point estimates
    est._BLOCK_ROWS = 64
    blocked = est.predict(calib, AS_OF, features=features)
    np.testing.assert_allclose(blocked["clv"], full["clv"], rtol=1e-9)
    assert (blocked["clv_low"] <= blocked["clv_high"]).all()
    # propagating the survival-parameter uncertainty is still available
    est.lifetime_uncertainty = True
    slow = est.predict(calib, AS_OF, features=features)
    assert (slow["clv_low"] <= slow["clv_high"]).all() and np.isfinite(slow["clv_high"]).all()
