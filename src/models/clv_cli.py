"""CLI for the survival CLV model: ``custsat train clv`` and ``custsat evaluate clv``.

The lead wires these functions (``train_clv``, ``evaluate_clv``) into the ``custsat`` app.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from custsat.models.clv.survival import MODELS

app = typer.Typer(help="Customer lifetime value (survival model vs BG/NBD).", no_args_is_help=True)


def _check_model(name: str) -> str:
    if name not in MODELS:
        raise typer.BadParameter(f"unknown survival model {name!r}; choose one of {sorted(MODELS)}")
    return name


@app.command("train")
def train_clv(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring date (default: last transaction day).")] = None,
    horizon_months: Annotated[int, typer.Option("--horizon-months", min=1, help="CLV horizon in months.")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", min=0.0, max=0.99, help="Monthly discount rate.")] = 0.01,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Gross margin applied to spend.")] = 1.0,
    model: Annotated[str, typer.Option("--model", callback=_check_model, help="pareto2_aft | weibull_aft | loglogistic_aft | coxph")] = "pareto2_aft",
    threshold_days: Annotated[float | None, typer.Option("--threshold-days", help="Inactivity gap that declares churn (default: 90th percentile of gaps).")] = None,
    validation_days: Annotated[int, typer.Option("--validation-days", min=7, help="Length of the validation window before as_of.")] = 90,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="CRM export folder (default: data/raw/synthetic).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote to champion even if not better.")] = False,
) -> None:
    """Fit the survival CLV model, log it to MLflow and register it as custsat-clv."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from custsat.models.clv.train import train_and_register

    result = train_and_register(
        data_dir, as_of=as_of, validation_days=validation_days, force=force, model=model,
        horizon_months=horizon_months, discount_rate=discount_rate, margin=margin,
        threshold_days=threshold_days,
    )
    keys = ["as_of", "model", "concordance", "aic", "threshold_days", "val_spend_mae",
            "val_total_spend_error_pct", "val_interval80_coverage", "version", "decision"]
    for key in keys:
        if key in result:
            value = result[key]
            typer.echo(f"{key:>28}: {value:.4g}" if isinstance(value, float) else f"{key:>28}: {value}")


@app.command("evaluate")
def evaluate_clv(
    calibration_end: Annotated[str, typer.Option("--calibration-end", help="Last day of the calibration period.")] = "1997-09-30",
    holdout_end: Annotated[str, typer.Option("--holdout-end", help="Last day of the holdout period.")] = "1998-06-30",
    sample: Annotated[bool, typer.Option("--sample", help="Only the 2,357-customer sample.")] = False,
    both: Annotated[bool, typer.Option("--both", help="Full data and the sample in one report.")] = False,
    model: Annotated[str, typer.Option("--model", callback=_check_model, help="pareto2_aft | weibull_aft | loglogistic_aft | coxph")] = "pareto2_aft",
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/).")] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log runs and decile plots to MLflow.")] = True,
    threshold_quantile: Annotated[float, typer.Option("--threshold-quantile", min=0.5, max=0.99, help="Quantile of inter-purchase gaps used as the churn threshold.")] = 0.9,
    em_iterations: Annotated[int, typer.Option("--em-iterations", min=0, help="0 = hard inactivity labels only; default refines them by EM.")] = 100,
) -> None:
    """CDNOW head-to-head: survival CLV vs BG/NBD + Gamma-Gamma (writes clv_cdnow.md/.csv)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from custsat.config import get_settings
    from custsat.data.fetch import load_cdnow
    from custsat.models.clv.evaluate import log_benchmark, run_cdnow_benchmark, write_report
    from custsat.tracking import fingerprint_frames

    datasets = [False, True] if both else [sample]
    results = []
    for is_sample in datasets:
        try:
            transactions = load_cdnow(sample=is_sample)["transactions"]
        except FileNotFoundError as exc:
            raise typer.BadParameter(f"CDNOW is not fetched ({exc}); run `make data` first") from exc
        label = "sample" if is_sample else "full"
        typer.echo(f"CDNOW {label}: fitting survival CLV ({model}) and BG/NBD + Gamma-Gamma ...")
        res = run_cdnow_benchmark(transactions, calibration_end=calibration_end, holdout_end=holdout_end,
                                  model=model, label=label,
                                  estimator_params={"threshold_quantile": threshold_quantile,
                                                    "em_iterations": em_iterations})
        typer.echo(res["table"].to_string(float_format=lambda v: f"{v:,.3f}"))
        if mlflow_log:
            log_benchmark(res, fingerprint_frames(transactions))
        results.append(res)
    out_dir = out or get_settings().project_dir / "reports"
    flags = " --both" if both else (" --sample" if sample else "")
    if threshold_quantile != 0.9:
        flags += f" --threshold-quantile {threshold_quantile}"
    if em_iterations != 100:
        flags += f" --em-iterations {em_iterations}"
    command = (
        f"custsat evaluate clv --calibration-end {calibration_end} --holdout-end {holdout_end}"
        f"{flags} --model {model}" + (f" --out {shlex.quote(str(out))}" if out else "")
    )
    paths = write_report(results, out_dir, command)
    typer.echo(f"wrote {paths['markdown']} and {paths['csv']}")
