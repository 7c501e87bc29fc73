"""CLV evaluation: the predictive distribution, metrics, the bootstrap and the multi-split protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from custsat.models.clv import HurdleLogNormal, build_scoring_frame, holdout_actuals
from custsat.models.clv.baselines import pareto_nbd_gg
from custsat.models.clv.metrics import (
    Forecast,
    normalized_gini,
    paired_bootstrap,
    pinball_loss,
    spend_metrics,
    top_share,
)
from custsat.models.clv.protocol import (
    CHAMPION,
    REFERENCE,
    EvaluationData,
    Split,
    evaluate_clv_protocol,
    target_checks,
)
from custsat.models.clv.report import write_clv_report
from custsat.models.clv.simulation import simulate_customers


# ---------------------------------------------------------------------------- distribution
def test_hurdle_lognormal_quantiles_moments_and_mass():
    dist = HurdleLogNormal.from_moments([0.3, 0.95], [100.0, 50.0], [100.0**2 * 2.0, 50.0**2 * 1.5])
    assert dist.mean == pytest.approx([30.0, 47.5])
    assert dist.sigma[0] == pytest.approx(np.sqrt(np.log(2.0)))
    q = dist.quantile(0.9)
    assert dist.cdf(q) == pytest.approx([0.9, 0.9])
    assert dist.quantile(0.5)[0] == 0.0  # 70% atom at zero covers the median
    expected = np.exp(dist.mu[0] + dist.sigma[0] * stats.norm.ppf((0.9 - 0.7) / 0.3))
    assert q[0] == pytest.approx(expected)
    low, high = dist.interval(0.8)
    mass = dist.interval_mass(low, high)
    assert mass[0] == pytest.approx(0.9)  # [0, Q(0.9)] holds the atom: 0.7 + (0.9 − 0.7)
    assert mass[1] == pytest.approx(0.8)  # no atom inside: exactly the level
    with pytest.raises(ValueError, match="quantile level"):
        dist.quantile(1.0)


def test_intervals_cover_data_simulated_from_the_model():
    """Realised coverage equals the model-implied coverage, overall and for buyers."""
    sim = simulate_customers(8000, seed=5, calibration_days=270, holdout_days=180)
    known = sim.transactions[sim.transactions["timestamp"] <= sim.calibration_end]
    frame = build_scoring_frame(known, sim.calibration_end)
    model = pareto_nbd_gg(180.0).fit(known, sim.calibration_end)
    point, dist = model.forecast(frame)
    actual = holdout_actuals(sim.transactions, sim.calibration_end, sim.calibration_end + pd.Timedelta(days=180), frame.index)
    y = actual["spend"].to_numpy()
    low, high = dist.interval(0.8)
    inside = (y >= low - 1e-9) & (y <= high + 1e-9)
    mass = dist.interval_mass(low, high)
    assert inside.mean() == pytest.approx(mass.mean(), abs=0.02)
    buyers = y > 0
    implied_buyers = (mass - (low <= 0) * (1 - dist.p_buy)).sum() / dist.p_buy.sum()
    assert inside[buyers].mean() == pytest.approx(implied_buyers, abs=0.04)
    assert buyers.mean() == pytest.approx(dist.p_buy.mean(), abs=0.015)
    assert point.sum() == pytest.approx(y.sum(), rel=0.1)


# ---------------------------------------------------------------------------- metrics
def test_metrics_by_hand():
    actual = np.array([0.0, 0.0, 10.0, 30.0])
    assert top_share(actual, [0.1, 0.2, 0.3, 0.9], 0.25) == pytest.approx(0.75)
    # ties at the cut-off share the place: top 1 of 4, tied scores hold 0 and 30
    assert top_share(actual, [0.5, 0.1, 0.2, 0.5], 0.25) == pytest.approx(0.5 * 30 / 40)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, [1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.0)
    assert normalized_gini(actual, -actual) < 0
    # pinball at 0.9 of the point 5: under-forecasts cost 0.9 per unit, over-forecasts 0.1
    assert pinball_loss(actual, np.full(4, 5.0), 0.9) == pytest.approx((0.1 * 5 * 2 + 0.9 * 5 + 0.9 * 25) / 4)
    m = spend_metrics(actual, Forecast(np.array([1.0, 1.0, 10.0, 20.0]), interval=(np.zeros(4), np.array([0.0, 5.0, 5.0, 40.0]))))
    assert m["total_error_pct"] == pytest.approx(100 * (32 / 40 - 1))
    assert m["mae"] == pytest.approx(12 / 4) and m["rmse"] == pytest.approx(np.sqrt(102 / 4))
    assert m["coverage"] == 0.75 and m["coverage_buyers"] == 0.5 and m["coverage_nonbuyers"] == 1.0


def test_paired_bootstrap_known_answers():
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 10.0, 4000)
    a = y + rng.normal(0, 5, 4000)
    # identical forecasts: every difference is exactly 0
    same = paired_bootstrap(y, {"a": Forecast(a), "b": Forecast(a.copy())}, "a", n_boot=50)
    assert (same[["difference", "ci_low", "ci_high"]].abs().max() < 1e-12).all()
    # b's absolute errors are a's plus an independent N(1, 3²) shift: the MAE difference has
    # mean 1 and standard error 3/√n, so its 95% interval is 1 ± 1.96·3/√4000 ≈ [0.907, 1.093]
    error_a = np.abs(a - y)
    b = y + np.sign(a - y + 1e-12) * (error_a + rng.normal(1.0, 3.0, 4000))
    result = paired_bootstrap(y, {"a": Forecast(a), "b": Forecast(b)}, "a", n_boot=400, seed=1)
    mae = result.set_index("metric").loc["mae"]
    half = 1.96 * np.std(np.abs(b - y) - error_a) / np.sqrt(4000)
    assert mae["difference"] == pytest.approx(np.mean(np.abs(b - y) - error_a))
    assert mae["ci_low"] == pytest.approx(mae["difference"] - half, abs=0.03)
    assert mae["ci_high"] == pytest.approx(mae["difference"] + half, abs=0.03)


# ---------------------------------------------------------------------------- protocol
@pytest.fixture(scope="module")
def small_protocol():
    sim = simulate_customers(2500, seed=8, calibration_days=360, holdout_days=120)
    start = sim.transactions["timestamp"].min()
    splits = tuple(Split(str((start + pd.Timedelta(days=d)).date()), str((start + pd.Timedelta(days=d + 120)).date()))
                   for d in (240, 340))
    data = EvaluationData("simulated", sim.transactions, splits)
    return evaluate_clv_protocol([data], n_boot=40, seed=0)


def test_protocol_runs_every_model_on_every_split(small_protocol):
    assert [r.split.calibration_end for r in small_protocol] == ["2024-08-28", "2024-12-06"]
    for r in small_protocol:
        assert {CHAMPION, REFERENCE, "pareto_nbd_gg", "naive_recency", "gbm_window", "all_zero"} == set(r.metrics.index)
        assert r.metrics.loc["all_zero", "total_error_pct"] == -100.0
        assert np.isnan(r.metrics.loc["naive_recency", "coverage"]) and r.metrics.loc[CHAMPION, "coverage"] > 0.5
        d = r.differences
        finite = d.dropna(subset=["ci_low", "ci_high"])  # no interval without the metric (naive coverage)
        assert REFERENCE not in set(d["model"]) and (finite["ci_low"] <= finite["ci_high"] + 1e-12).all()
        assert set(d[d["ci_low"].isna()]["metric"]) <= {"coverage", "coverage_buyers", "coverage_nonbuyers", "spearman"}
        assert set(target_checks(r)) >= {"RMSE below BG/NBD (CI excludes 0)", "coverage of buyers ≥ 0.60"}
        # all customers of the calibration period are scored, buyers share matches the holdout
        assert r.n_customers > 2000 and 0 < r.buyers_share < 1


def test_report_is_written_and_reruns_are_byte_identical(small_protocol, tmp_path):
    first = write_clv_report(small_protocol, tmp_path / "a", "custsat evaluate clv", n_boot=40)
    second = write_clv_report(small_protocol, tmp_path / "b", "custsat evaluate clv", n_boot=40)
    text = first["markdown"].read_text(encoding="utf-8")
    assert "## Headline" in text and "### 2024-08-28 → 2024-12-26" in text and "paired-bootstrap" in text
    assert "BG/NBD + Gamma-Gamma" in text and "![deciles](clv_deciles_simulated_2024_08_28.png)" in text
    csv = pd.read_csv(first["csv"])
    assert {"dataset", "split", "model", "metric", "value", "difference_vs_bgnbd_gg", "ci_low", "ci_high"} <= set(csv.columns)
    assert len(csv) == 2 * 6 * 10
    for name in ("markdown", "csv", "clv_deciles_simulated_2024_08_28.png"):
        assert first[name].read_bytes() == second[name].read_bytes()
