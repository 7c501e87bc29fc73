"""``custsat train churn``: train, evaluate, register and promote the churn-risk model.

Wire as ``train_app.command("churn")(train_churn)`` (or ``add_typer(app, name=...)``).
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Churn-risk model (LightGBM + calibration + reason codes).", add_completion=False
)

SYNTHETIC_TABLES = ("customers", "transactions", "feedback", "contracts")


def load_demo_tables(
    data_dir: Path | None = None, *, n_customers: int = 5000, seed: int | None = None
):
    """CRM tables for the demo: parquet files in ``data_dir`` (default data/raw/synthetic), else generated.

    Returns (tables, description). Generation uses :func:`custsat.data.synth.generate_crm`
    with the given seed (default: settings seed) and does not write files.
    """
    from custsat.config import get_settings
    from custsat.data.io import read_table

    settings = get_settings()
    folder = Path(data_dir) if data_dir is not None else settings.raw_dir / "synthetic"
    if (folder / "customers.parquet").exists():
        tables = {}
        for name in SYNTHETIC_TABLES:
            path = folder / f"{name}.parquet"
            if path.exists():
                tables[name] = read_table(path, table=name)
        missing = [t for t in ("customers", "transactions", "feedback") if t not in tables]
        if missing:
            raise typer.BadParameter(
                f"{folder}: missing table file(s) {[f'{m}.parquet' for m in missing]}"
            )
        return tables, str(folder)
    if data_dir is not None:
        raise FileNotFoundError(
            f"{folder}: no customers.parquet there (write one with `custsat data synth --out {folder}`)"
        )
    from custsat.data.synth import generate_crm

    seed = settings.seed if seed is None else seed
    crm = generate_crm(n_customers, seed=seed)
    return dict(
        crm.tables
    ), f"generate_crm(n_customers={n_customers}, seed={seed}) (in memory; {folder} not found)"


def with_text_labels(tables: dict) -> dict:
    """Classify the feedback with the registered text champions, when there are any.

    Training must see the same sentiment and topic features that scoring will build;
    otherwise those features are empty at training time and full at scoring time (train/serve
    skew, flagged by the drift check). Uses the scoring's text cache, so texts are classified
    once for both.
    """
    from custsat import tracking
    from custsat.config import get_settings
    from custsat.models.text.served import classify_feedback_cached

    feedback = tables.get("feedback")
    if feedback is None or tracking.champion_version("custsat-sentiment") is None:
        typer.echo("no custsat-sentiment champion: training without text-model features")
        return tables
    cache = get_settings().processed_dir / "text_cache.parquet"
    labelled, stats, versions = classify_feedback_cached(feedback, None, cache_path=cache, progress=True)
    typer.echo(f"feedback classified for training: {stats} {versions}")
    return {**tables, "feedback": labelled}


def _print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = result.metrics
    table = Table(title=f"Churn model on the validation set ({result.split})")
    table.add_column("metric")
    for col in ("LightGBM calibrated", "LightGBM raw", "logistic regression"):
        table.add_column(col, justify="right")
    for key in (
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "lift_at_10pct",
        "capture_at_10pct",
        "lift_at_20pct",
        "capture_at_20pct",
    ):
        table.add_row(
            key, *(f"{m.get(p + key, float('nan')):.4f}" for p in ("val_", "val_raw_", "val_lr_"))
        )
    console.print(table)
    if result.champion_metrics is not None:
        console.print(
            f"previous champion on the same validation set: ROC-AUC {result.champion_metrics['roc_auc']:.4f}, "
            f"Brier {result.champion_metrics['brier']:.4f}"
        )
    console.print(
        f"registered {result.model_name} v{result.model_version} -> [bold]{result.decision}[/bold] "
        f"(run {result.run_id}; n_validation={int(m['val_n'])}, base rate {m['val_base_rate']:.3f})"
    )


@app.command("churn")
def train_churn(
    table: Path | None = typer.Option(
        None,
        "--table",
        help="Prepared customer table (csv/parquet/xlsx), one row per customer. "
        "Without it: the CRM demo data in --data-dir (default data/raw/synthetic; generated in memory if absent).",
    ),
    label: str = typer.Option(
        "churned", "--label", help="Label column (0/1, true/false or yes/no) in --table."
    ),
    id_column: str | None = typer.Option(
        None,
        "--id-column",
        help="Customer id column in --table; duplicates are refused; not used as a feature.",
    ),
    time_column: str | None = typer.Option(
        None,
        "--time-column",
        help="Snapshot date column in --table: validate on the latest snapshot instead of a random split.",
    ),
    test_size: float = typer.Option(
        0.25, "--test-size", help="Share of --table rows in the stratified validation split."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed (default: CUSTSAT_SEED / settings.seed)."
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="Column to leave out of the features (repeatable)."
    ),
    categorical: list[str] = typer.Option(
        [], "--categorical", help="Column to treat as categorical even if numeric (repeatable)."
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Folder with customers, transactions, feedback (and optional contracts) .parquet files for the CRM demo.",
    ),
    n_customers: int = typer.Option(
        5000, "--n-customers", help="Customers to generate when no demo data is on disk."
    ),
    as_of: list[str] = typer.Option(
        [],
        "--as-of",
        help="Snapshot date YYYY-MM-DD (repeatable; CRM data only). Default: 4 snapshots, "
        "horizon-days apart, the latest one horizon before the last transaction.",
    ),
    horizon_days: int = typer.Option(
        90, "--horizon-days", help="Label window after each as_of, in days (CRM data)."
    ),
    n_trials: int = typer.Option(
        8,
        "--n-trials",
        help="Extra seeded random LightGBM configurations to try (0 = defaults only).",
    ),
    cv_folds: int = typer.Option(
        5,
        "--cv-folds",
        help="--table without --time-column: compare LightGBM configurations by K-fold CV on the training part (0 = one held-out slice).",
    ),
    high_threshold: float = typer.Option(
        0.5, "--high-threshold", help="Probability at or above which risk tier is 'high'."
    ),
    medium_threshold: float = typer.Option(
        0.2, "--medium-threshold", help="Probability at or above which risk tier is 'medium'."
    ),
    model_name: str | None = typer.Option(
        None,
        "--model-name",
        help="Registered model name. Default custsat-churn (CRM) or custsat-churn-<table file stem>.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Make this version champion even if it loses (recorded on the run)."
    ),
    scores_out: Path | None = typer.Option(
        None,
        "--scores-out",
        help="Write validation rows with churn_probability, risk_tier and reasons (csv/parquet/xlsx).",
    ),
    capacity: int | None = typer.Option(
        None,
        "--capacity",
        help="Tier the --scores-out rows by capacity: the N highest risks are 'high' (e.g. 500 calls a week).",
    ),
) -> None:
    """Train the churn-risk model, compare with the LR baseline, register and apply champion/challenger."""
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from custsat.models import churn

    try:
        if table is not None:
            if not table.exists():
                raise FileNotFoundError(f"--table {table} does not exist")
            result = churn.train_churn_from_table(
                table,
                label,
                id_column,
                test_size,
                seed,
                exclude=exclude,
                categorical=categorical,
                n_trials=n_trials,
                force=force,
                model_name=model_name,
                high_threshold=high_threshold,
                medium_threshold=medium_threshold,
                time_column=time_column,
                cv_folds=cv_folds,
            )
        else:
            tables, description = load_demo_tables(data_dir, n_customers=n_customers, seed=seed)
            typer.echo(f"CRM data: {description}")
            tables = with_text_labels(tables)
            result = churn.train_churn_from_tables(
                tables,
                as_of or None,
                horizon_days,
                seed=seed,
                n_trials=n_trials,
                force=force,
                model_name=model_name or churn.MODEL_NAME,
                high_threshold=high_threshold,
                medium_threshold=medium_threshold,
                source=description,
            )
    except (churn.ChurnDataError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}\nnothing was registered.", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from exc
    _print_summary(result)
    if scores_out is not None:
        from custsat.data.io import write_table

        out = result.validation
        if capacity:
            out = out.assign(
                risk_tier=churn.risk_tiers(
                    out["churn_probability"],
                    high_threshold=high_threshold,
                    medium_threshold=medium_threshold,
                    top_k=capacity,
                )
            )
        write_table(out, scores_out)
        typer.echo(f"validation scores written to {scores_out}")


def main() -> None:  # pragma: no cover - convenience entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
