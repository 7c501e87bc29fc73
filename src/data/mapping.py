"""Column mappings: an export's own headers onto the custsat contracts.

A mapping YAML names, per contract table, the source file's header for each contract
column, plus optional parsing hints::

    tables:
      transactions:
        columns:            # contract column: header in your export
          customer_id: 客户编号
          timestamp: 下单时间
          amount: 金额
        date_format: "%Y年%m月%d日 %H:%M"   # optional, strftime syntax; or per column:
                                            #   {timestamp: "%d/%m/%Y %H:%M"}
        decimal: ","                        # optional: decimal mark of the export ("." default)
        sheet: 订单                          # optional: the XLSX sheet to read
        currency_column: 币种               # optional, kept as `currency`
        values:                             # optional, recode values of a column
          channel: {问卷: survey, 电话: phone}

Unmapped source columns are kept under their own names, so extra customer attributes
survive. See ``src/resources/mappings/`` for shipped examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from custsat.data.contracts import CONTRACTS, ContractError
from custsat.data.values import DECIMAL_MARKS


class MappingError(ValueError):
    """A mapping file that is malformed or does not fit the export it is applied to."""


@dataclass(frozen=True)
class TableMapping:
    """How one export maps onto one contract table, and how to read its values."""

    table: str
    columns: dict[str, str]
    date_format: str | dict[str, str] | None = None  # one format, or one per contract date column
    currency_column: str | None = None
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    decimal: str = "."
    sheet: str | None = None


def load_mapping(path: str | Path) -> dict[str, TableMapping]:
    """Read and check a mapping YAML; return one :class:`TableMapping` per table."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise MappingError(f"{path}: cannot read mapping: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tables"), dict):
        raise MappingError(f"{path}: expected a top-level 'tables:' mapping of table names")
    mappings = {}
    for table, spec in document["tables"].items():
        if table not in CONTRACTS:
            raise MappingError(f"{path}: unknown table '{table}'; expected one of {sorted(CONTRACTS)}")
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict):
            raise MappingError(f"{path}: table '{table}' needs a 'columns:' mapping")
        unknown = sorted(set(spec["columns"]) - set(CONTRACTS[table].columns))
        if unknown:
            raise MappingError(
                f"{path}: table '{table}' maps unknown contract column(s) {unknown}; "
                f"contract columns are {list(CONTRACTS[table].columns)}"
            )
        sources = [str(v) for v in spec["columns"].values()]
        repeated = sorted({h for h in sources if sources.count(h) > 1})
        if repeated:
            raise MappingError(
                f"{path}: table '{table}' maps header(s) {repeated} onto more than one contract column; "
                "each contract column needs its own source column"
            )
        mappings[table] = TableMapping(
            table=table,
            columns={str(k): str(v) for k, v in spec["columns"].items()},
            date_format=_date_format(path, table, spec.get("date_format")),
            currency_column=spec.get("currency_column"),
            values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (spec.get("values") or {}).items()},
            decimal=_decimal(path, table, spec.get("decimal", ".")),
            sheet=None if spec.get("sheet") is None else str(spec["sheet"]),
        )
    return mappings


def _date_format(path: Path, table: str, spec) -> str | dict[str, str] | None:
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        dates = CONTRACTS[table].dates
        unknown = sorted(str(k) for k in spec if k not in dates)
        if unknown:
            raise MappingError(f"{path}: table '{table}' date_format names non-date column(s) {unknown}; its date columns are {list(dates)}")
        return {str(k): str(v) for k, v in spec.items()}
    raise MappingError(f"{path}: table '{table}' date_format must be a format string or a mapping of date columns to formats")


def _decimal(path: Path, table: str, spec) -> str:
    if spec not in DECIMAL_MARKS:
        raise MappingError(f"{path}: table '{table}' decimal must be \".\" or \",\", got {spec!r}")
    return spec


def apply_mapping(frame: pd.DataFrame, mapping: TableMapping, *, source: str | None = None) -> pd.DataFrame:
    """Rename an export's headers onto the contract and recode mapped values."""
    missing = [src for src in mapping.columns.values() if src not in frame.columns]
    if missing:
        sheets = frame.attrs.get("sheets")
        where = f" (sheet {frame.attrs.get('sheet')!r}; the workbook's sheets are {list(sheets)})" if sheets else ""
        raise ContractError(
            mapping.table, None,
            f"mapped source header(s) {missing} not found in the file{where}; its headers are {list(frame.columns)}",
            source=source,
        )
    renames = {src: dst for dst, src in mapping.columns.items()}
    if mapping.currency_column:
        if mapping.currency_column not in frame.columns:
            raise ContractError(mapping.table, mapping.currency_column, "currency column not found", source=source)
        renames[mapping.currency_column] = "currency"
    # a header mapped onto a name that another column of the file already has (and keeps)
    clashes = [(src, dst) for src, dst in renames.items() if dst != src and dst in frame.columns and dst not in renames]
    if clashes:
        src, dst = clashes[0]
        raise ContractError(
            mapping.table, dst,
            f"the mapping renames {src!r} to {dst!r}, but the file already has a column {dst!r}: "
            "one of the two would be lost. Map that column instead, or rename it in the export",
            source=source,
        )
    out = frame.rename(columns=renames)
    for column, recode in mapping.values.items():
        if column in out.columns:
            out[column] = out[column].map(lambda v, r=recode: r.get(str(v).strip(), v) if pd.notna(v) else v)
    return out
