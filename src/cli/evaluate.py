"""``custsat evaluate …``: models measured against references on real data."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from custsat.cli.app import report_errors

app = typer.Typer(help="Evaluate models against references on real data.", no_args_is_help=True)


@app.command("actions")
@report_errors
def actions(
    scored: Path = typer.Option(..., "--scored", help="The scored list of the campaign (with its control groups)."),
    input_dir: Path = typer.Option(..., "--input-dir", help="Folder with the company's data after the campaign window."),
    window: str = typer.Option("90d", "--window", help="Outcome window after the campaign start, e.g. 90d."),
    campaign_start: str | None = typer.Option(None, "--campaign-start", help="Default: the list's campaign_start."),
    out: Path | None = typer.Option(None, "--out", help="Effects table (CSV/Parquet/XLSX)."),
    report: Path | None = typer.Option(None, "--report", help="HTML page with the effects and their intervals."),
) -> None:
    """Did the actions work? Treated against control customers, per action, with 95% intervals."""
    from custsat.serving.evaluate_actions import evaluate_actions
    from custsat.serving.whatworks_report import write_whatworks_report

    result = evaluate_actions(scored, input_dir, window, campaign_start=campaign_start, out=out)
    if report is not None:
        write_whatworks_report(report, evaluation=result, title="Actions: did they work?")
    for row in result.retention.itertuples():
        typer.echo(f"{row.campaign_id} {row.action_id}: retention {row.difference:+.1%} "
                   f"[{row.ci_low:+.1%}, {row.ci_high:+.1%}] (treated {row.n_treated:,}, control {row.n_control:,})"
                   + (f"  {row.warning}" if isinstance(row.warning, str) and row.warning else ""))
    typer.echo(f"MLflow run {result.mlflow_run_id}" + (f"; effects {out}" if out else "")
               + (f"; report {report}" if report else ""))


@app.command("drivers")
@report_errors
def drivers(
    surveys: Path = typer.Option(..., "--surveys", help="Survey answers: an overall score and attribute ratings."),
    overall: str | None = typer.Option(None, "--overall", help="Overall column (default overall_satisfaction, else nps)."),
    segment: str | None = typer.Option(None, "--segment", help="Also per value of this column."),
    mapping: Path | None = typer.Option(None, "--mapping", help="YAML mapping the export's headers (surveys table)."),
    method: str = typer.Option("relative_weights", "--method", help="relative_weights | shapley"),
    out: Path | None = typer.Option(None, "--out", help="Importance table (CSV/Parquet/XLSX)."),
    report: Path | None = typer.Option(None, "--report", help="HTML page with the importance-performance matrix."),
) -> None:
    """What drives satisfaction: each attribute's share of the explained variance, with bootstrap intervals."""
    from custsat.serving.evaluate_drivers import evaluate_drivers

    result = evaluate_drivers(surveys, overall, segment=segment, mapping=mapping, method=method, out=out,
                              report=report)
    analysis = result.analysis
    typer.echo(f"overall {analysis.overall}: R² {analysis.r2:.3f} from {analysis.n_respondents:,} answers")
    for row in analysis.table.itertuples():
        typer.echo(f"  {row.rank:>2}. {row.attribute}: {row.weight:.3f} [{row.weight_low:.3f}, {row.weight_high:.3f}]"
                   f"  {row.quadrant_en} / {row.quadrant_zh}")


@app.command("clv")
@report_errors
def evaluate_clv(
    datasets: Annotated[str, typer.Option("--datasets", help="Comma-separated: full, sample, synthetic.")] = "full,sample,synthetic",
    synthetic_dir: Annotated[Path | None, typer.Option("--synthetic-dir", help="Folder written by `custsat data synth` (default: data/raw/synthetic).")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", min=20, help="Bootstrap resamples of customers for the CIs.")] = 200,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/).")] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the metrics and the report to MLflow.")] = True,
) -> None:
    """Multi-split CLV evaluation with every baseline and bootstrap CIs -> reports/clv_cdnow.md/.csv."""
    from custsat.config import cpu_threads, get_settings
    from custsat.models.clv.protocol import run_clv_evaluation

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    command = "custsat evaluate clv" + (f" --datasets {datasets}" if datasets != "full,sample,synthetic" else "")
    command += f" --n-boot {n_boot}" if n_boot != 200 else ""
    command += f" --out {shlex.quote(str(out))}" if out else ""
    outcome = run_clv_evaluation(names, synthetic_dir=synthetic_dir, out_dir=out, n_boot=n_boot,
                                 seed=get_settings().seed, n_threads=cpu_threads(), log_to_mlflow=mlflow_log,
                                 command=command)
    for r in outcome["results"]:
        typer.echo(f"{r.dataset}, {r.split.name}:")
        typer.echo(r.metrics.to_string(float_format=lambda v: f"{v:,.3f}"))
    paths = outcome["paths"]
    typer.echo(f"wrote {paths['markdown']} and {paths['csv']}")
