"""``custsat score``: score customers and write the list (CSV/Parquet/XLSX) and an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from custsat.cli.app import console, report_errors

DEFAULT_INPUT_DIR = Path("data/raw/synthetic")


@report_errors
def score(
    out: Path = typer.Option(..., "--out", help="Scored customer list: .csv, .parquet or .xlsx."),
    customers: Path | None = typer.Option(None, "--customers", help="Customers file (.csv/.parquet/.xlsx)."),
    transactions: Path | None = typer.Option(None, "--transactions", help="Transactions file."),
    feedback: Path | None = typer.Option(None, "--feedback", help="Feedback file (optional)."),
    contracts: Path | None = typer.Option(None, "--contracts", help="Subscription contracts file (optional)."),
    input_dir: Path | None = typer.Option(
        None, "--input-dir",
        help="Folder with customers/transactions/feedback (and optionally contracts) .parquet/.csv/.xlsx files; "
        "default data/raw/synthetic when no --customers/--transactions are given.",
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Scoring date (YYYY-MM-DD); events strictly before it count. "
        "Default: the day after the latest transaction or feedback.",
    ),
    fmt: str | None = typer.Option(None, "--format", help="csv|parquet|xlsx (default: from --out's suffix)."),
    report: Path | None = typer.Option(None, "--report", help="Also write the self-contained HTML report here."),
    csv_bom: bool = typer.Option(False, "--csv-bom", help="UTF-8 with BOM, for Excel in Chinese locales."),
    policy: Path | None = typer.Option(None, "--policy", help="Action policy YAML (default: the packaged one)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark (local[2] unless configured)."),
    chunk_size: int = typer.Option(
        50_000, "--chunk-size", min=1, help="Customers per model call (with --stream: per chunk held in memory).",
    ),
    stream: bool = typer.Option(
        False, "--stream",
        help="Out of core, for inputs larger than memory: Parquet inputs are read in batches, features built by "
        "DuckDB on disk, customers scored chunk by chunk; CSV or Parquet output.",
    ),
    batch_rows: int = typer.Option(
        500_000, "--batch-rows", min=1, help="With --stream: input rows parsed and checked at a time.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1,
        help="With --stream: processes scoring chunks (default: one per core, at most 4; 1 = none).",
    ),
    language: str = typer.Option("both", "--language", help="Action names and reasons: zh|en|both."),
    text_cache: bool = typer.Option(True, "--text-cache/--no-text-cache", help="Reuse cached text classifications."),
    unknown_customers: str | None = typer.Option(None, "--unknown-customers", help="error|warn"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    campaign: str | None = typer.Option(
        None, "--campaign", help="Campaign id of this list's control groups (default: the as_of month, YYYY-MM).",
    ),
    previous_list: Path | None = typer.Option(
        None, "--previous-list",
        help="The list of an earlier campaign: the report shows whether its actions worked, measured on these data.",
    ),
    window: str = typer.Option("90d", "--window", help="With --previous-list: the outcome window after its start."),
    all_reasons: bool = typer.Option(
        False, "--all-reasons", help="Churn reasons for every customer (default: medium and high risk only).",
    ),
) -> None:
    """Score every customer: tiers, complaints, churn risk, CLV and the recommended next action.

    Inputs are validated against the data contracts; feedback texts without sentiment are
    classified (cached by text hash); features are built as of --as-of; the registered
    champion churn and CLV models are applied; the action policy assigns one action per
    customer. The run is recorded in MLflow (experiment custsat-scoring).
    """
    from custsat.data.catalog import resolve_inputs
    from custsat.serving.evaluate_actions import parse_window
    from custsat.serving.score import score_files

    if workers is not None and not stream:
        raise typer.BadParameter("--workers applies to --stream (the default path scores in one process)",
                                 param_hint="--workers")
    if input_dir is None and customers is None and transactions is None:
        input_dir = DEFAULT_INPUT_DIR
    paths = resolve_inputs(input_dir, {"customers": customers, "transactions": transactions,
                                       "feedback": feedback, "contracts": contracts})
    result = score_files(paths, out=out, fmt=fmt, report=report, csv_bom=csv_bom, as_of=as_of, policy=policy,
                         engine=engine, chunk_size=chunk_size, language=language, text_cache=text_cache,
                         unknown_customers=unknown_customers, progress=progress, all_reasons=all_reasons,
                         campaign_id=campaign, previous_list=previous_list, outcome_window_days=parse_window(window),
                         **({"stream": True, "batch_rows": batch_rows, "workers": workers} if stream else {}))
    _print_summary(result, out, report)


def _print_summary(result, out, report) -> None:
    meta = result.metadata
    counts = result.scored["action_id"].value_counts()
    console.print(
        f"[green]scored[/green] {len(result.scored):,} customers as of {meta['as_of'][:10]} -> {out}"
        + (f" (report: {report})" if report else "")
    )
    console.print("actions: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    if "treatment_group" in result.scored:
        control = int(result.scored["treatment_group"].eq("control").sum())
        console.print(f"control groups of campaign {meta.get('campaign_id')}: {control:,} customers held out "
                      "(they get the standard care; compare later with `custsat evaluate actions`)")
    console.print(
        "models: " + ", ".join(f"{k.replace('_model_version', '')}={v}" for k, v in meta["model_versions"].items())
        + f"; scoring_run_id={meta['scoring_run_id']}; MLflow run {result.mlflow_run_id}"
    )
    if meta.get("drifted_features"):
        console.print(
            f"[yellow]warning[/yellow]: feature drift (PSI > 0.2) vs. the churn model's training data: "
            f"{', '.join(meta['drifted_features'])}"
        )
    elif not meta.get("drift_reference"):
        console.print("[yellow]note[/yellow]: the churn model carries no feature reference; drift not checked")
