"""``custsat evaluate …``: models measured against references on real data."""

from __future__ import annotations

import typer

from custsat.cli.app import report_errors
from custsat.models.clv_cli import evaluate_clv

app = typer.Typer(help="Evaluate models against references on real data.", no_args_is_help=True)
app.command("clv")(report_errors(evaluate_clv))
