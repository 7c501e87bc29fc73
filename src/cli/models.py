"""``custsat models …`` and ``custsat mlflow-uri``: local model files and the MLflow store."""

from __future__ import annotations

import typer

from custsat.cli.app import report_errors
from custsat.models.text.cli import prepare_cmd

app = typer.Typer(help="Prepare local model files (the base text model).", no_args_is_help=True)
app.command("prepare")(report_errors(prepare_cmd))


def mlflow_uri() -> None:
    """Print the MLflow tracking URI custsat uses (for `mlflow ui --backend-store-uri`)."""
    from custsat.config import get_settings

    typer.echo(get_settings().resolved_tracking_uri)
