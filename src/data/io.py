"""Reading and writing tables: the I/O edge of custsat.

Readers accept CSV, Parquet and XLSX. CSV text may be UTF-8, UTF-8 with BOM or GB18030
(common for Chinese Excel exports); anything else is refused with a clear message rather
than decoded into garbage. Writers are atomic: a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")
# Tried in this order: strict UTF-8 first, since GB18030 decodes almost any byte string.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


class InputFileError(ValueError):
    """An input file that cannot be read as a table (format, encoding, emptiness)."""


def detect_encoding(raw: bytes, path: str | Path = "<bytes>") -> str:
    """Return the encoding of CSV bytes: ``utf-8-sig`` (with or without BOM) or ``gb18030``.

    GB18030 is accepted only when the decoded text is plausible: mostly CJK or ASCII, no
    control characters and no characters from the private-use area, which is where
    mis-decoded bytes of other encodings land.
    """
    try:
        raw.decode("utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError as utf8_error:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise InputFileError(
                f"{path}: not UTF-8 and not GB18030 (first bad byte at offset "
                f"{utf8_error.start}). Re-export the file as UTF-8."
            ) from None
        if not _plausible_text(text):
            raise InputFileError(
                f"{path}: bytes are not valid UTF-8 (first bad byte at offset {utf8_error.start}) "
                "and decoding as GB18030 gives implausible characters. The file is probably in "
                "another encoding (e.g. Latin-1, Big5, Shift-JIS); re-export it as UTF-8."
            ) from None
        return "gb18030"


def _plausible_text(text: str) -> bool:
    """Real GB18030 Chinese is mostly common (GB2312) characters; mis-decoded bytes are not.

    Traditional-character text still scores ~0.8 here, while Shift-JIS or Big5 bytes read
    as GB18030 give rare characters and score near 0.
    """
    non_ascii = [char for char in text if ord(char) > 127]
    if not non_ascii:
        return True
    common = 0
    for char in non_ascii:
        try:
            char.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(non_ascii) >= 0.5


def read_table(path: str | Path, *, table: str | None = None) -> pd.DataFrame:
    """Read one table from CSV, Parquet or XLSX.

    ``table`` names the contract the file is meant for, used only in error messages.
    Empty files, unknown formats and undecodable text raise :class:`InputFileError`.
    """
    path = Path(path)
    label = f"{table} table ({path})" if table else str(path)
    if not path.exists():
        raise InputFileError(f"{label}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputFileError(
            f"{label}: unsupported format '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"{label}: file is empty")
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=object, engine="openpyxl")
    else:
        raw = path.read_bytes()
        encoding = detect_encoding(raw, path)
        try:
            frame = pd.read_csv(
                io.StringIO(raw.decode(encoding)), dtype=str, keep_default_na=False,
                na_values=[""],
            )
        except pd.errors.EmptyDataError:
            raise InputFileError(f"{label}: file has no header and no rows") from None
    if frame.empty:
        raise InputFileError(f"{label}: file has a header but no rows")
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def file_encoding(path: str | Path, block_bytes: int = 1 << 24) -> str:
    """:func:`detect_encoding` of a CSV file, reading UTF-8 files block by block (flat memory).

    Files that are not UTF-8 are checked whole (GB18030's plausibility test needs the text).
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with Path(path).open("rb") as handle:
        try:
            for block in iter(lambda: handle.read(block_bytes), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8-sig"
        except UnicodeDecodeError:
            pass
    return detect_encoding(Path(path).read_bytes(), path)


def iter_table(path: str | Path, *, table: str | None = None, batch_rows: int = 500_000) -> Iterator[pd.DataFrame]:
    """:func:`read_table` in batches of rows, indexed by row position in the file.

    Parquet and CSV are read batch by batch, so files larger than memory can be read; XLSX
    (at most ~1M rows) is read whole and then split. Values and dtypes are those of
    :func:`read_table`.
    """
    for first_row, raw in iter_raw_batches(path, table=table, batch_rows=batch_rows):
        yield batch_frame(first_row, raw)


def iter_raw_batches(
    path: str | Path, *, table: str | None = None, batch_rows: int = 500_000
) -> Iterator[tuple[int, Any]]:
    """:func:`iter_table`'s batches before their conversion to pandas: (first row, batch).

    A batch is an Arrow record batch (Parquet) or a DataFrame (CSV, XLSX);
    :func:`batch_frame` converts it. Streamed scoring converts batches in worker processes,
    which spreads the cost of making Python strings.
    """
    path = Path(path)
    label = f"{table} table ({path})" if table else str(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx" or not path.exists() or suffix not in SUPPORTED_SUFFIXES or path.stat().st_size == 0:
        frame = read_table(path, table=table)  # raises the usual errors for missing/empty/unknown files
        for start in range(0, len(frame), batch_rows):
            yield start, frame.iloc[start:start + batch_rows]
        return
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        batches: Iterator[Any] = parquet.iter_batches(batch_size=batch_rows)
        if parquet.metadata.num_rows == 0:
            raise InputFileError(f"{label}: file has a header but no rows")
    else:
        try:
            batches = pd.read_csv(path, encoding=file_encoding(path), dtype=str, keep_default_na=False,
                                  na_values=[""], chunksize=batch_rows)
        except pd.errors.EmptyDataError:
            raise InputFileError(f"{label}: file has no header and no rows") from None
    start = 0
    for batch in batches:
        yield start, batch
        start += len(batch)
    if start == 0:
        raise InputFileError(f"{label}: file has a header but no rows")


def batch_frame(first_row: int, batch: Any) -> pd.DataFrame:
    """One of :func:`iter_raw_batches`' batches as :func:`iter_table` gives it."""
    frame = batch if isinstance(batch, pd.DataFrame) else batch.to_pandas()
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


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


def write_table(
    frame: pd.DataFrame, path: str | Path, *, csv_bom: bool = False, index: bool = False
) -> Path:
    """Write ``frame`` atomically, choosing the format by suffix (.parquet, .csv, .xlsx).

    ``csv_bom`` writes UTF-8 with a BOM so that Excel in Chinese locales opens the CSV
    correctly. Parquet and CSV output is deterministic for equal input.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_write_path(path) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=index)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=index, encoding="utf-8-sig" if csv_bom else "utf-8")
        elif suffix == ".xlsx":
            frame.to_excel(tmp, index=index, engine="openpyxl")
        else:
            raise InputFileError(
                f"{path}: unsupported output format '{suffix}'; use .parquet, .csv or .xlsx"
            )
    return path
