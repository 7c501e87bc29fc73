"""The `custsat` command line. Each command is a thin call into the package."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help="custsat: turn customer records into a scored customer list "
    "(tiers, complaints, churn risk, lifetime value, next action).",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Datasets: fetch real data, generate synthetic data, validate and profile.", no_args_is_help=True)
train_app = typer.Typer(help="Train models; every run is tracked and registered in MLflow.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate models against references on real data.", no_args_is_help=True)
features_app = typer.Typer(help="Build point-in-time customer features.", no_args_is_help=True)
feedback_app = typer.Typer(help="Classify feedback texts (sentiment, topics, urgency).", no_args_is_help=True)
models_app = typer.Typer(help="Prepare local model files (the base text model).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(feedback_app, name="feedback")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(models_app, name="models")

console = Console(stderr=True)

# Commands that live next to their logic, registered here so `custsat --help` shows them all.
from custsat.data.fetch_cli import fetch as _fetch  # noqa: E402
from custsat.data.synth import synth as _synth  # noqa: E402
from custsat.features.cli import build as _build_features  # noqa: E402
from custsat.models.churn_cli import train_churn as _train_churn  # noqa: E402
from custsat.models.clv_cli import evaluate_clv as _evaluate_clv  # noqa: E402
from custsat.models.clv_cli import train_clv as _train_clv  # noqa: E402
from custsat.models.text import cli as _text_cli  # noqa: E402
from custsat.serving.cli import score as _score  # noqa: E402

data_app.command("fetch")(_fetch)
features_app.command("build")(_build_features)
train_app.command("churn")(_train_churn)
train_app.command("clv")(_train_clv)
evaluate_app.command("clv")(_evaluate_clv)
app.command("score")(_score)
models_app.command("prepare")(_text_cli.prepare_cmd)
feedback_app.command("classify")(_text_cli.classify_cmd)
train_app.command("sentiment")(_text_cli.train_sentiment_cmd)
train_app.command("topics")(_text_cli.train_topics_cmd)
data_app.command("synth")(_synth)


@app.command()
def contracts() -> None:
    """Print the input data contracts (tables, columns, meaning)."""
    from custsat.data.contracts import contract_markdown

    typer.echo(contract_markdown())


@app.command()
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

    inputs = {"customers": customers, "transactions": transactions}
    if feedback:
        inputs["feedback"] = feedback
    if contracts_file:
        inputs["contracts"] = contracts_file
    mappings = load_mapping(mapping) if mapping else None
    written = run_ingest(inputs, out or get_settings().interim_dir, mappings, unknown_customers=unknown_customers)
    for table, path in written.items():
        console.print(f"[green]wrote[/green] {table}: {path}")


@data_app.command("profile")
def data_profile(
    input_dir: Path = typer.Argument(Path("data/raw/synthetic"), help="Folder with customers/transactions/feedback files."),
    unknown_customers: str = typer.Option("error", help="error|warn"),
) -> None:
    """Validate a folder of contract tables and log a tracked data-profile run to MLflow."""
    from custsat.data.profile import run_data_profile

    result = run_data_profile(input_dir, unknown_customers=unknown_customers)
    metrics = result["metrics"]
    rows = ", ".join(f"{k.removesuffix('_rows')}={int(v):,}" for k, v in metrics.items() if k.endswith("_rows"))
    console.print(f"[green]valid[/green] {input_dir}: {rows}; MLflow run {result['run_id']}")


@app.command("mlflow-uri")
def mlflow_uri() -> None:
    """Print the MLflow tracking URI custsat uses (for `mlflow ui --backend-store-uri`)."""
    from custsat.config import get_settings

    typer.echo(get_settings().resolved_tracking_uri)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
