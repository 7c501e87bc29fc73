"""What drives overall satisfaction: relative importance of survey attributes.

Given survey answers (one row per respondent: an overall score and attribute ratings),
the importance of attribute ``j`` is its share of the explained variance (R²) of a linear
regression of the overall score on all attributes. Attributes are correlated (a customer
happy with delivery tends to be happy with service), so regression coefficients split
their common part arbitrarily; two methods split it fairly:

* **Johnson's relative weights** (Johnson 2000, *Multivariate Behavioral Research* 35:1-19):
  the attributes are replaced by their closest orthogonal counterparts ``Z = X R^{-1/2}``
  (``R`` the attributes' correlation matrix); ``y`` is regressed on ``Z`` (coefficients
  ``beta``) and each ``Z_k`` is mapped back onto the attributes through the loadings
  ``Lambda = R^{1/2}``: ``weight_j = sum_k Lambda_jk² beta_k²``.
* **Shapley-value regression** (LMG; Lipovetsky & Conklin 2001): ``weight_j`` is the
  increase in R² from adding attribute ``j``, averaged over every order of entry. Exact,
  over all ``2^p`` subsets (up to 15 attributes).

With both, the weights are non-negative and **sum to the model's R²** (``share`` = weight
/ R² sums to 1). Uncertainty: percentile intervals from a fixed number of bootstrap
resamples of respondents (seeded), for the weights and for each attribute's rank.

The **importance-performance matrix** puts each attribute at (mean rating, importance
share); the split lines are the mean rating over attributes and the mean share (1/p).
Quadrants: ``fix_first`` (important, rated low), ``keep_up`` (important, rated high),
``low_priority`` (less important, rated low), ``possible_overkill`` (less important,
rated high).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb

import numpy as np
import pandas as pd

METHODS = ("relative_weights", "shapley")
MAX_SHAPLEY_ATTRIBUTES = 15
#: quadrant -> (English, Chinese) name.
QUADRANTS: dict[str, tuple[str, str]] = {
    "fix_first": ("Fix first", "优先改进"),
    "keep_up": ("Keep up the good work", "继续保持"),
    "low_priority": ("Low priority", "次要改进"),
    "possible_overkill": ("Possible overkill", "适度投入"),
}


class DriversInputError(ValueError):
    """Survey data that cannot give attribute importances (too few rows, constant columns)."""


# --------------------------------------------------------------------------- core maths
def _correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix of the columns of ``x`` and their correlations with ``y``."""
    data = np.column_stack([x, y])
    corr = np.corrcoef(data, rowvar=False)
    return corr[:-1, :-1], corr[:-1, -1]


def relative_weights_from_corr(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Johnson's raw relative weights from the attributes' correlation matrix ``rxx`` and
    their correlations ``rxy`` with the overall score; they sum to R²."""
    eigval, eigvec = np.linalg.eigh(rxx)
    if eigval.min() <= 1e-10 * max(eigval.max(), 1.0):
        raise DriversInputError(
            "the attribute ratings are linearly dependent (one is a combination of others); "
            "drop the redundant attribute"
        )
    half = eigvec @ np.diag(np.sqrt(eigval)) @ eigvec.T  # R^{1/2} = loadings of X on Z
    beta = np.linalg.solve(half, rxy)  # coefficients of y on the orthogonal Z
    return (half**2) @ (beta**2)


def _r2_subsets(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """R² of every subset of attributes, indexed by bitmask (bit j = attribute j)."""
    p = len(rxy)
    r2 = np.zeros(1 << p)
    for mask in range(1, 1 << p):
        idx = [j for j in range(p) if mask >> j & 1]
        r2[mask] = float(rxy[idx] @ np.linalg.solve(rxx[np.ix_(idx, idx)], rxy[idx]))
    return r2


def shapley_from_corr(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Shapley decomposition of R² (LMG) from correlations; exact over all subsets."""
    p = len(rxy)
    if p > MAX_SHAPLEY_ATTRIBUTES:
        raise DriversInputError(
            f"Shapley regression over {p} attributes needs 2^{p} regressions; use relative weights "
            f"(at most {MAX_SHAPLEY_ATTRIBUTES} attributes for Shapley)"
        )
    r2 = _r2_subsets(rxx, rxy)
    masks = np.arange(1 << p)
    sizes = np.array([bin(m).count("1") for m in masks])
    weights = np.zeros(p)
    for j in range(p):
        without = masks[(masks >> j & 1) == 0]
        k = sizes[without]
        # Shapley weight of a coalition of size k out of the other p - 1 players
        w = 1.0 / (p * np.array([comb(p - 1, int(s)) for s in k]))
        weights[j] = float(np.sum(w * (r2[without | (1 << j)] - r2[without])))
    return weights


def importance_weights(x: np.ndarray, y: np.ndarray, method: str = "relative_weights") -> np.ndarray:
    """Importance of each column of ``x`` for ``y`` (non-negative, summing to R²)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rxx, rxy = _correlations(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    if method == "shapley":
        return shapley_from_corr(rxx, rxy)
    return relative_weights_from_corr(rxx, rxy)


def ols_r2(x: np.ndarray, y: np.ndarray) -> float:
    """R² of the least-squares regression of ``y`` on ``x`` with an intercept."""
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(1.0 - resid @ resid / np.sum((y - y.mean()) ** 2))


# --------------------------------------------------------------------------- survey tables
@dataclass
class DriverAnalysis:
    """The result of :func:`analyse_drivers`.

    ``table``: one row per attribute, most important first: ``attribute``, ``weight``
    (share of variance of the overall score it explains; the weights sum to ``r2``),
    ``weight_low`` / ``weight_high`` (bootstrap percentile CI), ``share`` (weight / R²)
    with ``share_low`` / ``share_high``, ``rank`` (1 = most important) with ``rank_low`` /
    ``rank_high`` (CI of the rank), ``performance`` (mean rating), ``quadrant``,
    ``quadrant_en``, ``quadrant_zh``.
    """

    table: pd.DataFrame
    r2: float
    overall: str
    attributes: list[str]
    method: str
    n_respondents: int
    n_dropped: int
    n_boot: int
    seed: int
    ci: float
    meta: dict = field(default_factory=dict)


def attribute_columns(frame: pd.DataFrame, overall: str, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns other than ids, time, the overall score, NPS and ``exclude``."""
    skip = {"customer_id", "timestamp", overall, "nps", "overall_satisfaction", *exclude}
    return [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]


def complete_rows(frame: pd.DataFrame, overall: str, attributes: Sequence[str]) -> pd.DataFrame:
    """Respondents who answered the overall question and every attribute (listwise)."""
    missing = [c for c in [overall, *attributes] if c not in frame.columns]
    if missing:
        raise DriversInputError(f"survey columns {missing} not found; columns are {list(frame.columns)}")
    data = frame[[overall, *attributes]].apply(pd.to_numeric, errors="coerce")
    return data.dropna()


def _check_usable(data: pd.DataFrame, overall: str, attributes: Sequence[str]) -> None:
    if len(attributes) < 2:
        raise DriversInputError(f"need at least two attribute ratings besides '{overall}', got {list(attributes)}")
    if len(data) < max(30, 3 * len(attributes)):
        raise DriversInputError(
            f"{len(data)} complete survey answers are too few for {len(attributes)} attributes "
            f"(need at least {max(30, 3 * len(attributes))})"
        )
    constant = [c for c in [overall, *attributes] if data[c].nunique() < 2]
    if constant:
        raise DriversInputError(f"column(s) {constant} have the same answer in every row; drop them")


def bootstrap_weights(
    x: np.ndarray, y: np.ndarray, *, method: str, n_boot: int, seed: int
) -> np.ndarray:
    """``n_boot`` x p matrix of importance weights on resampled respondents (fixed seed)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    out = np.empty((n_boot, x.shape[1]))
    for b in range(n_boot):
        rows = rng.integers(0, n, n)
        try:
            out[b] = importance_weights(x[rows], y[rows], method)
        except (DriversInputError, np.linalg.LinAlgError, FloatingPointError):
            out[b] = np.nan  # a degenerate resample (tiny data only); left out of the intervals
    return out


def _ranks(weights: np.ndarray) -> np.ndarray:
    """Rank 1 = largest weight (ties by position), per row of a matrix or for one vector."""
    w = np.atleast_2d(weights)
    order = np.argsort(-w, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(w.shape[0])[:, None], order] = np.arange(1, w.shape[1] + 1)
    return ranks if np.ndim(weights) == 2 else ranks[0]


def quadrants(importance_share: pd.Series, performance: pd.Series) -> pd.Series:
    """Importance-performance quadrant per attribute: split at the mean share (1/p) and the
    mean of the attributes' mean ratings."""
    important = importance_share >= importance_share.mean()
    good = performance >= performance.mean()
    out = np.where(important, np.where(good, "keep_up", "fix_first"), np.where(good, "possible_overkill", "low_priority"))
    return pd.Series(out, index=importance_share.index, dtype=object)


def analyse_drivers(
    frame: pd.DataFrame,
    overall: str,
    attributes: Sequence[str] | None = None,
    *,
    method: str = "relative_weights",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> DriverAnalysis:
    """Relative importance of ``attributes`` for ``overall``, with bootstrap CIs and quadrants.

    ``attributes`` default to every other numeric column (see :func:`attribute_columns`).
    Rows missing any of the columns are dropped (reported as ``n_dropped``). The bootstrap
    draws ``n_boot`` resamples with ``seed``: the same input gives the same intervals.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be within (0, 1), got {ci}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    attributes = list(attributes) if attributes is not None else attribute_columns(frame, overall)
    data = complete_rows(frame, overall, attributes)
    _check_usable(data, overall, attributes)
    x = data[attributes].to_numpy(dtype=float)
    y = data[overall].to_numpy(dtype=float)
    weights = importance_weights(x, y, method)
    r2 = float(weights.sum())
    boot = bootstrap_weights(x, y, method=method, n_boot=n_boot, seed=seed) if n_boot else np.empty((0, len(attributes)))
    alpha = (1 - ci) / 2
    ok = boot[np.isfinite(boot).all(axis=1)]
    if len(ok):
        low, high = np.quantile(ok, [alpha, 1 - alpha], axis=0)
        shares_boot = ok / ok.sum(axis=1, keepdims=True)
        share_low, share_high = np.quantile(shares_boot, [alpha, 1 - alpha], axis=0)
        rank_boot = _ranks(ok)
        rank_low, rank_high = np.quantile(rank_boot, [alpha, 1 - alpha], axis=0, method="nearest")
    else:
        low = high = share_low = share_high = rank_low = rank_high = np.full(len(attributes), np.nan)
    table = pd.DataFrame({
        "attribute": attributes,
        "weight": weights,
        "weight_low": low,
        "weight_high": high,
        "share": weights / r2,
        "share_low": share_low,
        "share_high": share_high,
        "rank": _ranks(weights),
        "rank_low": rank_low,
        "rank_high": rank_high,
        "performance": data[attributes].mean().to_numpy(),
    })
    table["quadrant"] = quadrants(table["share"], table["performance"]).to_numpy()
    table["quadrant_en"] = table["quadrant"].map(lambda q: QUADRANTS[q][0])
    table["quadrant_zh"] = table["quadrant"].map(lambda q: QUADRANTS[q][1])
    table = table.sort_values(["rank"], kind="stable").reset_index(drop=True)
    return DriverAnalysis(
        table=table, r2=r2, overall=overall, attributes=attributes, method=method,
        n_respondents=len(data), n_dropped=len(frame) - len(data), n_boot=n_boot, seed=seed, ci=ci,
        meta={"ols_r2": ols_r2(x, y), "bootstrap_failed": int(len(boot) - len(ok))},
    )


def analyse_drivers_by_segment(
    frame: pd.DataFrame,
    overall: str,
    segment: str,
    attributes: Sequence[str] | None = None,
    *,
    min_respondents: int = 100,
    **kwargs,
) -> pd.DataFrame:
    """:func:`analyse_drivers` within each value of ``segment``; segments with fewer than
    ``min_respondents`` complete answers are skipped. Long table with a ``segment`` column
    and each segment's ``r2`` and ``n_respondents``."""
    if segment not in frame.columns:
        raise DriversInputError(f"segment column '{segment}' not found; columns are {list(frame.columns)}")
    attributes = list(attributes) if attributes is not None else attribute_columns(frame, overall, exclude=[segment])
    parts = []
    for value, group in frame.groupby(segment, sort=True, dropna=True):
        if len(complete_rows(group, overall, attributes)) < min_respondents:
            continue
        result = analyse_drivers(group, overall, attributes, **kwargs)
        part = result.table.copy()
        part.insert(0, "segment", str(value))
        part["r2"] = result.r2
        part["n_respondents"] = result.n_respondents
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["segment", "attribute", "weight", "r2", "n_respondents"])
    return pd.concat(parts, ignore_index=True)


def pick_overall(frame: pd.DataFrame, overall: str | None = None) -> str:
    """The overall-score column: ``overall`` if given, else ``overall_satisfaction``, else ``nps``."""
    if overall is not None:
        if overall not in frame.columns:
            raise DriversInputError(f"overall column '{overall}' not found; columns are {list(frame.columns)}")
        return overall
    for candidate in ("overall_satisfaction", "nps"):
        if candidate in frame.columns and frame[candidate].notna().any():
            return candidate
    raise DriversInputError(
        "no overall score: the survey needs an 'overall_satisfaction' or 'nps' column, or name one "
        f"with --overall; columns are {list(frame.columns)}"
    )


__all__ = [
    "DriverAnalysis", "DriversInputError", "METHODS", "QUADRANTS", "analyse_drivers",
    "analyse_drivers_by_segment", "attribute_columns", "bootstrap_weights", "importance_weights",
    "ols_r2", "pick_overall", "quadrants", "relative_weights_from_corr", "shapley_from_corr",
]
