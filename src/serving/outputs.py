"""The scored customer list: column order, derived display columns and file writers.

Writers are atomic (temp file, then rename) and deterministic: the same frame gives
byte-identical CSV and Parquet (no timestamps inside the files; the run id is a column).
CSV and XLSX are formula-safe (:func:`custsat.data.io.formula_safe`: text that a
spreadsheet would run as a formula gets a leading ``'``; XLSX text is stored as text).
XLSX gets a formatted header, frozen panes, tier and risk colouring and a summary sheet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_path, csv_safe, formula_safe, xlsx_cell

#: Columns of the scored list, in order (extra columns, when present, follow).
SCORED_LIST_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "rfm_segment", "abc_class", "value_tier", "lifecycle_stage",
    "satisfaction_tier", "nps_category", "sentiment_mean", "complaints_open",
    "top_topics",
    "churn_probability", "churn_risk_tier", "churn_reasons",
    "clv", "clv_low", "clv_high", "clv_tier", "expected_remaining_lifetime_days",
    "recommended_action", "action_reason", "priority",
    "action_id", "campaign_id", "treatment_group", "intended_action_id",
    "sentiment_model_version", "topic_model_version", "churn_model_version", "clv_model_version",
    "scoring_run_id",
)
FORMATS = ("csv", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575
_TOPIC_COUNT = re.compile(r"^topic_(?P<id>.+)_count$")

# Fill colours (ARGB) for tier and risk cells in XLSX.
_RED, _AMBER, _GREEN, _GREY = "FFF8CBAD", "FFFFE699", "FFC6EFCE", "FFEDEDED"
TIER_COLOURS: dict[str, dict[str, str]] = {
    "churn_risk_tier": {"high": _RED, "medium": _AMBER, "low": _GREEN},
    "value_tier": {"high": _GREEN, "medium": _AMBER, "low": _GREY},
    "clv_tier": {"high": _GREEN, "medium": _AMBER, "low": _GREY},
    "satisfaction_tier": {"high": _GREEN, "medium": _AMBER, "low": _RED},
    "abc_class": {"A": _GREEN, "B": _AMBER, "C": _GREY},
    "nps_category": {"promoter": _GREEN, "passive": _AMBER, "detractor": _RED},
}


def topic_count_columns(columns: Sequence[str]) -> dict[str, str]:
    """Map ``topic_<id>_count`` columns to their topic ids."""
    return {c: m.group("id") for c in columns if (m := _TOPIC_COUNT.match(c))}


def top_topics(features: pd.DataFrame, *, k: int = 3) -> pd.Series:
    """"delivery:3; after_sales:1": the ``k`` most frequent complaint topics per customer.

    Read from the ``topic_<id>_count`` feature columns; ties are broken by topic id, topics
    with a zero count are left out, a customer without complaint topics gets "".
    """
    mapping = topic_count_columns(list(features.columns))
    if not mapping:
        return pd.Series("", index=features.index, dtype=object)
    cols = sorted(mapping, key=lambda c: mapping[c])
    counts = features[cols].fillna(0).to_numpy(dtype="float64")
    ids = np.array([mapping[c] for c in cols], dtype=object)
    # stable sort by descending count keeps alphabetical order for ties
    order = np.argsort(-counts, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(counts))
    out = np.full(len(counts), "", dtype=object)
    # column by column over the ranks: counts are sorted, so a zero ends the row's list
    for j in range(order.shape[1]):
        count = counts[rows, order[:, j]]
        text = ids[order[:, j]] + ":" + count.astype(np.int64).astype(str).astype(object)
        out = np.where(count > 0, np.where(j == 0, text, out + "; " + text), out)
    return pd.Series(out, index=features.index, dtype=object)


def scoring_run_id(
    input_fingerprints: Mapping[str, str],
    model_versions: Mapping[str, str],
    as_of: Any,
    policy_fingerprint: str,
) -> str:
    """A deterministic id of one scoring: hash of inputs, model versions, as_of and policy."""
    payload = json.dumps(
        {
            "inputs": dict(sorted(input_fingerprints.items())),
            "models": dict(sorted((k, str(v)) for k, v in model_versions.items())),
            "as_of": str(pd.Timestamp(as_of).date()) if as_of is not None else None,
            "policy": policy_fingerprint,
        },
        sort_keys=True,
    )
    return "score-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Put the documented output columns first, in order; keep the rest after them."""
    first = [c for c in SCORED_LIST_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in first]
    return frame[first + rest]


def sort_by_priority(frame: pd.DataFrame) -> pd.DataFrame:
    """Most urgent first: action priority, then value at risk (CLV x churn), then id."""
    at_risk = frame.get("clv", pd.Series(0.0, index=frame.index)).fillna(0).astype(float) * frame.get(
        "churn_probability", pd.Series(0.0, index=frame.index)
    ).fillna(0).astype(float)
    cid = frame["customer_id"].astype(str)
    # rows usually arrive sorted by id (the features are): their position then ranks the ids,
    # and one lexsort of numbers replaces a three-key sort that factorises a million strings
    id_rank = np.arange(len(frame)) if cid.is_monotonic_increasing else cid.rank(method="dense").to_numpy()
    order = np.lexsort((id_rank, -at_risk.to_numpy(), frame["priority"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def infer_format(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "pq":
        return "parquet"
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the output format of {path} from its suffix; use .csv, .parquet or .xlsx or pass --format"
        )
    return suffix


def _clean_for_output(frame: pd.DataFrame, fmt: str | None = None) -> pd.DataFrame:
    """``frame`` ready to write: categorical columns as plain objects and, for ``fmt`` "csv"
    or "xlsx", text made formula-safe. Parquet (``fmt`` "parquet" or None) keeps values exact."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
    if fmt == "csv":
        out = csv_safe(out)
    elif fmt == "xlsx":
        out = formula_safe(out)
    return out


def write_scored(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    fmt: str | None = None,
    csv_bom: bool = False,
    summary: pd.DataFrame | None = None,
) -> Path:
    """Write the scored list atomically as CSV (UTF-8, optional BOM), Parquet or XLSX."""
    path = Path(path)
    fmt = infer_format(path, fmt)
    frame = _clean_for_output(frame, fmt)
    with atomic_write_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig" if csv_bom else "utf-8", lineterminator="\n")
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp, compression="zstd")
        else:
            write_xlsx(frame, tmp, summary=summary)
    return path


def write_xlsx(frame: pd.DataFrame, path: str | Path, *, summary: pd.DataFrame | None = None) -> None:
    """Formatted workbook: "customers" (bold header, frozen panes, filters, tier colours) and "summary"."""
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    if len(frame) > XLSX_MAX_ROWS:
        raise ValueError(
            f"{len(frame):,} customers do not fit in one Excel sheet (max {XLSX_MAX_ROWS:,} rows); "
            "write CSV or Parquet instead (--format parquet)"
        )
    wb = Workbook()
    ws = wb.active
    ws.title = "customers"
    columns = list(frame.columns)
    ws.append([xlsx_cell(ws, c) for c in columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([xlsx_cell(ws, v) for v in row])
    header_fill = PatternFill("solid", fgColor="FF1F4E78")
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFFFF")
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = "B2"
    last_row = len(frame) + 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last_row}"
    for j, col in enumerate(columns, start=1):
        letter = get_column_letter(j)
        sample = frame[col].astype(str).head(200)
        width = min(60, max(len(col), int(sample.str.len().max()) if len(sample) else 0) + 2)
        ws.column_dimensions[letter].width = max(8, width)
        if col in ("churn_probability",):
            for cell in ws[letter][1:]:
                cell.number_format = "0.0%"
        elif col in ("clv", "clv_low", "clv_high", "expected_remaining_lifetime_days"):
            for cell in ws[letter][1:]:
                cell.number_format = "#,##0.00" if col != "expected_remaining_lifetime_days" else "#,##0"
        elif col == "sentiment_mean":
            for cell in ws[letter][1:]:
                cell.number_format = "0.00"
        colours = TIER_COLOURS.get(col)
        if colours and last_row > 1:
            ref = f"{letter}2:{letter}{last_row}"
            for value, colour in colours.items():
                ws.conditional_formatting.add(
                    ref, CellIsRule(operator="equal", formula=[f'"{value}"'], fill=PatternFill("solid", bgColor=colour))
                )
    if "churn_probability" in columns and last_row > 1:
        letter = get_column_letter(columns.index("churn_probability") + 1)
        from openpyxl.formatting.rule import ColorScaleRule

        ws.conditional_formatting.add(
            f"{letter}2:{letter}{last_row}",
            ColorScaleRule(start_type="num", start_value=0, start_color="FFC6EFCE",
                           mid_type="num", mid_value=0.5, mid_color="FFFFE699",
                           end_type="num", end_value=1, end_color="FFF8CBAD"),
        )
    ss = wb.create_sheet("summary")
    summary = formula_safe(summary if summary is not None else summary_table(frame))
    ss.append([xlsx_cell(ss, c) for c in summary.columns])
    for row in summary.itertuples(index=False, name=None):
        ss.append([xlsx_cell(ss, v) for v in row])
    for cell in ss[1]:
        cell.font = Font(bold=True, color="FFFFFFFF")
        cell.fill = header_fill
    ss.freeze_panes = "A2"
    for j in range(1, len(summary.columns) + 1):
        ss.column_dimensions[get_column_letter(j)].width = 28 if j < 3 else 18
    wb.save(path)


def summary_table(scored: pd.DataFrame) -> pd.DataFrame:
    """Long table (section, value, customers, share, clv_total, value_at_risk) of tiers and actions."""
    rows = []
    n = max(len(scored), 1)
    clv = scored["clv"].fillna(0).astype(float) if "clv" in scored else pd.Series(0.0, index=scored.index)
    churn = (
        scored["churn_probability"].fillna(0).astype(float)
        if "churn_probability" in scored
        else pd.Series(0.0, index=scored.index)
    )
    at_risk = clv * churn
    rows.append(("total", "all customers", len(scored), 1.0, float(clv.sum()), float(at_risk.sum())))
    for section in ("recommended_action", "value_tier", "churn_risk_tier", "clv_tier", "satisfaction_tier",
                    "lifecycle_stage", "abc_class", "nps_category", "rfm_segment"):
        if section not in scored:
            continue
        keys = scored[section].astype(object).where(scored[section].notna(), "(missing)")
        grouped = pd.DataFrame({"k": keys, "clv": clv, "risk": at_risk}).groupby("k", sort=True)
        for key, g in grouped:
            rows.append((section, str(key), len(g), len(g) / n, float(g["clv"].sum()), float(g["risk"].sum())))
    return pd.DataFrame(rows, columns=["section", "value", "customers", "share", "clv_total", "value_at_risk"])


def leftover_temporaries(path: Path) -> list[Path]:
    """Temporary files an interrupted write of ``path`` left next to it (``.<name>.*.tmp``)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []


def prepare_output(path: Path) -> None:
    """Make sure ``path`` can be written before any costly work: its folder exists (created if
    need be) and accepts a file; leftovers of an interrupted earlier write are removed."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in leftover_temporaries(path):
        leftover.unlink(missing_ok=True)
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    Path(probe).unlink()


@contextlib.contextmanager
def written_together(*paths: Path | None) -> Iterator[list[Path | None]]:
    """Temporary paths for outputs that belong together (the list and its report); they replace
    their targets one right after the other, only when every one was written, so a failure or a
    kill never leaves a new list beside an old report."""
    import os
    import tempfile

    temps: list[Path | None] = []
    try:
        for path in paths:
            if path is None:
                temps.append(None)
                continue
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            temps.append(Path(name))
        yield temps
        for tmp, path in zip(temps, paths, strict=True):
            if tmp is not None and path is not None:
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
    finally:
        for tmp in temps:
            if tmp is not None and tmp.exists():
                tmp.unlink()
