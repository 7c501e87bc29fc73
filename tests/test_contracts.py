"""Contract validation: every bad-input case is refused with table, column, rule and rows."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from custsat.data.contracts import ContractError, ContractWarning, validate_tables

NOW = pd.Timestamp("2026-01-01")


def good_tables() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "signup_date": ["2024-01-05", "2024-02-01", ""]})
    transactions = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2"],
            "timestamp": ["2024-03-01 10:00", "2024-04-01", "2024-05-06"],
            "amount": ["120.5", "-20", "¥1,299.00"],
            "order_id": ["o1", "o2", "o3"],
        }
    )
    feedback = pd.DataFrame(
        {
            "feedback_id": ["f1", "f2"],
            "customer_id": ["c1", "c2"],
            "timestamp": ["2024-03-02", "2024-05-07"],
            "channel": ["survey", "chat"],
            "text": ["物流太慢了", "Great service"],
            "rating": ["2", ""],
            "nps": ["3", "10"],
            "resolved_at": ["2024-03-04", ""],
        }
    )
    return {"customers": customers, "transactions": transactions, "feedback": feedback}


def test_valid_tables_are_parsed_into_contract_dtypes():
    parsed = validate_tables(good_tables(), now=NOW)
    tx = parsed["transactions"]
    assert tx["amount"].tolist() == [120.5, -20.0, 1299.0]  # refunds stay negative
    assert str(tx["timestamp"].dtype) == "datetime64[ns]"
    assert parsed["customers"]["signup_date"].isna().tolist() == [False, False, True]
    assert parsed["feedback"]["rating"].isna().tolist() == [False, True]


def test_missing_required_column_names_table_and_column():
    tables = good_tables()
    tables["transactions"] = tables["transactions"].drop(columns="amount")
    with pytest.raises(ContractError) as info:
        validate_tables(tables, now=NOW)
    assert (info.value.table, info.value.column) == ("transactions", "amount")
    assert "missing" in str(info.value)


def test_unparseable_date_lists_the_offending_rows():
    tables = good_tables()
    tables["transactions"].loc[1, "timestamp"] = "2024-13-45"
    with pytest.raises(ContractError) as info:
        validate_tables(tables, now=NOW)
    error = info.value
    assert (error.table, error.column) == ("transactions", "timestamp")
    assert error.rule.startswith("unparseable date")
    assert error.rows["timestamp"].tolist() == ["2024-13-45"]
    assert "row 3" in str(error)  # line 3 of the CSV: header + second data row


def test_unparseable_amount_is_refused():
    tables = good_tables()
    tables["transactions"].loc[0, "amount"] = "twelve"
    with pytest.raises(ContractError, match="unparseable number") as info:
        validate_tables(tables, now=NOW)
    assert info.value.column == "amount"


def test_duplicate_ids_are_refused():
    tables = good_tables()
    tables["customers"].loc[2, "customer_id"] = "c1"
    with pytest.raises(ContractError, match="duplicate id") as info:
        validate_tables(tables, now=NOW)
    assert info.value.n_bad == 2


def test_unknown_customer_is_an_error_by_default_and_a_warning_on_request():
    tables = good_tables()
    tables["transactions"].loc[2, "customer_id"] = "ghost"
    with pytest.raises(ContractError, match="not found in the customers table"):
        validate_tables(tables, now=NOW, unknown_customers="error")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_tables(tables, now=NOW, unknown_customers="warn")
    assert any(issubclass(w.category, ContractWarning) and "ghost" in str(w.message) for w in caught)


def test_timestamp_in_the_future_is_refused():
    tables = good_tables()
    tables["feedback"].loc[0, "timestamp"] = "2030-01-01"
    with pytest.raises(ContractError, match="in the future") as info:
        validate_tables(tables, now=NOW)
    assert (info.value.table, info.value.column) == ("feedback", "timestamp")


def test_empty_table_is_refused():
    tables = good_tables()
    tables["transactions"] = tables["transactions"].iloc[0:0]
    with pytest.raises(ContractError, match="empty"):
        validate_tables(tables, now=NOW)


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [("rating", "6", "within 1-5"), ("nps", "11", "within 0-10"), ("nps", "7.5", "whole number"), ("channel", "fax", "channel must be one of")],
)
def test_feedback_value_rules(column, value, rule):
    tables = good_tables()
    tables["feedback"].loc[1, column] = value
    with pytest.raises(ContractError, match=rule) as info:
        validate_tables(tables, now=NOW)
    assert info.value.column == column
    assert len(info.value.rows) == 1


def test_resolution_before_feedback_is_refused():
    tables = good_tables()
    tables["feedback"].loc[0, "resolved_at"] = "2024-03-01"
    with pytest.raises(ContractError, match="resolved before"):
        validate_tables(tables, now=NOW)


def test_error_shows_at_most_ten_rows_but_counts_all():
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(30)]})
    transactions = pd.DataFrame({"customer_id": ["c1"] * 30, "timestamp": ["bad"] * 30, "amount": ["1"] * 30})
    with pytest.raises(ContractError) as info:
        validate_tables({"customers": customers, "transactions": transactions}, now=NOW)
    assert info.value.n_bad == 30
    assert len(info.value.rows) == 10


def test_contract_error_survives_a_trip_between_processes():
    """Streamed scoring checks batches in worker processes: their errors must arrive whole."""
    import pickle

    rows = pd.DataFrame({"amount": ["abc"]}, index=[1_000_001])
    error = ContractError("transactions", "amount", "not a number", rows, n_bad=7, source="tx.csv")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is ContractError and str(back) == str(error)
    assert (back.table, back.column, back.n_bad, back.source) == ("transactions", "amount", 7, "tx.csv")
    assert "row 1000003" in str(back)
