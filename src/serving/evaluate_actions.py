"""``custsat evaluate actions``: did the actions of an old scored list work?

Joins an old scored list with control groups (``campaign_id``, ``treatment_group``,
``intended_action_id``, ``campaign_start``; see :mod:`custsat.serving.campaigns`) with newer
data, measures each customer's outcomes in the window after the campaign start
(:mod:`custsat.features.outcomes`) and compares treated with control customers per
campaign, action and segment (:mod:`custsat.models.effects`). Writes the effects as CSV,
records them in MLflow (experiment ``custsat-actions``) and returns what the report needs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.data.io import read_table, write_table
from custsat.features.outcomes import OUTCOME_COLUMNS, customer_outcomes
from custsat.models.effects import DEFAULT_SEGMENTS, estimate_effects, headline
from custsat.serving.campaigns import group_sizes

log = logging.getLogger(__name__)
LIST_COLUMNS = ("customer_id", "campaign_id", "treatment_group")


class ActionEvaluationError(ValueError):
    """An old list or new data that cannot be evaluated (no control groups, unknown start)."""


@dataclass
class ActionEvaluation:
    """Effects of one evaluation and what the report shows."""

    effects: pd.DataFrame
    group_sizes: pd.DataFrame
    customers: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def retention(self) -> pd.DataFrame:
        """The headline rows: effect on retention per campaign and action."""
        return headline(self.effects, "retained")


def parse_window(value: Any) -> int:
    """Window length in days from ``90``, ``"90"`` or ``"90d"``."""
    match = re.fullmatch(r"\s*(\d+)\s*d?\s*", str(value))
    if not match or int(match.group(1)) < 1:
        raise ActionEvaluationError(f"window {value!r} is not a number of days; use e.g. 90d")
    return int(match.group(1))


def read_campaign_list(path: str | Path, campaign_start: Any = None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The old scored list, checked: control-group columns present, one start per list."""
    frame = read_table(path, table="scored list")
    missing = [c for c in LIST_COLUMNS if c not in frame.columns]
    if "intended_action_id" not in frame.columns and "action_id" not in frame.columns:
        missing.append("intended_action_id")
    if missing:
        raise ActionEvaluationError(
            f"{path}: the scored list has no control groups (missing column(s) {missing}); score with a campaign "
            "id so that the list carries campaign_id, treatment_group and intended_action_id"
        )
    frame = frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(str).str.strip()
    if "intended_action_id" not in frame.columns:
        frame["intended_action_id"] = frame["action_id"]
    groups = frame["treatment_group"].astype(str).str.strip().str.lower()
    bad = ~groups.isin(["treated", "control"])
    if bad.any():
        rows = frame.loc[bad, ["customer_id", "treatment_group"]].head(5)
        raise ActionEvaluationError(f"{path}, column 'treatment_group': values must be treated/control, e.g.\n{rows.to_string()}")
    frame["treatment_group"] = groups
    if frame["customer_id"].duplicated().any():
        dup = frame.loc[frame["customer_id"].duplicated(keep=False), "customer_id"].head(5).tolist()
        raise ActionEvaluationError(f"{path}, column 'customer_id': duplicated customers, e.g. {dup}")
    if campaign_start is None:
        if "campaign_start" not in frame.columns:
            raise ActionEvaluationError(
                f"{path}: no 'campaign_start' column; pass the date the list was put into action (--campaign-start)"
            )
        starts = pd.to_datetime(frame["campaign_start"], errors="coerce").dropna().unique()
        if len(starts) != 1:
            raise ActionEvaluationError(
                f"{path}, column 'campaign_start': expected one start date, found {len(starts)}; "
                "evaluate one list (one scoring) at a time or pass --campaign-start"
            )
        campaign_start = starts[0]
    return frame, pd.Timestamp(campaign_start)


def _formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v)
    return out


def evaluate_actions(
    scored_path: str | Path,
    input_dir: str | Path | None,
    window_days: Any = 90,
    *,
    campaign_start: Any = None,
    out: str | Path | None = None,
    segments: tuple[str, ...] = DEFAULT_SEGMENTS,
    baseline_days: int = 365,
    log_run: bool = True,
    unknown_customers: str | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> ActionEvaluation:
    """Effects of the actions of the list at ``scored_path``, from the data in ``input_dir``.

    ``window_days``: outcome window after ``campaign_start`` (``90`` or ``"90d"``);
    ``campaign_start`` defaults to the list's ``campaign_start`` column. ``out``: CSV of
    the effects table (written atomically). Customers of the list missing from the new
    data count as not retained (they bought nothing); their number is in the metadata.
    ``tables``: the new data, already validated (scoring passes its own), instead of ``input_dir``.
    """
    from custsat.data.catalog import resolve_inputs
    from custsat.data.ingest import load_validated

    window = parse_window(window_days)
    listed, start = read_campaign_list(scored_path, campaign_start)
    if tables is None:
        tables = load_validated(resolve_inputs(input_dir), unknown_customers=unknown_customers)
    last_event = pd.Timestamp(tables["transactions"]["timestamp"].max())
    end = start + pd.Timedelta(days=window)
    outcomes = customer_outcomes(tables, listed["customer_id"], start, window, baseline_days=baseline_days)
    known = listed["customer_id"].isin(set(tables["customers"]["customer_id"].astype(str)))
    customers = listed.merge(outcomes, left_on="customer_id", right_index=True, how="left")
    effects = estimate_effects(customers, segments=segments)
    sizes = group_sizes(customers)
    metadata = {
        "scored_list": str(scored_path),
        "input_dir": str(input_dir),
        "campaign_start": str(start),
        "window_days": window,
        "window_end": str(end),
        "data_last_transaction": str(last_event),
        "window_complete": bool(last_event >= end - pd.Timedelta(days=1)),
        "customers": int(len(listed)),
        "customers_not_in_new_data": int((~known).sum()),
        "campaigns": sorted(listed["campaign_id"].astype(str).unique().tolist()),
        "input_fingerprints": {name: tracking.fingerprint_frames(frame) for name, frame in sorted(tables.items())},
        "list_fingerprint": tracking.fingerprint_files(scored_path),
    }
    if not metadata["window_complete"]:
        log.warning("the new data end at %s, before the %d-day window does (%s): outcomes are censored",
                    last_event, window, end)
    if out is not None:
        write_table(_formula_safe(effects), out)
        metadata["effects_csv"] = str(out)
    result = ActionEvaluation(effects=effects, group_sizes=sizes, customers=customers, metadata=metadata)
    if log_run:
        result.mlflow_run_id = log_action_run(result, out)
    return result


def _slug(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_").lower() or "x"


def log_action_run(result: ActionEvaluation, csv_path: str | Path | None = None) -> str | None:
    """Record an evaluation in MLflow (experiment ``custsat-actions``): per action and
    outcome the difference, its CI and the group sizes; the effects table as an artifact."""
    meta = result.metadata
    params = {"campaign_start": meta["campaign_start"], "window_days": meta["window_days"],
              "campaigns": ",".join(meta["campaigns"]), "list_fingerprint": meta["list_fingerprint"]}
    name = f"actions-{'-'.join(meta['campaigns'])}-{meta['window_days']}d"[:200]
    with tracking.start_run("actions", run_name=name, data_fingerprint=tracking.fingerprint_frames(
            pd.DataFrame({"fingerprint": sorted(meta["input_fingerprints"].values())})), params=params) as run:
        metrics: dict[str, float] = {"customers": meta["customers"],
                                     "customers_not_in_new_data": meta["customers_not_in_new_data"]}
        overall = result.effects[result.effects["segment"] == "all"]
        for row in overall.itertuples(index=False):
            key = f"{_slug(row.campaign_id)}.{_slug(row.action_id)}.{row.outcome}"
            metrics.update({f"{key}.difference": row.difference, f"{key}.ci_low": row.ci_low,
                            f"{key}.ci_high": row.ci_high})
            if row.outcome == "retained":
                metrics.update({f"{key}.n_treated": row.n_treated, f"{key}.n_control": row.n_control})
        tracking.log_metrics(metrics)
        tracking.log_dict({k: v for k, v in meta.items()}, "evaluation.json")
        tracking.log_dict(overall.to_dict(orient="records"), "effects_overall.json")
        if csv_path is not None:
            tracking.log_artifact(csv_path)
        return run.info.run_id


__all__ = ["ActionEvaluation", "ActionEvaluationError", "OUTCOME_COLUMNS", "evaluate_actions", "parse_window",
           "read_campaign_list"]
