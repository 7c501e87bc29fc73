"""Risk tiers from calibrated churn probabilities, and the scored frame with reason codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from custsat.models.churn.estimator import TOP_K_REASONS, ChurnModel

TIERS: tuple[str, str, str] = ("high", "medium", "low")
DEFAULT_HIGH_THRESHOLD = 0.5
DEFAULT_MEDIUM_THRESHOLD = 0.2

#: Which rows get reason codes: every row, or the medium- and high-risk ones.
REASONS_FOR = ("all", "at_risk")


def risk_tiers(
    probability: Sequence[float] | np.ndarray,
    *,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    top_k: int | None = None,
) -> np.ndarray:
    """Risk tier per row: ``high`` / ``medium`` / ``low``.

    Thresholds (probabilities): ``p >= high_threshold`` is high, ``p >= medium_threshold``
    medium. With ``top_k`` (capacity, e.g. 500 calls a week) the ``top_k`` highest
    probabilities are high regardless of the threshold and every other row is at most medium;
    ties at the cut keep input order.
    """
    p = np.asarray(probability, dtype=float)
    if not 0 <= medium_threshold <= high_threshold <= 1:
        raise ValueError(
            f"need 0 <= medium_threshold ({medium_threshold}) <= high_threshold ({high_threshold}) <= 1"
        )
    tiers = np.where(
        p >= high_threshold, "high", np.where(p >= medium_threshold, "medium", "low")
    ).astype(object)
    if top_k is not None and top_k > 0:
        order = np.argsort(-p, kind="mergesort")
        tiers[tiers == "high"] = "medium"
        tiers[order[: int(top_k)]] = "high"
    return tiers


def score_frame(
    model: ChurnModel,
    X: pd.DataFrame,
    *,
    high_threshold: float = DEFAULT_HIGH_THRESHOLD,
    medium_threshold: float = DEFAULT_MEDIUM_THRESHOLD,
    top_k: int | None = None,
    top_k_reasons: int = TOP_K_REASONS,
    reasons: str = "all",
) -> pd.DataFrame:
    """``churn_probability``, ``risk_tier``, ``churn_reason_1..k`` and ``churn_reasons`` per row of ``X``.

    ``reasons="at_risk"`` explains only the medium- and high-risk rows (low-risk rows get
    empty reasons), which halves scoring time when half the customers are low risk.
    """
    if reasons not in REASONS_FOR:
        raise ValueError(f"reasons must be one of {REASONS_FOR}, got {reasons!r}")

    def tiers_of(p: np.ndarray) -> np.ndarray:
        return risk_tiers(p, high_threshold=high_threshold, medium_threshold=medium_threshold, top_k=top_k)

    at_risk = (lambda p: tiers_of(p) != "low") if reasons == "at_risk" else None
    p, reason_codes = model.predict_with_reasons(X, top_k=top_k_reasons, explain_rows=at_risk)
    out = pd.DataFrame({"churn_probability": p, "risk_tier": tiers_of(p)}, index=X.index)
    return pd.concat([out, reason_codes], axis=1)
