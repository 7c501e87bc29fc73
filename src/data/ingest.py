"""Ingest: read users' exports, map their headers, validate, write contract Parquet."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from custsat.data.contracts import validate_tables
from custsat.data.io import read_table, write_table
from custsat.data.mapping import TableMapping, apply_mapping


def read_inputs(
    inputs: Mapping[str, str | Path], mappings: Mapping[str, TableMapping] | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, str | dict[str, str] | None]]:
    """Read each table's file (the mapping's sheet of a workbook) and apply its mapping;
    return the frames and their date formats."""
    frames, date_formats = {}, {}
    for table, path in inputs.items():
        mapping = (mappings or {}).get(table)
        frame = read_table(path, table=table, sheet=mapping.sheet if mapping else None)
        if mapping is not None:
            frame = apply_mapping(frame, mapping, source=str(path))
        frames[table] = frame
        date_formats[table] = mapping.date_format if mapping else None
    return frames, date_formats


def load_validated(
    inputs: Mapping[str, str | Path],
    mappings: Mapping[str, TableMapping] | None = None,
    *,
    unknown_customers: str | None = None,
    now=None,
) -> dict[str, pd.DataFrame]:
    """Read, map and validate a set of input files; nothing is written."""
    frames, date_formats = read_inputs(inputs, mappings)
    return validate_tables(
        frames,
        unknown_customers=unknown_customers,
        now=now,
        date_format=date_formats,
        decimal={table: mapping.decimal for table, mapping in (mappings or {}).items()},
        sources={table: str(path) for table, path in inputs.items()},
    )


def ingest(
    inputs: Mapping[str, str | Path],
    out_dir: str | Path,
    mappings: Mapping[str, TableMapping] | None = None,
    *,
    unknown_customers: str | None = None,
) -> dict[str, Path]:
    """Validate every input first, then write ``<out_dir>/<table>.parquet`` for each.

    Nothing is written unless every table passes, so a failed ingest leaves the previous
    outputs untouched.
    """
    parsed = load_validated(inputs, mappings, unknown_customers=unknown_customers)
    out_dir = Path(out_dir)
    return {table: write_table(frame, out_dir / f"{table}.parquet") for table, frame in parsed.items()}
