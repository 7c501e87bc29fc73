"""Data contracts: what users bring, checked at the door.

Four tables: ``customers``, ``transactions``, ``feedback`` and (optional) ``contracts``;
``surveys`` (optional, for the drivers of satisfaction) stands on its own.
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

from custsat.data import values as value_rules
from custsat.data.values import arrow_strings as _arrow_strings
from custsat.privacy import mask_pii

FEEDBACK_CHANNELS = ("survey", "email", "phone", "chat", "social", "review", "app")
#: Attribute ratings a survey export usually has; any other numeric column counts as one too.
SURVEY_ATTRIBUTES = ("quality", "delivery", "service", "price", "ease_of_use")
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
    "surveys": TableContract(
        name="surveys",
        required=("customer_id",),
        optional=("timestamp", "overall_satisfaction", "nps", *SURVEY_ATTRIBUTES),
        id_columns=("customer_id",),
        dates=("timestamp",),
        numbers=("overall_satisfaction", "nps", *SURVEY_ATTRIBUTES),
        not_in_future=("timestamp",),
        description={
            "customer_id": "respondent (a customer id, or any respondent id for anonymous surveys)",
            "timestamp": "when the survey was answered",
            "overall_satisfaction": "overall satisfaction on the survey's own scale (e.g. 1-5 or 1-10)",
            "nps": "likelihood to recommend 0-10 (used as the overall score when there is no "
            "overall_satisfaction)",
            **{a: f"attribute rating: {a.replace('_', ' ')}" for a in SURVEY_ATTRIBUTES},
        },
    ),
}
SURVEY_NOTE = (
    "surveys: any further numeric column is an attribute rating too (same scale within a column)"
)


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
        # masked here, once: the rows end up on stderr and in MLflow's validation_error.txt
        self.rows = masked_rows(rows.head(MAX_EXAMPLE_ROWS)) if rows is not None else None
        self.n_bad = n_bad if n_bad is not None else (len(rows) if rows is not None else 0)
        where = f"table '{table}'" + (f" ({source})" if source else "")
        where += f", column '{column}'" if column else ""
        message = f"{where}: {rule}"
        if self.rows is not None and len(self.rows):
            shown = self.rows.copy()
            shown.index = [_row_label(i) for i in shown.index]
            message += (
                f"\n{self.n_bad} offending row(s); first {len(shown)} (row 1 is the header row; "
                "blank lines are not counted):\n" + shown.to_string(max_colwidth=40)
            )
        super().__init__(message)

    def __reduce__(self):
        # rebuilt from its parts (not from the message), so it survives a trip between processes
        return (_contract_error, (self.table, self.column, self.rule, self.rows, self.n_bad, self.source))


def _row_label(index) -> str:
    """"row N" of a 0-based data-row position (+2: the header is row 1); other labels as they are."""
    if isinstance(index, int | np.integer) and not isinstance(index, bool):
        return f"row {int(index) + 2}"
    return f"row {index}"


def masked_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with phone numbers, e-mails, ID and card numbers masked in every text cell."""
    shown = rows.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            shown[column] = values.astype(object).map(lambda v: mask_pii(v) if isinstance(v, str) else v)
    shown.columns = [mask_pii(c) if isinstance(c, str) else c for c in shown.columns]
    return shown


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
    date_format: str | Mapping[str, str] | None = None,
    decimal: str = ".",
    day_first: Mapping[str, bool | None] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Check required columns and parse ids, dates and numbers into contract dtypes.

    ``date_format`` is one strftime format for every date column or one per column;
    ``decimal`` is the decimal mark of text numbers ("." or ","); ``day_first`` fixes the
    day/month order per date column (see :func:`custsat.data.values.infer_day_first`; by
    default each column decides from its own values). Extra columns are kept (customers
    may carry more attributes). Values that cannot be parsed raise :class:`ContractError`
    with the offending rows.
    """
    contract = CONTRACTS[name]
    if frame is None or len(frame) == 0:
        raise ContractError(name, None, "table is empty (no rows)", source=source)
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise ContractError(
            name, repeated[0],
            f"column(s) {repeated} appear more than once (after mapping headers onto the contract?); "
            "each contract column must come from one source column",
            source=source,
        )
    missing = [c for c in contract.required if c not in frame.columns]
    if missing:
        raise ContractError(
            name, missing[0],
            f"required column(s) {missing} missing; found columns {list(frame.columns)}. "
            "Map your headers onto the contract with a mapping file (custsat ingest --mapping)."
            + _sheet_hint(frame),
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
    _refuse_control_characters(name, out, frame, source)
    for column in contract.dates:
        if column in out.columns:
            fmt = date_format.get(column) if isinstance(date_format, Mapping) else date_format
            order = (day_first or {}).get(column)
            out[column] = _parse_dates(name, frame, column, fmt, source, day_first=order)
    for column in contract.numbers:
        if column in out.columns:
            out[column] = _parse_numbers(name, frame, column, source, decimal=decimal)
    return out


def date_orders(name: str, frame: pd.DataFrame, *, source: str | None = None) -> dict[str, bool | None]:
    """The day/month order of each date column of ``frame`` (see
    :func:`custsat.data.values.infer_day_first`), for parsing later batches of the same file
    the same way; a column whose order cannot be told is refused."""
    orders: dict[str, bool | None] = {}
    for column in CONTRACTS[name].dates:
        if column in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[column]):
            try:
                orders[column] = value_rules.infer_day_first(frame[column], column=column, table=name)
            except value_rules.BadValues as error:
                _fail(name, column, error.rule, frame, error.bad, source)
    return orders


def _sheet_hint(frame: pd.DataFrame) -> str:
    """For a workbook: which sheet was read and which others exist (a cover sheet was read?)."""
    sheets = frame.attrs.get("sheets")
    if not sheets:
        return ""
    return (
        f" This is sheet {frame.attrs.get('sheet')!r} of a workbook with sheets {list(sheets)}; "
        "if the data is on another sheet, name it in the mapping file (sheet: <name>)."
    )


# Control characters (C0 and DEL) never belong in an id; a NUL never in any text. Tabs and
# line breaks inside feedback texts are fine.
_ID_CONTROL = r"[\x00-\x1f\x7f]"
_NUL = "\x00"


def _refuse_control_characters(name: str, parsed: pd.DataFrame, frame: pd.DataFrame, source) -> None:
    contract = CONTRACTS[name]
    for column in contract.id_columns + contract.texts:
        if column not in parsed.columns:
            continue
        arrow = _arrow_strings(parsed[column])
        if arrow is None:
            continue
        is_id = column in contract.id_columns
        found = pc.match_substring_regex(arrow, _ID_CONTROL) if is_id else pc.match_substring(arrow, _NUL)
        bad = pd.Series(pc.fill_null(found, False).to_numpy(zero_copy_only=False), index=parsed.index)
        if bad.any():
            what = "a control character (NUL, tab, line break...)" if is_id else "a NUL character (\\x00)"
            shown = frame.assign(**{column: parsed[column].map(lambda v: v.encode("unicode_escape").decode() if isinstance(v, str) else v)})
            _fail(name, column, f"{'id' if is_id else 'text'} contains {what}; it would be cut or garbled downstream",
                  shown, bad, source)


_EXCEL_WHOLE_NUMBER = r"^(\d+)\.0$"  # 12.0 from Excel is id "12", not "12.0"


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


def duplicate_mask(ids: pyarrow.Array | pyarrow.ChunkedArray) -> np.ndarray:
    """Positions whose (non-missing) id occurs more than once, as a boolean array.

    Arrow first tells whether there is any duplicate at all (the usual answer: none); only
    then are the repeated values found by a hash aggregation. Works on a whole table's id
    column or on the ids of all staged batches of a streamed one.
    """
    if len(pc.unique(ids.drop_null())) == len(ids) - ids.null_count:
        return np.zeros(len(ids), dtype=bool)
    counts = pyarrow.table({"id": ids}).group_by("id").aggregate([("id", "count")])
    repeated = counts.filter(pc.greater(counts["id_count"], 1))["id"]
    return pc.fill_null(pc.is_in(ids, value_set=repeated.combine_chunks()), False).to_numpy(zero_copy_only=False)


def unknown_mask(ids: pyarrow.Array | pyarrow.ChunkedArray, known: pyarrow.Array) -> np.ndarray:
    """Positions whose id is not among ``known`` (missing ids count as unknown)."""
    return ~pc.fill_null(pc.is_in(ids, value_set=known), False).to_numpy(zero_copy_only=False)


def duplicated_ids(values: pd.Series) -> pd.Series:
    """Rows whose (non-missing) id occurs more than once."""
    arrow = _arrow_strings(values)
    if arrow is not None:
        return pd.Series(duplicate_mask(arrow), index=values.index)
    return values.notna() & values.duplicated(keep=False)


def isin_ids(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` for string ids (Arrow's hash set when both are strings)."""
    arrow, known_arrow = _arrow_strings(values), _arrow_strings(known)
    if arrow is not None and known_arrow is not None:
        return ~unknown_mask(arrow, known_arrow)
    return values.isin(pd.Index(known)).to_numpy()


def _parse_dates(name, frame, column, date_format, source, *, day_first=None) -> pd.Series:
    try:
        parsed = value_rules.parse_dates(frame[column], date_format=date_format, day_first=day_first,
                                         column=column, table=name)
    except value_rules.BadValues as error:
        _fail(name, column, error.rule, frame, error.bad, source)
    if column in CONTRACTS[name].required and parsed.isna().any():
        _fail(name, column, "date is missing", frame, parsed.isna(), source)
    return parsed


def _parse_numbers(name, frame, column, source, *, decimal=".") -> pd.Series:
    try:
        parsed = value_rules.parse_numbers(frame[column], decimal=decimal)
    except value_rules.BadValues as error:
        _fail(name, column, error.rule, frame, error.bad, source)
    if column in CONTRACTS[name].required and parsed.isna().any():
        _fail(name, column, "number is missing", frame, parsed.isna(), source)
    return parsed


def _value_schema(name: str, now: pd.Timestamp, max_amount: float = float("inf")) -> pa.DataFrameSchema:
    """Value rules per table, as pandera checks on parsed frames."""
    not_future = pa.Check(lambda s: s.isna() | (s <= now), error=f"timestamp in the future (after {now:%Y-%m-%d %H:%M})")
    finite = pa.Check(lambda s: s.isna() | pd.Series(pd.notna(s) & (s.abs() < float("inf")), index=s.index), error="not a finite number")
    columns: dict[str, pa.Column] = {}
    contract = CONTRACTS[name]
    for column in contract.not_in_future:
        columns[column] = pa.Column(checks=[not_future], nullable=True, required=False)
    if name == "transactions":
        # Beyond the bound a value is corrupt (1e300 from a broken export), not an order:
        # features would drop it as missing while CLV would sum it.
        bound = f"{max_amount:,.0f}"
        within = pa.Check(lambda s: s.isna() | (s.abs() <= max_amount),
                          error=f"amount beyond ±{bound} (the max_amount setting, CUSTSAT_MAX_AMOUNT)")
        columns["amount"] = pa.Column(float, checks=[finite, within], nullable=False)
        columns["quantity"] = pa.Column(float, checks=[
            pa.Check.ge(0, error="quantity must be >= 0"),
            pa.Check(lambda s: s.isna() | (s <= max_amount),
                     error=f"quantity beyond {bound} (the max_amount setting, CUSTSAT_MAX_AMOUNT)"),
        ], nullable=True, required=False)
    if name == "surveys":
        columns["nps"] = pa.Column(float, checks=[pa.Check.in_range(0, 10, error="nps must be within 0-10")],
                                   nullable=True, required=False)
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


def check_values(
    name: str, frame: pd.DataFrame, *, now=None, source: str | None = None, max_amount: float | None = None
) -> None:
    """Apply value rules and uniqueness to a parsed table; raise on the first failure.

    ``max_amount`` bounds absolute transaction amounts and quantities (default: the
    ``max_amount`` setting).
    """
    now = pd.Timestamp.now() if now is None else pd.Timestamp(now)
    if max_amount is None:
        from custsat.config import get_settings

        max_amount = get_settings().max_amount
    contract = CONTRACTS[name]
    for column in contract.unique:
        if column in frame.columns:
            dup = duplicated_ids(frame[column])
            if dup.any():
                _fail(name, column, "duplicate id", frame, dup, source)
    try:
        _value_schema(name, now, max_amount).validate(frame, lazy=True)
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


#: Tables whose customer_id must exist in the customers table.
REFERENCING_TABLES = ("transactions", "feedback", "contracts")
UNKNOWN_CUSTOMER_RULE = "customer_id not found in the customers table"


def check_unknown_customers_policy(unknown_customers: str) -> None:
    if unknown_customers not in ("error", "warn"):
        raise ValueError("unknown_customers must be 'error' or 'warn'")


def report_unknown_customers(
    table: str, rows: pd.DataFrame, n_bad: int, *, unknown_customers: str, source: str | None = None
) -> None:
    """The unknown-customer rule broken by ``n_bad`` rows of ``table`` (``rows``: the first ones):
    a :class:`ContractError` with ``unknown_customers="error"``, a :class:`ContractWarning` with "warn"."""
    if unknown_customers == "error":
        raise ContractError(table, "customer_id", UNKNOWN_CUSTOMER_RULE, rows, n_bad=n_bad, source=source)
    warnings.warn(
        f"table '{table}', column 'customer_id': {UNKNOWN_CUSTOMER_RULE} for {n_bad} row(s), "
        f"e.g. {[mask_pii(str(v)) for v in rows['customer_id'].head(5)]}",
        ContractWarning,
        stacklevel=3,
    )


def check_references(
    tables: Mapping[str, pd.DataFrame], *, unknown_customers: str = "error"
) -> None:
    """Every customer_id in transactions/feedback/contracts must exist in customers.

    ``unknown_customers`` is ``"error"`` (default) or ``"warn"``.
    """
    check_unknown_customers_policy(unknown_customers)
    if "customers" not in tables:
        return
    known = tables["customers"]["customer_id"]
    for name in REFERENCING_TABLES:
        frame = tables.get(name)
        if frame is None:
            continue
        unknown = ~isin_ids(frame["customer_id"], known)
        if unknown.any():
            report_unknown_customers(name, frame.loc[unknown], int(unknown.sum()), unknown_customers=unknown_customers)


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    unknown_customers: str | None = None,
    now=None,
    date_format: str | Mapping[str, str | Mapping[str, str] | None] | None = None,
    sources: Mapping[str, str] | None = None,
    decimal: str | Mapping[str, str] | None = None,
    max_amount: float | None = None,
) -> dict[str, pd.DataFrame]:
    """Parse and validate a set of contract tables; return the parsed copies.

    ``customers`` and ``transactions`` are required. ``feedback`` and ``contracts`` are
    optional. ``date_format`` is one strftime format for all tables or, per table, one
    format or one per column; ``decimal`` is the decimal mark of text numbers ("." by
    default), for all tables or per table; ``max_amount`` bounds amounts (default: the
    ``max_amount`` setting). Raises :class:`ContractError` on the first broken rule.
    """
    from custsat.config import get_settings

    unknown_customers = unknown_customers or get_settings().unknown_customer_policy
    max_amount = get_settings().max_amount if max_amount is None else max_amount
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
        mark = (decimal.get(name) if isinstance(decimal, Mapping) else decimal) or "."
        parsed[name] = parse_table(name, frame, date_format=fmt, decimal=mark, source=source)
        check_values(name, parsed[name], now=now, source=source, max_amount=max_amount)
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
