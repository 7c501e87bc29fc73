"""``custsat features build``: the feature table for one snapshot date."""

from __future__ import annotations

from pathlib import Path

import typer

from custsat.cli.app import report_errors

app = typer.Typer(help="Build point-in-time customer features.", no_args_is_help=True)


@app.command("build")
@report_errors
def build(
    as_of: str = typer.Option(..., "--as-of", help="Snapshot date/time; features use events strictly before it."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark (local mode)."),
    out: Path = typer.Option(Path("data/processed/features.parquet"), "--out",
                             help="Output file (.parquet, .csv or .xlsx), written atomically."),
    input_dir: Path = typer.Option(Path("data/raw/synthetic"), "--input-dir",
                                   help="Folder with customers/transactions (and optional feedback) files."),
) -> None:
    """Build one row of features per customer as of AS_OF and write it to OUT."""
    from custsat.data.catalog import load_validated_folder
    from custsat.data.io import write_table
    from custsat.features import build_customer_features

    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"--engine must be duckdb or spark, got {engine!r}", param_hint="--engine")
    tables = load_validated_folder(input_dir)
    tables.pop("contracts", None)
    features = build_customer_features(tables, as_of, engine=engine)
    write_table(features, out)
    typer.echo(
        f"wrote {len(features):,} customers x {features.shape[1]} columns as of {as_of} to {out} "
        f"(engine {engine}; sentiment available: {features.attrs.get('sentiment_available')})"
    )
