"""Property-based fuzzing of the readers and the contract checks.

Random bytes, damaged files and random column values must give either a result or the
project's own input errors (``InputFileError``, ``ContractError``), never another
exception; the in-memory and streamed readers must agree on every input. The default run
is derandomised and bounded (a few hundred examples, well under 30 s); ``-m slow`` runs
a longer, random search.
"""

from __future__ import annotations

import datetime
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custsat.data.contracts import CONTRACTS, ContractError, parse_table, validate_tables
from custsat.data.io import InputFileError, iter_table, read_table
from custsat.data.values import BadValues, parse_dates, parse_numbers

NOW = pd.Timestamp("2026-01-01")
QUICK = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

CSV_CHARACTERS = list(',"\n\r\t \x00ab1;\'=+-@.:/\ufeff中華地區한국語é') + ["2024-03-05", "05/03/2024", "1,200.50"]
CSV_ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "utf-16-le", "big5", "euc_kr", "shift_jis", "latin-1"]


def base_files() -> dict[str, bytes]:
    """Small valid Parquet and XLSX files whose bytes the fuzzer damages."""
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "amount": [1.5, -2.0, 3.0],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])})
    out = {}
    for suffix in (".parquet", ".xlsx"):
        buffer = io.BytesIO()
        if suffix == ".parquet":
            frame.to_parquet(buffer, compression="zstd")
        else:
            frame.to_excel(buffer, index=False)
        out[suffix] = buffer.getvalue()
    return out


BASES = base_files()


def read_both(raw: bytes, suffix: str) -> None:
    """Both readers give the same frame, or the same InputFileError; nothing else escapes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(raw)
        try:
            whole = read_table(path, table="transactions")
        except InputFileError as error:
            whole_error = str(error)
        else:
            whole_error = None
        try:
            streamed = pd.concat(iter_table(path, table="transactions", batch_rows=2))
        except InputFileError as error:
            assert whole_error is not None, f"only the streamed reader failed: {error}"
            if suffix == ".csv":  # one parser; Parquet's own messages depend on how much was read
                assert str(error) == whole_error
            return
        assert whole_error is None, f"only the in-memory reader failed: {whole_error}"
        pd.testing.assert_frame_equal(streamed, whole)
        if suffix == ".csv":
            assert len(whole) <= raw.count(b"\n") + raw.count(b"\r")  # rows come from line breaks


def damaged(suffix: str):
    """A valid file cut short, overwritten or spliced at a random place."""
    base = BASES[suffix]
    cut = st.integers(0, len(base))
    return st.one_of(
        cut.map(lambda n: base[:n]),
        st.tuples(cut, st.binary(min_size=1, max_size=16)).map(lambda t: base[:t[0]] + t[1] + base[t[0] + len(t[1]):]),
        st.tuples(cut, st.binary(min_size=1, max_size=16)).map(lambda t: base[:t[0]] + t[1] + base[t[0]:]),
    )


csv_bytes = st.one_of(
    st.tuples(st.lists(st.sampled_from(CSV_CHARACTERS), max_size=60).map("".join), st.sampled_from(CSV_ENCODINGS))
    .map(lambda t: t[0].encode(t[1], errors="ignore")),
    st.binary(max_size=120),
)


def _csv(raw: bytes) -> None:
    read_both(raw, ".csv")


def _parquet(raw: bytes) -> None:
    read_both(raw, ".parquet")


def _xlsx(raw: bytes) -> None:
    read_both(raw, ".xlsx")


test_csv_readers_agree_or_refuse = QUICK(given(csv_bytes)(_csv))
test_damaged_parquet_is_refused_cleanly = settings(QUICK, max_examples=100)(given(damaged(".parquet"))(_parquet))
test_damaged_xlsx_is_refused_cleanly = settings(QUICK, max_examples=40)(given(damaged(".xlsx"))(_xlsx))


# --------------------------------------------------------------------------- values and contracts
DATE_ALPHABET = st.sampled_from(list("0123456789-/.: T+Z") + ["年", "月", "日", "AM", "PM", "Mar", "2024", "12", "13", "+08:00"])
text_values = st.one_of(
    st.lists(DATE_ALPHABET, max_size=8).map("".join),
    st.sampled_from(["2024-03-05", "05/03/2024 10:00", "13/03/2024", "03/13/2024", "2024-03-05T10:00:00Z",
                     "2024年3月5日", "1,200.50", "12,50", "¥-20", "1e300", "inf", "", " ", "=1+1", "C\x001"]),
    st.text(max_size=12),
)
cell_values = st.one_of(
    text_values, st.none(), st.integers(-10**15, 10**15), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.datetimes(min_value=datetime.datetime(1700, 1, 1), max_value=datetime.datetime(2300, 1, 1)),
)


def column(values: st.SearchStrategy, rows: int) -> st.SearchStrategy:
    return st.lists(values, min_size=rows, max_size=rows)


@st.composite
def contract_frame(draw, name: str):
    rows = draw(st.integers(1, 6))
    contract = CONTRACTS[name]
    names = list(contract.required) + draw(st.lists(st.sampled_from(contract.columns), max_size=3, unique=True))
    frame = pd.DataFrame({c: pd.Series(draw(column(cell_values, rows)), dtype=object) for c in dict.fromkeys(names)})
    for c in frame.columns:
        if c in contract.dates and draw(st.booleans()):  # typed dates, as Parquet gives them (any unit)
            stamps = draw(column(st.none() | st.datetimes(max_value=datetime.datetime(9999, 1, 1)), rows))
            frame[c] = pd.Series(pd.array(stamps, dtype="datetime64[us]"))
        elif c in contract.numbers and draw(st.booleans()):
            frame[c] = pd.Series(draw(column(st.floats(allow_nan=True, allow_infinity=True), rows)), dtype="float64")
    return frame


@QUICK
@given(st.sampled_from(sorted(CONTRACTS)).flatmap(lambda name: st.tuples(st.just(name), contract_frame(name))),
       st.sampled_from([".", ","]))
def test_contract_parsing_gives_contract_dtypes_or_a_contract_error(named, decimal):
    name, frame = named
    try:
        parsed = parse_table(name, frame, decimal=decimal)
    except ContractError:
        return
    for c in CONTRACTS[name].dates:
        if c in parsed:
            assert str(parsed[c].dtype) == "datetime64[ns]"
    for c in CONTRACTS[name].numbers:
        if c in parsed:
            assert str(parsed[c].dtype) == "float64"


@settings(QUICK, max_examples=60)
@given(contract_frame("customers"), contract_frame("transactions"), contract_frame("feedback"))
def test_validate_tables_raises_only_contract_errors(customers, transactions, feedback):
    try:
        validate_tables({"customers": customers, "transactions": transactions, "feedback": feedback},
                        now=NOW, unknown_customers="error")
    except ContractError:
        pass


@QUICK
@given(column(cell_values, 5), st.sampled_from([None, "%d/%m/%Y %H:%M", "%Y-%m-%d"]))
def test_date_parsing_raises_only_bad_values(values, date_format):
    try:
        parsed = parse_dates(pd.Series(values, dtype=object), date_format=date_format)
    except BadValues:
        return
    assert str(parsed.dtype) == "datetime64[ns]"


@QUICK
@given(column(cell_values, 5), st.sampled_from([".", ","]))
def test_number_parsing_raises_only_bad_values(values, decimal):
    try:
        parsed = parse_numbers(pd.Series(values, dtype=object), decimal=decimal)
    except BadValues:
        return
    assert str(parsed.dtype) == "float64"


# --------------------------------------------------------------------------- longer search
@pytest.mark.slow
@LONG
@given(st.one_of(csv_bytes.map(lambda b: (b, ".csv")), damaged(".parquet").map(lambda b: (b, ".parquet")),
                 damaged(".xlsx").map(lambda b: (b, ".xlsx"))))
def test_readers_long_search(case):
    read_both(*case)


@pytest.mark.slow
@LONG
@given(st.sampled_from(sorted(CONTRACTS)).flatmap(lambda name: st.tuples(st.just(name), contract_frame(name))))
def test_contracts_long_search(named):
    name, frame = named
    try:
        parse_table(name, frame)
    except ContractError:
        pass
