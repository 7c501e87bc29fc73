"""Readers accept CSV (UTF-8, UTF-8 with BOM, GB18030), Parquet and XLSX; writes are atomic."""

from __future__ import annotations

import pandas as pd
import pytest

from custsat.data.io import (
    InputFileError,
    atomic_write_path,
    file_encoding,
    iter_table,
    read_table,
    write_table,
)

FRAME = pd.DataFrame({"客户编号": ["A001", "A002"], "反馈内容": ["物流太慢，包装破损", "服务很好！"]})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_each_supported_encoding_reads_back_identically(tmp_path, encoding):
    path = tmp_path / "export.csv"
    FRAME.to_csv(path, index=False, encoding=encoding)
    frame = read_table(path)
    assert list(frame.columns) == ["客户编号", "反馈内容"]  # no BOM left on the first header
    assert frame["反馈内容"].tolist() == FRAME["反馈内容"].tolist()


def test_other_encoding_is_refused_not_turned_into_garbage(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("名前,コメント\n山田,配送が遅い\n".encode("shift_jis"))
    with pytest.raises(InputFileError, match="re-export it as UTF-8|Re-export"):
        read_table(path)


def test_latin1_is_refused(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("name,comment\nJosé,très bien \xa0\x80\n".encode("latin-1", errors="ignore") + b"\xff\xfe\x81")
    with pytest.raises(InputFileError):
        read_table(path)


def test_parquet_and_xlsx_round_trip(tmp_path):
    for suffix in (".parquet", ".xlsx"):
        path = write_table(FRAME, tmp_path / f"t{suffix}")
        back = read_table(path)
        assert back["客户编号"].astype(str).tolist() == ["A001", "A002"]


@pytest.mark.parametrize("content", [b"", b"customer_id,amount\n"])
def test_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "transactions.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match="transactions table .*(empty|no rows)"):
        read_table(path, table="transactions")


@pytest.mark.parametrize("suffix,encoding", [(".csv", "utf-8-sig"), (".csv", "gb18030"), (".parquet", None), (".xlsx", None)])
def test_batches_equal_the_whole_table(tmp_path, suffix, encoding):
    """Streamed reading gives read_table's values and dtypes, with row positions as the index."""
    frame = pd.DataFrame({"客户编号": [f"A{i:03d}" for i in range(23)], "反馈内容": ["物流太慢，包装破损", "", "good"] * 7 + ["a", "b"],
                          "amount": [f"{i}.5" for i in range(23)]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False, encoding=encoding)
        assert file_encoding(path, block_bytes=7) == ("utf-8-sig" if encoding == "utf-8-sig" else "gb18030")
    else:
        write_table(frame, path)
    batches = list(iter_table(path, table="feedback", batch_rows=5))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert [b.index[0] for b in batches] == [0, 5, 10, 15, 20]
    pd.testing.assert_frame_equal(pd.concat(batches), read_table(path))


@pytest.mark.parametrize("content", [b"", b"customer_id,amount\n"])
def test_empty_file_is_refused_when_streamed(tmp_path, content):
    path = tmp_path / "transactions.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match="transactions table .*(empty|no rows)"):
        list(iter_table(path, table="transactions"))


def test_unsupported_format_is_refused(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{}")
    with pytest.raises(InputFileError, match="unsupported format"):
        read_table(path)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "scored.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_csv_bom_option_writes_excel_friendly_utf8(tmp_path):
    path = write_table(FRAME, tmp_path / "out.csv", csv_bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_atomic_write_dir_replaces_the_folder_only_on_success(tmp_path):
    from custsat.data.io import atomic_write_dir

    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write_dir(target) as tmp:
            (tmp / "new.txt").write_text("half")
            raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_write_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp folder left behind
