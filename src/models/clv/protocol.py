"""The CLV evaluation protocol: several calibration/holdout splits, every baseline, bootstrap CIs.

For each dataset and split, every model is fitted on what was known at the calibration end
(purchases on or before that day, contracts as known then, satisfaction features computed as
of that day) and forecasts each customer's spend in the holdout ``(calibration end, holdout
end]``. All models score the same customers (everyone with a purchase by the calibration end)
against the same realised spend, with the metrics of :mod:`.metrics`, and every metric's
difference against BG/NBD + Gamma-Gamma gets a paired-bootstrap 95% interval.

Splits: CDNOW's customers were all acquired in the first quarter of 1997 and the data end on
1998-06-30, so three calibration ends (1997-06-30, 1997-09-30, 1997-12-31) fit holdouts of the
same length, six months (184, 182 and 181 days). The model defaults were chosen on the
earliest split only; the later splits, the 2,357-customer sample and the synthetic company
are reported untouched. The synthetic company is scored against its hidden future
(``truth/future_transactions``) over the twelve months after its export day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .baselines import AllZero, NaiveRecencyRule, ShiftedWindowGBM, bgnbd_gg, pareto_nbd_gg
from .estimator import FeatureSource, SurvivalCLV, _features_at, build_scoring_frame
from .metrics import PINBALL_LEVELS, Forecast, decile_table, paired_bootstrap, spend_metrics
from .purchase_history import holdout_actuals

CHAMPION = "survival_clv"
REFERENCE = "bgnbd_gg"
MODEL_LABELS = {
    "survival_clv": "survival CLV (Pareto/NBD lifetime × GG, learned P(buy))",
    "pareto_nbd_gg": "Pareto/NBD + Gamma-Gamma",
    "bgnbd_gg": "BG/NBD + Gamma-Gamma",
    "naive_recency": "naive recency rule",
    "gbm_window": "LightGBM on a shifted window",
    "all_zero": "all zero",
}


@dataclass(frozen=True)
class Split:
    """A calibration end and a holdout end (days, both inclusive)."""

    calibration_end: str
    holdout_end: str

    @property
    def horizon_days(self) -> float:
        return float((pd.Timestamp(self.holdout_end) - pd.Timestamp(self.calibration_end)).days)

    @property
    def name(self) -> str:
        return f"{self.calibration_end} → {self.holdout_end}"


CDNOW_SPLITS = (
    Split("1997-06-30", "1997-12-31"),
    Split("1997-09-30", "1998-03-31"),
    Split("1997-12-31", "1998-06-30"),
)


@dataclass(frozen=True)
class EvaluationData:
    """One dataset of the protocol: all transactions (calibration and holdout) and its splits."""

    name: str
    transactions: pd.DataFrame
    splits: tuple[Split, ...]
    features: FeatureSource = None
    contracts: pd.DataFrame | None = None
    note: str = ""


@dataclass
class SplitResult:
    dataset: str
    split: Split
    n_customers: int
    buyers_share: float
    metrics: pd.DataFrame  # model x metric
    differences: pd.DataFrame  # model, metric, difference, ci_low, ci_high (vs REFERENCE)
    deciles: dict[str, pd.DataFrame]
    seconds: dict[str, float]
    implied_coverage: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""


ModelFactory = Callable[[float], Any]


def default_models(seed: int = 0, n_threads: int = 1) -> dict[str, ModelFactory]:
    """The champion and every baseline, as ``horizon_days -> unfitted model`` factories."""
    return {
        CHAMPION: lambda h: SurvivalCLV(horizon_days=h, seed=seed, n_threads=n_threads),
        "pareto_nbd_gg": lambda h: pareto_nbd_gg(h),
        REFERENCE: lambda h: bgnbd_gg(h),
        "naive_recency": lambda h: NaiveRecencyRule(),
        "gbm_window": lambda h: ShiftedWindowGBM(horizon_days=h, seed=seed, n_threads=n_threads),
        "all_zero": lambda h: AllZero(),
    }


def cdnow_data(sample: bool = False) -> EvaluationData:
    """CDNOW full (23,570 customers) or its 2,357-customer sample with the three splits."""
    from custsat.data.fetch import load_cdnow

    transactions = load_cdnow(sample=sample)["transactions"]
    return EvaluationData("CDNOW sample" if sample else "CDNOW full", transactions, CDNOW_SPLITS)


def synthetic_data(data_dir: str | Path, horizon_days: int = 365) -> EvaluationData:
    """The synthetic company written by ``custsat data synth`` against its hidden future spend."""
    from custsat.data.synth import read_crm

    from .crm_tables import satisfaction_source

    crm = read_crm(data_dir)
    if "future_transactions" not in crm.truth:
        raise FileNotFoundError(f"{data_dir} has no truth/future_transactions.parquet; rerun `custsat data synth`")
    tables = dict(crm.tables)
    transactions = pd.concat([tables["transactions"], crm.truth["future_transactions"]], ignore_index=True)
    # the export holds events up to as_of (midnight); the last complete day is the day before
    calibration_end = (crm.as_of - pd.Timedelta(microseconds=1)).floor("D")
    future_days = int((pd.Timestamp(crm.meta["horizon_end"]) - calibration_end).days)
    holdout_end = calibration_end + pd.Timedelta(days=min(horizon_days, future_days))
    split = Split(str(calibration_end.date()), str(holdout_end.date()))
    return EvaluationData("synthetic company", transactions, (split,), features=satisfaction_source(tables),
                          contracts=tables.get("contracts"),
                          note="holdout = the generator's hidden future purchases (truth/future_transactions)")


def _forecast(model: Any, frame: pd.DataFrame, horizon: float) -> tuple[Forecast, dict[str, float]]:
    point, dist = model.forecast(frame, horizon)
    if dist is None:
        return Forecast(np.asarray(point, dtype=float)), {}
    low, high = dist.interval(0.8)
    quantiles = {level: dist.quantile(level) for level in PINBALL_LEVELS}
    mass = dist.interval_mass(low, high)
    implied = {"coverage": float(mass.mean()),
               # model-implied coverage among buyers: P(S > 0 and S in the interval) / P(S > 0)
               "coverage_buyers": float((mass - (low <= 0) * (1 - dist.p_buy)).sum() / dist.p_buy.sum())}
    return Forecast(np.asarray(point, dtype=float), quantiles, (low, high)), implied


def evaluate_split(data: EvaluationData, split: Split, models: Mapping[str, ModelFactory], *,
                   reference: str = REFERENCE, n_boot: int = 200, seed: int = 0) -> SplitResult:
    """Fit every model at the split's calibration end and score it on the holdout."""
    cal, hold = pd.Timestamp(split.calibration_end), pd.Timestamp(split.holdout_end)
    if hold <= cal:
        raise ValueError(f"holdout end {hold.date()} must be after calibration end {cal.date()}")
    last = data.transactions["timestamp"].max().floor("D")
    if last < hold:
        raise ValueError(f"{data.name}: transactions end on {last.date()}, before the holdout end {hold.date()}")
    known = data.transactions[data.transactions["timestamp"] < cal + pd.Timedelta(days=1)]
    frame = build_scoring_frame(known, cal, _features_at(data.features, cal), data.contracts)
    actual = holdout_actuals(data.transactions, cal, hold, frame.index)
    spend, bought = actual["spend"].to_numpy(), actual["purchases"].to_numpy() > 0
    horizon = split.horizon_days
    forecasts, seconds, implied = {}, {}, {}
    for name, make in models.items():
        started = time.perf_counter()
        model = make(horizon).fit(known, cal, data.features, data.contracts)
        forecasts[name], implied_cov = _forecast(model, frame, horizon)
        seconds[name] = time.perf_counter() - started
        if implied_cov:
            implied[name] = implied_cov
    metrics = pd.DataFrame({name: spend_metrics(spend, f, bought) for name, f in forecasts.items()}).T
    differences = paired_bootstrap(spend, forecasts, reference, n_boot=n_boot, seed=seed,
                                   metric_fn=lambda y, f: spend_metrics(y, f, y > 0))
    deciles = {name: decile_table(spend, f.point) for name, f in forecasts.items()}
    return SplitResult(data.name, split, len(frame), float(bought.mean()), metrics, differences, deciles,
                       seconds, implied, data.note)


def evaluate_clv_protocol(datasets: Sequence[EvaluationData], *, models: Mapping[str, ModelFactory] | None = None,
                          reference: str = REFERENCE, n_boot: int = 200, seed: int = 0,
                          n_threads: int = 1) -> list[SplitResult]:
    """Every split of every dataset (see module doc); ``models`` default to :func:`default_models`."""
    models = models or default_models(seed, n_threads)
    if reference not in models:
        raise ValueError(f"the reference model {reference!r} is not among the models {sorted(models)}")
    return [evaluate_split(data, split, models, reference=reference, n_boot=n_boot, seed=seed)
            for data in datasets for split in data.splits]


def target_checks(result: SplitResult, champion: str = CHAMPION) -> dict[str, bool]:
    """The champion's targets on one split (issue #16)."""
    m, d = result.metrics, result.differences.set_index(["model", "metric"])

    def significant(metric: str, better_if_positive: bool) -> bool:
        row = d.loc[(champion, metric)]
        return bool(row["ci_low"] > 0) if better_if_positive else bool(row["ci_high"] < 0)

    out = {
        "RMSE below BG/NBD (CI excludes 0)": significant("rmse", False),
        "Spearman above BG/NBD (CI excludes 0)": significant("spearman", True),
        "Spearman ≥ naive": bool(m.loc[champion, "spearman"] >= m.loc["naive_recency", "spearman"]),
        "top-10% capture ≥ naive": bool(m.loc[champion, "top10_capture"] >= m.loc["naive_recency", "top10_capture"]),
        "total error within ±10%": bool(abs(m.loc[champion, "total_error_pct"]) <= 10),
        "80% coverage in [0.75, 0.85]": bool(0.75 <= m.loc[champion, "coverage"] <= 0.85),
        "coverage of buyers ≥ 0.60": bool(m.loc[champion, "coverage_buyers"] >= 0.60),
    }
    return out


DATASETS = ("full", "sample", "synthetic")


def load_evaluation_data(names: Sequence[str], synthetic_dir: str | Path | None = None) -> list[EvaluationData]:
    """The protocol's datasets by name: ``full`` / ``sample`` (CDNOW) and ``synthetic``."""
    unknown = set(names) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown dataset(s) {sorted(unknown)}; choose from {list(DATASETS)}")
    out = []
    for name in names:
        if name == "synthetic":
            if synthetic_dir is None:
                from custsat.config import get_settings

                synthetic_dir = get_settings().raw_dir / "synthetic"
            out.append(synthetic_data(synthetic_dir))
        else:
            out.append(cdnow_data(sample=name == "sample"))
    return out


def log_protocol(results: list[SplitResult], paths: Mapping[str, Path], data_fingerprint: str) -> str:
    """Log every metric, the fit + predict times and the report as one MLflow run (custsat-clv)."""
    from custsat import tracking

    fingerprint = data_fingerprint
    with tracking.start_run("clv", run_name="evaluate-clv", data_fingerprint=fingerprint,
                            tags={"purpose": "evaluation"}) as run:
        for r in results:
            key = f"{r.dataset.split()[-1]}_{r.split.calibration_end}"
            tracking.log_metrics({f"{key}_{model}_{metric}": value for model, row in r.metrics.iterrows()
                                  for metric, value in row.items()})
            tracking.log_metrics({f"{key}_{model}_fit_predict_seconds": s for model, s in r.seconds.items()})
        for path in paths.values():
            tracking.log_artifact(path, "report")
        return run.info.run_id


def run_clv_evaluation(datasets: Sequence[str] = DATASETS, *, synthetic_dir: str | Path | None = None,
                       out_dir: str | Path | None = None, n_boot: int = 200, seed: int = 0, n_threads: int = 1,
                       log_to_mlflow: bool = True, command: str = "custsat evaluate clv") -> dict[str, Any]:
    """Run the protocol on ``datasets``, write the report and (optionally) log it to MLflow."""
    from .report import write_clv_report

    if out_dir is None:
        from custsat.config import get_settings

        out_dir = get_settings().project_dir / "reports"
    data = load_evaluation_data(datasets, synthetic_dir)
    results = evaluate_clv_protocol(data, n_boot=n_boot, seed=seed, n_threads=n_threads)
    paths = write_clv_report(results, out_dir, command, n_boot=n_boot)
    run_id = None
    if log_to_mlflow:
        from custsat import tracking

        run_id = log_protocol(results, paths, tracking.fingerprint_frames(*(d.transactions for d in data)))
    return {"results": results, "paths": paths, "run_id": run_id}
