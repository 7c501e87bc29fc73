"""Churn training runs: fit on a training frame, compare, then log and register in one place.

:func:`fit_churn` is pure: it validates and splits the frame, fits the LightGBM model and the
logistic-regression baseline, and scores both on the validation rows. :func:`register_churn`
logs that fit to MLflow (experiment ``custsat-churn``), scores the current champion on the
same validation rows and applies the champion/challenger rule. Data checks run before any
run is opened: refused input registers nothing.

Every run registers a new version (pyfunc; signature inferred on the feature frame, with
integers widened to float). The candidate becomes champion only if ``(AUC, -Brier)`` on the
validation rows is strictly higher than the champion's (``force`` overrides, recorded). A
champion that cannot read the new rows (columns missing) cannot serve them either: the
comparison is recorded as impossible and the candidate is promoted.

Prepared tables register under ``custsat-churn-<file stem>`` by default so that a model on
another schema (Telco) never competes with the CRM champion ``custsat-churn``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from custsat import tracking
from custsat.models.churn.baseline import LogisticChurnModel
from custsat.models.churn.encoding import make_linear_baseline
from custsat.models.churn.estimator import ChurnModel
from custsat.models.churn.labels import (
    ID_COLUMN,
    LABEL,
    TIME_COLUMN,
    ChurnDataError,
    PreparedFrame,
    SnapshotSplit,
    check_classes,
    default_as_of_dates,
    prepare_training_frame,
    split_by_time,
    split_stratified,
    unavailable_feature_columns,
)
from custsat.models.churn.pyfunc import ChurnPyfunc, churn_signature, signature_frame
from custsat.models.churn.tiers import DEFAULT_HIGH_THRESHOLD, DEFAULT_MEDIUM_THRESHOLD, score_frame
from custsat.models.drift import build_reference
from custsat.models.metrics import binary_metrics
from custsat.models.registry import CHURN_MODEL, Comparison, GateDecision, apply_decision, gate

FAMILY = "churn"
REASONS_PARAMS = {"high_threshold": DEFAULT_HIGH_THRESHOLD, "medium_threshold": DEFAULT_MEDIUM_THRESHOLD,
                  "top_k": 0, "reasons": "all"}


@dataclass(frozen=True)
class ChurnTrainingPlan:
    """How one churn model is trained: the frame's columns, the split and the search.

    With ``time_column`` (and ≥ 2 snapshots) the split is by time; without it a stratified
    ``test_size`` split, and the hyperparameter search compares candidates by ``cv_folds``-fold
    CV on the training part. ``n_trials`` extra seeded LightGBM configurations are tried.
    """

    label: str = LABEL
    id_column: str | None = ID_COLUMN
    time_column: str | None = TIME_COLUMN
    horizon_days: int | None = None
    test_size: float = 0.25
    seed: int | None = None  # None: the project seed (CUSTSAT_SEED)
    exclude: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    n_trials: int = 8
    cv_folds: int = 5
    high_threshold: float = DEFAULT_HIGH_THRESHOLD
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD
    model_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ChurnFit:
    """A fitted churn model, its baseline and their validation scores (nothing logged yet)."""

    plan: ChurnTrainingPlan
    prepared: PreparedFrame
    split: SnapshotSplit
    model: ChurnModel
    baseline: Pipeline
    metrics: dict[str, float]
    scores: dict[str, np.ndarray]
    validation: pd.DataFrame


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
    gate: GateDecision | None = None
    served_version: str | None = None


def resolve_plan(plan: ChurnTrainingPlan | None = None, **options: Any) -> ChurnTrainingPlan:
    """``plan`` with ``options`` (any :class:`ChurnTrainingPlan` field) replaced; a missing or
    ``None`` seed is the project's (``CUSTSAT_SEED``)."""
    from custsat.config import get_settings

    fields = {**(plan.__dict__ if plan is not None else {}), **options}
    if fields.get("seed") is None:
        fields["seed"] = get_settings().seed
    for name in ("exclude", "categorical"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return ChurnTrainingPlan(**fields)


# --------------------------------------------------------------------------- fit (pure)


def split_training_frame(prepared: PreparedFrame, plan: ChurnTrainingPlan, source: str) -> SnapshotSplit:
    """The split the plan asks for, refused when a part lacks a class or a feature is empty."""
    if plan.time_column is not None:
        split = split_by_time(prepared, plan.horizon_days)
    else:
        split = split_stratified(prepared, plan.test_size, plan.seed)
    check_classes(split, plan.label)
    empty_in_train = [c for c in prepared.features if split.train[c].isna().all()]
    if empty_in_train:
        raise ChurnDataError(f"{source}: feature column(s) {empty_in_train} are entirely null in the training part")
    return split


def fit_churn(frame: pd.DataFrame, plan: ChurnTrainingPlan, *, source: str = "training data",
              on_trial: Callable[[int, int], None] | None = None) -> ChurnFit:
    """Validate and split ``frame``, fit LightGBM and the LR baseline, score the validation rows."""
    plan = resolve_plan(plan)
    prepared = prepare_training_frame(frame, label=plan.label, id_column=plan.id_column,
                                      time_column=plan.time_column, exclude=plan.exclude, source=source)
    split = split_training_frame(prepared, plan, source)
    features, label = prepared.features, plan.label
    model = ChurnModel(
        seed=plan.seed, n_trials=plan.n_trials, categorical=list(plan.categorical),
        # K-fold selection only without snapshots (it would mix a customer's snapshots).
        cv_folds=plan.cv_folds if plan.time_column is None else 0, **dict(plan.model_params),
    )
    X_fold = split.fold[features] if split.fold is not None else None
    y_fold = split.fold[label].to_numpy() if split.fold is not None else None
    model.fit(split.train[features], split.train[label].to_numpy(), X_fold, y_fold, on_trial=on_trial)

    encoder = model.encoder_
    lr_rows = pd.concat([split.train, split.fold]) if split.fold is not None else split.train
    baseline = make_linear_baseline(encoder.numeric_, encoder.categorical_, seed=plan.seed)
    baseline.fit(encoder.transform(lr_rows[features]), lr_rows[label].to_numpy())

    X_valid, y_valid = split.valid[features], split.valid[label].to_numpy()
    scores = {
        "LightGBM calibrated": model.predict_proba(X_valid)[:, 1],
        "LightGBM uncalibrated": model.predict_raw_proba(X_valid),
        "logistic regression": baseline.predict_proba(encoder.transform(X_valid))[:, 1],
    }
    validation = pd.concat([
        split.valid[[c for c in (plan.id_column, plan.time_column, label) if c]],
        score_frame(model, X_valid, high_threshold=plan.high_threshold, medium_threshold=plan.medium_threshold),
    ], axis=1)
    metrics = validation_metrics(y_valid, scores, model, n_train_rows=len(split.train))
    return ChurnFit(plan, prepared, split, model, baseline, metrics, scores, validation)


def validation_metrics(y_valid: np.ndarray, scores: Mapping[str, np.ndarray], model: ChurnModel,
                       *, n_train_rows: int) -> dict[str, float]:
    """Metrics of the calibrated model (``val_``), the raw one (``val_raw_``) and LR (``val_lr_``)."""
    from custsat.models import metrics as m

    prefixes = {"LightGBM calibrated": "val_", "LightGBM uncalibrated": "val_raw_", "logistic regression": "val_lr_"}
    out: dict[str, float] = {}
    for name, prefix in prefixes.items():
        out.update(binary_metrics(y_valid, scores[name], prefix=prefix))
    for name, prefix in prefixes.items():
        out[f"{prefix}ece"] = m.expected_calibration_error(y_valid, scores[name])
    # LightGBM must beat LR on these rows; the interval says whether the margin is more than noise
    vs_lr = m.paired_auc_difference(y_valid, scores["LightGBM calibrated"], scores["logistic regression"])
    out.update({"val_roc_auc_minus_lr": vs_lr["difference"], "val_roc_auc_minus_lr_ci_low": vs_lr["ci_low"],
                "val_roc_auc_minus_lr_ci_high": vs_lr["ci_high"]})
    out.update({**model.holdout_metrics_, "best_iteration": float(model.best_iteration_),
                "n_train_rows": float(n_train_rows), "n_features": float(len(model.feature_names_))})
    return out


# --------------------------------------------------------------------------- log and register


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def run_params(fit: ChurnFit, force: bool) -> dict[str, Any]:
    plan, model = fit.plan, fit.model
    return {
        "label": plan.label,
        "id_column": plan.id_column or "none",
        "time_column": plan.time_column or "none",
        "horizon_days": plan.horizon_days if plan.horizon_days is not None else "none",
        "seed": plan.seed,
        "n_trials": plan.n_trials,
        "cv_folds": model.cv_folds,
        "calibration": model.calibration_method_,
        "high_threshold": plan.high_threshold,
        "medium_threshold": plan.medium_threshold,
        "force": force,
        **{f"split_{k}": v for k, v in fit.split.description.items()},
        **{f"lgbm_{k}": v for k, v in model.best_params_.items()},
    }


def log_plots(fit: ChurnFit) -> None:
    """ROC, PR, calibration, gains and contribution-summary figures of the validation rows."""
    from custsat.models import metrics as m

    y = fit.split.valid[fit.plan.label].to_numpy()
    X_valid = fit.split.valid[fit.prepared.features]
    figures = {
        "plots/roc.png": m.plot_roc(y, fit.scores, title="ROC (validation)"),
        "plots/pr.png": m.plot_pr(y, fit.scores, title="Precision-recall (validation)"),
        "plots/calibration.png": m.plot_calibration(y, fit.scores, title="Calibration (validation)"),
        "plots/gains.png": m.plot_gains(y, fit.scores, title="Cumulative gains (validation)"),
    }
    sample = X_valid.sample(n=2000, random_state=fit.plan.seed) if len(X_valid) > 2000 else X_valid
    contrib = fit.model.contributions(sample).drop(columns="bias")
    figures["plots/contributions_summary.png"] = m.plot_contribution_summary(
        contrib, fit.model.encoder_.transform(sample), title="Churn drivers (LightGBM contributions, validation)")
    for path, fig in figures.items():
        tracking.log_figure(fig, path)


def log_fit(fit: ChurnFit, *, plots: bool) -> None:
    """Metrics, the training summary, calibration tables and (optionally) figures of the active run."""
    from custsat.models import metrics as m

    tracking.log_metrics(fit.metrics)
    encoder = fit.model.encoder_
    tracking.log_dict({
        "features": fit.model.feature_names_,
        "categorical": encoder.categorical_,
        "dropped_columns": encoder.dropped_,
        "exclusions": fit.prepared.exclusions,
        "split": fit.split.description,
        "search": fit.model.search_results_,
    }, "training_summary.json")
    y_valid = fit.split.valid[fit.plan.label].to_numpy()
    for name, p in fit.scores.items():
        tracking.log_text(m.calibration_table(y_valid, p).to_csv(index=False), f"calibration/{_slug(name)}.csv")
    if plots:
        log_plots(fit)


def log_churn_pyfunc(fit: ChurnFit) -> str:
    """Log the pyfunc (with the training-time feature reference for drift); return its URI."""
    X_sig = signature_frame(fit.split.valid[fit.prepared.features], fit.model.feature_names_)
    pyfunc = ChurnPyfunc(fit.model, high_threshold=fit.plan.high_threshold,
                         medium_threshold=fit.plan.medium_threshold)
    # Training-time feature distributions travel with the model so scoring can report drift.
    # The latest (validation) snapshot is the reference: features that grow with calendar
    # time (tenure, recency) would otherwise drift against older snapshots by construction.
    pyfunc.feature_reference = build_reference(fit.split.valid[fit.model.feature_names_])
    example_out = pyfunc.predict(None, X_sig.head(20))
    params = {**REASONS_PARAMS, "high_threshold": fit.plan.high_threshold,
              "medium_threshold": fit.plan.medium_threshold}
    signature = churn_signature(X_sig, example_out, params)
    return tracking.log_pyfunc_model(pyfunc, signature=signature, input_example=X_sig.head(3))


def champion_validation_metrics(model_name: str, valid: pd.DataFrame,
                                y_valid: np.ndarray) -> tuple[dict[str, float] | None, str]:
    """Score the current champion on the validation rows (all their columns); (metrics, note).

    The champion picks its own input columns from its recorded signature. When it cannot
    score these rows (columns missing, types changed, unloadable) it returns (None, reason):
    a champion that cannot read the current features cannot serve them either.
    """
    if tracking.champion_version(model_name) is None:
        return None, "no champion yet"
    try:
        champion, version = tracking.load_champion(model_name)
        names = champion.metadata.get_input_schema().input_names()
        missing = [c for c in names if c not in valid.columns]
        if missing:
            return None, f"champion v{version} cannot score the validation rows: missing column(s) {missing[:10]}"
        predicted = champion.predict(signature_frame(valid, names))
        p = np.asarray(predicted["churn_probability"], dtype=float)
        return binary_metrics(y_valid, p), f"champion v{version} scored on the same validation rows"
    except Exception as exc:  # noqa: BLE001 - schema mismatch or unloadable model: it cannot serve these features
        return None, f"champion could not score the validation rows ({type(exc).__name__}: {str(exc)[:300]})"


def churn_comparisons(metrics: Mapping[str, float], champion: Mapping[str, float] | None,
                      champion_label: str) -> list[Comparison]:
    """What a new churn model must beat: the logistic-regression baseline of its own run on
    ROC-AUC, and the current champion on ROC-AUC (Brier when the AUCs tie), on the same rows."""
    comparisons = [Comparison("validation ROC-AUC", "logistic regression (same run)",
                              metrics["val_roc_auc"], metrics["val_lr_roc_auc"])]
    if champion is not None:
        if metrics["val_roc_auc"] == champion["roc_auc"]:
            comparisons.append(Comparison("validation Brier (ROC-AUC tied)", champion_label, metrics["val_brier"],
                                          champion["brier"], higher_is_better=False))
        else:
            comparisons.append(Comparison("validation ROC-AUC", champion_label, metrics["val_roc_auc"],
                                          champion["roc_auc"]))
    return comparisons


def log_baseline_pyfunc(fit: ChurnFit) -> str:
    """The logistic-regression baseline as the same pyfunc (probability, tier, reasons)."""
    X_sig = signature_frame(fit.split.valid[fit.prepared.features], fit.model.feature_names_)
    baseline = LogisticChurnModel(fit.model.encoder_, fit.baseline)
    pyfunc = ChurnPyfunc(baseline, high_threshold=fit.plan.high_threshold, medium_threshold=fit.plan.medium_threshold)
    pyfunc.feature_reference = build_reference(fit.split.valid[fit.model.feature_names_])
    example_out = pyfunc.predict(None, X_sig.head(20))
    params = {**REASONS_PARAMS, "high_threshold": fit.plan.high_threshold,
              "medium_threshold": fit.plan.medium_threshold}
    return tracking.log_pyfunc_model(pyfunc, name="baseline_model", signature=churn_signature(X_sig, example_out, params),
                                     input_example=X_sig.head(3))


def register_churn(
    fit: ChurnFit,
    *,
    model_name: str = CHURN_MODEL,
    force: bool = False,
    source: str = "training data",
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    log_plots: bool = True,
) -> ChurnTrainingResult:
    """Log ``fit`` as a run of ``custsat-churn``, register it and apply the quality gate.

    The LightGBM model becomes champion when it beats the run's logistic regression and the
    current champion (:func:`churn_comparisons`). When there is no champion yet and it loses,
    the logistic regression is registered too and serves as champion (tagged ``baseline``):
    scoring never runs on a model worse than the simple one.
    """
    tags = {"source": source[:250], "model_name": model_name, **(extra_tags or {})}
    with tracking.start_run(FAMILY, run_name=run_name, data_fingerprint=tracking.fingerprint_frames(fit.prepared.frame),
                            tags=tags, params=run_params(fit, force)) as run:
        log_fit(fit, plots=log_plots)
        uri = log_churn_pyfunc(fit)
        y_valid = fit.split.valid[fit.plan.label].to_numpy()
        had_champion = tracking.champion_version(model_name)
        champion_metrics, note = champion_validation_metrics(
            model_name, fit.split.valid.drop(columns=[fit.plan.label]), y_valid)
        version = tracking.register_model(uri, model_name)
        tracking.set_version_tag(model_name, version, "model_kind", "lightgbm")
        if champion_metrics is not None:
            tracking.log_metrics({f"champion_val_{k}": v for k, v in champion_metrics.items()})
        tracking.set_tags({"champion_comparison": note[:500]})
        decision = gate(churn_comparisons(fit.metrics, champion_metrics, f"champion v{had_champion}"), force=force)
        apply_decision(model_name, version, decision)
        served = version
        if decision.alias != tracking.CHAMPION and had_champion is None:
            served = tracking.register_model(log_baseline_pyfunc(fit), model_name)
            tracking.set_version_tag(model_name, served, "model_kind", "logistic_regression")
            tracking.set_version_tag(model_name, served, "baseline", "true")
            apply_decision(model_name, served, GateDecision(tracking.CHAMPION, False, False, (
                "no champion yet and LightGBM lost to the logistic-regression baseline: the baseline serves",
                *decision.reasons)))
        tracking.set_tags({"model_version": version, "served_version": served})
        run_id = run.info.run_id
    return ChurnTrainingResult(
        run_id=run_id, model_name=model_name, model_version=version, decision=decision.alias, metrics=fit.metrics,
        champion_metrics=champion_metrics, model=fit.model, baseline=fit.baseline, validation=fit.validation,
        split=fit.split.description, gate=decision, served_version=served,
    )


def train_churn_from_frame(
    frame: pd.DataFrame,
    plan: ChurnTrainingPlan | None = None,
    *,
    model_name: str = CHURN_MODEL,
    force: bool = False,
    source: str = "training data",
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    log_plots: bool = True,
    on_trial: Callable[[int, int], None] | None = None,
    **plan_options: Any,
) -> ChurnTrainingResult:
    """:func:`fit_churn` then :func:`register_churn`; ``plan_options`` override fields of ``plan``;
    ``on_trial(done, total)`` reports the search's progress."""
    fit = fit_churn(frame, resolve_plan(plan, **plan_options), source=source, on_trial=on_trial)
    return register_churn(fit, model_name=model_name, force=force, source=source, run_name=run_name,
                          extra_tags=extra_tags, log_plots=log_plots)


# --------------------------------------------------------------------------- entry points


def build_churn_training_set(
    tables: Mapping[str, pd.DataFrame], as_of_dates: Sequence[Any] | None, horizon_days: int, *,
    engine: str = "duckdb", source: str = "CRM tables",
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Stacked snapshots of :func:`custsat.features.build_training_set` (default dates: 4 snapshots)."""
    from custsat.features import build_training_set
    from custsat.features.builder import FeatureInputError, LeakageError

    dates = list(as_of_dates) if as_of_dates is not None else default_as_of_dates(tables, horizon_days)
    try:
        with warnings.catch_warnings():
            # "text models not run yet" warnings: handled by unavailable_feature_columns.
            warnings.filterwarnings("ignore", message=r"feedback has no")
            training = build_training_set(dict(tables), dates, horizon_days=horizon_days, engine=engine)
    except (FeatureInputError, LeakageError) as exc:
        raise ChurnDataError(f"{source}: building the training set failed: {exc}") from exc
    return training, [pd.Timestamp(d) for d in dates]


def train_churn_from_tables(
    tables: Mapping[str, pd.DataFrame],
    as_of_dates: Sequence[Any] | None = None,
    horizon_days: int = 90,
    *,
    plan: ChurnTrainingPlan | None = None,
    engine: str = "duckdb",
    force: bool = False,
    model_name: str = CHURN_MODEL,
    source: str = "CRM tables",
    log_plots: bool = True,
    on_trial: Callable[[int, int], None] | None = None,
    **plan_options: Any,
) -> ChurnTrainingResult:
    """Train on stacked point-in-time snapshots of the CRM tables; validation = latest snapshot.

    Feature families the data cannot have yet (text models not run) are left out and recorded.
    """
    training, dates = build_churn_training_set(tables, as_of_dates, horizon_days, engine=engine, source=source)
    unavailable = unavailable_feature_columns(training, tables)
    # built features that are empty in every snapshot say the company has no such events yet
    # (no complaint ever: no days_since_last_negative); they cannot inform the model
    empty = [c for c in training.columns if c not in unavailable and c not in (LABEL, ID_COLUMN, TIME_COLUMN)
             and training[c].isna().all()]
    unavailable = [*unavailable, *empty]
    plan = resolve_plan(plan, **plan_options, label=LABEL, id_column=ID_COLUMN, time_column=TIME_COLUMN,
                        horizon_days=horizon_days, exclude=tuple(unavailable))
    return train_churn_from_frame(
        training, plan, force=force, model_name=model_name, source=source, log_plots=log_plots, on_trial=on_trial,
        extra_tags={"as_of_dates": ",".join(str(d.date()) for d in dates),
                    "unavailable_features": ",".join(unavailable) or "none"},
    )


def train_churn_from_table(
    path: str | Path,
    plan: ChurnTrainingPlan | None = None,
    *,
    force: bool = False,
    model_name: str | None = None,
    on_trial: Callable[[int, int], None] | None = None,
    **plan_options: Any,
) -> ChurnTrainingResult:
    """Train from a prepared customer table (csv/parquet/xlsx), one row per customer.

    ``model_name`` defaults to ``custsat-churn-<file stem>`` so that a model on another schema
    never competes with the CRM champion ``custsat-churn``.
    """
    from custsat.data.io import read_table

    path = Path(path)
    frame = read_table(path)
    plan = plan or ChurnTrainingPlan(id_column=None, time_column=None)  # one row per customer, no snapshots
    return train_churn_from_frame(
        frame, resolve_plan(plan, **plan_options), force=force,
        model_name=model_name or f"{CHURN_MODEL}-{_slug(path.stem)}", source=str(path), on_trial=on_trial,
        extra_tags={"table": str(path), "table_fingerprint": tracking.fingerprint_files(path)},
    )


def train_churn_on_crm(
    data_dir: Path | None,
    *,
    plan: ChurnTrainingPlan,
    as_of_dates: Sequence[Any] | None = None,
    horizon_days: int = 90,
    n_customers: int = 5000,
    force: bool = False,
    model_name: str = CHURN_MODEL,
    echo=print,
    on_trial: Callable[[int, int], None] | None = None,
) -> ChurnTrainingResult:
    """The CRM demo path of ``custsat train churn``: tables from ``data_dir`` (default
    data/raw/synthetic; generated in memory when that folder holds no tables), feedback
    labelled by the text champions when there are any, then :func:`train_churn_from_tables`."""
    from custsat.data.catalog import load_training_tables
    from custsat.models.text.served import with_text_labels

    tables, description = load_training_tables(data_dir, n_customers=n_customers, seed=plan.seed)
    echo(f"CRM data: {description}")
    tables, note = with_text_labels(tables)
    echo(note)
    return train_churn_from_tables(tables, as_of_dates, horizon_days, plan=plan, force=force,
                                   model_name=model_name, source=description, on_trial=on_trial)
