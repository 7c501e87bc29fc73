"""Published CDNOW references: BG/NBD, Pareto/NBD and Gamma-Gamma on the 2,357-customer sample.

Fader, Hardie & Lee (2005, "Counting your customers the easy way"; "RFM and CLV"), 39-week
calibration to 1997-09-30, parameters in weeks (α, β) and unit-free (r, a, b, s, p, q, γ).
"""

from __future__ import annotations

import numpy as np
import pytest

from custsat.data.fetch import load_cdnow
from custsat.models.clv import BGNBD, GammaGammaModel, SurvivalNBD, customer_summary


@pytest.fixture(scope="module")
def cdnow_sample_summary():
    try:
        tx = load_cdnow(sample=True)["transactions"]
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"CDNOW not fetched ({exc}); run `make data`")
    return customer_summary(tx, "1997-09-30")


def test_summary_matches_published_cdnow_summary(cdnow_sample_summary):
    datasets = pytest.importorskip("lifetimes.datasets")
    ref = datasets.load_cdnow_summary_data_with_monetary_value()
    s = cdnow_sample_summary
    assert len(s) == len(ref) == 2357
    # the fetched sample keys customers by their master-file id, lifetimes by 1..2357: compare
    # the rows as sorted records (frequency, recency weeks, T weeks, mean repeat spend)
    ours = np.column_stack([s["frequency"], s["recency_days"] / 7, s["T_days"] / 7, s["monetary_value"]])
    theirs = ref[["frequency", "recency", "T", "monetary_value"]].to_numpy(dtype=float)
    ours, theirs = (a[np.lexsort(np.round(a, 2).T[::-1])] for a in (ours, theirs))
    np.testing.assert_array_equal(ours[:, 0], theirs[:, 0])
    np.testing.assert_allclose(ours[:, 1:3], theirs[:, 1:3], atol=0.006)
    np.testing.assert_allclose(ours[:, 3], theirs[:, 3], atol=0.006)


def test_gamma_gamma_reproduces_published_parameters(cdnow_sample_summary):
    gg = GammaGammaModel().fit(cdnow_sample_summary["frequency"], cdnow_sample_summary["monetary_value"])
    assert gg.p_ == pytest.approx(6.25, abs=0.01)
    assert gg.q_ == pytest.approx(3.74, abs=0.01)
    assert gg.gamma_ == pytest.approx(15.44, abs=0.02)


def test_bgnbd_reproduces_fader_hardie_lee(cdnow_sample_summary):
    model = BGNBD().fit(cdnow_sample_summary)
    assert model.r_ == pytest.approx(0.243, abs=0.001)
    assert model.alpha_ / 7 == pytest.approx(4.414, abs=0.01)
    assert model.a_ == pytest.approx(0.793, abs=0.001)
    assert model.b_ == pytest.approx(2.426, abs=0.005)
    # the log-likelihood in days differs from the paper's (weeks) by x·log 7 per customer
    weeks = model.log_likelihood_ + cdnow_sample_summary["frequency"].sum() * np.log(7)
    assert weeks == pytest.approx(-9582.4, abs=0.1)


def test_pareto_nbd_is_the_survival_model_with_a_lomax_lifetime(cdnow_sample_summary):
    model = SurvivalNBD(lifetime="pareto2_aft").fit(cdnow_sample_summary)
    assert model.r_ == pytest.approx(0.553, abs=0.002)
    assert model.alpha_ / 7 == pytest.approx(10.578, abs=0.02)
    assert model.shape_ == pytest.approx(0.606, abs=0.002)
    assert np.exp(model.log_scale_) / 7 == pytest.approx(11.669, abs=0.05)
    weeks = model.log_likelihood_ + cdnow_sample_summary["frequency"].sum() * np.log(7)
    assert weeks == pytest.approx(-9595.0, abs=0.1)
    # lifetimes' own Pareto/NBD gives the same 39-week forecasts
    lifetimes = pytest.importorskip("lifetimes")
    s = cdnow_sample_summary
    ref = lifetimes.ParetoNBDFitter().fit(s["frequency"], s["recency_days"] / 7, s["T_days"] / 7)
    ours = model.forecast(s, 39 * 7)
    args = (39, s["frequency"], s["recency_days"] / 7, s["T_days"] / 7)
    np.testing.assert_allclose(ours["expected_purchases"], ref.conditional_expected_number_of_purchases_up_to_time(*args), atol=2e-3)
    np.testing.assert_allclose(ours["p_no_purchase"], ref.conditional_probability_of_n_purchases_up_to_time(0, *args), atol=2e-4)
