"""Did an action work? Treated against control, with 95% intervals and a too-small warning.

Customers of one action in one campaign were split at random (hash of customer and campaign
id, :mod:`custsat.serving.campaigns`), so the difference of the groups' outcomes estimates
the action's average effect on the customers it was meant for, with no model:

* rates (retained, purchased, complained): difference of proportions, treated minus
  control, with **Newcombe's hybrid score interval** (Newcombe 1998, method 10: built from
  the two Wilson score intervals; good coverage for small groups and rates near 0 or 1);
* amounts and counts (spend, purchases, CSAT / NPS change, complaints): difference of
  means with the **Welch** t interval (unequal variances); customers without a value (e.g.
  no CSAT answer both before and after) are left out of that outcome.

A group is **too small to conclude** when either side has fewer than
:data:`MIN_GROUP` customers with a value, or when the minimum detectable effect (two-sided
5% test, 80% power) exceeds the outcome's limit: 5 percentage points for rates, 0.2
standard deviations for means. Such rows carry a ``warning``; their interval is still
given, but an effect below the MDE would usually be missed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_GROUP = 30
MDE_RATE_LIMIT = 0.05
MDE_SD_LIMIT = 0.2
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome: its column, how it is compared, its readable names."""

    column: str
    kind: str  # "rate" or "mean"
    en: str
    zh: str


OUTCOMES: tuple[OutcomeSpec, ...] = (
    OutcomeSpec("retained", "rate", "Retained (no churn in the window)", "留存率（窗口内未流失）"),
    OutcomeSpec("purchased", "rate", "Bought in the window", "窗口内有购买"),
    OutcomeSpec("purchases", "mean", "Orders per customer", "人均订单数"),
    OutcomeSpec("spend", "mean", "Spend per customer", "人均消费额"),
    OutcomeSpec("csat_change", "mean", "CSAT change (after - before)", "CSAT 变化（后 - 前）"),
    OutcomeSpec("nps_change", "mean", "NPS answer change (after - before)", "NPS 评分变化（后 - 前）"),
    OutcomeSpec("complaints_new", "mean", "New complaints per customer", "人均新增投诉"),
    OutcomeSpec("complained", "rate", "Complained in the window", "窗口内有投诉"),
)
DEFAULT_SEGMENTS = ("value_tier", "churn_risk_tier", "lifecycle_stage")


def _z(ci: float) -> float:
    return float(stats.norm.ppf(0.5 + ci / 2))


def wilson_interval(successes: float, n: float, ci: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN for n = 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    z = _z(ci)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(centre - half), float(centre + half)


def proportion_difference(x1: float, n1: float, x0: float, n0: float, ci: float = 0.95) -> tuple[float, float, float]:
    """(p1 - p0, low, high): Newcombe's hybrid score interval of a difference of proportions."""
    if n1 <= 0 or n0 <= 0:
        return float("nan"), float("nan"), float("nan")
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, ci)
    l0, u0 = wilson_interval(x0, n0, ci)
    d = p1 - p0
    return float(d), float(d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)), float(d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


def mean_difference(treated: np.ndarray, control: np.ndarray, ci: float = 0.95) -> tuple[float, float, float]:
    """(mean1 - mean0, low, high): Welch's t interval (NaN with fewer than two values a side)."""
    a = np.asarray(treated, dtype=float)
    b = np.asarray(control, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan"), float("nan")
    d = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return float(d), float(d), float(d)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = float(stats.t.ppf(0.5 + ci / 2, df))
    return float(d), float(d - t * se), float(d + t * se)


def minimum_detectable_effect(n1: int, n0: int, sd: float) -> float:
    """Smallest true difference a two-sided 5% test detects with 80% power: (z + z) sd sqrt(1/n1 + 1/n0)."""
    if n1 <= 0 or n0 <= 0:
        return float("inf")
    return float((stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)) * sd * np.sqrt(1 / n1 + 1 / n0))


def compare_groups(treated: pd.Series, control: pd.Series, spec: OutcomeSpec, ci: float = 0.95) -> dict:
    """One outcome, treated vs control: sizes, group values, difference, CI, MDE, warning."""
    a = pd.to_numeric(treated, errors="coerce").dropna().to_numpy(dtype=float)
    b = pd.to_numeric(control, errors="coerce").dropna().to_numpy(dtype=float)
    n1, n0 = len(a), len(b)
    if spec.kind == "rate":
        d, low, high = proportion_difference(a.sum(), n1, b.sum(), n0, ci)
        pooled = (a.sum() + b.sum()) / (n1 + n0) if n1 + n0 else float("nan")
        mde = minimum_detectable_effect(n1, n0, np.sqrt(pooled * (1 - pooled))) if n1 + n0 else float("inf")
        limit, mde_unit = MDE_RATE_LIMIT, mde
    else:
        d, low, high = mean_difference(a, b, ci)
        sd = float(np.std(b, ddof=1)) if n0 > 1 else float("nan")
        mde = minimum_detectable_effect(n1, n0, sd) if np.isfinite(sd) else float("inf")
        limit, mde_unit = MDE_SD_LIMIT, (mde / sd if sd and np.isfinite(sd) and sd > 0 else float("inf"))
    warning = ""
    if min(n1, n0) < MIN_GROUP:
        warning = f"too small to conclude: fewer than {MIN_GROUP} customers in a group"
    elif not mde_unit <= limit:
        shown = f"{mde:.1%}" if spec.kind == "rate" else f"{mde_unit:.2f} SD"
        warning = f"too small to conclude: only effects of at least {shown} would be detected"
    return {
        "n_treated": n1,
        "n_control": n0,
        "treated_value": float(a.mean()) if n1 else float("nan"),
        "control_value": float(b.mean()) if n0 else float("nan"),
        "difference": d,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(np.isfinite(low) and (low > 0 or high < 0)),
        "mde": mde,
        "warning": warning,
    }


def estimate_effects(
    frame: pd.DataFrame,
    *,
    outcomes: Sequence[OutcomeSpec] = OUTCOMES,
    segments: Sequence[str] = DEFAULT_SEGMENTS,
    ci: float = 0.95,
    action_column: str = "intended_action_id",
) -> pd.DataFrame:
    """Effects per campaign, action, segment and outcome.

    ``frame``: one row per customer with ``campaign_id``, ``action_column``,
    ``treatment_group`` (treated / control), the outcome columns and (optionally) the
    segment columns. Actions without a control group are left out (nothing to compare).
    Returns a long table: campaign_id, action_id, segment (``all`` or a column name),
    segment_value, outcome, outcome_en, outcome_zh, kind, n_treated, n_control,
    treated_value, control_value, difference, ci_low, ci_high, significant, mde, warning.
    """
    needed = ["campaign_id", action_column, "treatment_group"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"effects need columns {missing}; the frame has {list(frame.columns)}")
    bad = ~frame["treatment_group"].isin(["treated", "control"])
    if bad.any():
        raise ValueError(
            f"treatment_group must be 'treated' or 'control'; got {sorted(frame.loc[bad, 'treatment_group'].astype(str).unique())[:5]}"
        )
    specs = [o for o in outcomes if o.column in frame.columns]
    rows: list[dict] = []
    for (campaign, action), group in frame.groupby(["campaign_id", action_column], sort=True):
        if not group["treatment_group"].eq("control").any():
            continue
        slices: list[tuple[str, str, pd.DataFrame]] = [("all", "all", group)]
        for seg in segments:
            if seg in group.columns:
                for value, part in group.groupby(group[seg].astype(object).where(group[seg].notna(), "(missing)"), sort=True):
                    slices.append((seg, str(value), part))
        for seg, value, part in slices:
            treated = part[part["treatment_group"] == "treated"]
            control = part[part["treatment_group"] == "control"]
            for spec in specs:
                row = {"campaign_id": campaign, "action_id": action, "segment": seg, "segment_value": value,
                       "outcome": spec.column, "outcome_en": spec.en, "outcome_zh": spec.zh, "kind": spec.kind}
                row.update(compare_groups(treated[spec.column], control[spec.column], spec, ci))
                rows.append(row)
    columns = ["campaign_id", "action_id", "segment", "segment_value", "outcome", "outcome_en", "outcome_zh", "kind",
               "n_treated", "n_control", "treated_value", "control_value", "difference", "ci_low", "ci_high",
               "significant", "mde", "warning"]
    return pd.DataFrame(rows, columns=columns)


def headline(effects: pd.DataFrame, outcome: str = "retained") -> pd.DataFrame:
    """The whole-group rows of one outcome (one per campaign and action)."""
    return effects[(effects["segment"] == "all") & (effects["outcome"] == outcome)].reset_index(drop=True)


def outcome_names() -> Mapping[str, tuple[str, str]]:
    return {o.column: (o.en, o.zh) for o in OUTCOMES}
