"""Column mappings: an export's own headers onto the custsat contracts.

A mapping YAML names, per contract table, the source file's header for each contract
column, plus optional parsing hints::

    tables:
      transactions:
        columns:            # contract column: header in your export
          customer_id: 客户编号
          timestamp: 下单时间
          amount: 金额
        date_format: "%Y年%m月%d日 %H:%M"   # optional, strftime syntax
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


class MappingError(ValueError):
    """A mapping file that is malformed or does not fit the export it is applied to."""


@dataclass(frozen=True)
class TableMapping:
    table: str
    columns: dict[str, str]
    date_format: str | None = None
    currency_column: str | None = None
    values: dict[str, dict[str, str]] = field(default_factory=dict)


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
        mappings[table] = TableMapping(
            table=table,
            columns={str(k): str(v) for k, v in spec["columns"].items()},
            date_format=spec.get("date_format"),
            currency_column=spec.get("currency_column"),
            values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (spec.get("values") or {}).items()},
        )
    return mappings


def apply_mapping(frame: pd.DataFrame, mapping: TableMapping, *, source: str | None = None) -> pd.DataFrame:
    """Rename an export's headers onto the contract and recode mapped values."""
    missing = [src for src in mapping.columns.values() if src not in frame.columns]
    if missing:
        raise ContractError(
            mapping.table, None,
            f"mapped source header(s) {missing} not found in the file; its headers are {list(frame.columns)}",
            source=source,
        )
    renames = {src: dst for dst, src in mapping.columns.items()}
    if mapping.currency_column:
        if mapping.currency_column not in frame.columns:
            raise ContractError(mapping.table, mapping.currency_column, "currency column not found", source=source)
        renames[mapping.currency_column] = "currency"
    out = frame.rename(columns=renames)
    for column, recode in mapping.values.items():
        if column in out.columns:
            out[column] = out[column].map(lambda v, r=recode: r.get(str(v).strip(), v) if pd.notna(v) else v)
    return out
