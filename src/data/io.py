"""Reading and writing tables: the I/O edge of custsat.

Readers accept CSV, Parquet and XLSX. CSV text may be UTF-8, UTF-8 with BOM or GB18030
(common for Chinese Excel exports); anything else (UTF-16, Big5, EUC-KR, Shift-JIS,
Latin-1...) is refused with a clear message rather than decoded into garbage. A file that
cannot be read as a table raises :class:`InputFileError` naming the file, the rule and,
where it can, the row: ragged rows, unclosed quotes, NUL bytes, duplicate headers, corrupt
Parquet or XLSX, a workbook with several sheets and no sheet chosen.

The in-memory reader (:func:`read_table`) and the streamed one (:func:`iter_table`) share
one parser per format, so they give the same rows and values for every input.

Writers are atomic (a crash never leaves a half-written file) and formula-safe: in CSV and
XLSX output, text cells that a spreadsheet would run as a formula are neutralised
(:func:`formula_safe`).
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError as XMLParseError

import numpy as np
import pandas as pd

from custsat.data.cjk_encodings import ENCODING_NAMES, plausible_gb18030, rival_encoding
from custsat.privacy import mask_pii

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")
# Tried in this order: strict UTF-8 first, since GB18030 decodes almost any byte string.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
MAX_SHOWN_LINES = 10


class InputFileError(ValueError):
    """An input file that cannot be read as a table (format, encoding, structure, emptiness)."""


def _label(path: str | Path, table: str | None) -> str:
    return f"{table} table ({path})" if table else str(path)


# --------------------------------------------------------------------------- encodings
def _utf16_kind(raw: bytes) -> str | None:
    """'with a BOM' / 'without a BOM' when ``raw`` is UTF-16 (or UTF-32) text, else None.

    Without a BOM, UTF-16 text of mostly ASCII has a NUL in every other byte, on one side.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "with a byte-order mark"
    sample = raw[:65536]
    nuls = sample.count(b"\x00")
    if len(sample) >= 4 and nuls >= len(sample) / 4:
        even, odd = sample[0::2].count(b"\x00"), sample[1::2].count(b"\x00")
        if max(even, odd) >= 0.9 * nuls:
            return "without a byte-order mark"
    return None


def _refuse_utf16(raw: bytes, path: str | Path) -> None:
    kind = _utf16_kind(raw)
    if kind:
        raise InputFileError(
            f"{path}: the file is UTF-16 text {kind} (as Excel's 'Unicode Text' saves it), "
            "not UTF-8 or GB18030. Re-export it as 'CSV UTF-8'."
        )


def detect_encoding(raw: bytes, path: str | Path = "<bytes>") -> str:
    """Return the encoding of CSV bytes: ``utf-8-sig`` (with or without BOM) or ``gb18030``.

    GB18030 is accepted only when the decoded text is plausible Chinese and the bytes are
    not much more likely to be Big5, EUC-KR, Shift-JIS or EUC-JP
    (:mod:`custsat.data.cjk_encodings`): those encodings also decode as GB18030, into
    characters that look like Chinese. UTF-16 is refused.
    """
    _refuse_utf16(raw, path)
    try:
        raw.decode("utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise InputFileError(
            f"{path}: not UTF-8 and not GB18030 (first bad byte at offset {first_bad}). "
            "Re-export the file as UTF-8."
        ) from None
    rival = rival_encoding(raw, text)
    if rival is not None:
        raise InputFileError(
            f"{path}: the text looks like {ENCODING_NAMES[rival]}, which custsat does not read "
            f"(bytes are not valid UTF-8 from offset {first_bad}, and read as GB18030 they give "
            "wrong characters). Re-export the file as UTF-8 (Excel: 'CSV UTF-8')."
        )
    if not plausible_gb18030(text):
        raise InputFileError(
            f"{path}: bytes are not valid UTF-8 (first bad byte at offset {first_bad}) "
            "and decoding as GB18030 gives implausible characters. The file is probably in "
            "another encoding (e.g. Latin-1, Big5, Shift-JIS); re-export it as UTF-8."
        )
    return "gb18030"


@dataclass(frozen=True)
class CsvScan:
    """What one pass over a CSV file's bytes tells before parsing."""

    encoding: str
    odd_quotes: bool  # an odd number of '"' bytes: some quoted field may never be closed


def _nul_lines(chunks: Iterator[bytes]) -> list[int]:
    """1-based line numbers holding a NUL byte (the first few)."""
    lines: list[int] = []
    line = 1
    for chunk in chunks:
        start = 0
        while (at := chunk.find(b"\x00", start)) != -1:
            number = line + chunk.count(b"\n", 0, at)
            if not lines or lines[-1] != number:
                lines.append(number)
                if len(lines) >= MAX_SHOWN_LINES:
                    return lines
            start = at + 1
        line += chunk.count(b"\n")
    return lines


def _file_blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(block_bytes), b"")


def scan_csv(path: str | Path, *, table: str | None = None, block_bytes: int = 1 << 24) -> CsvScan:
    """Encoding, NUL bytes and quote parity of a CSV file, read block by block (flat memory).

    Refuses UTF-16, undecodable or implausible text (:func:`detect_encoding`) and NUL bytes
    (naming their lines). Files that are not UTF-8 are checked whole (GB18030's plausibility
    test needs the text).
    """
    return _scan(Path(path), _label(path, table), block_bytes)


def _scan(path: Path, label: str, block_bytes: int) -> CsvScan:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    quotes, utf8, nul = 0, True, False
    for number, block in enumerate(_file_blocks(path, block_bytes)):
        if number == 0:
            _refuse_utf16(block, label)
        nul = nul or b"\x00" in block
        quotes += block.count(b'"')  # '"' is never part of a UTF-8 or GB18030 multi-byte character
        if utf8:
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    encoding = "utf-8-sig" if utf8 else detect_encoding(path.read_bytes(), label)
    if nul:
        lines = _nul_lines(_file_blocks(path, block_bytes))
        raise InputFileError(
            f"{label}: NUL bytes (\\x00) on line(s) {', '.join(map(str, lines))}: they would cut "
            "ids and texts short. Remove them from the export (they are never part of real text)."
        )
    return CsvScan(encoding=encoding, odd_quotes=quotes % 2 == 1)


def file_encoding(path: str | Path, block_bytes: int = 1 << 24) -> str:
    """:func:`detect_encoding` of a CSV file, reading UTF-8 files block by block (flat memory)."""
    return scan_csv(path, block_bytes=block_bytes).encoding


# --------------------------------------------------------------------------- headers
def clean_headers(names: Sequence[Any], label: str) -> list[str]:
    """Header cells as stripped strings ("Unnamed: i" for empty ones); refuse duplicates.

    ``amount`` and ``amount `` are the same header once stripped, and pandas would silently
    rename a second ``amount`` to ``amount.1``: either way one column would be ignored.
    """
    cleaned = []
    for i, name in enumerate(names):
        text = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name)
        text = text.lstrip("\ufeff").strip()
        cleaned.append(text or f"Unnamed: {i}")
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(cleaned):
        seen.setdefault(name, []).append(i + 1)
    duplicates = {name: where for name, where in seen.items() if len(where) > 1}
    if duplicates:
        listed = "; ".join(
            f"{mask_pii(name)!r} in columns {', '.join(map(str, where))}" for name, where in duplicates.items()
        )
        raise InputFileError(
            f"{label}: duplicate header(s) after trimming spaces: {listed}. "
            "Rename or remove one of each, so that every column has its own name."
        )
    return cleaned


# --------------------------------------------------------------------------- CSV
_ROW_ERROR = re.compile(r"Row #(?P<row>\d+): Expected (?P<expected>\d+) columns, got (?P<got>\d+)")


def _csv_reader(path: Path, encoding: str, n_columns: int | None, block_bytes: int):
    """A pyarrow streaming CSV reader: every value a string, "" missing, rows of the header's width.

    pyarrow's parser is strict about field counts (pandas' C parser silently drops extra
    fields in chunked mode and turns a trailing comma into an index column) and reads
    ``\\r``, ``\\n`` and ``\\r\\n`` line ends alike, whatever the block size.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = {"use_threads": False, "block_size": block_bytes, "encoding": "utf8" if encoding == "utf-8-sig" else encoding}
    parse = pacsv.ParseOptions(newlines_in_values=True)
    if n_columns is None:  # first pass: only the header's width is used
        options = pacsv.ReadOptions(autogenerate_column_names=True, **read)
        return pacsv.open_csv(str(path), read_options=options, parse_options=parse)
    names = [f"f{i}" for i in range(n_columns)]
    options = pacsv.ReadOptions(column_names=names, **read)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=[""],
        quoted_strings_can_be_null=True,
    )
    return pacsv.open_csv(str(path), read_options=options, parse_options=parse, convert_options=convert)


def _csv_error(error: Exception, label: str) -> InputFileError:
    text = str(error)
    match = _ROW_ERROR.search(text)
    if match:
        row, expected, got = int(match["row"]), int(match["expected"]), int(match["got"])
        hint = (
            "a delimiter at the end of each line, or an unquoted comma inside a value?"
            if got > expected else
            "a line break inside an unquoted value, or a missing delimiter?"
        )
        content = text[match.end():].lstrip(": ").strip()[:120]
        return InputFileError(
            f"{label}: row {row} has {got} field{'s' * (got != 1)} but the header has {expected} ({hint}) "
            f"Row {row} reads: {mask_pii(content)!r} (row 1 is the header; blank lines are not counted)"
        )
    return InputFileError(f"{label}: not a readable CSV file: {type(error).__name__}: {mask_pii(text)[:300]}")


def _csv_batches(path: Path, label: str, block_bytes: int = 1 << 24) -> Iterator[Any]:
    """Arrow record batches of a CSV file's data rows, named by its cleaned headers."""
    import pyarrow as pa

    scan = _scan(path, label, block_bytes)
    headers: list[str] | None = None
    last_value, rows = None, 0
    try:
        first = _csv_reader(path, scan.encoding, None, block_bytes)
        n_columns = len(first.schema.names)
        first.close()
        for batch in _csv_reader(path, scan.encoding, n_columns, block_bytes):
            if headers is None:
                if batch.num_rows == 0:
                    continue
                headers = clean_headers(list(batch.slice(0, 1).to_pylist()[0].values()), label)
                batch = batch.slice(1)
            if batch.num_rows:
                last_value = batch.column(n_columns - 1)[batch.num_rows - 1].as_py()
                rows += batch.num_rows
                yield batch.rename_columns(headers)
    except (pa.ArrowException, UnicodeDecodeError, OSError) as error:
        raise _csv_error(error, label) from None
    if headers is None:
        raise InputFileError(f"{label}: file has no header and no rows")
    if scan.odd_quotes and isinstance(last_value, str) and ("\n" in last_value or "\r" in last_value):
        raise InputFileError(
            f"{label}: a double quote (\") that opens a value in row {rows + 1} is never closed, so "
            "the rest of the file from that quote on would be read as one value (row 1 is the "
            "header). Close or remove the stray quote."
        )


# --------------------------------------------------------------------------- XLSX
# What openpyxl raises on a file that is not a readable workbook (found by fuzzing).
_XLSX_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, TypeError, IndexError,
                AttributeError, EOFError, OSError, zlib.error, XMLParseError, NotImplementedError)


def _sheet_has_cells(sheet) -> bool:
    return any(any(v is not None for v in row) for row in sheet.iter_rows(values_only=True))


def workbook_sheets(path: str | Path, *, table: str | None = None) -> tuple[list[str], list[str]]:
    """(every sheet name, the names of sheets holding at least one cell) of an XLSX file."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            names = list(workbook.sheetnames)
            with_cells = [name for name in names if _sheet_has_cells(workbook[name])]
        finally:
            workbook.close()
    except (*_XLSX_ERRORS, InvalidFileException) as error:
        raise InputFileError(
            f"{_label(path, table)}: not a readable XLSX workbook (corrupt, truncated or not an "
            f"Excel 2007+ file): {type(error).__name__}: {mask_pii(str(error))[:200]}"
        ) from None
    return names, with_cells


def _choose_sheet(path: Path, table: str | None, sheet: str | None) -> tuple[str, list[str]]:
    """The sheet to read and every sheet name; refuse when the choice is not clear."""
    label = _label(path, table)
    names, with_cells = workbook_sheets(path, table=table)
    if not names:
        raise InputFileError(f"{label}: the workbook has no sheets")
    if sheet is not None:
        if str(sheet) not in names:
            raise InputFileError(
                f"{label}: sheet {str(sheet)!r} (from the mapping) is not in the workbook; "
                f"its sheets are {', '.join(map(repr, names))}"
            )
        return str(sheet), names
    if len(with_cells) > 1:
        raise InputFileError(
            f"{label}: the workbook has {len(with_cells)} sheets with data "
            f"({', '.join(map(repr, with_cells))}) and no sheet is chosen, so rows could be missed. "
            "Put all rows in one sheet, or name the sheet in the mapping file "
            f"(tables: {table or '<table>'}: sheet: {with_cells[0]!r})."
        )
    return (with_cells[0] if with_cells else names[0]), names


def _read_xlsx(path: Path, table: str | None, sheet: str | None) -> pd.DataFrame:
    label = _label(path, table)
    chosen, names = _choose_sheet(path, table, sheet)
    try:
        grid = pd.read_excel(path, sheet_name=chosen, header=None, dtype=object, engine="openpyxl")
    except _XLSX_ERRORS as error:
        raise InputFileError(f"{label}: cannot read sheet {chosen!r}: {type(error).__name__}: {error}") from None
    if grid.empty:
        raise InputFileError(f"{label}: sheet {chosen!r} is empty (the workbook's sheets: {', '.join(map(repr, names))})")
    frame = grid.iloc[1:].reset_index(drop=True)
    frame.columns = clean_headers(list(grid.iloc[0]), f"{label}, sheet {chosen!r}")
    # kept for messages about missing columns: "the workbook's sheets are ..."
    frame.attrs["sheet"], frame.attrs["sheets"] = chosen, names
    return frame


# --------------------------------------------------------------------------- Parquet
def _parquet_batches(path: Path, label: str, batch_rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        headers = clean_headers(parquet.schema_arrow.names, label)
        if parquet.metadata.num_rows == 0:
            raise InputFileError(f"{label}: file has a header but no rows")
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield batch.rename_columns(headers)
    except InputFileError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:  # ValueError: also undecodable metadata
        raise InputFileError(
            f"{label}: not a readable Parquet file (truncated, corrupt or not Parquet): "
            f"{type(error).__name__}: {mask_pii(str(error))[:200]}"
        ) from None


# --------------------------------------------------------------------------- readers
def _check_path(path: Path, label: str) -> str:
    if not path.exists():
        raise InputFileError(f"{label}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputFileError(
            f"{label}: unsupported format '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"{label}: file is empty")
    return suffix


def _arrow_batches(path: Path, label: str, suffix: str, batch_rows: int) -> Iterator[Any]:
    if suffix in (".parquet", ".pq"):
        return _parquet_batches(path, label, batch_rows)
    return _csv_batches(path, label)


def _to_pandas(arrow: Any, label: str) -> pd.DataFrame:
    """An Arrow batch or table as pandas (strings as str objects, missing as None).

    pandas metadata is ignored: a named index stored in Parquet comes back as a column.
    """
    import pyarrow as pa

    try:
        return arrow.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, OverflowError, ValueError) as error:
        raise InputFileError(f"{label}: values cannot be read: {type(error).__name__}: {mask_pii(str(error))[:200]}") from None


def read_table(path: str | Path, *, table: str | None = None, sheet: str | None = None) -> pd.DataFrame:
    """Read one table from CSV, Parquet or XLSX.

    ``table`` names the contract the file is meant for, used only in error messages.
    ``sheet`` chooses an XLSX sheet; without it a workbook must have one sheet with data.
    CSV values are strings (missing = None), as :func:`iter_table` gives them. Files that
    cannot be read as a table raise :class:`InputFileError`.
    """
    import pyarrow as pa

    path = Path(path)
    label = _label(path, table)
    suffix = _check_path(path, label)
    if suffix == ".xlsx":
        frame = _read_xlsx(path, table, sheet)
    else:
        batches = list(_arrow_batches(path, label, suffix, 1 << 20))
        if not batches:
            raise InputFileError(f"{label}: file has a header but no rows")
        frame = _to_pandas(pa.Table.from_batches(batches), label)
    if frame.empty:
        raise InputFileError(f"{label}: file has a header but no rows")
    return frame


def iter_table(
    path: str | Path, *, table: str | None = None, batch_rows: int = 500_000, sheet: str | None = None
) -> Iterator[pd.DataFrame]:
    """:func:`read_table` in batches of rows, indexed by row position in the file.

    Parquet and CSV are read batch by batch, so files larger than memory can be read; XLSX
    (at most ~1M rows) is read whole and then split. Values and dtypes are those of
    :func:`read_table`.
    """
    for first_row, raw in iter_raw_batches(path, table=table, batch_rows=batch_rows, sheet=sheet):
        yield batch_frame(first_row, raw, source=_label(path, table))


def _rebatch(batches: Iterator[Any], batch_rows: int) -> Iterator[Any]:
    """Arrow record batches regrouped into tables of exactly ``batch_rows`` rows (the last may be short)."""
    import pyarrow as pa

    pending: list[Any] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch.num_rows, batch_rows - held)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == batch_rows:
                yield pa.Table.from_batches(pending)
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending)


def iter_raw_batches(
    path: str | Path, *, table: str | None = None, batch_rows: int = 500_000, sheet: str | None = None
) -> Iterator[tuple[int, Any]]:
    """:func:`iter_table`'s batches before their conversion to pandas: (first row, batch).

    A batch is an Arrow table (Parquet, CSV) or a DataFrame (XLSX); :func:`batch_frame`
    converts it. Streamed scoring converts batches in worker processes, which spreads the
    cost of making Python strings.
    """
    path = Path(path)
    label = _label(path, table)
    suffix = _check_path(path, label)
    if suffix == ".xlsx":
        frame = read_table(path, table=table, sheet=sheet)
        for start in range(0, len(frame), batch_rows):
            yield start, frame.iloc[start:start + batch_rows]
        return
    start = 0
    for batch in _rebatch(_arrow_batches(path, label, suffix, batch_rows), batch_rows):
        yield start, batch
        start += batch.num_rows
    if start == 0:
        raise InputFileError(f"{label}: file has a header but no rows")


def batch_frame(first_row: int, batch: Any, *, source: str | None = None) -> pd.DataFrame:
    """One of :func:`iter_raw_batches`' batches as :func:`iter_table` gives it.

    ``source`` names the file in the error raised when Arrow values cannot become pandas
    values (e.g. dates beyond the year 2262).
    """
    frame = batch if isinstance(batch, pd.DataFrame) else _to_pandas(batch, source or "input")
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


# --------------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_write_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_write_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` only on success.

    For multi-file artefacts (a saved model): readers never see a half-written folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        path.chmod(0o755)  # mkdtemp creates 0700; saved models are meant to be shared
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# A spreadsheet runs a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def formula_safe_text(value: Any) -> Any:
    """``value`` with a leading single quote when it is text a spreadsheet would run as a formula.

    Follows OWASP's CSV-injection guidance: text starting with ``= + - @``, a tab or a
    carriage return is prefixed with ``'``, so that Excel, LibreOffice and Google Sheets show
    it as text. Numbers are left alone, and so is text that is a plain number (``-20``,
    ``+1.5``): a spreadsheet reads those as numbers, not formulas.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and headers cannot run as spreadsheet formulas.

    Every CSV and XLSX writer of custsat calls it (:func:`write_table`,
    ``serving.outputs.write_scored``). Numeric columns are untouched; Parquet output is
    never changed (it is read by programs, not spreadsheets).
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        values = values.astype(object)
        risky = values.str[:1].isin(FORMULA_TRIGGERS).to_numpy()  # .str gives NaN for non-text cells
        if risky.any():
            values = values.copy()
            values[risky] = values[risky].map(formula_safe_text)
            out[column] = values
    out.columns = [formula_safe_text(c) for c in out.columns]
    return out


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`formula_safe`, and line breaks inside text cells written as ``\n``.

    pandas quotes a CSV field only for the delimiter, quotes and ``\n``; a bare ``\r``
    inside a text would be written unquoted and read back as the end of a row.
    """
    out = formula_safe(frame)
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            has_cr = (values.astype(object).str.contains("\r", regex=False) == True).to_numpy(dtype=bool)  # noqa: E712 (NaN for non-text)
            if has_cr.any():
                values = values.astype(object).copy()
                values[has_cr] = values[has_cr].str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
                out[column] = values
    return out


def xlsx_cell(sheet, value: Any):
    """An openpyxl cell for ``value``: text is always stored as text, never as a formula.

    openpyxl turns any string starting with ``=`` into a formula cell; characters that XLSX
    cannot store (control characters) are written as U+FFFD rather than failing the file.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

    value = _xlsx_value(value)
    cell = Cell(sheet, row=1, column=1)  # the sheet's append() sets the real position
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def _xlsx_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and np.isnan(value):
            return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # Excel has no time zones: keep the clock time
    return value


def write_plain_xlsx(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """One-sheet workbook of ``frame`` (already :func:`formula_safe`), text stored as text."""
    from openpyxl import Workbook

    if index:
        frame = frame.reset_index()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")
    sheet.append([xlsx_cell(sheet, str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        sheet.append([xlsx_cell(sheet, v) for v in row])
    workbook.save(path)


def write_table(
    frame: pd.DataFrame, path: str | Path, *, csv_bom: bool = False, index: bool = False
) -> Path:
    """Write ``frame`` atomically, choosing the format by suffix (.parquet, .csv, .xlsx).

    ``csv_bom`` writes UTF-8 with a BOM so that Excel in Chinese locales opens the CSV
    correctly. CSV and XLSX text is made :func:`formula_safe` (:func:`csv_safe`). Parquet and CSV output is
    deterministic for equal input.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".xlsx"):
        raise InputFileError(
            f"{path}: unsupported output format '{suffix}'; use .parquet, .csv or .xlsx"
        )
    with atomic_write_path(path) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=index)
        elif suffix == ".csv":
            csv_safe(frame).to_csv(tmp, index=index, encoding="utf-8-sig" if csv_bom else "utf-8")
        else:
            write_plain_xlsx(formula_safe(frame), tmp, index=index)
    return path
