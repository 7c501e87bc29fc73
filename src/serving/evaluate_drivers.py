"""``custsat evaluate drivers``: which survey attributes drive overall satisfaction.

Reads a survey file (the ``surveys`` contract: ``customer_id``, optional ``timestamp``, an
overall score and attribute ratings; a mapping file renames an export's headers), runs
:func:`custsat.models.drivers.analyse_drivers` (and, with ``segment``, the same per
segment), writes the importance table as CSV, records it in MLflow (experiment
``custsat-drivers``) and, with ``report``, writes the report section as an HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.data.contracts import check_values, parse_table
from custsat.data.io import read_table, write_table
from custsat.models.drivers import (
    DriverAnalysis,
    analyse_drivers,
    analyse_drivers_by_segment,
    attribute_columns,
    pick_overall,
)
from custsat.serving.evaluate_actions import _formula_safe, _slug


@dataclass
class DriversEvaluation:
    analysis: DriverAnalysis
    by_segment: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None


def read_surveys(path: str | Path, *, mapping: str | Path | None = None) -> pd.DataFrame:
    """A survey file as a parsed ``surveys`` table (mapping applied; numbers and dates parsed).

    Columns outside the contract are kept; text answers in them stay text and are not
    used as ratings (numeric-looking text columns are converted).
    """
    frame = read_table(path, table="surveys")
    if mapping is not None:
        from custsat.data.mapping import apply_mapping, load_mapping

        mappings = load_mapping(mapping)
        if "surveys" in mappings:
            frame = apply_mapping(frame, mappings["surveys"], source=str(path))
    parsed = parse_table("surveys", frame, source=str(path))
    check_values("surveys", parsed, source=str(path))
    for column in parsed.columns:
        if parsed[column].dtype == object and column not in ("customer_id",):
            numbers = pd.to_numeric(parsed[column], errors="coerce")
            if numbers.notna().sum() == parsed[column].notna().sum() and numbers.notna().any():
                parsed[column] = numbers.astype("float64")
    return parsed


def evaluate_drivers(
    surveys: str | Path | pd.DataFrame,
    overall: str | None = None,
    *,
    attributes: list[str] | None = None,
    segment: str | None = None,
    mapping: str | Path | None = None,
    method: str = "relative_weights",
    n_boot: int = 1000,
    seed: int | None = None,
    out: str | Path | None = None,
    report: str | Path | None = None,
    log_run: bool = True,
) -> DriversEvaluation:
    """Importance of each attribute for the overall score, with CIs and quadrants.

    ``overall``: the overall column (default ``overall_satisfaction``, else ``nps``);
    ``attributes``: default every other numeric column; ``segment``: also per value of this
    column; ``seed``: bootstrap seed (default: the settings' seed). ``out``: CSV (the
    overall table, then the per-segment rows with their ``segment``).
    """
    if seed is None:
        from custsat.config import get_settings

        seed = int(get_settings().seed)
    frame = surveys if isinstance(surveys, pd.DataFrame) else read_surveys(surveys, mapping=mapping)
    overall = pick_overall(frame, overall)
    attrs = attributes or attribute_columns(frame, overall, exclude=[segment] if segment else [])
    analysis = analyse_drivers(frame, overall, attrs, method=method, n_boot=n_boot, seed=seed)
    by_segment = (analyse_drivers_by_segment(frame, overall, segment, attrs, method=method, n_boot=n_boot, seed=seed)
                  if segment else None)
    metadata = {
        "source": str(surveys) if not isinstance(surveys, pd.DataFrame) else "<frame>",
        "overall": overall, "attributes": attrs, "method": method, "n_boot": n_boot, "seed": seed,
        "r2": analysis.r2, "n_respondents": analysis.n_respondents, "n_dropped": analysis.n_dropped,
        "fingerprint": tracking.fingerprint_frames(frame[[overall, *attrs]]),
    }
    if out is not None:
        table = analysis.table.assign(segment="all", r2=analysis.r2, n_respondents=analysis.n_respondents)
        if by_segment is not None and len(by_segment):
            table = pd.concat([table, by_segment], ignore_index=True)
        write_table(_formula_safe(table[["segment", *[c for c in table.columns if c != "segment"]]]), out)
        metadata["csv"] = str(out)
    result = DriversEvaluation(analysis=analysis, by_segment=by_segment, metadata=metadata)
    if report is not None:
        from custsat.serving.whatworks_report import write_whatworks_report

        write_whatworks_report(report, drivers=analysis, title="What drives satisfaction")
        metadata["report"] = str(report)
    if log_run:
        result.mlflow_run_id = _log(result, out)
    return result


def _log(result: DriversEvaluation, csv_path: str | Path | None) -> str:
    meta, analysis = result.metadata, result.analysis
    params = {"overall": meta["overall"], "method": meta["method"], "n_boot": meta["n_boot"], "seed": meta["seed"],
              "attributes": ",".join(meta["attributes"])[:500]}
    with tracking.start_run("drivers", run_name=f"drivers-{meta['overall']}", data_fingerprint=meta["fingerprint"],
                            params=params) as run:
        metrics = {"r2": analysis.r2, "n_respondents": analysis.n_respondents, "n_dropped": analysis.n_dropped}
        for i, row in enumerate(analysis.table.itertuples(index=False)):
            key = f"{i:02d}_{_slug(row.attribute)}"[:200]  # ordered by importance; MLflow keys are ASCII
            metrics[f"weight.{key}"] = row.weight
            metrics[f"rank.{key}"] = row.rank
        tracking.log_metrics(metrics)
        tracking.log_dict(analysis.table.to_dict(orient="records"), "drivers.json")
        if csv_path is not None:
            tracking.log_artifact(csv_path)
        return run.info.run_id
