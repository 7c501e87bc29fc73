"""``custsat features build``: the feature table for one snapshot date."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Customer features (RFM, value, lifecycle, feedback, satisfaction).", no_args_is_help=True)



@app.callback()
def _features() -> None:
    """Customer features (RFM, value, lifecycle, feedback, satisfaction)."""


TABLE_FILES = {
    "customers": "customers.parquet",
    "transactions": "transactions.parquet",
    "feedback": "feedback.parquet",
}


def input_tables(input_dir: Path) -> dict[str, Path]:
    """Parquet paths of the CRM tables in ``input_dir`` (error names what is missing)."""
    tables: dict[str, Path] = {}
    for name, file in TABLE_FILES.items():
        path = Path(input_dir) / file
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: table '{name}' not found; expected {', '.join(TABLE_FILES.values())} in {input_dir} "
                "(create synthetic data with the synth command or point --input-dir at your export)"
            )
        tables[name] = path
    return tables


@app.command("build")
def build(
    as_of: str = typer.Option(..., "--as-of", help="Snapshot date/time; features use events strictly before it."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark (local mode)."),
    out: Path = typer.Option(Path("data/processed/features.parquet"), "--out", help="Output file (.parquet or .csv), written atomically."),
    input_dir: Path = typer.Option(Path("data/raw/synthetic"), "--input-dir", help="Folder with customers/transactions/feedback .parquet."),
) -> None:
    """Build one row of features per customer as of AS_OF and write it to OUT."""
    from custsat.data.io import write_table

    from .builder import build_customer_features

    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"--engine must be duckdb or spark, got {engine!r}")
    tables = input_tables(input_dir)
    features = build_customer_features(tables, as_of, engine=engine)
    write_table(features, out)
    typer.echo(
        f"wrote {len(features):,} customers x {features.shape[1]} columns as of {as_of} to {out} "
        f"(engine {engine}; sentiment available: {features.attrs.get('sentiment_available')})"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
