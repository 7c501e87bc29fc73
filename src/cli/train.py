"""``custsat train …``: train a model family; every run is tracked and registered in MLflow."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from custsat.cli.app import console, report_errors

app = typer.Typer(help="Train models; every run is tracked and registered in MLflow.", no_args_is_help=True)

CHURN_SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_at_10pct", "capture_at_10pct",
                         "lift_at_20pct", "capture_at_20pct")


@app.command("churn")
@report_errors
def churn(
    table: Path | None = typer.Option(
        None, "--table", help="Prepared customer table (csv/parquet/xlsx), one row per customer. Without it: the "
        "CRM demo data in --data-dir (default data/raw/synthetic; generated in memory if absent)."),
    label: str = typer.Option("churned", "--label", help="Label column (0/1, true/false or yes/no) in --table."),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Customer id column in --table; duplicates are refused; not used as a feature."),
    time_column: str | None = typer.Option(
        None, "--time-column",
        help="Snapshot date column in --table: validate on the latest snapshot instead of a random split."),
    test_size: float = typer.Option(0.25, "--test-size", help="Share of --table rows in the stratified validation split."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: CUSTSAT_SEED / settings.seed)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Column to leave out of the features (repeatable)."),
    categorical: list[str] = typer.Option([], "--categorical", help="Column to treat as categorical even if numeric (repeatable)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir",
        help="Folder with customers, transactions (and optional feedback, contracts) files for the CRM demo."),
    n_customers: int = typer.Option(5000, "--n-customers", help="Customers to generate when no demo data is on disk."),
    as_of: list[str] = typer.Option(
        [], "--as-of", help="Snapshot date YYYY-MM-DD (repeatable; CRM data only). Default: 4 snapshots, "
        "horizon-days apart, the latest one horizon before the last transaction."),
    horizon_days: int = typer.Option(90, "--horizon-days", help="Label window after each as_of, in days (CRM data)."),
    n_trials: int = typer.Option(8, "--n-trials", help="Extra seeded random LightGBM configurations to try (0 = defaults only)."),
    cv_folds: int = typer.Option(
        5, "--cv-folds", help="--table without --time-column: compare LightGBM configurations by K-fold CV on the "
        "training part (0 = one held-out slice)."),
    high_threshold: float = typer.Option(0.5, "--high-threshold", help="Probability at or above which risk tier is 'high'."),
    medium_threshold: float = typer.Option(0.2, "--medium-threshold", help="Probability at or above which risk tier is 'medium'."),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Registered model name. Default custsat-churn (CRM) or custsat-churn-<table file stem>."),
    force: bool = typer.Option(False, "--force", help="Make this version champion even if it loses (recorded on the run)."),
    scores_out: Path | None = typer.Option(
        None, "--scores-out", help="Write validation rows with churn_probability, risk_tier and reasons (csv/parquet/xlsx)."),
    capacity: int | None = typer.Option(
        None, "--capacity", help="Tier the --scores-out rows by capacity: the N highest risks are 'high' (e.g. 500 calls a week)."),
) -> None:
    """Train the churn-risk model, compare with the LR baseline, register and apply champion/challenger."""
    from custsat.config import get_settings
    from custsat.data.io import write_table
    from custsat.models.churn import (
        ChurnTrainingPlan,
        risk_tiers,
        train_churn_from_table,
        train_churn_on_crm,
    )
    from custsat.models.registry import CHURN_MODEL

    plan = ChurnTrainingPlan(
        label=label, id_column=id_column, time_column=time_column, test_size=test_size,
        seed=get_settings().seed if seed is None else seed, exclude=tuple(exclude), categorical=tuple(categorical),
        n_trials=n_trials, cv_folds=cv_folds, high_threshold=high_threshold, medium_threshold=medium_threshold,
    )
    with trial_progress("LightGBM configurations") as on_trial:
        if table is not None:
            result = train_churn_from_table(table, plan, force=force, model_name=model_name, on_trial=on_trial)
        else:
            result = train_churn_on_crm(data_dir, plan=plan, as_of_dates=as_of or None, horizon_days=horizon_days,
                                        n_customers=n_customers, force=force, model_name=model_name or CHURN_MODEL,
                                        echo=typer.echo, on_trial=on_trial)
    _print_churn_summary(result)
    if scores_out is not None:
        out = result.validation
        if capacity:
            out = out.assign(risk_tier=risk_tiers(out["churn_probability"], high_threshold=high_threshold,
                                                  medium_threshold=medium_threshold, top_k=capacity))
        write_table(out, scores_out)
        typer.echo(f"validation scores written to {scores_out}")


@contextlib.contextmanager
def trial_progress(label: str):
    """A progress bar (done/total, elapsed, ETA) fed by an ``on_trial(done, total)`` callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def on_trial(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield on_trial


def _print_churn_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"Churn model on the validation set ({result.split})")
    table.add_column("metric")
    for col in ("LightGBM calibrated", "LightGBM raw", "logistic regression"):
        table.add_column(col, justify="right")
    for key in CHURN_SUMMARY_METRICS:
        table.add_row(key, *(f"{m.get(p + key, float('nan')):.4f}" for p in ("val_", "val_raw_", "val_lr_")))
    out = Console()
    out.print(table)
    if "val_roc_auc_minus_lr" in m:
        out.print(f"ROC-AUC, LightGBM - logistic regression: {m['val_roc_auc_minus_lr']:+.4f} "
                  f"(95% paired-bootstrap interval {m['val_roc_auc_minus_lr_ci_low']:+.4f} to "
                  f"{m['val_roc_auc_minus_lr_ci_high']:+.4f})")
    if result.champion_metrics is not None:
        out.print(f"previous champion on the same validation set: ROC-AUC {result.champion_metrics['roc_auc']:.4f}, "
                  f"Brier {result.champion_metrics['brier']:.4f}")
    out.print(f"registered {result.model_name} v{result.model_version} -> [bold]{result.decision}[/bold] "
              f"(run {result.run_id}; n_validation={int(m['val_n'])}, base rate {m['val_base_rate']:.3f})")
    for reason in result.gate.reasons if result.gate else ():
        out.print(f"  - {reason}")
    if result.served_version and result.served_version != result.model_version:
        out.print(f"no champion yet: the logistic-regression baseline is registered as v{result.served_version} "
                  "and serves as champion")


@app.command("uplift")
@report_errors
def uplift(
    scored: Path = typer.Option(..., "--scored", help="The scored list of a past campaign (with control groups)."),
    input_dir: Path = typer.Option(..., "--input-dir", help="Folder with the company's data after the campaign window."),
    action: str = typer.Option("retention_call", "--action", help="The action whose uplift is learnt."),
    window: str = typer.Option("90d", "--window", help="Outcome window after the campaign start."),
    learner: str = typer.Option("x", "--learner", help="t | x (meta-learner on LightGBM)."),
    force: bool = typer.Option(False, "--force", help="Promote to champion even if it does not beat churn-risk targeting."),
) -> None:
    """Learn who responds to an action from a past randomised campaign; compare with targeting by churn risk."""
    from custsat.config import get_settings
    from custsat.data.catalog import load_validated_folder
    from custsat.models.uplift import train_uplift
    from custsat.serving.evaluate_actions import parse_window, read_campaign_list

    listed, start = read_campaign_list(scored)
    tables = load_validated_folder(input_dir)
    result = train_uplift(tables, listed, action=action, start=start, window_days=parse_window(window),
                          learner=learner, seed=get_settings().seed, force=force)
    typer.echo(f"{action}: {len(result.frame):,} customers of the campaign; targeting the top 10% on held-out customers:")
    typer.echo(result.targeting.to_string(index=False))
    typer.echo(f"registered {result.model_name} v{result.version} -> {result.decision.upper()}")
    for reason in result.reasons:
        typer.echo(f"    {reason}")
    if result.decision == "champion":
        typer.echo(f"scoring now adds uplift_{action} and expected_saved_value_{action} to the scored list")


def _check_lifetime(name: str) -> str:
    from custsat.models.clv.lifetime import LIFETIME_FAMILIES

    if name not in LIFETIME_FAMILIES:
        raise typer.BadParameter(f"unknown lifetime model {name!r}; choose one of {sorted(LIFETIME_FAMILIES)}")
    return name


@app.command("clv")
@report_errors
def train_clv(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring day (default: the last transaction day).")] = None,
    horizon_months: Annotated[int, typer.Option("--horizon-months", min=1, help="CLV horizon in months.")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", min=0.0, max=0.99, help="Monthly discount rate.")] = 0.01,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Gross margin applied to spend.")] = 1.0,
    lifetime: Annotated[str, typer.Option("--lifetime", callback=_check_lifetime, help="pareto2_aft | weibull_aft | loglogistic_aft")] = "pareto2_aft",
    validation_days: Annotated[int, typer.Option("--validation-days", min=28, help="Length of the validation window before as_of (days).")] = 180,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="CRM export folder (default: data/raw/synthetic).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote to champion even if the gate is not passed.")] = False,
) -> None:
    """Validate against the baselines, fit, log to MLflow and register custsat-clv (quality gate)."""
    from custsat.models.clv.train import train_and_register

    result = train_and_register(data_dir, as_of=as_of, validation_days=validation_days, force=force,
                                lifetime=lifetime, horizon_months=horizon_months, discount_rate=discount_rate,
                                margin=margin)
    for key in ("as_of", "validation_window", "version", "decision", "served_version", "served_kind"):
        if key in result:
            typer.echo(f"{key:>22}: {result[key]}")
    typer.echo(result["validation"].to_string(float_format=lambda v: f"{v:,.3f}"))
    for reason in result.get("reasons", ()):
        typer.echo(f"  - {reason}")


@app.command("sentiment")
@report_errors
def sentiment(
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


@app.command("topics")
@report_errors
def topics(
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
