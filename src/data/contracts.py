"""Data contracts: what users bring, checked at the door.

Four tables: ``customers``, ``transactions``, ``feedback`` and (optional) ``contracts``.
Parsing (ids to text, dates, numbers) happens here, once; value rules are pandera
schemas; cross-table rules (unknown customers) follow. Any failure raises
:class:`ContractError` naming the table, the column, the rule and up to 10 offending
rows, so nothing downstream runs on bad data.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

FEEDBACK_CHANNELS = ("survey", "email", "phone", "chat", "social", "review", "app")
MAX_EXAMPLE_ROWS = 10


@dataclass(frozen=True)
class TableContract:
    """Columns of one table, by role. Only ``required`` columns must be present."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    id_columns: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    not_in_future: tuple[str, ...] = ()
    description: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


CONTRACTS: dict[str, TableContract] = {
    "customers": TableContract(
        name="customers",
        required=("customer_id",),
        optional=("signup_date", "region", "channel", "segment"),
        id_columns=("customer_id",),
        unique=("customer_id",),
        dates=("signup_date",),
        texts=("region", "channel", "segment"),
        not_in_future=("signup_date",),
        description={
            "customer_id": "the customer's id in your CRM (text)",
            "signup_date": "date the customer registered",
            "region": "free text",
            "channel": "acquisition channel, free text",
            "segment": "your own segment label (e.g. consumer / business)",
        },
    ),
    "transactions": TableContract(
        name="transactions",
        required=("customer_id", "timestamp", "amount"),
        optional=("order_id", "quantity", "category"),
        id_columns=("customer_id", "order_id"),
        unique=("order_id",),
        dates=("timestamp",),
        numbers=("amount", "quantity"),
        texts=("category",),
        not_in_future=("timestamp",),
        description={
            "customer_id": "buyer",
            "timestamp": "order time",
            "amount": "order value in your currency; negative = refund",
            "order_id": "order id, unique when given",
            "quantity": "items",
            "category": "product category",
        },
    ),
    "feedback": TableContract(
        name="feedback",
        required=("feedback_id", "customer_id", "timestamp", "channel", "text"),
        optional=("rating", "nps", "resolved_at", "urgency", "responded_at", "assignee", "team", "status",
                  "resolution_rating"),
        id_columns=("feedback_id", "customer_id"),
        unique=("feedback_id",),
        dates=("timestamp", "resolved_at", "responded_at"),
        numbers=("rating", "nps", "resolution_rating"),
        texts=("channel", "text", "urgency", "assignee", "team", "status"),
        not_in_future=("timestamp",),
        description={
            "feedback_id": "unique id of the feedback item",
            "customer_id": "author",
            "timestamp": "when it was given",
            "channel": "one of " + " / ".join(FEEDBACK_CHANNELS),
            "text": "free text, Chinese or English (may be empty)",
            "rating": "CSAT 1-5",
            "nps": "likelihood to recommend 0-10",
            "resolved_at": "when the issue was closed; empty = open",
            "urgency": "high / normal, if your tool already has it",
            "responded_at": "first response to the customer; empty = not yet answered",
            "assignee": "person handling the item, when the CRM already routes it",
            "team": "team owning the item, when the CRM already routes it (wins over the policy's topic map)",
            "status": "the CRM's own status (open / closed ...); kept as crm_status in the triage queue",
            "resolution_rating": "the customer's 1-5 rating of how the item was handled",
        },
    ),
    "contracts": TableContract(
        name="contracts",
        required=("customer_id", "start_date"),
        optional=("end_date", "cancelled_at"),
        id_columns=("customer_id",),
        dates=("start_date", "end_date", "cancelled_at"),
        not_in_future=("start_date",),
        description={
            "customer_id": "subscriber",
            "start_date": "contract start",
            "end_date": "scheduled end, if any",
            "cancelled_at": "cancellation date; empty = active",
        },
    ),
}


class ContractError(ValueError):
    """A table breaks its contract. Carries the table, column, rule and example rows."""

    def __init__(
        self,
        table: str,
        column: str | None,
        rule: str,
        rows: pd.DataFrame | None = None,
        *,
        n_bad: int | None = None,
        source: str | None = None,
    ):
        self.table, self.column, self.rule, self.source = table, column, rule, source
        self.rows = rows.head(MAX_EXAMPLE_ROWS) if rows is not None else None
        self.n_bad = n_bad if n_bad is not None else (len(rows) if rows is not None else 0)
        where = f"table '{table}'" + (f" ({source})" if source else "")
        where += f", column '{column}'" if column else ""
        message = f"{where}: {rule}"
        if self.rows is not None and len(self.rows):
            shown = self.rows.copy()
            shown.index = [f"row {i + 2}" for i in shown.index]  # +2: header line, 1-based
            message += (
                f"\n{self.n_bad} offending row(s); first {len(shown)} (row = line in a CSV file):\n"
                + shown.to_string(max_colwidth=40)
            )
        super().__init__(message)

    def __reduce__(self):
        # rebuilt from its parts (not from the message), so it survives a trip between processes
        return (_contract_error, (self.table, self.column, self.rule, self.rows, self.n_bad, self.source))


def _contract_error(table, column, rule, rows, n_bad, source) -> ContractError:
    return ContractError(table, column, rule, rows, n_bad=n_bad, source=source)


class ContractWarning(UserWarning):
    """A contract rule configured to warn rather than fail."""


def _fail(table: str, column: str, rule: str, frame: pd.DataFrame, bad: pd.Series, source=None):
    raise ContractError(table, column, rule, frame.loc[bad], n_bad=int(bad.sum()), source=source)


def parse_table(
    name: str,
    frame: pd.DataFrame,
    *,
    date_format: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Check required columns and parse ids, dates and numbers into contract dtypes.

    Extra columns are kept (customers may carry more attributes). Values that cannot be
    parsed raise :class:`ContractError` with the offending rows.
    """
    contract = CONTRACTS[name]
    if frame is None or len(frame) == 0:
        raise ContractError(name, None, "table is empty (no rows)", source=source)
    missing = [c for c in contract.required if c not in frame.columns]
    if missing:
        raise ContractError(
            name, missing[0],
            f"required column(s) {missing} missing; found columns {list(frame.columns)}. "
            "Map your headers onto the contract with a mapping file (custsat ingest --mapping).",
            source=source,
        )
    out = frame.copy()
    for column in contract.id_columns + contract.texts:
        if column in out.columns:
            out[column] = clean_text(out[column])
    for column in contract.id_columns:
        if column in contract.required:
            blank = out[column].isna() | (out[column] == "")
            if blank.any():
                _fail(name, column, "id is empty", frame, blank, source)
    for column in contract.dates:
        if column in out.columns:
            out[column] = _parse_dates(name, frame, column, date_format, source)
    for column in contract.numbers:
        if column in out.columns:
            out[column] = _parse_numbers(name, frame, column, source)
    return out


_EXCEL_WHOLE_NUMBER = r"^(\d+)\.0$"  # 12.0 from Excel is id "12", not "12.0"


def _arrow_strings(values: pd.Series) -> pyarrow.Array | None:
    """``values`` as an Arrow string array, or None when they are not all strings/missing."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    try:
        return pyarrow.array(values, type=pyarrow.string(), from_pandas=True)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        return None


def clean_text(values: pd.Series) -> pd.Series:
    """Ids and texts as stripped Python strings (object dtype, missing = None).

    Columns that are all strings (Parquet, CSV) go through Arrow's string kernels: a
    per-value Python regex took most of the validation time at millions of rows. Only the
    values that change are replaced, so clean columns keep their string objects (no second
    copy in memory). Mixed columns (numbers among strings, as Excel gives) take the pandas
    path; both agree.
    """
    arrow = _arrow_strings(values)
    if arrow is not None:
        cleaned = pc.replace_substring_regex(pc.utf8_trim_whitespace(arrow), _EXCEL_WHOLE_NUMBER, r"\1")
        changed = pc.fill_null(pc.not_equal(cleaned, arrow), False).to_numpy(zero_copy_only=False)
        out = values.astype(object).to_numpy(copy=True)
        out[values.isna().to_numpy()] = None
        if changed.any():
            out[changed] = cleaned.filter(changed).to_numpy(zero_copy_only=False)
        return pd.Series(out, index=values.index, dtype=object, name=values.name)
    text = values.astype("string").str.strip().str.replace(_EXCEL_WHOLE_NUMBER, r"\1", regex=True)
    return text.astype(object).where(values.notna(), None)


def duplicated_ids(values: pd.Series) -> pd.Series:
    """Rows whose (non-missing) id occurs more than once.

    Arrow first tells whether there is any duplicate at all (the usual answer: none), about
    twice as fast as pandas at millions of ids; the mask itself comes from pandas.
    """
    arrow = _arrow_strings(values)
    if arrow is not None and len(pc.unique(arrow.drop_null())) == len(arrow) - arrow.null_count:
        return pd.Series(False, index=values.index)
    return values.notna() & values.duplicated(keep=False)


def isin_ids(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` for string ids (Arrow's hash set when both are strings)."""
    arrow, known_arrow = _arrow_strings(values), _arrow_strings(known)
    if arrow is not None and known_arrow is not None:
        return pc.fill_null(pc.is_in(arrow, value_set=known_arrow), False).to_numpy(zero_copy_only=False)
    return values.isin(pd.Index(known)).to_numpy()


def _parse_dates(name, frame, column, date_format, source) -> pd.Series:
    raw = frame[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
        return parsed.astype("datetime64[ns]")
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    parsed = pd.to_datetime(raw.where(~blank), format=date_format or "mixed", errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    bad = parsed.isna() & ~blank
    if bad.any():
        fmt = f" with format '{date_format}'" if date_format else ""
        _fail(name, column, f"unparseable date{fmt}", frame, bad, source)
    if column in CONTRACTS[name].required and blank.any():
        _fail(name, column, "date is missing", frame, blank, source)
    return parsed.astype("datetime64[ns]")


def _parse_numbers(name, frame, column, source) -> pd.Series:
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    text = raw.astype("string").str.strip()
    blank = raw.isna() | (text == "")
    # Thousands separators and currency signs are common in exports: "¥1,299.00".
    cleaned = text.str.replace(r"[,\s¥$€£￥]", "", regex=True)
    parsed = pd.to_numeric(cleaned.where(~blank), errors="coerce").astype("float64")
    bad = parsed.isna() & ~blank
    if bad.any():
        _fail(name, column, "unparseable number", frame, bad, source)
    if column in CONTRACTS[name].required and blank.any():
        _fail(name, column, "number is missing", frame, blank, source)
    return parsed


def _value_schema(name: str, now: pd.Timestamp) -> pa.DataFrameSchema:
    """Value rules per table, as pandera checks on parsed frames."""
    not_future = pa.Check(lambda s: s.isna() | (s <= now), error=f"timestamp in the future (after {now:%Y-%m-%d %H:%M})")
    finite = pa.Check(lambda s: s.isna() | pd.Series(pd.notna(s) & (s.abs() < float("inf")), index=s.index), error="not a finite number")
    columns: dict[str, pa.Column] = {}
    contract = CONTRACTS[name]
    for column in contract.not_in_future:
        columns[column] = pa.Column(checks=[not_future], nullable=True, required=False)
    if name == "transactions":
        columns["amount"] = pa.Column(float, checks=[finite], nullable=False)
        columns["quantity"] = pa.Column(float, checks=[pa.Check.ge(0, error="quantity must be >= 0")], nullable=True, required=False)
    if name == "feedback":
        columns["channel"] = pa.Column(
            checks=[pa.Check.isin(FEEDBACK_CHANNELS, error=f"channel must be one of {FEEDBACK_CHANNELS}")],
            nullable=False,
        )
        columns["rating"] = pa.Column(float, checks=[pa.Check.in_range(1, 5, error="rating (CSAT) must be within 1-5")], nullable=True, required=False)
        columns["nps"] = pa.Column(float, checks=[
            pa.Check.in_range(0, 10, error="nps must be within 0-10"),
            pa.Check(lambda s: s.isna() | (s == s.round()), error="nps must be a whole number"),
        ], nullable=True, required=False)
        columns["resolution_rating"] = pa.Column(float, checks=[
            pa.Check.in_range(1, 5, error="resolution_rating must be within 1-5")], nullable=True, required=False)
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def check_values(name: str, frame: pd.DataFrame, *, now=None, source: str | None = None) -> None:
    """Apply value rules and uniqueness to a parsed table; raise on the first failure."""
    now = pd.Timestamp.now() if now is None else pd.Timestamp(now)
    contract = CONTRACTS[name]
    for column in contract.unique:
        if column in frame.columns:
            dup = duplicated_ids(frame[column])
            if dup.any():
                _fail(name, column, "duplicate id", frame, dup, source)
    try:
        _value_schema(name, now).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        first = cases.iloc[0]
        column = str(first["column"])
        check = str(first["check"])
        bad_index = cases.loc[(cases["column"] == first["column"]) & (cases["check"] == first["check"]), "index"]
        bad = frame.index.isin(bad_index.dropna().astype(int))
        _fail(name, column, check, frame, pd.Series(bad, index=frame.index), source)
    if name == "feedback" and "resolved_at" in frame.columns:
        early = frame["resolved_at"].notna() & (frame["resolved_at"] < frame["timestamp"])
        if early.any():
            _fail(name, "resolved_at", "resolved before the feedback was given", frame, early, source)
    if name == "feedback" and "responded_at" in frame.columns:
        early = frame["responded_at"].notna() & (frame["responded_at"] < frame["timestamp"])
        if early.any():
            _fail(name, "responded_at", "responded before the feedback was given", frame, early, source)


def check_references(
    tables: Mapping[str, pd.DataFrame], *, unknown_customers: str = "error"
) -> None:
    """Every customer_id in transactions/feedback/contracts must exist in customers.

    ``unknown_customers`` is ``"error"`` (default) or ``"warn"``.
    """
    if unknown_customers not in ("error", "warn"):
        raise ValueError("unknown_customers must be 'error' or 'warn'")
    if "customers" not in tables:
        return
    known = tables["customers"]["customer_id"]
    for name in ("transactions", "feedback", "contracts"):
        frame = tables.get(name)
        if frame is None:
            continue
        unknown = pd.Series(~isin_ids(frame["customer_id"], known), index=frame.index)
        if unknown.any():
            rule = "customer_id not found in the customers table"
            if unknown_customers == "error":
                _fail(name, "customer_id", rule, frame, unknown)
            warnings.warn(
                f"table '{name}', column 'customer_id': {rule} for {int(unknown.sum())} row(s), "
                f"e.g. {frame.loc[unknown, 'customer_id'].head(5).tolist()}",
                ContractWarning,
                stacklevel=2,
            )


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    unknown_customers: str | None = None,
    now=None,
    date_format: str | Mapping[str, str | None] | None = None,
    sources: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Parse and validate a set of contract tables; return the parsed copies.

    ``customers`` and ``transactions`` are required. ``feedback`` and ``contracts`` are
    optional. ``date_format`` is one strftime format for all tables or one per table.
    Raises :class:`ContractError` on the first broken rule.
    """
    from custsat.config import get_settings

    unknown_customers = unknown_customers or get_settings().unknown_customer_policy
    sources = sources or {}
    unexpected = set(tables) - set(CONTRACTS)
    if unexpected:
        raise ContractError(sorted(unexpected)[0], None, f"unknown table; expected {sorted(CONTRACTS)}")
    for required in ("customers", "transactions"):
        if required not in tables:
            raise ContractError(required, None, "table is required but was not given")
    parsed = {}
    for name, frame in tables.items():
        if frame is None:
            continue
        source = sources.get(name)
        fmt = date_format.get(name) if isinstance(date_format, Mapping) else date_format
        parsed[name] = parse_table(name, frame, date_format=fmt, source=source)
        check_values(name, parsed[name], now=now, source=source)
    check_references(parsed, unknown_customers=unknown_customers)
    return parsed


def contract_markdown() -> str:
    """The contracts as a Markdown table, for the README and `custsat contracts`."""
    lines = ["| table | column | required | meaning |", "|---|---|---|---|"]
    for contract in CONTRACTS.values():
        for column in contract.columns:
            required = "yes" if column in contract.required else "no"
            lines.append(
                f"| {contract.name} | `{column}` | {required} | {contract.description.get(column, '')} |"
            )
    return "\n".join(lines)
