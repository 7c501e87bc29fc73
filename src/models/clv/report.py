"""The CLV evaluation report: ``clv_cdnow.md``, ``clv_cdnow.csv`` and one decile plot per split."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_path

from .metrics import METRIC_LABELS
from .protocol import CHAMPION, MODEL_LABELS, REFERENCE, SplitResult, target_checks

_FORMATS = {"total_error_pct": "{:+.1f}", "mae": "{:.2f}", "rmse": "{:.2f}", "pinball": "{:.3f}"}


def _fmt(metric: str, value: float) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return _FORMATS.get(metric, "{:.3f}").format(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def plot_deciles(result: SplitResult, models: tuple[str, ...] = (CHAMPION, REFERENCE, "naive_recency")):
    """Mean predicted vs actual holdout spend by decile of predicted spend, one panel per model."""
    from matplotlib.figure import Figure

    shown = [m for m in models if m in result.deciles]
    fig = Figure(figsize=(4.6 * len(shown), 3.8))
    axes = fig.subplots(1, len(shown), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, shown, strict=True):
        table = result.deciles[name]
        x = table.index.to_numpy()
        ax.bar(x - 0.2, table["predicted"], width=0.4, label="predicted")
        ax.bar(x + 0.2, table["actual"], width=0.4, label="actual")
        ax.set_title(MODEL_LABELS.get(name, name), fontsize=9)
        ax.set_xlabel("decile of predicted holdout spend")
        ax.set_xticks(x)
    axes[0].set_ylabel("mean holdout spend per customer")
    axes[0].legend()
    fig.suptitle(f"{result.dataset}, {result.split.name}: calibration by decile")
    fig.tight_layout()
    return fig


def _metric_rows(result: SplitResult) -> list[list[str]]:
    columns = list(METRIC_LABELS)
    rows = []
    for model in result.metrics.index:
        values = result.metrics.loc[model]
        rows.append([MODEL_LABELS.get(model, model), *(_fmt(c, values.get(c, np.nan)) for c in columns)])
    return rows


def _difference_rows(result: SplitResult, metrics=("total_error_pct", "mae", "rmse", "spearman", "gini",
                                                   "top10_capture", "coverage", "pinball")) -> list[list[str]]:
    d = result.differences.set_index(["model", "metric"])
    rows = []
    for model in result.metrics.index:
        if model == REFERENCE:
            continue
        cells = []
        for metric in metrics:
            if (model, metric) not in d.index or not np.isfinite(d.loc[(model, metric), "difference"]):
                cells.append("–")
                continue
            row = d.loc[(model, metric)]
            cells.append(f"{_fmt(metric, row['difference'])} [{_fmt(metric, row['ci_low'])}, {_fmt(metric, row['ci_high'])}]")
        rows.append([MODEL_LABELS.get(model, model), *cells])
    return rows


def split_section(result: SplitResult, plot_name: str | None) -> list[str]:
    """The markdown of one split: metrics, differences with CIs, targets, plot."""
    columns = [METRIC_LABELS[c] for c in METRIC_LABELS]
    lines = [f"### {result.split.name}", "",
             f"{result.n_customers:,} customers, holdout {result.split.horizon_days:.0f} days, "
             f"{100 * result.buyers_share:.1f}% of them buy in the holdout." + (f" {result.note}." if result.note else ""),
             ""]
    lines += _table(["model", *columns], _metric_rows(result))
    lines += ["", f"Difference from {MODEL_LABELS[REFERENCE]} (model − reference), paired-bootstrap 95% interval:", ""]
    diff_metrics = ("total_error_pct", "mae", "rmse", "spearman", "gini", "top10_capture", "coverage", "pinball")
    lines += _table(["model", *(METRIC_LABELS[m] for m in diff_metrics)], _difference_rows(result, diff_metrics))
    implied = result.implied_coverage.get(CHAMPION)
    if implied:
        lines += ["", f"Model-implied probability of the champion's 80% intervals: {implied['coverage']:.3f} over all "
                  f"customers, {implied['coverage_buyers']:.3f} for the customers who buy (realised: "
                  f"{result.metrics.loc[CHAMPION, 'coverage']:.3f} and {result.metrics.loc[CHAMPION, 'coverage_buyers']:.3f})."]
    if {"naive_recency"} <= set(result.metrics.index):
        checks = target_checks(result)
        lines += ["", "Champion targets: " + "; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in checks.items()) + "."]
    if plot_name:
        lines += ["", f"![deciles]({plot_name})"]
    return [*lines, ""]


def headline_rows(results: list[SplitResult]) -> list[list[str]]:
    """Champion vs BG/NBD + GG vs naive per split: RMSE and Spearman with the CI of the difference."""
    rows = []
    for r in results:
        d = r.differences.set_index(["model", "metric"])
        m = r.metrics
        cells = [r.dataset, r.split.name]
        for metric in ("rmse", "spearman", "total_error_pct", "coverage"):
            champ = _fmt(metric, m.loc[CHAMPION, metric])
            if metric in ("rmse", "spearman"):
                row = d.loc[(CHAMPION, metric)]
                champ += f" ({_fmt(metric, row['difference'])} [{_fmt(metric, row['ci_low'])}, {_fmt(metric, row['ci_high'])}])"
            cells += [champ, _fmt(metric, m.loc[REFERENCE, metric])]
            if metric in ("rmse", "spearman") and "naive_recency" in m.index:
                cells.append(_fmt(metric, m.loc["naive_recency", metric]))
        rows.append(cells)
    return rows


HEADLINE_HEADER = ["dataset", "split", "RMSE champion (Δ vs BG/NBD [95% CI])", "RMSE BG/NBD+GG", "RMSE naive",
                   "Spearman champion (Δ [95% CI])", "Spearman BG/NBD+GG", "Spearman naive",
                   "total error champion", "total error BG/NBD+GG", "80% coverage champion", "80% coverage BG/NBD+GG"]


def results_long(results: list[SplitResult]) -> pd.DataFrame:
    """One row per (dataset, split, model, metric): value, difference vs BG/NBD + GG and its CI."""
    frames = []
    for r in results:
        values = r.metrics.rename_axis("model").reset_index().melt(id_vars="model", var_name="metric", value_name="value")
        diff = r.differences.rename(columns={"difference": "difference_vs_bgnbd_gg"})
        merged = values.merge(diff, on=["model", "metric"], how="left")
        merged.insert(0, "split", r.split.name)
        merged.insert(0, "dataset", r.dataset)
        frames.append(merged)
    return pd.concat(frames, ignore_index=True)


def write_clv_report(results: list[SplitResult], out_dir: str | Path, command: str, *, n_boot: int) -> dict[str, Path]:
    """Write ``clv_cdnow.md``, ``clv_cdnow.csv`` and ``clv_deciles_<dataset>_<split>.png`` atomically.

    The files hold no timings (they depend on the machine; ``bench/bench_clv.py`` measures them),
    so a rerun on the same data writes the same bytes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    parts = [
        "# Customer lifetime value: survival CLV against BG/NBD + Gamma-Gamma and simple baselines", "",
        f"Reproduce: `{command}`", "",
        "Every model is fitted on the purchases up to the calibration end and forecasts each customer's spend in the "
        "holdout; all models score the same customers. Differences against BG/NBD + Gamma-Gamma carry paired-bootstrap "
        f"95% intervals ({n_boot} resamples of customers). The model defaults were chosen on the earliest CDNOW "
        "split (1997-06-30 → 1997-12-31) only; the later splits, the 2,357-customer sample and the synthetic company "
        "are reported untouched. Metric definitions: `custsat.models.clv.metrics`; method and discussion: docs/clv.md.",
        "",
        "## Headline", "",
        *_table(HEADLINE_HEADER, headline_rows(results)), "",
    ]
    current = None
    for r in results:
        if r.dataset != current:
            parts += [f"## {r.dataset}", ""]
            current = r.dataset
        name = f"clv_deciles_{_slug(r.dataset)}_{_slug(r.split.calibration_end)}.png"
        fig = plot_deciles(r)
        with atomic_write_path(out_dir / name) as tmp:
            fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
        paths[name] = out_dir / name
        parts += split_section(r, name)
    md_path, csv_path = out_dir / "clv_cdnow.md", out_dir / "clv_cdnow.csv"
    with atomic_write_path(md_path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    with atomic_write_path(csv_path) as tmp:
        results_long(results).to_csv(tmp, index=False, float_format="%.6g")
    paths.update({"markdown": md_path, "csv": csv_path})
    return paths
