"""Churn-risk model: estimator, calibration, reason codes, tiers, metrics and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from custsat.models import metrics as m
from custsat.models.churn import (
    ChurnDataError,
    ChurnModel,
    coerce_binary_label,
    prepare_training_frame,
    risk_tiers,
    score_frame,
    split_by_time,
)
from custsat.models.churn.encoding import OTHER, TabularEncoder

FEATURES = ["recency_days", "frequency", "complaints_open", "region", "spend"]


def snapshot(n: int, seed: int, as_of: str, *, id_offset: int = 0) -> pd.DataFrame:
    """One synthetic snapshot with a known churn probability (column ``p_true``).

    Churn log-odds rise with recency and open complaints, fall with frequency, and are
    higher in region 'south'; ``spend`` is pure noise with 10% missing values.
    """
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60, n)
    frequency = rng.poisson(5, n).astype(float)
    complaints = rng.poisson(0.5, n).astype(float)
    region = rng.choice(["north", "south", "east", "west"], n)
    spend = rng.lognormal(4, 1, n)
    spend[rng.random(n) < 0.1] = np.nan
    logit = -2.0 + 0.025 * recency - 0.25 * frequency + 0.9 * complaints + 0.8 * (region == "south")
    p = 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i + id_offset:05d}" for i in range(n)],
            "as_of": pd.Timestamp(as_of),
            "recency_days": recency,
            "frequency": frequency,
            "complaints_open": complaints,
            "region": region,
            "spend": spend,
            "p_true": p,
            "churned": (rng.random(n) < p).astype(int),
        }
    )


@pytest.fixture(scope="module")
def fitted():
    train = snapshot(3000, 1, "2024-01-01")
    fold = snapshot(2000, 2, "2024-04-01")
    test = snapshot(3000, 3, "2024-07-01")
    model = ChurnModel(seed=0, n_trials=0).fit(
        train[FEATURES], train["churned"], fold[FEATURES], fold["churned"]
    )
    return model, test


# --------------------------------------------------------------------------- estimator


def test_recovers_synthetic_ground_truth(fitted):
    model, test = fitted
    p = model.predict_proba(test[FEATURES])[:, 1]
    auc = roc_auc_score(test["churned"], p)
    oracle = roc_auc_score(test["churned"], test["p_true"])
    assert auc > 0.75
    assert auc > oracle - 0.03  # within 3 points of the true-probability ranking
    # The strongest true drivers dominate the contributions; the noise column does not.
    importance = model.contributions(test[FEATURES]).drop(columns="bias").abs().mean()
    assert importance.idxmax() in {"recency_days", "complaints_open", "frequency"}
    assert importance["spend"] < importance[["recency_days", "complaints_open", "frequency"]].min()
    assert model.feature_names_ == FEATURES
    assert model.categories_["region"] == ["east", "north", "south", "west"]
    assert model.best_iteration_ >= 1 and model.booster_ is not None


def test_calibration_improves_brier_on_held_out_data(fitted):
    model, test = fitted
    y = test["churned"].to_numpy()
    raw = model.predict_raw_proba(test[FEATURES])
    cal = model.predict_proba(test[FEATURES])[:, 1]
    assert brier_score_loss(y, cal) < brier_score_loss(y, raw) - 0.005
    assert m.expected_calibration_error(y, cal) < 0.04
    # Calibrated mean risk matches the observed churn rate on unseen data.
    assert abs(cal.mean() - y.mean()) < 0.03
    # Calibration is monotone: the ranking (AUC) barely changes.
    assert abs(roc_auc_score(y, cal) - roc_auc_score(y, raw)) < 0.01


def test_contributions_sum_to_margin_and_reasons_match_them(fitted):
    model, test = fitted
    X = test[FEATURES].head(200)
    contrib = model.contributions(X)
    np.testing.assert_allclose(
        contrib.sum(axis=1).to_numpy(), model.decision_function(X), atol=1e-8
    )
    reasons = model.explain(X, top_k=3)
    assert list(reasons.columns) == [
        "churn_reason_1",
        "churn_reason_2",
        "churn_reason_3",
        "churn_reasons",
    ]
    c = contrib.drop(columns="bias")
    for i in range(len(X)):
        row = c.iloc[i]
        ranked = row.abs().sort_values(ascending=False, kind="mergesort").index[:3]
        for k, feature in enumerate(ranked, start=1):
            text = reasons.iloc[i][f"churn_reason_{k}"]
            assert text.startswith(f"{feature}=")
            assert text.endswith("(raises risk)" if row[feature] > 0 else "(lowers risk)")
        assert reasons.iloc[i]["churn_reasons"] == "; ".join(
            reasons.iloc[i][f"churn_reason_{k}"] for k in (1, 2, 3)
        )
    # Values are rendered from the row: an integer count prints without decimals.
    first = reasons.iloc[0]["churn_reasons"]
    if "complaints_open=" in first:
        assert f"complaints_open={int(X.iloc[0]['complaints_open'])} " in first


def test_explain_renders_missing_and_categorical_values(fitted):
    model, _ = fitted
    X = pd.DataFrame(
        {
            "recency_days": [400.0],
            "frequency": [0.0],
            "complaints_open": [4.0],
            "region": ["south"],
            "spend": [np.nan],
        }
    )
    reasons = model.explain(X, top_k=5).iloc[0]
    assert "recency_days=400 (raises risk)" in reasons["churn_reasons"]
    assert "complaints_open=4 (raises risk)" in reasons["churn_reasons"]
    assert model.predict_proba(X)[0, 1] > 0.8


def test_at_risk_reasons_explain_exactly_the_medium_and_high_rows(fitted):
    model, test = fitted
    X = test[FEATURES].head(300).reset_index(drop=True)
    full = score_frame(model, X, high_threshold=0.6, medium_threshold=0.3)
    lean = score_frame(model, X, high_threshold=0.6, medium_threshold=0.3, reasons="at_risk")
    pd.testing.assert_frame_equal(full.drop(columns=full.filter(like="churn_reason").columns),
                                  lean.drop(columns=lean.filter(like="churn_reason").columns))
    at_risk = (lean["risk_tier"] != "low").to_numpy()
    assert 0 < at_risk.sum() < len(X)
    pd.testing.assert_frame_equal(lean[at_risk], full[at_risk])
    assert (lean.loc[~at_risk, "churn_reasons"] == "").all()
    with pytest.raises(ValueError, match="reasons must be one of"):
        score_frame(model, X, reasons="some")


def test_fit_is_reproducible_with_seed():
    train = snapshot(1500, 5, "2024-01-01")
    fold = snapshot(1000, 6, "2024-04-01")
    a = ChurnModel(seed=3, n_trials=2).fit(
        train[FEATURES], train["churned"], fold[FEATURES], fold["churned"]
    )
    b = ChurnModel(seed=3, n_trials=2).fit(
        train[FEATURES], train["churned"], fold[FEATURES], fold["churned"]
    )
    np.testing.assert_array_equal(a.predict_proba(fold[FEATURES]), b.predict_proba(fold[FEATURES]))
    assert len(a.search_results_) == 3 and a.best_params_ == b.best_params_


def test_fit_without_fold_holds_out_part_of_training():
    train = snapshot(2000, 7, "2024-01-01")
    model = ChurnModel(seed=0, holdout_fraction=0.3).fit(train[FEATURES], train["churned"])
    assert model.n_train_ == 1400 and model.n_stop_ + model.n_calibration_ == 600
    assert model.calibration_method_ == "sigmoid"  # < 5000 calibration rows: Platt


def test_unseen_category_scores_as_missing(fitted):
    model, test = fitted
    X = test[FEATURES].head(3).copy()
    X["region"] = ["atlantis", None, "south"]
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all()
    encoded = model.encoder_.transform(X)
    assert encoded["region"].isna().tolist() == [True, True, False]


# --------------------------------------------------------------------------- tiers & metrics


def test_risk_tiers_by_threshold_and_capacity():
    p = np.array([0.9, 0.1, 0.55, 0.3, 0.2, 0.7])
    assert risk_tiers(p, high_threshold=0.5, medium_threshold=0.2).tolist() == [
        "high",
        "low",
        "high",
        "medium",
        "medium",
        "high",
    ]
    # Capacity of 2 calls: the two highest are high, other former highs drop to medium.
    assert risk_tiers(p, high_threshold=0.5, medium_threshold=0.25, top_k=2).tolist() == [
        "high",
        "low",
        "medium",
        "medium",
        "low",
        "high",
    ]
    with pytest.raises(ValueError, match="medium_threshold"):
        risk_tiers(p, high_threshold=0.2, medium_threshold=0.5)


def test_lift_and_capture_hand_computed():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.05, 0.15, 0.01, 0.4])
    # top 20% = 2 rows (0.9 -> 1, 0.8 -> 0): precision 0.5, base rate 0.3
    assert m.lift_at(y, s, 0.2) == pytest.approx(0.5 / 0.3)
    assert m.capture_rate_at(y, s, 0.2) == pytest.approx(1 / 3)
    # top 10% = 1 row (positive)
    assert m.lift_at(y, s, 0.1) == pytest.approx(1 / 0.3)
    out = m.binary_metrics(y, s, prefix="v_")
    assert out["v_roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert out["v_pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert out["v_brier"] == pytest.approx(np.mean((s - y) ** 2))
    assert out["v_capture_at_20pct"] == pytest.approx(1 / 3)
    gains = m.gains_curve(y, s)
    assert gains["capture_rate"].iloc[-1] == 1.0 and gains["fraction_contacted"].iloc[0] == 0.0


def test_paired_auc_difference_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    signal = y + rng.normal(0, 1.0, y.size)
    weaker = y + rng.normal(0, 3.0, y.size)
    gap = m.paired_auc_difference(y, signal, weaker, n_boot=200)
    assert gap["difference"] == pytest.approx(roc_auc_score(y, signal) - roc_auc_score(y, weaker))
    assert 0 < gap["ci_low"] < gap["difference"] < gap["ci_high"]
    # the same score against itself plus a monotone transform: no difference, an interval at 0
    same = m.paired_auc_difference(y, signal, np.exp(signal), n_boot=50)
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    # two equally noisy scores: the interval contains 0
    other = y + rng.normal(0, 1.0, y.size)
    tie = m.paired_auc_difference(y, signal, other, n_boot=200)
    assert tie["ci_low"] < 0 < tie["ci_high"]
    with pytest.raises(ValueError, match="score_b"):
        m.paired_auc_difference(y, signal, weaker[:10])


def test_calibration_table_of_perfect_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    table = m.calibration_table(y, p, n_bins=10)
    assert len(table) == 10 and table["count"].sum() == p.size
    assert np.abs(table["observed_rate"] - table["mean_predicted"]).max() < 0.03
    assert m.expected_calibration_error(y, p) < 0.02


def test_plots_show_one_curve_per_model_on_labelled_axes(fitted):
    model, test = fitted
    y = test["churned"].to_numpy()
    p = model.predict_proba(test[FEATURES])[:, 1]
    scores = {"cal": p, "raw": model.predict_raw_proba(test[FEATURES])}
    expected = {
        m.plot_roc: ("False positive rate", "True positive rate", ["cal (AUC", "raw (AUC"]),
        m.plot_pr: ("Recall", "Precision", ["cal (AP", "raw (AP", "base rate"]),
        m.plot_calibration: ("Mean predicted probability", "Observed churn rate", ["cal (Brier", "raw (Brier", "perfect"]),
        m.plot_gains: ("Fraction of customers contacted (highest risk first)", "Share of churners captured",
                       ["cal", "raw", "random"]),
    }
    for plot, (xlabel, ylabel, legend) in expected.items():
        ax = plot(y, scores).axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)
        labels = [line.get_label() for line in ax.get_lines()]
        assert all(any(label.startswith(want) for label in labels) for want in legend), labels
    roc = m.plot_roc(y, {"cal": p}).axes[0].get_lines()[0]
    fpr, tpr = roc.get_data()
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)  # a real ROC curve
    X = test[FEATURES].head(300)
    contrib = model.contributions(X).drop(columns="bias")
    bar_ax, strip_ax = m.plot_contribution_summary(contrib, model.encoder_.transform(X), max_features=3).axes
    bars = sorted(bar_ax.patches, key=lambda b: b.get_y())
    top3 = contrib.abs().mean().sort_values(ascending=False).head(3)
    np.testing.assert_allclose([b.get_width() for b in bars], top3.to_numpy()[::-1])
    assert [t.get_text() for t in bar_ax.get_yticklabels()] == list(top3.index[::-1])
    assert sum(len(c.get_offsets()) for c in strip_ax.collections) == 3 * len(X)  # one point per row and feature


# --------------------------------------------------------------------------- encoding & labels


def test_tabular_encoder_parses_text_numbers_and_drops_identifiers():
    n = 200
    frame = pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),
            "account_code": [f"acc-{i:04d}" for i in range(n)],
            "total_charges": [" " if i % 50 == 0 else f"{i * 1.5:.2f}" for i in range(n)],
            "plan": ["basic", "pro"] * (n // 2),
            "is_senior": [True, False] * (n // 2),
            "signup": pd.date_range("2020-01-01", periods=n),
            "tenure": np.arange(n) % 30,
        }
    )
    enc = TabularEncoder().fit(frame)
    assert set(enc.dropped_) == {"rownames", "account_code", "signup"}
    assert enc.parsed_text_ == ["total_charges"]
    assert enc.categorical_ == ["plan"]
    out = enc.transform(frame)
    assert out["total_charges"].isna().sum() == 4 and out["total_charges"].iloc[1] == 1.5
    assert out["is_senior"].tolist()[:2] == [1.0, 0.0]


def test_tabular_encoder_caps_rare_levels():
    frame = pd.DataFrame(
        {"city": [f"c{i % 10}" for i in range(100)] + ["rare"], "x": np.arange(101.0) % 7}
    )
    enc = TabularEncoder(max_categories=5).fit(frame)
    assert OTHER in enc.categories_["city"] and len(enc.categories_["city"]) == 6
    assert (enc.transform(frame)["city"] == OTHER).sum() == 101 - 50


def test_coerce_binary_label():
    assert coerce_binary_label(pd.Series(["Yes", "no", " YES", None])).tolist()[:3] == [
        1.0,
        0.0,
        1.0,
    ]
    assert coerce_binary_label(pd.Series([True, False])).tolist() == [1.0, 0.0]
    with pytest.raises(ChurnDataError, match="maybe"):
        coerce_binary_label(pd.Series(["yes", "maybe"]), column="Churn")
    with pytest.raises(ChurnDataError, match="must be binary"):
        coerce_binary_label(pd.Series([0, 1, 2]))


# --------------------------------------------------------------------------- bad input (no MLflow)


def stacked() -> pd.DataFrame:
    return pd.concat(
        [snapshot(400, s, d) for s, d in ((1, "2024-01-01"), (2, "2024-04-01"), (3, "2024-07-01"))],
        ignore_index=True,
    ).drop(columns="p_true")


def test_prepare_refuses_single_class():
    frame = stacked().assign(churned=0)
    with pytest.raises(ChurnDataError, match="single class"):
        prepare_training_frame(frame)


def test_prepare_refuses_empty_after_exclusions():
    frame = stacked().assign(churned=np.nan)
    with pytest.raises(ChurnDataError, match="empty after exclusions.*missing_label"):
        prepare_training_frame(frame)


def test_prepare_refuses_entirely_null_feature():
    frame = stacked().assign(sentiment_mean=np.nan)
    with pytest.raises(ChurnDataError, match=r"\['sentiment_mean'\] are entirely null"):
        prepare_training_frame(frame)


def test_prepare_refuses_features_dated_at_or_after_as_of():
    frame = stacked()
    frame["max_event_time"] = frame["as_of"] - pd.Timedelta(days=1)
    prepare_training_frame(frame)  # strictly before as_of: fine, and not a feature
    frame.loc[5, "max_event_time"] = frame.loc[5, "as_of"]
    with pytest.raises(ChurnDataError, match="leakage guard: 1 row.*max_event_time"):
        prepare_training_frame(frame)


def test_prepare_refuses_as_of_after_label_window_start():
    frame = stacked()
    frame["label_window_start"] = frame["as_of"]
    assert "label_window_start" not in prepare_training_frame(frame).features
    frame.loc[3, "label_window_start"] = frame.loc[3, "as_of"] - pd.Timedelta(days=10)
    with pytest.raises(ChurnDataError, match="after 'label_window_start'"):
        prepare_training_frame(frame)


def test_prepare_refuses_duplicate_ids_within_a_snapshot():
    frame = stacked()
    prepare_training_frame(frame)  # the same id in different snapshots is fine
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]
    with pytest.raises(ChurnDataError, match="duplicated row.*within one snapshot") as err:
        prepare_training_frame(frame)
    assert frame.loc[0, "customer_id"] in str(err.value)


def test_prepare_refuses_a_label_copy():
    frame = stacked()
    frame["churn_flag"] = np.where(frame["churned"] == 1, "Yes", "No")
    with pytest.raises(ChurnDataError, match="target leakage.*--exclude churn_flag"):
        prepare_training_frame(frame)
    assert "churn_flag" not in prepare_training_frame(frame, exclude=["churn_flag"]).features


def test_time_split_uses_latest_snapshot_for_validation():
    prepared = prepare_training_frame(stacked())
    split = split_by_time(prepared, horizon_days=90)
    assert set(split.valid["as_of"]) == {pd.Timestamp("2024-07-01")}
    assert set(split.fold["as_of"]) == {pd.Timestamp("2024-04-01")}
    assert set(split.train["as_of"]) == {pd.Timestamp("2024-01-01")}
    assert split.description["label_window_overlap"] is False
    with pytest.warns(UserWarning, match="label window"):
        split_by_time(prepared, horizon_days=120)
    one = prepare_training_frame(snapshot(300, 1, "2024-01-01").drop(columns="p_true"))
    with pytest.raises(ChurnDataError, match="at least 2"):
        split_by_time(one)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_each_calibration_method_improves_held_out_brier(method):
    train = snapshot(2000, 21, "2024-01-01")
    fold = snapshot(2000, 22, "2024-04-01")
    test = snapshot(2000, 23, "2024-07-01")
    model = ChurnModel(seed=0, calibration=method).fit(
        train[FEATURES], train["churned"], fold[FEATURES], fold["churned"]
    )
    assert model.calibration_method_ == method
    y = test["churned"].to_numpy()
    assert brier_score_loss(y, model.predict_proba(test[FEATURES])[:, 1]) < brier_score_loss(
        y, model.predict_raw_proba(test[FEATURES])
    )


def test_cv_selection_on_a_single_snapshot():
    train = snapshot(1500, 31, "2024-01-01")
    model = ChurnModel(seed=0, cv_folds=3, n_trials=2).fit(train[FEATURES], train["churned"])
    assert [r["trial"] for r in model.search_results_] == [0, 1, 2]
    best = max(model.search_results_, key=lambda r: r["auc_select"])
    assert model.best_iteration_ == best["best_iteration"]
    assert model.booster_.current_iteration() == model.best_iteration_  # refit with the CV rounds
    with pytest.raises(ValueError, match="refit=False"):
        ChurnModel(seed=0, cv_folds=3, refit=False).fit(train[FEATURES], train["churned"])
