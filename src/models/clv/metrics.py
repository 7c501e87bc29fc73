"""Holdout metrics of spend forecasts and their paired-bootstrap confidence intervals.

Every metric compares per-customer forecasts of the spend over a holdout period with the
realised spend (currency units, one value per customer, zeros included):

* ``total_error_pct`` — 100 × (Σ forecast / Σ actual − 1);
* ``mae``, ``rmse`` — per customer;
* ``spearman`` — rank correlation (ties take their mean rank, in forecasts and actuals);
* ``gini`` — normalised Gini: the area between the cumulative-spend curve of customers ranked
  by forecast and the diagonal, over the same area for the ranking by actual spend (1 is a
  perfect ranking, 0 a random one; tied forecasts count as one block);
* ``top10_capture`` — share of all holdout spend made by the 10% of customers with the highest
  forecasts (ties at the cut-off share the remaining places pro rata);
* ``coverage``, ``coverage_buyers``, ``coverage_nonbuyers`` — share of customers whose realised
  spend lies in their prediction interval, over all, over holdout buyers and over the rest;
* ``pinball`` — mean pinball (quantile) loss at 0.1, 0.5 and 0.9, a proper score of the
  predictive distribution; a point forecast is scored as a distribution with all its mass on
  the point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

PINBALL_LEVELS = (0.1, 0.5, 0.9)
LOWER_IS_BETTER = {"abs_total_error_pct", "mae", "rmse", "pinball"}
METRIC_LABELS = {
    "total_error_pct": "total error (%)",
    "mae": "MAE",
    "rmse": "RMSE",
    "spearman": "Spearman",
    "gini": "normalised Gini",
    "top10_capture": "top-10% capture",
    "coverage": "80% coverage",
    "coverage_buyers": "coverage, buyers",
    "coverage_nonbuyers": "coverage, non-buyers",
    "pinball": "pinball (0.1/0.5/0.9)",
}


@dataclass(frozen=True)
class Forecast:
    """One model's forecasts for the customers of a holdout, in the holdout's row order."""

    point: np.ndarray
    quantiles: Mapping[float, np.ndarray] | None = None  # level -> per-customer quantile
    interval: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, rows: np.ndarray) -> Forecast:
        return Forecast(
            self.point[rows],
            None if self.quantiles is None else {q: v[rows] for q, v in self.quantiles.items()},
            None if self.interval is None else (self.interval[0][rows], self.interval[1][rows]),
        )


def top_share(actual, score, fraction: float = 0.1) -> float:
    """Share of Σ ``actual`` held by the top ``fraction`` of rows ranked by ``score``.

    Rows tied with the last selected one share the remaining places pro rata (so the result
    does not depend on the row order).
    """
    actual = np.asarray(actual, dtype=float)
    score = np.asarray(score, dtype=float)
    total = actual.sum()
    if not total:
        return float("nan")
    k = max(1, int(np.ceil(len(actual) * fraction)))
    cut = np.sort(score)[::-1][k - 1]
    above = score > cut
    tied = score == cut
    share_of_ties = (k - above.sum()) / tied.sum()
    return float((actual[above].sum() + share_of_ties * actual[tied].sum()) / total)


def _gains_area(actual: np.ndarray, score: np.ndarray) -> float:
    """Area under the cumulative-share-of-actual curve, customers ranked by ``score`` (high first)."""
    order = np.argsort(-score, kind="mergesort")
    s, a = score[order], actual[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group_actual = np.add.reduceat(a, starts)
    group_size = np.diff(np.r_[starts, len(a)])
    x = np.r_[0.0, np.cumsum(group_size)] / len(a)
    y = np.r_[0.0, np.cumsum(group_actual)] / a.sum()
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def normalized_gini(actual, score) -> float:
    """Gini of the ranking by ``score`` over the Gini of the ranking by ``actual`` itself."""
    actual = np.asarray(actual, dtype=float)
    score = np.asarray(score, dtype=float)
    if actual.sum() <= 0:
        return float("nan")
    return (_gains_area(actual, score) - 0.5) / (_gains_area(actual, actual) - 0.5)


def pinball_loss(actual, quantile, level: float) -> float:
    """Mean pinball loss of the ``level``-quantile forecasts."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return float(np.mean(np.maximum(level * diff, (level - 1.0) * diff)))


def spend_metrics(actual, forecast: Forecast, bought=None) -> dict[str, float]:
    """All metrics of the module doc for one model (NaN where the model has no interval)."""
    y = np.asarray(actual, dtype=float)
    p = np.asarray(forecast.point, dtype=float)
    bought = y > 0 if bought is None else np.asarray(bought, dtype=bool)
    out = {
        "total_error_pct": 100.0 * (p.sum() / y.sum() - 1.0) if y.sum() else float("nan"),
        "mae": float(np.mean(np.abs(p - y))),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "spearman": float(stats.spearmanr(p, y).statistic) if np.ptp(p) > 0 else float("nan"),
        "gini": normalized_gini(y, p),
        "top10_capture": top_share(y, p, 0.1),
    }
    if forecast.interval is not None:
        low, high = forecast.interval
        inside = (y >= low - 1e-9) & (y <= high + 1e-9)
        out["coverage"] = float(inside.mean())
        out["coverage_buyers"] = float(inside[bought].mean()) if bought.any() else float("nan")
        out["coverage_nonbuyers"] = float(inside[~bought].mean()) if (~bought).any() else float("nan")
    else:
        out["coverage"] = out["coverage_buyers"] = out["coverage_nonbuyers"] = float("nan")
    quantiles = forecast.quantiles or {level: p for level in PINBALL_LEVELS}
    out["pinball"] = float(np.mean([pinball_loss(y, quantiles[level], level) for level in PINBALL_LEVELS]))
    return out


def paired_bootstrap(
    actual,
    forecasts: Mapping[str, Forecast],
    reference: str,
    *,
    n_boot: int = 200,
    seed: int = 0,
    metric_fn: Callable[[np.ndarray, Forecast], dict[str, float]] = spend_metrics,
) -> pd.DataFrame:
    """95% percentile intervals of (model − reference) for every metric, resampling customers.

    The same resampled customers score every model in a replicate (paired), so the interval
    reflects the uncertainty of the *difference*. Returns one row per (model, metric) with the
    observed difference and its 2.5% and 97.5% bootstrap quantiles.
    """
    y = np.asarray(actual, dtype=float)
    rng = np.random.default_rng(seed)
    names = [n for n in forecasts if n != reference]
    observed_ref = metric_fn(y, forecasts[reference])
    observed = {n: metric_fn(y, forecasts[n]) for n in names}
    draws: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for _ in range(n_boot):
        rows = rng.integers(0, len(y), len(y))
        yb = y[rows]
        ref = metric_fn(yb, forecasts[reference].take(rows))
        for n in names:
            m = metric_fn(yb, forecasts[n].take(rows))
            draws[n].append({k: m[k] - ref[k] for k in m})
    records = []
    for n in names:
        frame = pd.DataFrame(draws[n])
        for metric in frame.columns:
            diff = observed[n][metric] - observed_ref[metric]
            values = frame[metric].dropna()
            lo, hi = (np.quantile(values, [0.025, 0.975]) if len(values) else (np.nan, np.nan))
            records.append({"model": n, "metric": metric, "difference": diff, "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(records)


def decile_table(actual, point) -> pd.DataFrame:
    """Mean forecast and mean actual holdout spend per decile of the forecast (1 = lowest)."""
    point = pd.Series(np.asarray(point, dtype=float))
    rank = point.rank(method="first")
    decile = np.ceil(rank / len(rank) * 10).astype(int)
    frame = pd.DataFrame({"decile": decile, "predicted": point, "actual": np.asarray(actual, dtype=float)})
    return frame.groupby("decile")[["predicted", "actual"]].mean()
