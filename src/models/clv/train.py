"""Train, validate, log and register the CLV model (``custsat-clv``) behind the quality gate.

Validation uses the user's own data: every model is fitted on what was known at
``as_of − validation_days`` and scored on each customer's realised spend in the following
``validation_days`` (the latest window before ``as_of``), with the metrics of the evaluation
protocol (:mod:`.protocol`: RMSE, Spearman, total error, coverage, …), all in one MLflow run.
The candidate (the survival CLV) must beat BG/NBD + Gamma-Gamma on RMSE and on Spearman, and
the current champion — its configuration refitted on the same window — likewise
(:func:`custsat.models.registry.gate`). The registered model is then refitted on everything
up to ``as_of``.

The champion's lifetime takes the satisfaction features known for at least half of the
customers at the validation cut-off as AFT covariates (:func:`lifetime_covariates`).

When there is no champion yet and the candidate loses, the better of the two structural
baselines (BG/NBD + GG, Pareto/NBD + GG, by validation RMSE) is fitted, registered and made
champion, tagged ``clv_kind=<baseline>`` and ``baseline=true``; the candidate stays challenger.
Scoring always has a model, and it is the best one the data support.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.config import cpu_threads, get_settings
from custsat.data.catalog import load_validated_folder
from custsat.models.registry import CLV_MODEL, Comparison, GateDecision, apply_decision, gate

from .baselines import bgnbd_gg, pareto_nbd_gg
from .crm_tables import SATISFACTION_FEATURES, satisfaction_source
from .estimator import SurvivalCLV, build_scoring_frame
from .lifetime import lifetime_family
from .protocol import CHAMPION, EvaluationData, Split, SplitResult, evaluate_split
from .survival_nbd import SurvivalNBD

BASELINES = ("bgnbd_gg", "pareto_nbd_gg")
GATE_METRICS = (("rmse", False), ("spearman", True))  # (metric, higher is better)
CONFIG_TAG = "clv_config"


def make_clv_model(kind: str, *, horizon_days: float | None = None, lifetime: str = "pareto2_aft",
                   lifetime_covariates: tuple[str, ...] | list[str] = (), horizon_months: int = 12,
                   discount_rate: float = 0.01, margin: float = 1.0, seed: int = 0, n_threads: int = 1) -> SurvivalCLV:
    """The CLV model of ``kind`` (``survival_clv``, ``bgnbd_gg``, ``pareto_nbd_gg``), unfitted."""
    common = {"horizon_months": horizon_months, "discount_rate": discount_rate, "margin": margin}
    if kind == CHAMPION:
        lifetime_family(lifetime)
        return SurvivalCLV(purchase_model=SurvivalNBD(lifetime=lifetime, covariates=tuple(lifetime_covariates)),
                           horizon_days=horizon_days, seed=seed, n_threads=n_threads, **common)
    if kind == "bgnbd_gg":
        return bgnbd_gg(horizon_days, **common)
    if kind == "pareto_nbd_gg":
        return pareto_nbd_gg(horizon_days, **common)
    raise ValueError(f"unknown CLV model kind {kind!r}; choose one of {[CHAMPION, *BASELINES]}")


def validate_models(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, validation_days: int,
                    configs: dict[str, dict[str, Any]], *, n_boot: int = 100, seed: int = 0) -> SplitResult:
    """Fit every configuration at ``as_of − validation_days``; score the following window."""
    start = as_of - pd.Timedelta(days=validation_days)
    known = tables["transactions"][tables["transactions"]["timestamp"] < as_of + pd.Timedelta(days=1)]
    data = EvaluationData("validation", known, (Split(str(start.date()), str(as_of.date())),),
                          features=satisfaction_source(tables), contracts=tables.get("contracts"))
    models = {name: (lambda h, c=config: make_clv_model(horizon_days=h, **c)) for name, config in configs.items()}
    return evaluate_split(data, data.splits[0], models, reference="bgnbd_gg", n_boot=n_boot, seed=seed)


def gate_comparisons(validation: SplitResult, candidate: str, references: dict[str, str]) -> list[Comparison]:
    """Candidate vs each reference (label -> model name in ``validation``) on the gate metrics."""
    m = validation.metrics
    return [Comparison(metric, label, float(m.loc[candidate, metric]), float(m.loc[name, metric]), higher)
            for label, name in references.items() for metric, higher in GATE_METRICS]


def lifetime_covariates(tables: dict[str, pd.DataFrame], day: pd.Timestamp, min_share: float = 0.5) -> list[str]:
    """Satisfaction features known for at least ``min_share`` of the customers at ``day``: the
    covariates of the champion's lifetime (its AFT scale)."""
    source = satisfaction_source(tables)
    features = source(day) if source else None
    if features is None:
        return []
    share = features.drop(columns="customer_id").notna().mean()
    return [c for c in SATISFACTION_FEATURES if c in share.index and share[c] >= min_share]


def _champion_config() -> tuple[str | None, dict[str, Any] | None]:
    version = tracking.champion_version(CLV_MODEL)
    if version is None:
        return None, None
    raw = tracking.version_tags(CLV_MODEL, version).get(CONFIG_TAG)
    return version, (json.loads(raw) if raw else None)


def _log_model(estimator: SurvivalCLV, frame: pd.DataFrame, name: str) -> str:
    from .pyfunc import CLVPyfunc, model_input_example

    example = model_input_example(frame)
    output = CLVPyfunc(estimator).predict(None, example)
    signature = tracking.infer_signature(example, output)
    return tracking.log_pyfunc_model(CLVPyfunc(estimator), name=name, signature=signature, input_example=example)


def _register(uri: str, config: dict[str, Any], *, baseline: bool) -> str:
    version = tracking.register_model(uri, CLV_MODEL)
    tracking.set_version_tag(CLV_MODEL, version, CONFIG_TAG, json.dumps(config, sort_keys=True))
    tracking.set_version_tag(CLV_MODEL, version, "clv_kind", config["kind"])
    tracking.set_version_tag(CLV_MODEL, version, "baseline", str(baseline).lower())
    return version


def _fit_final(tables, as_of: pd.Timestamp, config: dict[str, Any]) -> tuple[SurvivalCLV, pd.DataFrame]:
    features = satisfaction_source(tables)
    known = tables["transactions"][tables["transactions"]["timestamp"] < as_of + pd.Timedelta(days=1)]
    estimator = make_clv_model(**config).fit(known, as_of, features, tables.get("contracts"))
    frame = build_scoring_frame(known, as_of, features(as_of) if features else None, tables.get("contracts"))
    return estimator, frame


def train_and_register(
    data_dir: str | Path | None = None,
    *,
    as_of: str | None = None,
    validation_days: int = 180,
    force: bool = False,
    register: bool = True,
    seed: int | None = None,
    n_threads: int | None = None,
    n_boot: int = 100,
    lifetime: str = "pareto2_aft",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> dict[str, Any]:
    """Validate (candidate, baselines, champion), refit, log to MLflow and register (see module doc)."""
    settings = get_settings()
    seed = settings.seed if seed is None else seed
    n_threads = cpu_threads() if n_threads is None else n_threads
    data_dir = Path(data_dir) if data_dir else settings.raw_dir / "synthetic"
    tables = load_validated_folder(data_dir)
    as_of_ts = pd.Timestamp(as_of).floor("D") if as_of else tables["transactions"]["timestamp"].max().floor("D")
    shared = {"horizon_months": horizon_months, "discount_rate": discount_rate, "margin": margin,
              "seed": seed, "n_threads": n_threads}
    covariates = lifetime_covariates(tables, as_of_ts - pd.Timedelta(days=validation_days))
    configs = {CHAMPION: {"kind": CHAMPION, "lifetime": lifetime, "lifetime_covariates": covariates, **shared},
               **{name: {"kind": name, **shared} for name in BASELINES}}
    champion_version, champion_config = _champion_config() if register else (None, None)
    if champion_config:
        configs["current_champion"] = {**champion_config, "seed": seed, "n_threads": n_threads}
    validation = validate_models(tables, as_of_ts, validation_days, configs, n_boot=n_boot, seed=seed)
    references = {"BG/NBD + GG": "bgnbd_gg"}
    if champion_config:
        references[f"champion v{champion_version}"] = "current_champion"
    decision = gate(gate_comparisons(validation, CHAMPION, references), force=force)

    fingerprint = tracking.fingerprint_frames(*(tables[k] for k in sorted(tables)))
    result: dict[str, Any] = {"as_of": str(as_of_ts.date()), "validation_window": validation.split.name,
                              "validation": validation.metrics, "reasons": decision.reasons}
    with tracking.start_run("clv", run_name="train-clv", data_fingerprint=fingerprint,
                            params={"as_of": str(as_of_ts.date()), "validation_days": validation_days,
                                    "data_dir": str(data_dir), "lifetime": lifetime, **shared}) as run:
        for model, row in validation.metrics.iterrows():
            tracking.log_metrics({f"val_{model}_{metric}": value for metric, value in row.items()})
        tracking.log_text(validation.differences.to_csv(index=False), "validation_differences.csv")
        estimator, frame = _fit_final(tables, as_of_ts, configs[CHAMPION])
        tracking.log_dict(estimator.summary(), "clv_model_summary.json")
        result.update({"run_id": run.info.run_id, "model_uri": _log_model(estimator, frame, "model")})
        if not register:
            return result
        version = _register(result["model_uri"], configs[CHAMPION], baseline=False)
        result.update({"version": version, "decision": apply_decision(CLV_MODEL, version, decision),
                       "served_version": version, "served_kind": CHAMPION})
        if champion_version is None and not (decision.passed or decision.forced):
            served = min(BASELINES, key=lambda name: float(validation.metrics.loc[name, "rmse"]))
            baseline, _ = _fit_final(tables, as_of_ts, configs[served])
            uri = _log_model(baseline, frame, "baseline_model")
            baseline_version = _register(uri, configs[served], baseline=True)
            # the best baseline serves until a model beats it
            apply_decision(CLV_MODEL, baseline_version, GateDecision(
                tracking.CHAMPION, False, False,
                (f"no champion yet and the candidate lost to BG/NBD + GG: serving the best baseline ({served}, "
                 "lowest validation RMSE)",),
            ))
            result.update({"served_version": baseline_version, "served_kind": served})
    return result
