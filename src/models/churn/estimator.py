"""The churn estimator: class-weighted LightGBM, held-out calibration and reason codes.

LightGBM is trained with class weights (``scale_pos_weight = negatives/positives``) so
that the rare class shapes the trees; its raw outputs are therefore inflated and only the
calibrated :meth:`ChurnModel.predict_proba` output is a probability (30% risk ≈ 30% churn).

:meth:`ChurnModel.explain` ranks the per-row LightGBM contributions (``pred_contrib=True``,
log-odds; they sum with the bias to the raw margin) by absolute size and renders the top
ones as ``feature=value (raises risk)`` / ``(lowers risk)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from custsat.config import cpu_threads
from custsat.models.churn.encoding import TabularEncoder
from custsat.models.churn.labels import ChurnDataError, coerce_binary_label

TOP_K_REASONS = 3

_SEARCH_SPACE: dict[str, Sequence[Any]] = {
    "num_leaves": (4, 7, 15, 31),
    "min_child_samples": (20, 50, 100),
    "learning_rate": (0.02, 0.05),
    "feature_fraction": (0.6, 0.8, 1.0),
    "reg_lambda": (0.0, 1.0, 5.0, 20.0),
    "max_depth": (-1, 3, 5),
}


def _reason_columns(top_k: int) -> list[str]:
    return [f"churn_reason_{k + 1}" for k in range(top_k)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, float | np.floating):
        if float(value).is_integer():
            return str(int(value))
        return f"{float(value):.4g}"
    return str(value)


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Class-weighted LightGBM + held-out calibration + reason codes (sklearn style).

    Parameters (regularisation defaults suit a few thousand to a few hundred thousand rows)
    ----------
    n_estimators: upper bound on boosting rounds; early stopping picks the number.
    learning_rate, num_leaves, max_depth, min_child_samples, reg_lambda, reg_alpha,
    feature_fraction, bagging_fraction: LightGBM parameters.
    class_weight: ``"balanced"`` (scale_pos_weight = negatives/positives), ``None``, or a float.
    early_stopping_rounds: patience on held-out AUC.
    n_trials: extra random configurations tried (seeded) besides the defaults; selection by
        AUC on held-out half A. 0 = no search.
    calibration: ``"isotonic"``, ``"sigmoid"`` (Platt), ``"auto"`` (isotonic when half B has
        ≥ 5000 rows and ≥ 250 churners, else Platt, which keeps the ranking) or ``"none"``.
    holdout_fraction: share of training rows held out when ``fit`` gets no ``X_val``.
    refit: retrain on train + half A with the chosen rounds (half B stays unseen).
    cv_folds: when ≥ 2 and ``fit`` gets no ``X_val`` (one row per customer), candidates are
        compared by stratified K-fold CV AUC on train + half A (rounds = mean best round per
        fold) instead of by half A alone: a less noisy choice on small tables. Half B still
        only calibrates. Ignored when a time-based fold is passed.
    categorical: columns to force as categorical.
    seed, n_jobs: reproducibility and threads (callers pass the project seed, ``CUSTSAT_SEED``).

    Learned attributes: ``encoder_``, ``booster_``, ``calibrator_``, ``feature_names_``,
    ``categories_``, ``best_params_``, ``best_iteration_``, ``search_results_``,
    ``calibration_method_``, ``holdout_metrics_``.
    """

    def __init__(
        self,
        n_estimators: int = 3000,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        max_depth: int = -1,
        min_child_samples: int = 50,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        class_weight: str | float | None = "balanced",
        early_stopping_rounds: int = 100,
        n_trials: int = 0,
        calibration: str = "auto",
        holdout_fraction: float = 0.25,
        refit: bool = True,
        cv_folds: int = 0,
        categorical: Sequence[str] = (),
        seed: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.class_weight = class_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.n_trials = n_trials
        self.calibration = calibration
        self.holdout_fraction = holdout_fraction
        self.refit = refit
        self.cv_folds = cv_folds
        self.categorical = categorical
        self.seed = seed
        self.n_jobs = n_jobs

    # -- helpers
    def _seed(self) -> int:
        return int(self.seed)

    def _base_params(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "reg_alpha": self.reg_alpha,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
        }

    def _lgb_params(self, params: Mapping[str, Any], scale_pos_weight: float) -> dict[str, Any]:
        seed = self._seed()
        return {
            "objective": "binary",
            "metric": "auc",
            "verbosity": -1,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "bagging_freq": 1 if params["bagging_fraction"] < 1 else 0,
            "scale_pos_weight": scale_pos_weight,
            "feature_pre_filter": False,
            "min_data_per_group": 20,
            "cat_smooth": 10.0,
            **params,
        }

    def _scale_pos_weight(self, y: np.ndarray) -> float:
        if self.class_weight is None:
            return 1.0
        if self.class_weight == "balanced":
            pos = float(y.sum())
            return float((len(y) - pos) / pos)
        return float(self.class_weight)

    def _candidates(self) -> list[dict[str, Any]]:
        base = self._base_params()
        rng = np.random.default_rng(self._seed())
        out = [base]
        for _ in range(int(self.n_trials)):
            trial = dict(base)
            for key, choices in _SEARCH_SPACE.items():
                trial[key] = choices[int(rng.integers(len(choices)))]
            out.append(trial)
        return out

    def _lgb_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.encoder_.to_lightgbm(self.encoder_.transform(X))

    # -- API
    def fit(
        self,
        X: pd.DataFrame,
        y: Sequence[int] | pd.Series,
        X_val: pd.DataFrame | None = None,
        y_val: Sequence[int] | pd.Series | None = None,
    ) -> ChurnModel:
        """Fit on ``X, y``; ``X_val, y_val`` is the held-out fold (see module docstring).

        Without ``X_val`` a stratified ``holdout_fraction`` of ``X`` is held out (only correct
        when rows are one per customer; for stacked snapshots pass the latest-but-one snapshot).
        """
        seed = self._seed()
        y = np.asarray(coerce_binary_label(pd.Series(np.asarray(y)), column="y"), dtype=float)
        if np.isnan(y).any() or len(np.unique(y)) < 2:
            raise ChurnDataError("fit: y must contain both classes and no missing labels")
        X = X.reset_index(drop=True)
        fold_given = X_val is not None
        if X_val is None:
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=self.holdout_fraction, stratify=y, random_state=seed
            )
        X_val = X_val.reset_index(drop=True)
        y_val = np.asarray(
            coerce_binary_label(pd.Series(np.asarray(y_val)), column="y_val"), dtype=float
        )
        if len(np.unique(y_val)) < 2 or min(np.bincount(y_val.astype(int))) < 4:
            raise ChurnDataError(
                "fit: the held-out fold needs at least 4 churned and 4 retained customers "
                f"(got {int(y_val.sum())} churned of {len(y_val)})"
            )
        X_stop, X_cal, y_stop, y_cal = train_test_split(
            X_val, y_val, test_size=0.5, stratify=y_val, random_state=seed
        )
        self.encoder_ = TabularEncoder(categorical=self.categorical).fit(X)
        self.feature_names_ = list(self.encoder_.feature_names_)
        self.categories_ = dict(self.encoder_.categories_)
        train_x, stop_x, cal_x = (self._lgb_frame(f) for f in (X, X_stop, X_cal))
        spw = self._scale_pos_weight(y)
        self.search_results_: list[dict[str, Any]] = []
        best: tuple[float, int, dict[str, Any]] | None = None
        use_cv = self.cv_folds >= 2 and not fold_given
        if use_cv:  # selection by K-fold CV on train + half A (one row per customer only)
            search_x = pd.concat([train_x, stop_x], ignore_index=True)
            search_y = np.r_[y, y_stop]
        best_booster = None
        for index, params in enumerate(self._candidates()):
            if use_cv:
                auc, iteration = self._cv_score(params, search_x, search_y, seed)
                booster = None
            else:
                booster = lgb.train(
                    self._lgb_params(params, spw),
                    lgb.Dataset(train_x, y, free_raw_data=False),
                    num_boost_round=self.n_estimators,
                    valid_sets=[lgb.Dataset(stop_x, y_stop, free_raw_data=False)],
                    callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
                )
                auc = float(booster.best_score["valid_0"]["auc"])
                iteration = max(int(booster.best_iteration or booster.current_iteration()), 1)
            self.search_results_.append(
                {"trial": index, "auc_select": auc, "best_iteration": iteration, **params}
            )
            if best is None or auc > best[0] + 1e-9:
                best = (auc, iteration, params)
                best_booster = booster
        assert best is not None
        self.best_params_ = dict(best[2])
        self.best_iteration_ = best[1]
        if self.refit:
            full_x = pd.concat([train_x, stop_x], ignore_index=True)
            full_y = np.r_[y, y_stop]
            self.booster_ = lgb.train(
                self._lgb_params(self.best_params_, self._scale_pos_weight(full_y)),
                lgb.Dataset(full_x, full_y),
                num_boost_round=self.best_iteration_,
            )
        elif best_booster is None:
            raise ValueError("refit=False needs cv_folds=0 (CV selection keeps no booster)")
        else:
            self.booster_ = best_booster
            self.booster_.best_iteration = self.best_iteration_
        margin = self._margin_encoded(cal_x)
        self.calibration_method_ = self._calibration_method(y_cal)
        self.calibrator_ = self._fit_calibrator(margin, y_cal)
        self.n_train_, self.n_stop_, self.n_calibration_ = len(y), len(y_stop), len(y_cal)
        self.holdout_metrics_ = {
            "calibration_fold_brier_raw": float(np.mean((_sigmoid(margin) - y_cal) ** 2)),
            "calibration_fold_brier_calibrated_insample": float(
                np.mean((self._calibrate(margin) - y_cal) ** 2)
            ),
            "selection_auc": best[0],
        }
        return self

    def _cv_score(
        self, params: Mapping[str, Any], X: pd.DataFrame, y: np.ndarray, seed: int
    ) -> tuple[float, int]:
        """Mean held-out AUC and mean best round over stratified K folds (early stopping per fold)."""
        from sklearn.model_selection import StratifiedKFold

        aucs, rounds = [], []
        folds = StratifiedKFold(self.cv_folds, shuffle=True, random_state=seed)
        for fit_idx, out_idx in folds.split(X, y):
            booster = lgb.train(
                self._lgb_params(params, self._scale_pos_weight(y[fit_idx])),
                lgb.Dataset(X.iloc[fit_idx], y[fit_idx]),
                num_boost_round=self.n_estimators,
                valid_sets=[lgb.Dataset(X.iloc[out_idx], y[out_idx])],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            aucs.append(float(booster.best_score["valid_0"]["auc"]))
            rounds.append(max(int(booster.best_iteration or booster.current_iteration()), 1))
        return float(np.mean(aucs)), int(round(np.mean(rounds)))

    def _calibration_method(self, y_cal: np.ndarray) -> str:
        if self.calibration in ("isotonic", "sigmoid", "none"):
            return self.calibration
        if self.calibration != "auto":
            raise ValueError(
                f"calibration must be isotonic|sigmoid|auto|none, got {self.calibration!r}"
            )
        # Isotonic needs many rows: on fewer it overfits and its plateaus tie customers
        # (blurring the ranking that tiers and lift depend on). Platt keeps the ranking.
        return "isotonic" if len(y_cal) >= 5000 and y_cal.sum() >= 250 else "sigmoid"

    def _fit_calibrator(self, margin: np.ndarray, y_cal: np.ndarray) -> Any:
        if self.calibration_method_ == "isotonic":
            return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, y_cal)
        if self.calibration_method_ == "sigmoid":
            return LogisticRegression(C=1e6, max_iter=1000).fit(
                margin.reshape(-1, 1), y_cal.astype(int)
            )
        return None

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return _sigmoid(margin)
        if isinstance(self.calibrator_, IsotonicRegression):
            # Isotonic steps leave exact 0/1 at the ends; keep probabilities strictly inside.
            return np.clip(self.calibrator_.predict(margin), 1e-4, 1 - 1e-4)
        return self.calibrator_.predict_proba(margin.reshape(-1, 1))[:, 1]

    def _margin_encoded(self, encoded: pd.DataFrame) -> np.ndarray:
        # prediction threads (cpu_threads): rows are scored independently, so the numbers do
        # not depend on them (training keeps ``n_jobs`` for reproducible trees)
        return np.asarray(self.booster_.predict(encoded, raw_score=True, num_threads=cpu_threads()), dtype=float)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw LightGBM margin (log-odds under the class weights) per row."""
        return self._margin_encoded(self._lgb_frame(X))

    def predict_raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated churn probability (sigmoid of the margin; inflated by the class weights)."""
        return _sigmoid(self.decision_function(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): columns [retained, churned]."""
        p = self._calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row contributions to the margin (log-odds); column ``bias`` holds the expected value.

        Each row sums to :meth:`decision_function`.
        """
        return self._contributions_encoded(self._lgb_frame(X), X.index)

    def _contributions_encoded(self, lgb_frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
        contrib = self.booster_.predict(lgb_frame, pred_contrib=True, num_threads=cpu_threads())
        return pd.DataFrame(np.asarray(contrib), columns=[*self.feature_names_, "bias"], index=index)

    def explain(self, X: pd.DataFrame, top_k: int = TOP_K_REASONS) -> pd.DataFrame:
        """Top-``top_k`` drivers per row as readable reason codes.

        Columns ``churn_reason_1..top_k`` (``"recency_days=134 (raises risk)"``; empty when
        fewer non-zero contributions) and ``churn_reasons`` (joined with ``"; "``). Drivers
        are ranked by absolute contribution; ties keep the feature order.
        """
        encoded = self.encoder_.transform(X)
        return self._explain_encoded(encoded, self.encoder_.to_lightgbm(encoded), top_k)

    def predict_with_reasons(
        self,
        X: pd.DataFrame,
        top_k: int = TOP_K_REASONS,
        explain_rows: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Calibrated churn probability and :meth:`explain`'s reason codes, encoding ``X`` once.

        ``explain_rows(probability)`` -> boolean mask of the rows to explain (default: all);
        the other rows get empty reasons. The contributions (TreeSHAP) cost ~15× a prediction.
        """
        encoded = self.encoder_.transform(X)
        lgb_frame = self.encoder_.to_lightgbm(encoded)
        probability = self._calibrate(self._margin_encoded(lgb_frame))
        rows = np.ones(len(X), dtype=bool) if explain_rows is None else np.asarray(explain_rows(probability), bool)
        if rows.all():
            return probability, self._explain_encoded(encoded, lgb_frame, top_k)
        out = pd.DataFrame("", index=X.index, columns=[*_reason_columns(top_k), "churn_reasons"])
        if rows.any():
            out.iloc[np.flatnonzero(rows)] = self._explain_encoded(encoded[rows], lgb_frame[rows], top_k).to_numpy()
        return probability, out

    def _explain_encoded(self, encoded: pd.DataFrame, lgb_frame: pd.DataFrame, top_k: int) -> pd.DataFrame:
        values = self._contributions_encoded(lgb_frame, encoded.index).drop(columns="bias").to_numpy()
        return reason_codes(values, encoded, self.feature_names_, top_k)


def reason_codes(values: np.ndarray, encoded: pd.DataFrame, feature_names: Sequence[str], top_k: int) -> pd.DataFrame:
    """The ``top_k`` largest contributions per row (``values``: rows x features, log-odds) as
    ``feature=value (raises risk)`` / ``(lowers risk)`` columns and their joined ``churn_reasons``.

    Drivers are ranked by absolute contribution; ties keep the feature order; zero
    contributions are not reasons.
    """
    order = np.argsort(-np.abs(values), axis=1, kind="mergesort")[:, :top_k]
    names = np.asarray(feature_names)
    reasons = np.full((len(encoded), top_k), "", dtype=object)
    rows = np.arange(len(encoded))
    # format only the shown cells, one feature column at a time, and each distinct value
    # once (a per-cell Python loop dominated scoring time at a million customers)
    for j in range(order.shape[1]):
        cols = order[:, j]
        c = values[rows, cols]
        for col in np.unique(cols[c != 0]):
            sel = np.flatnonzero((cols == col) & (c != 0))
            codes, distinct = pd.factorize(encoded.iloc[sel, col].to_numpy(dtype=object))
            text = np.array([_format_value(v) for v in distinct] + ["missing"], dtype=object)[codes]
            direction = np.where(c[sel] > 0, " (raises risk)", " (lowers risk)").astype(object)
            reasons[sel, j] = f"{names[col]}=" + text + direction
    out = pd.DataFrame(reasons, columns=_reason_columns(top_k), index=encoded.index)
    out["churn_reasons"] = ["; ".join(r for r in row if r) for row in reasons]
    return out
