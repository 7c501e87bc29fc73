"""Treated vs control: Newcombe and Welch intervals against published and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from custsat.models.effects import (
    OUTCOMES,
    estimate_effects,
    mean_difference,
    minimum_detectable_effect,
    proportion_difference,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_newcombe_interval_matches_the_paper(x1, n1, x0, n0, low, high):
    d, lo, hi = proportion_difference(x1, n1, x0, n0)
    assert d == pytest.approx(x1 / n1 - x0 / n0)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_interval_by_hand():
    # 60/100: centre (0.6 + z²/200) / (1 + z²/100), half-width z / (1 + z²/100) sqrt(0.0024 + z²/40000)
    z = stats.norm.ppf(0.975)
    centre = (0.6 + z * z / 200) / (1 + z * z / 100)
    half = z / (1 + z * z / 100) * np.sqrt(0.0024 + z * z / 40_000)
    assert wilson_interval(60, 100) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_two_group_example_by_hand():
    """Hand-built campaign: 100 treated of whom 60 retained, 100 control of whom 45."""
    frame = pd.DataFrame({
        "campaign_id": "c1", "intended_action_id": "call",
        "treatment_group": ["treated"] * 100 + ["control"] * 100,
        "retained": [1] * 60 + [0] * 40 + [1] * 45 + [0] * 55,
        "spend": np.r_[np.tile([1.0, 2, 3, 4, 5], 20), np.tile([2.0, 4, 6], 33), [4.0]],
    })
    effects = estimate_effects(frame, segments=())
    retained = effects[effects["outcome"] == "retained"].iloc[0]
    assert (retained["n_treated"], retained["n_control"]) == (100, 100)
    assert retained["difference"] == pytest.approx(0.15)
    # Newcombe: 0.15 - sqrt((0.6 - l1)² + (u0 - 0.45)²) .. 0.15 + sqrt((u1 - 0.6)² + (0.45 - l0)²)
    l1, u1 = wilson_interval(60, 100)
    l0, u0 = wilson_interval(45, 100)
    assert retained["ci_low"] == pytest.approx(0.15 - np.hypot(0.6 - l1, u0 - 0.45))
    assert retained["ci_high"] == pytest.approx(0.15 + np.hypot(u1 - 0.6, 0.45 - l0))
    assert retained["ci_low"] == pytest.approx(0.0117, abs=1e-4) and retained["significant"]
    # MDE: (1.96 + 0.84) sqrt(p(1-p) (2/100)) with pooled p = 0.525: 0.198 > 5 points -> warned
    assert retained["mde"] == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * np.sqrt(0.525 * 0.475 * 0.02))
    assert "too small to conclude" in retained["warning"]
    spend = effects[effects["outcome"] == "spend"].iloc[0]
    treated, control = frame["spend"][:100], frame["spend"][100:]
    welch = stats.ttest_ind(treated, control, equal_var=False).confidence_interval(0.95)
    assert spend["difference"] == pytest.approx(treated.mean() - control.mean())
    assert (spend["ci_low"], spend["ci_high"]) == pytest.approx((welch.low, welch.high))


def test_welch_small_example_against_scipy():
    a, b = np.array([1, 2, 3, 4, 5.0]), np.array([2, 4, 6.0])
    d, lo, hi = mean_difference(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d == -1.0 and (lo, hi) == pytest.approx((ref.low, ref.high))
    assert np.isnan(mean_difference(a, b[:1])[0])


def test_small_groups_warned_and_segments_split():
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({
        "campaign_id": "c", "intended_action_id": "a",
        "treatment_group": np.where(rng.random(n) < 0.5, "treated", "control"),
        "value_tier": np.where(rng.random(n) < 0.01, "rare", "common"),
        "retained": (rng.random(n) < 0.8).astype(int),
    })
    effects = estimate_effects(frame, outcomes=[o for o in OUTCOMES if o.column == "retained"], segments=("value_tier",))
    by = effects.set_index("segment_value")
    assert by.loc["all", "warning"] == ""  # 2000 a side: MDE about 3.5 points
    assert "fewer than 30" in by.loc["rare", "warning"]
    assert by.loc["common", "n_treated"] + by.loc["rare", "n_treated"] == by.loc["all", "n_treated"]
    assert minimum_detectable_effect(2000, 2000, 0.4) == pytest.approx(2.8016 * 0.4 * np.sqrt(1 / 1000), abs=1e-3)


def test_bad_groups_refused_and_actions_without_control_skipped():
    frame = pd.DataFrame({"campaign_id": "c", "intended_action_id": ["a", "a", "b"],
                          "treatment_group": ["treated", "control", "treated"], "retained": [1, 0, 1]})
    assert set(estimate_effects(frame, segments=())["action_id"]) == {"a"}
    with pytest.raises(ValueError, match="treated' or 'control"):
        estimate_effects(frame.assign(treatment_group="maybe"))
    with pytest.raises(ValueError, match="campaign_id"):
        estimate_effects(frame.drop(columns="campaign_id"))
