"""Churn-risk model: calibrated LightGBM with reason codes, risk tiers and champion/challenger.

Time semantics
--------------
A training frame has one row per customer and snapshot date ``as_of``. Features use only
events strictly before ``as_of``; the label ``churned`` describes the window
``[as_of, as_of + horizon_days)`` (built by :mod:`custsat.features`). Validation is by
time, never a random split across time for the same customer:

* the **latest** snapshot is the validation snapshot: reported metrics and the
  champion/challenger comparison are computed there;
* the **latest-but-one** snapshot is the held-out fold: it is split in two halves by
  customer (stratified, seeded). Half A drives early stopping and the small hyperparameter
  search; half B is never used to grow trees and fits the probability calibrator
  (Platt on the margin; isotonic once half B has ≥ 5000 rows);
* the remaining, earlier snapshots train the trees (then refit on them plus half A with
  the chosen number of rounds).

With exactly two snapshots the fold is carved from the earlier one (stratified).
A warning (and the run param ``split_label_window_overlap``) flags snapshots closer than
``horizon_days``: the fold's label window would then reach past the validation ``as_of``.

For a prepared single-snapshot table (e.g. Telco) a stratified ``test_size`` split plays
the role of the validation snapshot. 25% of the training part is held out and halved:
half B only calibrates; the hyperparameter search compares configurations (and picks the
number of rounds) by 5-fold CV on the rest (train + half A), which is then refit.

Champion/challenger
-------------------
Every run registers a new version (pyfunc; signature inferred on the feature frame, with
integers widened to float). The current champion is loaded and scored on the same
validation rows; the candidate becomes champion only if ``(AUC, -Brier)`` is strictly
higher (``--force`` overrides, recorded). A champion that cannot read the new rows
(columns missing) cannot serve them either: the comparison is recorded as impossible and
the candidate is promoted. Data checks run before any run is opened: refused input
registers nothing.

Prepared tables register under ``custsat-churn-<file stem>`` by default so that a model on
another schema (Telco) never competes with the CRM champion ``custsat-churn``.

Probabilities
-------------
LightGBM is trained with class weights (``scale_pos_weight = negatives/positives``) so
that the rare class shapes the trees; its raw outputs are therefore inflated and only the
calibrated :meth:`ChurnModel.predict_proba` output is a probability (30% risk ≈ 30% churn).

Reason codes
------------
:meth:`ChurnModel.explain` ranks the per-row LightGBM contributions (``pred_contrib=True``,
log-odds; they sum with the bias to the raw margin) by absolute size and renders the top
ones as ``feature=value (raises risk)`` / ``(lowers risk)``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from custsat.config import cpu_threads
from custsat.models.drift import build_reference
from custsat.models.metrics import binary_metrics
from custsat.models.tabular import TabularEncoder, make_linear_baseline

log = logging.getLogger(__name__)

MODEL_NAME = "custsat-churn"
FAMILY = "churn"
LABEL = "churned"
ID_COLUMN = "customer_id"
TIME_COLUMN = "as_of"
#: Columns of a training frame that are bookkeeping, never features.
META_COLUMNS: tuple[str, ...] = (
    "label_window_start",
    "label_window_end",
    "label_end",
    "feature_time",
    "max_event_time",
    "horizon_days",
    "exclusion_reason",
    "excluded",
)
#: Columns that, when present, must be strictly before ``as_of`` (leakage guard).
FEATURE_TIME_COLUMNS: tuple[str, ...] = ("feature_time", "max_event_time", "last_event_time")
TIERS: tuple[str, str, str] = ("high", "medium", "low")
DEFAULT_HIGH_THRESHOLD = 0.5
DEFAULT_MEDIUM_THRESHOLD = 0.2
TOP_K_REASONS = 3


class ChurnDataError(ValueError):
    """The training data cannot produce a trustworthy churn model (nothing is registered)."""


# --------------------------------------------------------------------------- labels & checks

_TRUE = {"1", "true", "yes", "y", "t", "churn", "churned"}
_FALSE = {"0", "false", "no", "n", "f", "retained", "stayed", "active"}


def coerce_binary_label(
    series: pd.Series, *, column: str = LABEL, source: str = "training data"
) -> pd.Series:
    """Map a label column to 0/1 integers (missing stays NaN as float).

    Accepts bool, 0/1 numbers, and text such as Yes/No, True/False, 1/0 (case-insensitive).
    Anything else raises :class:`ChurnDataError` naming the unexpected values.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64")
        bad = values.notna() & ~values.isin([0.0, 1.0])
    else:
        text = series.astype("string").str.strip().str.lower()
        values = pd.Series(
            np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, np.nan)),
            index=series.index,
        )
        bad = series.notna() & values.isna() & (text.fillna("") != "")
    if bad.any():
        examples = sorted(map(str, series[bad].unique()))[:5]
        raise ChurnDataError(
            f"{source}: label column '{column}' must be binary (0/1, true/false, yes/no); "
            f"found {examples} in {int(bad.sum())} row(s), e.g. rows {list(series.index[bad][:5])}"
        )
    return values


def _examples(frame: pd.DataFrame, mask: pd.Series, columns: Sequence[str], n: int = 5) -> str:
    cols = [c for c in columns if c in frame.columns]
    return frame.loc[mask, cols].head(n).to_string(index=False)


@dataclass
class PreparedFrame:
    """A validated training frame: 0/1 label, feature list and what was excluded."""

    frame: pd.DataFrame
    features: list[str]
    label: str
    id_column: str | None
    time_column: str | None
    exclusions: dict[str, int] = field(default_factory=dict)


def prepare_training_frame(
    frame: pd.DataFrame,
    *,
    label: str = LABEL,
    id_column: str | None = ID_COLUMN,
    time_column: str | None = TIME_COLUMN,
    exclude: Sequence[str] = (),
    source: str = "training data",
) -> PreparedFrame:
    """Validate a training frame and split its columns into label, keys and features.

    Refuses (``ChurnDataError``): missing label/id/time column; rows without a label removed
    and nothing left; a label with one class; duplicate ids within one snapshot; features
    dated at or after ``as_of`` (``feature_time``/``max_event_time``/``last_event_time``
    columns) or an ``as_of`` after ``label_window_start``; a feature that is entirely null;
    a feature that copies the label (target leakage).
    """
    for needed, what in ((label, "label"), (id_column, "id"), (time_column, "time")):
        if needed is not None and needed not in frame.columns:
            raise ChurnDataError(
                f"{source}: {what} column '{needed}' not found; columns are {list(frame.columns)[:30]}"
            )
    frame = frame.copy()
    exclusions: dict[str, int] = {}
    y = coerce_binary_label(frame[label], column=label, source=source)
    unlabeled = y.isna()
    if unlabeled.any():
        exclusions["missing_label"] = int(unlabeled.sum())
        frame, y = frame.loc[~unlabeled], y[~unlabeled]
    if frame.empty:
        raise ChurnDataError(
            f"{source}: the training set is empty after exclusions ({exclusions or 'no rows in input'}); "
            "check the as_of dates and the label horizon"
        )
    frame[label] = y.astype(int)
    if frame[label].nunique() < 2:
        raise ChurnDataError(
            f"{source}: label column '{label}' has a single class ({int(frame[label].iloc[0])}) in all "
            f"{len(frame)} rows; a churn model needs churned and retained customers"
        )
    if time_column is not None:
        frame[time_column] = pd.to_datetime(frame[time_column])
    if id_column is not None:
        keys = [id_column] + ([time_column] if time_column else [])
        dup = frame.duplicated(keys, keep=False)
        if dup.any():
            where = "within one snapshot" if time_column else "in the table"
            raise ChurnDataError(
                f"{source}: id column '{id_column}' has {int(dup.sum())} duplicated row(s) {where}, e.g.\n"
                f"{_examples(frame, dup, keys)}"
            )
    if time_column is not None:
        _leakage_guard(frame, time_column, source)
    skip = {label, id_column, time_column, *META_COLUMNS, *exclude} - {None}
    features = [c for c in frame.columns if c not in skip]
    if not features:
        raise ChurnDataError(f"{source}: no feature columns left after removing {sorted(skip)}")
    all_null = [c for c in features if frame[c].isna().all()]
    if all_null:
        raise ChurnDataError(
            f"{source}: feature column(s) {all_null} are entirely null in all {len(frame)} rows; "
            "fix the feature build or exclude them"
        )
    copies = _label_copies(frame, features, label)
    if copies:
        raise ChurnDataError(
            f"{source}: feature column(s) {copies} determine label '{label}' exactly (target leakage); "
            "exclude them (e.g. `--exclude " + " --exclude ".join(copies) + "`)"
        )
    return PreparedFrame(frame, features, label, id_column, time_column, exclusions)


def _leakage_guard(frame: pd.DataFrame, time_column: str, source: str) -> None:
    as_of = frame[time_column]
    for column in [
        c for c in frame.columns if c in FEATURE_TIME_COLUMNS or c.endswith("_event_time")
    ]:
        stamp = pd.to_datetime(frame[column])
        late = stamp.notna() & (stamp >= as_of)
        if late.any():
            raise ChurnDataError(
                f"{source}: leakage guard: {int(late.sum())} row(s) have '{column}' at or after "
                f"'{time_column}' (features must use events strictly before the snapshot), e.g.\n"
                f"{_examples(frame, late, [ID_COLUMN, time_column, column])}"
            )
    if "label_window_start" in frame.columns:
        start = pd.to_datetime(frame["label_window_start"])
        late = start.notna() & (as_of > start)
        if late.any():
            raise ChurnDataError(
                f"{source}: leakage guard: {int(late.sum())} row(s) have '{time_column}' after "
                f"'label_window_start' (features would overlap the label window), e.g.\n"
                f"{_examples(frame, late, [ID_COLUMN, time_column, 'label_window_start'])}"
            )


def _label_copies(
    frame: pd.DataFrame, features: Sequence[str], label: str, max_levels: int = 10
) -> list[str]:
    """Features with ≤ ``max_levels`` distinct values, each value mapping to one label class."""
    out = []
    y = frame[label]
    for column in features:
        values = frame[column]
        if values.nunique(dropna=False) > max_levels or values.nunique(dropna=False) < 2:
            continue
        key = values.astype("object").where(values.notna(), "__nan__").astype(str)
        if (y.groupby(key).nunique() == 1).all():
            out.append(column)
    return out


# --------------------------------------------------------------------------- estimator

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


class ChurnModel:
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
    seed, n_jobs: reproducibility and threads.

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
        seed: int | None = None,
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
        if self.seed is not None:
            return int(self.seed)
        from custsat.config import get_settings

        return int(get_settings().seed)

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
        order = np.argsort(-np.abs(values), axis=1, kind="mergesort")[:, :top_k]
        names = np.asarray(self.feature_names_)
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


# --------------------------------------------------------------------------- tiers & pyfunc


#: Which rows get reason codes: every row, or the medium- and high-risk ones.
REASONS_FOR = ("all", "at_risk")


def risk_tiers(
    probability: Sequence[float] | np.ndarray,
    *,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    top_k: int | None = None,
) -> np.ndarray:
    """Risk tier per row: ``high`` / ``medium`` / ``low``.

    Thresholds (probabilities): ``p >= high_threshold`` is high, ``p >= medium_threshold``
    medium. With ``top_k`` (capacity, e.g. 500 calls a week) the ``top_k`` highest
    probabilities are high regardless of the threshold and every other row is at most medium;
    ties at the cut keep input order.
    """
    p = np.asarray(probability, dtype=float)
    if not 0 <= medium_threshold <= high_threshold <= 1:
        raise ValueError(
            f"need 0 <= medium_threshold ({medium_threshold}) <= high_threshold ({high_threshold}) <= 1"
        )
    tiers = np.where(
        p >= high_threshold, "high", np.where(p >= medium_threshold, "medium", "low")
    ).astype(object)
    if top_k is not None and top_k > 0:
        order = np.argsort(-p, kind="mergesort")
        tiers[tiers == "high"] = "medium"
        tiers[order[: int(top_k)]] = "high"
    return tiers


def score_frame(
    model: ChurnModel,
    X: pd.DataFrame,
    *,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    top_k: int | None = None,
    top_k_reasons: int = TOP_K_REASONS,
    reasons: str = "all",
) -> pd.DataFrame:
    """``churn_probability``, ``risk_tier``, ``churn_reason_1..k`` and ``churn_reasons`` per row of ``X``.

    ``reasons="at_risk"`` explains only the medium- and high-risk rows (low-risk rows get
    empty reasons), which halves scoring time when half the customers are low risk.
    """
    if reasons not in REASONS_FOR:
        raise ValueError(f"reasons must be one of {REASONS_FOR}, got {reasons!r}")

    def tiers_of(p: np.ndarray) -> np.ndarray:
        return risk_tiers(p, high_threshold=high_threshold, medium_threshold=medium_threshold, top_k=top_k)

    at_risk = (lambda p: tiers_of(p) != "low") if reasons == "at_risk" else None
    p, reason_codes = model.predict_with_reasons(X, top_k=top_k_reasons, explain_rows=at_risk)
    out = pd.DataFrame({"churn_probability": p, "risk_tier": tiers_of(p)}, index=X.index)
    return pd.concat([out, reason_codes], axis=1)


class ChurnPyfunc(PythonModel):
    """MLflow pyfunc wrapper: predict returns probability, tier and reasons per input row.

    ``params`` at predict time: ``high_threshold``, ``medium_threshold``, ``top_k``
    (capacity; 0 = thresholds only), ``reasons`` (``"all"`` or ``"at_risk"``).
    """

    def __init__(
        self,
        model: ChurnModel,
        high_threshold: float = DEFAULT_HIGH_THRESHOLD,
        medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    ) -> None:
        self.model = model
        self.high_threshold = high_threshold
        self.medium_threshold = medium_threshold

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        top_k = int(params.get("top_k", 0) or 0)
        return score_frame(
            self.model,
            pd.DataFrame(model_input).reset_index(drop=True),
            high_threshold=float(params.get("high_threshold", self.high_threshold)),
            medium_threshold=float(params.get("medium_threshold", self.medium_threshold)),
            top_k=top_k or None,
            reasons=str(params.get("reasons", "all")),
        )


def signature_frame(X: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The model's input columns with integers widened to float (so NaNs later still match)."""
    out = X[list(features)].copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out[column] = series.astype("object").where(series.notna(), None)
        elif pd.api.types.is_bool_dtype(series):
            out[column] = series.astype(bool)
        elif pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series):
            out[column] = series.astype("float64")
    return out


# --------------------------------------------------------------------------- training runs


@dataclass
class ChurnTrainingResult:
    """What one training run produced."""

    run_id: str
    model_name: str
    model_version: str
    decision: str
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    model: ChurnModel
    baseline: Pipeline
    validation: pd.DataFrame
    split: dict[str, Any]


@dataclass
class _Split:
    train: pd.DataFrame
    fold: pd.DataFrame | None
    valid: pd.DataFrame
    description: dict[str, Any]


def split_by_time(prepared: PreparedFrame, horizon_days: int | None = None) -> _Split:
    """Latest snapshot = validation, latest-but-one = held-out fold, earlier = training.

    With exactly two snapshots the fold is carved (by customer) from the earlier one inside
    :meth:`ChurnModel.fit`. Warns when a training label window reaches past the validation
    ``as_of`` (label windows overlap in time; no row-level leakage, but optimistic).
    """
    frame, t = prepared.frame, prepared.time_column
    assert t is not None
    snapshots = sorted(frame[t].unique())
    if len(snapshots) < 2:
        raise ChurnDataError(
            f"time-based validation needs at least 2 '{t}' snapshots, got {[str(s)[:10] for s in snapshots]}"
        )
    valid = frame[frame[t] == snapshots[-1]]
    if len(snapshots) >= 3:
        fold = frame[frame[t] == snapshots[-2]]
        train = frame[frame[t] < snapshots[-2]]
    else:
        fold, train = None, frame[frame[t] == snapshots[0]]
    description = {
        "split": "time",
        "train_as_of": ",".join(str(s)[:10] for s in sorted(train[t].unique())),
        "fold_as_of": str(snapshots[-2])[:10] if fold is not None else "carved from train",
        "valid_as_of": str(snapshots[-1])[:10],
    }
    if horizon_days is not None:
        # The fold (latest-but-one) also shapes the model: its label window must end by the validation as_of.
        last_train_label_end = pd.Timestamp(snapshots[-2]) + pd.Timedelta(days=horizon_days)
        overlap = last_train_label_end > pd.Timestamp(snapshots[-1])
        description["label_window_overlap"] = bool(overlap)
        if overlap:
            warnings.warn(
                "churn: the last training snapshot's label window ends after the validation as_of; "
                "space as_of dates at least horizon_days apart for a clean time split",
                stacklevel=2,
            )
    return _Split(train, fold, valid, description)


def split_stratified(prepared: PreparedFrame, test_size: float, seed: int) -> _Split:
    """One row per customer: stratified ``test_size`` validation split; fold carved in ``fit``."""
    if not 0 < test_size < 1:
        raise ChurnDataError(f"test_size must be between 0 and 1, got {test_size}")
    frame = prepared.frame
    train, valid = train_test_split(
        frame, test_size=test_size, stratify=frame[prepared.label], random_state=seed
    )
    return _Split(train, None, valid, {"split": "stratified", "test_size": test_size, "seed": seed})


def _check_classes(split: _Split, label: str) -> None:
    for name, part in (
        ("training", split.train),
        ("held-out fold", split.fold),
        ("validation", split.valid),
    ):
        if part is None:
            continue
        if part.empty:
            raise ChurnDataError(f"the {name} part of the split is empty")
        if part[label].nunique() < 2:
            raise ChurnDataError(
                f"label '{label}' has a single class ({int(part[label].iloc[0])}) in the {name} part "
                f"({len(part)} rows); need churned and retained customers in every part"
            )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def _log_plots(
    mlflow: Any,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    model: ChurnModel,
    X_valid: pd.DataFrame,
    seed: int,
) -> None:
    import matplotlib.pyplot as plt

    from custsat.models import metrics as m

    figures = {
        "plots/roc.png": m.plot_roc(y, scores, title="ROC (validation)"),
        "plots/pr.png": m.plot_pr(y, scores, title="Precision-recall (validation)"),
        "plots/calibration.png": m.plot_calibration(y, scores, title="Calibration (validation)"),
        "plots/gains.png": m.plot_gains(y, scores, title="Cumulative gains (validation)"),
    }
    sample = (
        X_valid.sample(n=min(len(X_valid), 2000), random_state=seed)
        if len(X_valid) > 2000
        else X_valid
    )
    contrib = model.contributions(sample).drop(columns="bias")
    figures["plots/contributions_summary.png"] = m.plot_contribution_summary(
        contrib,
        model.encoder_.transform(sample),
        title="Churn drivers (LightGBM contributions, validation)",
    )
    for path, fig in figures.items():
        mlflow.log_figure(fig, path)
        plt.close(fig)


def _champion_scores(
    model_name: str, valid: pd.DataFrame, y_valid: np.ndarray
) -> tuple[dict[str, float] | None, str]:
    """Score the current champion on the validation rows (all their columns); (metrics, note).

    The champion picks its own input columns from its recorded signature. When it cannot
    score these rows (columns missing, types changed, unloadable) it returns (None, reason):
    a champion that cannot read the current features cannot serve them either.
    """
    from custsat import tracking

    if tracking.champion_version(model_name) is None:
        return None, "no champion yet"
    try:
        champion, version = tracking.load_champion(model_name)
        names = champion.metadata.get_input_schema().input_names()
        missing = [c for c in names if c not in valid.columns]
        if missing:
            return (
                None,
                f"champion v{version} cannot score the validation rows: missing column(s) {missing[:10]}",
            )
        predicted = champion.predict(signature_frame(valid, names))
        p = np.asarray(predicted["churn_probability"], dtype=float)
        return binary_metrics(y_valid, p), f"champion v{version} scored on the same validation rows"
    except Exception as exc:  # schema mismatch or unloadable model: it cannot serve these features
        return (
            None,
            f"champion could not score the validation rows ({type(exc).__name__}: {str(exc)[:300]})",
        )


def train_churn_from_frame(
    frame: pd.DataFrame,
    *,
    label: str = LABEL,
    id_column: str | None = ID_COLUMN,
    time_column: str | None = TIME_COLUMN,
    horizon_days: int | None = None,
    test_size: float = 0.25,
    seed: int | None = None,
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    n_trials: int = 8,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    model_name: str = MODEL_NAME,
    force: bool = False,
    source: str = "training data",
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    model_params: Mapping[str, Any] | None = None,
    log_plots: bool = True,
    cv_folds: int = 5,
) -> ChurnTrainingResult:
    """Validate, split, train LightGBM + LR baseline, log everything, register and promote.

    With ``time_column`` (and ≥ 2 snapshots) the split is by time (see module docstring);
    without it a stratified ``test_size`` split. All data checks run before anything is
    logged, so refused input registers nothing. Without ``time_column`` the hyperparameter
    search compares candidates by ``cv_folds``-fold CV on the training part (see
    :class:`ChurnModel`); with snapshots it uses the latest-but-one snapshot. ``log_plots=False`` skips the figures
    (ROC, PR, calibration, gains, contribution summary); the calibration tables are still logged.
    """
    from custsat import tracking
    from custsat.config import get_settings
    from custsat.models import metrics as m

    seed = int(get_settings().seed if seed is None else seed)
    prepared = prepare_training_frame(
        frame,
        label=label,
        id_column=id_column,
        time_column=time_column,
        exclude=exclude,
        source=source,
    )
    if time_column is not None:
        split = split_by_time(prepared, horizon_days)
    else:
        split = split_stratified(prepared, test_size, seed)
    _check_classes(split, label)
    features = prepared.features
    empty_in_train = [c for c in features if split.train[c].isna().all()]
    if empty_in_train:
        raise ChurnDataError(
            f"{source}: feature column(s) {empty_in_train} are entirely null in the training part"
        )

    params = {
        "seed": seed,
        "n_trials": n_trials,
        "categorical": list(categorical),
        # K-fold selection only without snapshots (it would mix a customer's snapshots).
        "cv_folds": cv_folds if time_column is None else 0,
        **(model_params or {}),
    }
    model = ChurnModel(**params)
    X_train, y_train = split.train[features], split.train[label].to_numpy()
    X_fold = split.fold[features] if split.fold is not None else None
    y_fold = split.fold[label].to_numpy() if split.fold is not None else None
    model.fit(X_train, y_train, X_fold, y_fold)

    encoder = model.encoder_
    lr_rows = pd.concat([split.train, split.fold]) if split.fold is not None else split.train
    baseline = make_linear_baseline(encoder.numeric_, encoder.categorical_, seed=seed)
    baseline.fit(encoder.transform(lr_rows[features]), lr_rows[label].to_numpy())

    X_valid, y_valid = split.valid[features], split.valid[label].to_numpy()
    p_cal = model.predict_proba(X_valid)[:, 1]
    p_raw = model.predict_raw_proba(X_valid)
    p_lr = baseline.predict_proba(encoder.transform(X_valid))[:, 1]
    metrics = {
        **binary_metrics(y_valid, p_cal, prefix="val_"),
        **binary_metrics(y_valid, p_raw, prefix="val_raw_"),
        **binary_metrics(y_valid, p_lr, prefix="val_lr_"),
        "val_ece": m.expected_calibration_error(y_valid, p_cal),
        "val_raw_ece": m.expected_calibration_error(y_valid, p_raw),
        "val_lr_ece": m.expected_calibration_error(y_valid, p_lr),
        **model.holdout_metrics_,
        "best_iteration": float(model.best_iteration_),
        "n_train_rows": float(len(split.train)),
        "n_features": float(len(model.feature_names_)),
    }
    validation = split.valid[[c for c in (id_column, time_column, label) if c]].copy()
    validation = pd.concat(
        [
            validation,
            score_frame(
                model, X_valid, high_threshold=high_threshold, medium_threshold=medium_threshold
            ),
        ],
        axis=1,
    )

    import mlflow
    from mlflow.models import infer_signature

    run_params = {
        "label": label,
        "id_column": id_column or "none",
        "time_column": time_column or "none",
        "horizon_days": horizon_days if horizon_days is not None else "none",
        "seed": seed,
        "n_trials": n_trials,
        "cv_folds": model.cv_folds,
        "calibration": model.calibration_method_,
        "high_threshold": high_threshold,
        "medium_threshold": medium_threshold,
        "force": force,
        **{f"split_{k}": v for k, v in split.description.items()},
        **{f"lgbm_{k}": v for k, v in model.best_params_.items()},
    }
    tags = {"source": source[:250], "model_name": model_name, **(extra_tags or {})}
    with tracking.start_run(
        FAMILY,
        run_name=run_name,
        data_fingerprint=tracking.fingerprint_frames(prepared.frame),
        tags=tags,
        params=run_params,
    ) as run:
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict(
            {
                "features": model.feature_names_,
                "categorical": encoder.categorical_,
                "dropped_columns": encoder.dropped_,
                "exclusions": prepared.exclusions,
                "split": split.description,
                "search": model.search_results_,
            },
            "training_summary.json",
        )
        scores = {
            "LightGBM calibrated": p_cal,
            "LightGBM uncalibrated": p_raw,
            "logistic regression": p_lr,
        }
        for name, p in scores.items():
            mlflow.log_text(
                m.calibration_table(y_valid, p).to_csv(index=False),
                f"calibration/{_slug(name)}.csv",
            )
        if log_plots:
            _log_plots(mlflow, y_valid, scores, model, X_valid, seed)
        X_sig = signature_frame(X_valid, model.feature_names_)
        pyfunc = ChurnPyfunc(
            model, high_threshold=high_threshold, medium_threshold=medium_threshold
        )
        # Training-time feature distributions travel with the model so scoring can report drift.
        # The latest (validation) snapshot is the reference: features that grow with calendar
        # time (tenure, recency) would otherwise drift against older snapshots by construction.
        pyfunc.feature_reference = build_reference(split.valid[model.feature_names_])
        example_out = pyfunc.predict(None, X_sig.head(20))
        signature = infer_signature(
            X_sig,
            example_out,
            params={
                "high_threshold": high_threshold,
                "medium_threshold": medium_threshold,
                "top_k": 0,
                "reasons": "all",
            },
        )
        uri = tracking.log_pyfunc_model(pyfunc, signature=signature, input_example=X_sig.head(3))

        champion_metrics, note = _champion_scores(
            model_name, split.valid.drop(columns=[label]), y_valid
        )
        version = tracking.register_model(uri, model_name)
        candidate = (metrics["val_roc_auc"], -metrics["val_brier"])
        champion_score = (
            (champion_metrics["roc_auc"], -champion_metrics["brier"])
            if champion_metrics is not None
            else None
        )
        if champion_metrics is not None:
            mlflow.log_metrics(
                {f"champion_val_{k}": v for k, v in champion_metrics.items() if np.isfinite(v)}
            )
        mlflow.set_tag("champion_comparison", note[:500])
        decision = tracking.promote(
            model_name,
            version,
            candidate_score=candidate,
            champion_score=champion_score,
            force=force,
        )
        mlflow.set_tag("model_version", version)
        run_id = run.info.run_id
    return ChurnTrainingResult(
        run_id=run_id,
        model_name=model_name,
        model_version=version,
        decision=decision,
        metrics=metrics,
        champion_metrics=champion_metrics,
        model=model,
        baseline=baseline,
        validation=validation,
        split=split.description,
    )


# --------------------------------------------------------------------------- entry points


def default_as_of_dates(
    tables: Mapping[str, pd.DataFrame],
    horizon_days: int = 90,
    n_snapshots: int = 4,
    min_history_days: int = 180,
) -> list[pd.Timestamp]:
    """Snapshot dates ending one horizon before the last transaction, ``horizon_days`` apart.

    The latest as_of is ``last transaction day - horizon_days`` (its label window is fully
    observed); earlier ones step back by ``horizon_days`` so that no training label window
    overlaps the next snapshot. Dates leaving less than ``min_history_days`` of history are dropped.
    """
    tx = tables["transactions"]["timestamp"]
    last = pd.Timestamp(tx.max()).normalize()
    first = pd.Timestamp(tx.min()).normalize()
    dates = [last - pd.Timedelta(days=horizon_days * (k + 1)) for k in range(n_snapshots)]
    dates = sorted(d for d in dates if d - first >= pd.Timedelta(days=min_history_days))
    if len(dates) < 2:
        raise ChurnDataError(
            f"transactions span {first.date()}..{last.date()}: too short for two {horizon_days}-day "
            f"snapshots with {min_history_days} days of history"
        )
    return dates


#: Feature families the builder leaves NaN when the text models have not run (``.attrs`` flags).
_SENTIMENT_FEATURES = (
    "sentiment_mean",
    "last_sentiment",
    "negative_share",
    "days_since_last_negative",
)


def unavailable_feature_columns(
    training: pd.DataFrame, tables: Mapping[str, pd.DataFrame] | None = None
) -> list[str]:
    """Entirely-null columns whose source the data do not have yet (text models not run).

    Sentiment features are unavailable when ``attrs['sentiment_available']`` is False or the
    feedback table has no non-null ``sentiment``/``sentiment_score``; topic features when
    ``attrs['topics_available']`` is False or feedback has no ``topics`` column. Those columns
    are NaN by construction; they are left out of the model and recorded on the run. Any
    other entirely-null feature is still refused by :func:`prepare_training_frame`.
    """
    feedback = (tables or {}).get("feedback")
    sentiment_ok = training.attrs.get("sentiment_available")
    topics_ok = training.attrs.get("topics_available")
    if isinstance(feedback, pd.DataFrame):
        has_sentiment = any(
            c in feedback and feedback[c].notna().any() for c in ("sentiment", "sentiment_score")
        )
        sentiment_ok = bool(sentiment_ok if sentiment_ok is not None else True) and has_sentiment
        topics_ok = bool(topics_ok if topics_ok is not None else True) and "topics" in feedback
    candidates: list[str] = []
    if sentiment_ok is False:
        candidates += [c for c in training.columns if c in _SENTIMENT_FEATURES]
    if topics_ok is False:
        candidates += [
            c for c in training.columns if c.startswith("topic_") or c == "top_negative_topic"
        ]
    return [c for c in candidates if training[c].isna().all()]


def train_churn_from_tables(
    tables: Mapping[str, pd.DataFrame],
    as_of_dates: Sequence[Any] | None = None,
    horizon_days: int = 90,
    *,
    engine: str = "duckdb",
    seed: int | None = None,
    n_trials: int = 8,
    force: bool = False,
    model_name: str = MODEL_NAME,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    source: str = "CRM tables",
    model_params: Mapping[str, Any] | None = None,
    log_plots: bool = True,
) -> ChurnTrainingResult:
    """Build the stacked training set with :func:`custsat.features.build_training_set` and train.

    ``as_of_dates`` defaults to :func:`default_as_of_dates`. Validation = latest snapshot.
    """
    from custsat.features import build_training_set

    dates = (
        list(as_of_dates) if as_of_dates is not None else default_as_of_dates(tables, horizon_days)
    )
    try:
        with warnings.catch_warnings():
            # "text models not run yet" warnings: handled below by unavailable_feature_columns.
            warnings.filterwarnings("ignore", message=r"feedback has no")
            training = build_training_set(
                dict(tables), dates, horizon_days=horizon_days, engine=engine
            )
    except Exception as exc:
        # The feature builder's own refusals (missing columns, point-in-time leakage) are data errors.
        if type(exc).__name__ in ("FeatureInputError", "LeakageError"):
            raise ChurnDataError(f"{source}: building the training set failed: {exc}") from exc
        raise
    unavailable = unavailable_feature_columns(training, tables)
    return train_churn_from_frame(
        training,
        exclude=unavailable,
        label=LABEL,
        id_column=ID_COLUMN,
        time_column=TIME_COLUMN,
        horizon_days=horizon_days,
        seed=seed,
        n_trials=n_trials,
        force=force,
        model_name=model_name,
        high_threshold=high_threshold,
        medium_threshold=medium_threshold,
        source=source,
        extra_tags={
            "as_of_dates": ",".join(str(pd.Timestamp(d).date()) for d in dates),
            "unavailable_features": ",".join(unavailable) or "none",
        },
        model_params=model_params,
        log_plots=log_plots,
    )


def train_churn_from_table(
    path: str | Path,
    label: str,
    id_column: str | None = None,
    test_size: float = 0.25,
    seed: int | None = None,
    *,
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    n_trials: int = 8,
    force: bool = False,
    model_name: str | None = None,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    time_column: str | None = None,
    cv_folds: int = 5,
) -> ChurnTrainingResult:
    """Train from a prepared customer table (csv/parquet/xlsx), one row per customer.

    Stratified ``test_size`` split (seeded) unless ``time_column`` names a snapshot column,
    then by time. ``model_name`` defaults to ``custsat-churn-<file stem>`` so that a model on
    another schema never competes with the CRM champion ``custsat-churn``.
    """
    from custsat.data.io import read_table
    from custsat.tracking import fingerprint_files

    path = Path(path)
    frame = read_table(path)
    return train_churn_from_frame(
        frame,
        label=label,
        id_column=id_column,
        time_column=time_column,
        test_size=test_size,
        seed=seed,
        exclude=exclude,
        categorical=categorical,
        n_trials=n_trials,
        force=force,
        model_name=model_name or f"{MODEL_NAME}-{_slug(path.stem)}",
        high_threshold=high_threshold,
        medium_threshold=medium_threshold,
        source=str(path),
        cv_folds=cv_folds,
        extra_tags={"table": str(path), "table_fingerprint": fingerprint_files(path)},
    )


def score_churn(
    features: pd.DataFrame,
    *,
    model_name: str = MODEL_NAME,
    high_threshold: float | None = None,
    medium_threshold: float | None = None,
    top_k: int | None = None,
) -> pd.DataFrame:
    """Score a feature frame with the registered champion; refuses a mismatched schema.

    Returns the champion's output (``churn_probability``, ``risk_tier``, reasons) with the
    input's index, plus ``churn_model_version``.
    """
    from custsat import tracking

    model, version = tracking.load_champion(model_name)
    input_names = model.metadata.get_input_schema().input_names()
    missing = [c for c in input_names if c not in features.columns]
    if missing:
        raise ChurnDataError(
            f"features do not match the schema of {model_name} v{version}: missing column(s) {missing}"
        )
    params: dict[str, Any] = {}
    if high_threshold is not None:
        params["high_threshold"] = float(high_threshold)
    if medium_threshold is not None:
        params["medium_threshold"] = float(medium_threshold)
    if top_k:
        params["top_k"] = int(top_k)
    X = signature_frame(features, input_names)
    out = model.predict(X, params=params or None)
    out.index = features.index
    out["churn_model_version"] = version
    return out
