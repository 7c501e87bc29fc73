"""``custsat feedback …``: feedback texts classified (sentiment, topics, urgency)."""

from __future__ import annotations

from pathlib import Path

import typer

from custsat.cli.app import report_errors

app = typer.Typer(help="Classify feedback texts (sentiment, topics, urgency).", no_args_is_help=True)


@app.command("classify")
@report_errors
def classify(
    input: Path = typer.Argument(..., help="Feedback table (csv/parquet/xlsx)."),
    out: Path = typer.Option(..., "--out", help="Output file (.parquet/.csv/.xlsx)."),
    text_column: str = typer.Option("text", "--text-column"),
    model: str | None = typer.Option(None, "--model", help="fast (the distilled student, default) | quality (the "
                                     "12-layer teacher); default CUSTSAT_TEXT_MODEL."),
    sentiment_model: str | None = typer.Option(None, "--sentiment-model", help="MLflow URI or local folder (overrides --model)."),
    topic_model: str | None = typer.Option(None, "--topic-model", help="MLflow URI or local folder (default: champion, else bootstrap)."),
    runtime: str | None = typer.Option(None, "--runtime", help="torch | torch-fp32 | torch-int8 | onnx-fp32 | onnx-int8 | onnx-int8-all; "
                                       "default CUSTSAT_TEXT_RUNTIME (torch)."),
    batch_size: int = typer.Option(64, "--batch-size"),
) -> None:
    """Add language, sentiment, topics and urgency columns to a feedback table (PII masked in the output text)."""
    from custsat.models.text.classify import classify_file

    try:
        res, versions = classify_file(input, out, text_column=text_column, model=model, sentiment_model=sentiment_model,
                                      topic_model=topic_model, runtime=runtime, batch_size=batch_size)
    except ValueError as error:  # an unknown --model or --runtime
        raise typer.BadParameter(str(error)) from error
    counts = res["sentiment"].value_counts(dropna=False).to_dict() if "sentiment" in res else {}
    typer.echo(f"wrote {len(res)} rows to {out} with sentiment {versions['sentiment']}, topics {versions['topics']}; "
               f"sentiment counts {counts}; high urgency {int((res['urgency'] == 'high').sum())}")


@app.command("triage")
@report_errors
def triage(
    input_dir: Path | None = typer.Option(None, "--input-dir", help="Folder with feedback (and customers, transactions)."),
    feedback: Path | None = typer.Option(None, "--feedback", help="Feedback file (instead of --input-dir)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Moment of the queue (default: the day after the latest feedback)."),
    out: Path = typer.Option(..., "--out", help="The work queue: .xlsx (with follow-up, alerts and emerging sheets), .csv or .parquet."),
    report: Path | None = typer.Option(None, "--report", help="Also write the feedback-operations HTML report here."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML with the triage section (default: the packaged one)."),
    scored: Path | None = typer.Option(None, "--scored", help="Scored customer list (value tier, churn risk); default: "
                                       "scored with the registered models when customers and transactions are given."),
    emerging: bool = typer.Option(True, "--emerging/--no-emerging", help="Look for recurring issues no topic covers."),
    language: str = typer.Option("both", "--lang", "--language", help="Reasons and report in zh|en|both."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """The feedback work queue: owner team, priority, deadlines and status of every open or recently
    resolved item; follow-up analytics, trend alerts and emerging issues."""
    from custsat.serving.triage import run_triage

    result = run_triage(input_dir, as_of, out, report, feedback=feedback, policy=policy,
                        scored=scored if scored is not None else True, emerging=emerging, language=language,
                        progress=progress)
    meta = result.metadata
    typer.echo(f"queue of {meta['queue_rows']:,} items ({meta['open_items']:,} open) as of {meta['as_of'][:10]} -> {out}"
               + (f" (report: {report})" if report else ""))
    typer.echo(f"trend alerts: {len(result.alerts):,}; emerging issues: {len(result.emerging):,}"
               + (f"; stale open items not listed: {meta['stale_open_items']:,}" if meta.get("stale_open_items") else ""))
