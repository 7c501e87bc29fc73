"""CLI for customer lifetime value: ``custsat train clv`` and ``custsat evaluate clv``.

Thin commands: parse options, call one library function, print.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from custsat.models.clv.lifetime import LIFETIME_FAMILIES

app = typer.Typer(help="Customer lifetime value (survival CLV vs BG/NBD + Gamma-Gamma).", no_args_is_help=True)


def _check_lifetime(name: str) -> str:
    if name not in LIFETIME_FAMILIES:
        raise typer.BadParameter(f"unknown lifetime model {name!r}; choose one of {sorted(LIFETIME_FAMILIES)}")
    return name


@app.command("train")
def train_clv(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring day (default: the last transaction day).")] = None,
    horizon_months: Annotated[int, typer.Option("--horizon-months", min=1, help="CLV horizon in months.")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", min=0.0, max=0.99, help="Monthly discount rate.")] = 0.01,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Gross margin applied to spend.")] = 1.0,
    lifetime: Annotated[str, typer.Option("--lifetime", callback=_check_lifetime, help="pareto2_aft | weibull_aft | loglogistic_aft")] = "pareto2_aft",
    validation_days: Annotated[int, typer.Option("--validation-days", min=28, help="Length of the validation window before as_of (days).")] = 180,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="CRM export folder (default: data/raw/synthetic).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote to champion even if the gate is not passed.")] = False,
) -> None:
    """Validate against the baselines, fit, log to MLflow and register custsat-clv (quality gate)."""
    from custsat.models.clv.train import train_and_register

    result = train_and_register(data_dir, as_of=as_of, validation_days=validation_days, force=force,
                                lifetime=lifetime, horizon_months=horizon_months, discount_rate=discount_rate,
                                margin=margin)
    for key in ("as_of", "validation_window", "version", "decision", "served_version", "served_kind"):
        if key in result:
            typer.echo(f"{key:>22}: {result[key]}")
    typer.echo(result["validation"].to_string(float_format=lambda v: f"{v:,.3f}"))
    for reason in result.get("reasons", ()):
        typer.echo(f"  - {reason}")


@app.command("evaluate")
def evaluate_clv(
    datasets: Annotated[str, typer.Option("--datasets", help="Comma-separated: full, sample, synthetic.")] = "full,sample,synthetic",
    synthetic_dir: Annotated[Path | None, typer.Option("--synthetic-dir", help="Folder written by `custsat data synth` (default: data/raw/synthetic).")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", min=20, help="Bootstrap resamples of customers for the CIs.")] = 200,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/).")] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the metrics and the report to MLflow.")] = True,
) -> None:
    """Multi-split CLV evaluation with every baseline and bootstrap CIs -> reports/clv_cdnow.md/.csv."""
    from custsat.config import cpu_threads, get_settings
    from custsat.models.clv.protocol import run_clv_evaluation

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    command = "custsat evaluate clv" + (f" --datasets {datasets}" if datasets != "full,sample,synthetic" else "")
    command += f" --n-boot {n_boot}" if n_boot != 200 else ""
    command += f" --out {shlex.quote(str(out))}" if out else ""
    try:
        outcome = run_clv_evaluation(names, synthetic_dir=synthetic_dir, out_dir=out, n_boot=n_boot,
                                     seed=get_settings().seed, n_threads=cpu_threads(), log_to_mlflow=mlflow_log,
                                     command=command)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(f"{exc} (fetch and generate the data with `make data`)") from exc
    for r in outcome["results"]:
        typer.echo(f"{r.dataset}, {r.split.name}:")
        typer.echo(r.metrics.to_string(float_format=lambda v: f"{v:,.3f}"))
    paths = outcome["paths"]
    typer.echo(f"wrote {paths['markdown']} and {paths['csv']}")
