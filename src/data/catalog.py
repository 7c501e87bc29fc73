"""The table catalogue: which tables custsat reads, where they are found and how they are read.

A folder holds a table as ``<table>.parquet``, ``<table>.csv`` or ``<table>.xlsx``. Exactly one
file per table: two (``customers.csv`` and ``customers.parquet``) are refused rather than
one silently preferred. ``customers`` and ``transactions`` are required wherever a company is
scored, profiled or trained on; ``feedback``, ``contracts`` and ``surveys`` are optional everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from custsat.data.io import InputFileError, read_table

#: Every contract table, in the order custsat reads them.
TABLES = ("customers", "transactions", "feedback", "contracts", "surveys")
REQUIRED_TABLES = ("customers", "transactions")
TABLE_SUFFIXES = (".parquet", ".csv", ".xlsx")


class TableNotFoundError(InputFileError):
    """A required table has no file in the folder (or a given file does not exist)."""


def find_tables(folder: str | Path, tables: Iterable[str] = TABLES) -> dict[str, Path]:
    """The files of ``tables`` present in ``folder`` (absent tables are left out)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for table in tables:
        candidates = [folder / f"{table}{suffix}" for suffix in TABLE_SUFFIXES if (folder / f"{table}{suffix}").is_file()]
        if len(candidates) > 1:
            raise InputFileError(
                f"{folder}: table '{table}' has several files ({', '.join(p.name for p in candidates)}); "
                "keep one, or pass the file explicitly"
            )
        if candidates:
            found[table] = candidates[0]
    return found


def resolve_inputs(
    input_dir: str | Path | None = None,
    explicit: Mapping[str, str | Path | None] | None = None,
    *,
    required: Iterable[str] = REQUIRED_TABLES,
) -> dict[str, Path]:
    """Input files by table: explicit paths win; the others are looked up in ``input_dir``.

    Raises :class:`TableNotFoundError` for a missing required table or a given file that does
    not exist, naming how to provide it.
    """
    paths = {table: Path(path) for table, path in (explicit or {}).items() if path is not None}
    unknown = sorted(set(paths) - set(TABLES))
    if unknown:
        raise InputFileError(f"unknown table(s) {unknown}; custsat reads {', '.join(TABLES)}")
    if input_dir is not None:
        if not Path(input_dir).is_dir():
            raise TableNotFoundError(f"input folder {input_dir} does not exist")
        for table, path in find_tables(input_dir, [t for t in TABLES if t not in paths]).items():
            paths[table] = path
    for table in required:
        if table not in paths:
            where = f" in {input_dir}" if input_dir else ""
            raise TableNotFoundError(
                f"no {table} file{where}: pass --{table} FILE or --input-dir with "
                f"{table}{'/'.join(TABLE_SUFFIXES)} (`make data` writes the synthetic demo to data/raw/synthetic)"
            )
    for table, path in paths.items():
        if not path.is_file():
            raise TableNotFoundError(f"{table} file {path} does not exist")
    return {table: paths[table] for table in TABLES if table in paths}


def read_tables(paths: Mapping[str, str | Path]) -> dict[str, pd.DataFrame]:
    """Read each table's file as it is (no parsing or validation)."""
    return {table: read_table(path, table=table) for table, path in paths.items()}


def load_validated_folder(
    folder: str | Path, *, required: Iterable[str] = REQUIRED_TABLES, unknown_customers: str | None = None
) -> dict[str, pd.DataFrame]:
    """Find, read and validate the contract tables of ``folder``."""
    from custsat.data.ingest import load_validated

    return load_validated(resolve_inputs(folder, required=required), unknown_customers=unknown_customers)


def load_training_tables(
    data_dir: str | Path | None, *, n_customers: int = 5000, seed: int = 42
) -> tuple[dict[str, pd.DataFrame], str]:
    """The CRM tables a model is trained on, and where they came from.

    ``data_dir`` (default ``data/raw/synthetic``) is read and validated when it holds the
    tables. Without ``data_dir`` and with no tables there, a synthetic company of
    ``n_customers`` is generated in memory (nothing is written).
    """
    from custsat.config import get_settings

    folder = Path(data_dir) if data_dir is not None else get_settings().raw_dir / "synthetic"
    if find_tables(folder, ["customers"]):
        return load_validated_folder(folder), str(folder)
    if data_dir is not None:
        raise TableNotFoundError(
            f"{folder}: no customers table there (write one with `custsat data synth --out {folder}`)")
    from custsat.data.synth import generate_crm

    crm = generate_crm(n_customers, seed=seed)
    return dict(crm.tables), f"generate_crm(n_customers={n_customers}, seed={seed}) (in memory; {folder} not found)"
