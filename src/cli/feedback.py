"""``custsat feedback …``: feedback texts classified (sentiment, topics, urgency)."""

from __future__ import annotations

import typer

from custsat.cli.app import report_errors
from custsat.models.text.cli import classify_cmd

app = typer.Typer(help="Classify feedback texts (sentiment, topics, urgency).", no_args_is_help=True)
app.command("classify")(report_errors(classify_cmd))
