"""Ranking and calibration metrics for binary risk scores, and the plots that go with them.

Shared by the churn and CLV models. Every function takes ``y_true`` as 0/1 labels and
``score`` as a probability (or any score where higher means "more likely positive").
Plots return a :class:`matplotlib.figure.Figure` made without pyplot: they work on headless
machines, leave the caller's backend alone (a notebook shows them inline) and need no closing;
log them with ``tracking.log_figure(fig, "plots/x.png")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

DEFAULT_TOP_FRACTIONS: tuple[float, ...] = (0.1, 0.2)


def _as_arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on an empty set")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must contain only 0/1 labels")
    if np.isnan(s).any():
        raise ValueError("score contains NaN")
    return y.astype(int), s


def top_k_count(n: int, fraction: float) -> int:
    """Number of rows in the top ``fraction`` of ``n`` (rounded up, at least one)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(n * fraction))


def _order(score: np.ndarray) -> np.ndarray:
    # Descending by score; ties keep input order (stable) so results are reproducible.
    return np.argsort(-score, kind="mergesort")


def capture_rate_at(y_true, score, fraction: float) -> float:
    """Share of all positives found in the top ``fraction`` of rows ranked by score.

    Also called recall@k / cumulative gain. 1.0 means every positive is in the top slice.
    """
    y, s = _as_arrays(y_true, score)
    if y.sum() == 0:
        return float("nan")
    k = top_k_count(y.size, fraction)
    return float(y[_order(s)[:k]].sum() / y.sum())


def lift_at(y_true, score, fraction: float) -> float:
    """Positive rate in the top ``fraction`` divided by the overall positive rate.

    A lift of 3 at 10% means the top decile holds three times as many churners as a random
    10% of customers would.
    """
    y, s = _as_arrays(y_true, score)
    base = y.mean()
    if base == 0:
        return float("nan")
    k = top_k_count(y.size, fraction)
    return float(y[_order(s)[:k]].mean() / base)


def binary_metrics(
    y_true, score, *, top_fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS, prefix: str = ""
) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier, log-loss, lift and capture rate at the top fractions.

    Keys: ``roc_auc``, ``pr_auc``, ``brier``, ``log_loss``, ``base_rate``, ``n``,
    ``lift_at_10pct``, ``capture_at_10pct``, ... each prefixed with ``prefix``.
    AUCs are NaN when only one class is present. Brier and log-loss treat ``score`` as a
    probability (clipped to [1e-15, 1 - 1e-15] for log-loss).
    """
    y, s = _as_arrays(y_true, score)
    two_classes = 0 < y.sum() < y.size
    out: dict[str, float] = {
        "n": float(y.size),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, s)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(s, 0.0, 1.0))),
        "log_loss": float(log_loss(y, np.clip(s, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
    for fraction in top_fractions:
        tag = f"{round(fraction * 100):d}pct"
        out[f"lift_at_{tag}"] = lift_at(y, s, fraction)
        out[f"capture_at_{tag}"] = capture_rate_at(y, s, fraction)
    return {f"{prefix}{k}": v for k, v in out.items()}


def bootstrap_ci(metric: Callable[[np.ndarray], float], n: int, *, reps: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(rows)`` over ``n`` items resampled with replacement."""
    rng = np.random.default_rng(seed)
    values = np.array([metric(rng.integers(0, n, n)) for _ in range(reps)])
    lo, hi = np.nanquantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_auc_difference(y_true, score_a, score_b, *, n_boot: int = 500, seed: int = 0,
                          level: float = 0.95) -> dict[str, float]:
    """ROC-AUC(a) - ROC-AUC(b) on the same rows, with a paired percentile-bootstrap interval.

    Rows are resampled once per replicate and both scores are evaluated on the same sample,
    so the interval is that of the difference; replicates with a single class are skipped.
    """
    y, a = _as_arrays(y_true, score_a)
    b = np.asarray(score_b, dtype=float)
    if b.shape != a.shape:
        raise ValueError(f"score_b has {b.size} values for {a.size} rows")
    if not 0 < y.sum() < y.size:
        return {"difference": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}

    def difference(rows: np.ndarray) -> float:
        yb = y[rows]
        if not 0 < yb.sum() < yb.size:
            return float("nan")
        return float(roc_auc_score(yb, a[rows]) - roc_auc_score(yb, b[rows]))

    lo, hi = bootstrap_ci(difference, y.size, reps=n_boot, seed=seed, level=level)
    return {"difference": difference(np.arange(y.size)), "ci_low": lo, "ci_high": hi}


def calibration_table(
    y_true, prob, *, n_bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Reliability table: per bin the mean predicted probability, observed rate and count.

    ``strategy='quantile'`` uses equal-count bins (robust for skewed risk scores),
    ``'uniform'`` equal-width bins on [0, 1]. Empty bins are dropped.
    """
    y, p = _as_arrays(y_true, prob)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    if edges.size < 2:
        edges = np.array([p.min(), p.max() + 1e-12])
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    frame = pd.DataFrame({"bin": bins, "y": y, "p": p})
    table = frame.groupby("bin").agg(
        mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size")
    )
    return table.reset_index(drop=True)


def expected_calibration_error(y_true, prob, *, n_bins: int = 10) -> float:
    """Count-weighted mean |observed - predicted| over equal-count bins."""
    table = calibration_table(y_true, prob, n_bins=n_bins)
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())


# --------------------------------------------------------------------------- plots


def _scores(scores: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    if isinstance(scores, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in scores.items()}
    return {"model": np.asarray(scores, dtype=float)}


def plot_roc(
    y_true, scores: Mapping[str, np.ndarray] | np.ndarray, *, title: str = "ROC"
) -> Figure:
    """ROC curves for one or several named scores on the same labels, with AUC in the legend."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    y = np.asarray(y_true, dtype=int)
    for name, s in _scores(scores).items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_pr(
    y_true, scores: Mapping[str, np.ndarray] | np.ndarray, *, title: str = "Precision-recall"
) -> Figure:
    """Precision-recall curves with average precision in the legend and the base rate as a line."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    y = np.asarray(y_true, dtype=int)
    for name, s in _scores(scores).items():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, label=f"{name} (AP {average_precision_score(y, s):.3f})")
    ax.axhline(y.mean(), ls="--", c="grey", lw=1, label=f"base rate {y.mean():.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", title=title, ylim=(0, 1.02))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_calibration(
    y_true,
    probs: Mapping[str, np.ndarray] | np.ndarray,
    *,
    n_bins: int = 10,
    title: str = "Calibration",
) -> Figure:
    """Reliability diagram (equal-count bins): observed rate vs mean predicted probability."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, p in _scores(probs).items():
        table = calibration_table(y_true, p, n_bins=n_bins)
        brier = brier_score_loss(np.asarray(y_true, dtype=int), np.clip(p, 0, 1))
        ax.plot(
            table["mean_predicted"],
            table["observed_rate"],
            marker="o",
            label=f"{name} (Brier {brier:.4f})",
        )
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed churn rate",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def gains_curve(y_true, score) -> pd.DataFrame:
    """Cumulative gains: for each fraction of rows contacted (by descending score), share of positives captured."""
    y, s = _as_arrays(y_true, score)
    ordered = y[_order(s)]
    captured = np.cumsum(ordered) / max(ordered.sum(), 1)
    fraction = np.arange(1, y.size + 1) / y.size
    return pd.DataFrame(
        {"fraction_contacted": np.r_[0.0, fraction], "capture_rate": np.r_[0.0, captured]}
    )


def plot_gains(
    y_true, scores: Mapping[str, np.ndarray] | np.ndarray, *, title: str = "Cumulative gains"
) -> Figure:
    """Cumulative gains curves with the random baseline and markers at 10% / 20% contacted."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, s in _scores(scores).items():
        curve = gains_curve(y_true, s)
        ax.plot(curve["fraction_contacted"], curve["capture_rate"], label=name)
        for fraction in DEFAULT_TOP_FRACTIONS:
            cap = capture_rate_at(y_true, s, fraction)
            ax.scatter([fraction], [cap], s=14)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    ax.set(
        xlabel="Fraction of customers contacted (highest risk first)",
        ylabel="Share of churners captured",
        title=title,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_contribution_summary(
    contributions: pd.DataFrame,
    values: pd.DataFrame,
    *,
    max_features: int = 15,
    title: str = "Feature contributions",
) -> Figure:
    """SHAP-style summary from per-row contributions (e.g. LightGBM ``pred_contrib=True``).

    Left: mean |contribution| per feature (bar). Right: beeswarm-like strip, one point per row,
    x = contribution (log-odds), colour = the feature's value rank within the rows (blue low,
    red high; grey for categorical/missing). ``contributions`` and ``values`` share columns and index.
    """
    importance = contributions.abs().mean().sort_values(ascending=False).head(max_features)
    features = list(importance.index)[::-1]
    fig = Figure(figsize=(11, 0.35 * len(features) + 1.8))
    ax_bar, ax_swarm = fig.subplots(
        1,
        2,
        gridspec_kw={"width_ratios": [1, 2]},
        sharey=True,
    )
    ax_bar.barh(range(len(features)), importance.loc[features].to_numpy(), color="#4878d0")
    ax_bar.set(
        xlabel="mean |contribution| (log-odds)", yticks=range(len(features)), yticklabels=features
    )
    rng = np.random.default_rng(0)
    cmap = matplotlib.colormaps["coolwarm"]
    for row, feature in enumerate(features):
        contrib = contributions[feature].to_numpy(dtype=float)
        raw = values[feature]
        numeric = pd.api.types.is_numeric_dtype(raw) and not isinstance(
            raw.dtype, pd.CategoricalDtype
        )
        if numeric:
            ranks = pd.Series(raw.to_numpy(dtype=float)).rank(pct=True).to_numpy()
            colours = [cmap(r) if np.isfinite(r) else (0.6, 0.6, 0.6, 1.0) for r in ranks]
        else:
            colours = [(0.6, 0.6, 0.6, 1.0)] * len(contrib)
        jitter = rng.uniform(-0.3, 0.3, size=len(contrib))
        ax_swarm.scatter(contrib, row + jitter, c=colours, s=5, alpha=0.6, linewidths=0)
    ax_swarm.axvline(0, c="grey", lw=1)
    ax_swarm.set(xlabel="contribution to churn log-odds (right = raises risk)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
