"""Head-to-head on CDNOW: survival CLV vs BG/NBD + Gamma-Gamma on a calibration/holdout split.

Both models see only purchases on or before ``calibration_end``; the holdout outcome is every
purchase day in ``(calibration_end, holdout_end]``. Nothing is tuned on the holdout: the
survival model runs with its defaults (threshold from the calibration gaps, interval level
from its own simulated predictive distribution).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from custsat.data.io import atomic_write_path

from .baseline import PUBLISHED_BGNBD, PUBLISHED_GG, BGNBDGammaGamma
from .estimator import SurvivalCLV, build_scoring_frame
from .summary import customer_summary, holdout_actuals, interpurchase_gaps

METRIC_LABELS = {
    "total_spend_error_pct": "Total holdout spend error (%)",
    "total_purchases_error_pct": "Total holdout purchases error (%)",
    "spend_mae": "Holdout spend MAE ($/customer)",
    "spend_rmse": "Holdout spend RMSE ($/customer)",
    "purchases_mae": "Holdout purchases MAE",
    "purchases_rmse": "Holdout purchases RMSE",
    "spearman_spend": "Spearman (predicted vs actual spend)",
    "top10_spend_capture": "Share of holdout spend in predicted top 10%",
    "interval80_coverage": "80% interval coverage of realised spend",
    "fit_seconds": "Fit + predict time (s)",
}


def top_share(actual: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Share of total ``actual`` held by the top ``fraction`` of rows ranked by ``score``."""
    actual = np.asarray(actual, dtype=float)
    k = max(1, int(np.ceil(len(actual) * fraction)))
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    total = actual.sum()
    return float(actual[order[:k]].sum() / total) if total else float("nan")


def holdout_metrics(pred: pd.DataFrame, actual: pd.DataFrame) -> dict[str, float]:
    """Forecast metrics of ``pred`` (expected_spend_horizon, expected_purchases_horizon,
    spend_low/high) against ``actual`` (spend, purchases), aligned on the index."""
    pred = pred.reindex(actual.index)
    ps, pc = pred["expected_spend_horizon"].to_numpy(), pred["expected_purchases_horizon"].to_numpy()
    ys, yc = actual["spend"].to_numpy(), actual["purchases"].to_numpy()
    out = {
        "total_spend_error_pct": 100 * (ps.sum() / ys.sum() - 1),
        "total_purchases_error_pct": 100 * (pc.sum() / yc.sum() - 1),
        "spend_mae": float(np.mean(np.abs(ps - ys))),
        "spend_rmse": float(np.sqrt(np.mean((ps - ys) ** 2))),
        "purchases_mae": float(np.mean(np.abs(pc - yc))),
        "purchases_rmse": float(np.sqrt(np.mean((pc - yc) ** 2))),
        "spearman_spend": float(stats.spearmanr(ps, ys).statistic),
        "top10_spend_capture": top_share(ys, ps, 0.1),
    }
    if {"spend_low", "spend_high"} <= set(pred.columns):
        lo, hi = pred["spend_low"].to_numpy(), pred["spend_high"].to_numpy()
        out["interval80_coverage"] = float(np.mean((ys >= lo - 1e-9) & (ys <= hi + 1e-9)))
    return out


def decile_table(pred_spend: pd.Series, actual_spend: pd.Series) -> pd.DataFrame:
    """Mean predicted and actual holdout spend per decile of predicted spend (1 = lowest)."""
    rank = pred_spend.rank(method="first")
    decile = np.ceil(rank / len(rank) * 10).astype(int)
    frame = pd.DataFrame({"decile": decile, "predicted": pred_spend, "actual": actual_spend})
    return frame.groupby("decile")[["predicted", "actual"]].mean()


def plot_deciles(tables: dict[str, pd.DataFrame], title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        x = table.index.to_numpy()
        ax.bar(x - 0.2, table["predicted"], width=0.4, label="predicted")
        ax.bar(x + 0.2, table["actual"], width=0.4, label="actual")
        ax.set_title(name)
        ax.set_xlabel("decile of predicted holdout spend")
        ax.set_xticks(x)
    axes[0].set_ylabel("mean holdout spend per customer ($)")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bgnbd_log_likelihood(r: float, alpha: float, a: float, b: float, x, t_x, T) -> float:
    """BG/NBD log-likelihood as in Fader, Hardie & Lee (2005), eq. 6 (weeks)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a2 = np.where(
            x > 0,
            special.betaln(a + 1, b + x - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return float(np.sum(common + np.logaddexp(a1, a2)))


def reproduction_table(baseline: BGNBDGammaGamma, summary: pd.DataFrame) -> pd.DataFrame:
    """Fitted vs published BG/NBD and Gamma-Gamma parameters (CDNOW sample, 39 weeks)."""
    p = baseline.params_
    ll = bgnbd_log_likelihood(p["r"], p["alpha"], p["a"], p["b"], summary["frequency"],
                              summary["recency_days"] / 7, summary["T_days"] / 7)
    rows = [
        ("BG/NBD r", p["r"], PUBLISHED_BGNBD["r"]),
        ("BG/NBD alpha", p["alpha"], PUBLISHED_BGNBD["alpha"]),
        ("BG/NBD a", p["a"], PUBLISHED_BGNBD["a"]),
        ("BG/NBD b", p["b"], PUBLISHED_BGNBD["b"]),
        ("BG/NBD log-likelihood", ll, PUBLISHED_BGNBD["log_likelihood"]),
        ("Gamma-Gamma p", p["gg_p"], PUBLISHED_GG["p"]),
        ("Gamma-Gamma q", p["gg_q"], PUBLISHED_GG["q"]),
        ("Gamma-Gamma gamma", p["gg_gamma"], PUBLISHED_GG["gamma"]),
    ]
    return pd.DataFrame(rows, columns=["parameter", "fitted", "published"]).set_index("parameter")


def _markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in frame.iterrows():
        cells = [str(idx)] + [format(v, floatfmt) if isinstance(v, float | np.floating) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_cdnow_benchmark(
    transactions: pd.DataFrame,
    *,
    calibration_end: str = "1997-09-30",
    holdout_end: str = "1998-06-30",
    model: str = "pareto2_aft",
    label: str = "cdnow",
    seed: int | None = None,
    estimator_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit both models on the calibration period and score them on the holdout."""
    cal, hold = pd.Timestamp(calibration_end), pd.Timestamp(holdout_end)
    if hold <= cal:
        raise ValueError(f"holdout_end {hold.date()} must be after calibration_end {cal.date()}")
    if transactions["timestamp"].max() < hold:
        raise ValueError(
            f"transactions end on {transactions['timestamp'].max().date()}, before holdout_end {hold.date()}"
        )
    horizon_days = float((hold - cal).days)
    summary = customer_summary(transactions, cal)
    actual = holdout_actuals(transactions, cal, hold, summary.index)

    t0 = time.perf_counter()
    clv = SurvivalCLV(model=model, seed=seed, **(estimator_params or {}))
    frame = build_scoring_frame(transactions, cal)
    clv.fit_frame(frame, gaps=interpurchase_gaps(transactions, cal))
    pred = clv.predict_frame(frame, horizon_days=horizon_days)
    t_surv = time.perf_counter() - t0

    t0 = time.perf_counter()
    base = BGNBDGammaGamma(seed=clv.seed_).fit(summary)
    base_pred = base.predict(summary, horizon_days)
    t_base = time.perf_counter() - t0

    m_surv = holdout_metrics(pred, actual) | {"fit_seconds": t_surv}
    m_base = holdout_metrics(base_pred, actual) | {"fit_seconds": t_base}
    table = pd.DataFrame({f"survival_clv ({model})": m_surv, "bgnbd_gg": m_base})
    table.index = [METRIC_LABELS.get(k, k) for k in table.index]
    table.index.name = "metric"
    deciles = {
        f"survival CLV ({model})": decile_table(pred["expected_spend_horizon"], actual["spend"]),
        "BG/NBD + Gamma-Gamma": decile_table(base_pred["expected_spend_horizon"], actual["spend"]),
    }
    return {
        "label": label,
        "n_customers": len(summary),
        "horizon_days": horizon_days,
        "table": table,
        "metrics": {"survival": m_surv, "bgnbd": m_base},
        "deciles": deciles,
        "reproduction": reproduction_table(base, summary),
        "survival_summary": clv.summary(),
        "em_trace": clv.em_trace_,
        "interval_tail": {"survival": pred.attrs.get("interval_tail_spend"), "bgnbd": base_pred.attrs.get("interval_tail_spend")},
        "estimator": clv,
    }


def write_report(results: list[dict[str, Any]], out_dir: str | Path, command: str) -> dict[str, Path]:
    """Write ``clv_cdnow.md`` and ``clv_cdnow.csv`` (atomically) into ``out_dir``."""
    out_dir = Path(out_dir)
    rows, parts = [], ["# Survival CLV vs BG/NBD + Gamma-Gamma on CDNOW", "", f"Reproduce: `{command}`", ""]
    for res in results:
        table = res["table"]
        parts += [
            f"## {res['label']} ({res['n_customers']:,} customers, holdout {res['horizon_days']:.0f} days)",
            "",
            _markdown(table),
            "",
            "Interval tail probability chosen from each model's own simulations (no holdout data): "
            + json.dumps({k: round(v, 3) if v is not None else None for k, v in res["interval_tail"].items()}),
            "",
            "Survival model: " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res["survival_summary"].items()}),
            "",
            "BG/NBD / Gamma-Gamma parameters (published values: Fader, Hardie & Lee 2005 on the 2,357 sample):",
            "",
            _markdown(res["reproduction"], ".4f"),
            "",
        ]
        long = table.reset_index().melt(id_vars="metric", var_name="model", value_name="value")
        long.insert(0, "dataset", res["label"])
        rows.append(long)
    md_path, csv_path = out_dir / "clv_cdnow.md", out_dir / "clv_cdnow.csv"
    with atomic_write_path(md_path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    with atomic_write_path(csv_path) as tmp:
        pd.concat(rows, ignore_index=True).to_csv(tmp, index=False)
    return {"markdown": md_path, "csv": csv_path}


def log_benchmark(res: dict[str, Any], fingerprint: str) -> None:
    """Log one benchmark result (metrics, tables, decile plot) as an MLflow run in custsat-clv."""
    import mlflow

    from custsat import tracking

    with tracking.start_run("clv", run_name=f"benchmark-{res['label']}", data_fingerprint=fingerprint,
                            tags={"purpose": "benchmark"}):
        s = res["survival_summary"]
        mlflow.log_params({f"survival_{k}": v for k, v in s.items() if not isinstance(v, float)})
        for model_name, metrics in res["metrics"].items():
            mlflow.log_metrics({f"{model_name}_{k}": float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"survival_{k}": float(v) for k, v in s.items() if isinstance(v, float)})
        fig = plot_deciles(res["deciles"], f"CDNOW {res['label']}: holdout spend by predicted decile")
        mlflow.log_figure(fig, f"decile_calibration_{res['label']}.png")
        mlflow.log_text(res["table"].to_csv(), f"metrics_{res['label']}.csv")
        mlflow.log_text(res["reproduction"].to_csv(), f"bgnbd_reproduction_{res['label']}.csv")
        ph = res["estimator"].diagnostics_.get("ph_test")
        if ph is not None:
            mlflow.log_text(ph.to_csv(), "proportional_hazard_test.csv")
