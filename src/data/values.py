"""Parsing dates and numbers of contract columns without guessing per value.

A column is read with one rule for all its values, decided from the whole column:

* **Dates**: year-first dates (``2024-03-05``, ``2024/3/5``, ``2024年3月5日``, ``20240305``)
  are unambiguous. Day/month-first dates (``05/03/2024``) are read in the one order the
  column proves: a value with a first number above 12 proves day first, a second number
  above 12 proves month first. A column with proof of both orders, or of neither (every
  value could be either), is refused rather than read one guess per cell. Time-zone
  offsets must be the same on every value (the clock time is kept; the offset is
  dropped); a column mixing offsets, or times with and without one, is refused.
* **Numbers**: a comma is a thousands separator only in groups of three (``1,200.50``);
  with ``decimal=","`` the roles swap (``1.200,50``). Anything else (``12,50`` in a
  decimal-point file, ``1,2,3``, ``inf``) is refused.

Functions raise :class:`BadValues` with the rule and the offending rows;
:mod:`custsat.data.contracts` turns it into a ``ContractError`` naming table and column.
"""

from __future__ import annotations

import datetime
import functools
import numbers
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DECIMAL_MARKS = (".", ",")
_CURRENCY = "¥$€£￥"


class BadValues(ValueError):
    """Values of one column that break a parsing rule: ``rule`` and a boolean mask ``bad``."""

    def __init__(self, rule: str, bad: pd.Series):
        self.rule, self.bad = rule, bad
        super().__init__(rule)


def _positional(parse):
    """Run ``parse`` on positions, so that any index (even with repeated labels) works."""
    @functools.wraps(parse)
    def wrapper(raw: pd.Series, **options):
        index = raw.index
        try:
            out = parse(raw.reset_index(drop=True), **options)
        except BadValues as error:
            raise BadValues(error.rule, pd.Series(error.bad.to_numpy(dtype=bool), index=index)) from None
        out.index = index
        return out

    return wrapper


def arrow_strings(values: pd.Series) -> pa.Array | None:
    """``values`` as an Arrow string array, or None when they are not all strings/missing."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


@dataclass(frozen=True)
class _Split:
    """A column split into missing values, text values and other (typed) values."""

    blank: pd.Series  # missing, or text that is empty after trimming
    other: pd.Series  # present but not text: numbers, dates, booleans (Excel, mixed frames)
    text_index: pd.Index  # where the non-empty text values are
    text: pa.Array  # those values, trimmed, as Arrow strings


def _split(raw: pd.Series) -> _Split:
    arrow = arrow_strings(raw)
    if arrow is not None:
        is_str = raw.notna().to_numpy()
    else:
        is_str = raw.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        arrow = pa.array(raw[is_str], type=pa.string())
    strings_index = raw.index[is_str]
    trimmed = pc.utf8_trim_whitespace(arrow.filter(pa.array(is_str)) if len(arrow) == len(raw) else arrow)
    empty = pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)
    blank = pd.Series(~is_str & raw.isna().to_numpy(), index=raw.index)
    blank[strings_index[empty]] = True
    other = pd.Series(~is_str & ~raw.isna().to_numpy(), index=raw.index)
    return _Split(blank, other, strings_index[~empty], trimmed.filter(pa.array(~empty)))


def _mask(raw: pd.Series, index: pd.Index, flags: np.ndarray | None = None) -> pd.Series:
    """A boolean Series over ``raw`` that is True at ``index`` (where ``flags``)."""
    chosen = index if flags is None else index[flags]
    return pd.Series(raw.index.isin(chosen), index=raw.index)


def _numpy(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _kind(value) -> str:
    """'datetime', 'number', 'bool' or 'other' for a value that is not text."""
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, datetime.date | np.datetime64):
        return "datetime"
    if isinstance(value, numbers.Number):
        return "number"
    return "other"


# --------------------------------------------------------------------------- dates
_YEAR_FIRST = r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{8})(?:$|[ T])"
_CJK_DATE = r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?\s*"
_DAY_MONTH = r"^(?P<first>\d{1,2})[-/. ](?P<second>\d{1,2})[-/. ](?P<year>\d{4}|\d{2})(?P<rest>(?:[ T].*)?)$"
# an offset counts only after a time of day, so that "2024-03-05" does not end in offset "-05"
_OFFSET = r"(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?P<offset>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_NUMERIC_DAY_MONTH = re.compile(r"(?<!\d)\d{1,2}[-/.]\d{1,2}(?!\d)")
_FOUR_DIGIT_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
DATE_HINT = "use a full date: 2024-03-05, 05/03/2024 or 2024年3月5日, optionally with a time"


def _as_iso(text: pa.Array, day_first: bool) -> pa.Array:
    """Day/month-first dates rewritten year first (2-digit years pivot at 69, as strftime's %y)."""
    order = r"\2-\1" if day_first else r"\1-\2"
    sep = r"[-/. ]"
    out = pc.replace_substring_regex(text, rf"^(\d{{1,2}}){sep}(\d{{1,2}}){sep}(\d{{4}})((?:[ T].*)?)$", rf"\3-{order}\4")
    for century, years in (("20", r"[0-5]\d|6[0-8]"), ("19", r"69|[7-9]\d")):
        out = pc.replace_substring_regex(out, rf"^(\d{{1,2}}){sep}(\d{{1,2}}){sep}({years})((?:[ T].*)?)$",
                                         rf"{century}\3-{order}\4")
    return out


def _suggested_format(example: str, day_first: bool) -> str:
    match = re.match(_DAY_MONTH, example)
    sep = example[len(match["first"])] if match else "/"
    year = "%Y" if match is None or len(match["year"]) == 4 else "%y"
    date = sep.join(["%d", "%m"] if day_first else ["%m", "%d"]) + sep + year
    rest = (match["rest"] if match else "").strip()
    if re.fullmatch(r"\d{1,2}:\d{2}", rest):
        return date + " %H:%M"
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", rest):
        return date + " %H:%M:%S"
    return date


def _day_first_of(raw: pd.Series, index: pd.Index, text: pa.Array, column: str, table: str) -> bool | None:
    parts = pc.extract_regex(text, _DAY_MONTH)
    matched = _numpy(pc.fill_null(parts.is_valid(), False))
    if not matched.any():
        return None
    first = _numpy(pc.fill_null(pc.cast(pc.struct_field(parts, "first"), pa.int64(), safe=False), 0))
    second = _numpy(pc.fill_null(pc.cast(pc.struct_field(parts, "second"), pa.int64(), safe=False), 0))
    day_evidence = matched & (first > 12) & (second <= 12)
    month_evidence = matched & (second > 12) & (first <= 12)
    values = _numpy(text)
    if day_evidence.any() and month_evidence.any():
        raise BadValues(
            f"dates mix day/month/year ({values[day_evidence][0]!r}) and month/day/year "
            f"({values[month_evidence][0]!r}) orders in one column; re-export them in one order "
            "(ideally year first, 2024-03-05)",
            _mask(raw, index, day_evidence | month_evidence),
        )
    if day_evidence.any():
        return True
    if month_evidence.any():
        return False
    differ = matched & (first != second)
    if not differ.any():
        return None  # e.g. only 05/05/2024: both orders give the same dates
    example = values[differ][0]
    raise BadValues(
        f"dates such as {example!r} can be read day first or month first, and no value in the "
        "column has a number above 12 that tells which. Set the format in the mapping file "
        f"(custsat ingest --mapping): tables: {table}: date_format: "
        f"{{{column}: \"{_suggested_format(example, True)}\"}} if the day comes first, "
        f"or \"{_suggested_format(example, False)}\" if the month does",
        _mask(raw, index, differ),
    )


def infer_day_first(raw: pd.Series, *, column: str = "date", table: str = "<table>") -> bool | None:
    """The day/month order that every day/month-first date of ``raw`` fits: True (day first),
    False (month first) or None (the column has no such dates, or each reads the same both ways).

    Raises :class:`BadValues` when the column proves both orders, or when it has values
    that read differently in the two orders and none that tells which is meant.
    """
    index = raw.index
    raw = raw.reset_index(drop=True)
    split = _split(raw)
    try:
        return _day_first_of(raw, split.text_index, split.text, column, table)
    except BadValues as error:
        raise BadValues(error.rule, pd.Series(error.bad.to_numpy(dtype=bool), index=index)) from None


# what datetime64[ns] holds; beyond it pandas cannot store a date (and none is a real order)
_EARLIEST, _LATEST = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")
OUT_OF_RANGE = f"date outside {_EARLIEST:%Y-%m-%d} to {_LATEST:%Y-%m-%d}"


def _naive_timestamp(value) -> pd.Timestamp | None:
    """A typed date (datetime, date, numpy datetime64) as a naive ns Timestamp; None beyond ns range."""
    try:
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_localize(None)
        return stamp.as_unit("ns")
    except (ValueError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        return None


def _normalised_offset(offset: str) -> str:
    if offset in ("Z", "UTC", "GMT"):
        return "+0000"
    offset = offset.replace(":", "")
    return offset + "00" if len(offset) == 3 else offset


def _drop_offsets(raw: pd.Series, index: pd.Index, text: pa.Array) -> pa.Array:
    """``text`` without time-zone offsets, after checking that they are all the same or absent."""
    found = pc.extract_regex(text, _OFFSET)
    has = _numpy(pc.fill_null(found.is_valid(), False))
    if not has.any():
        return text
    values = _numpy(text)
    if not has.all():
        raise BadValues(
            f"times mix values with a time-zone offset (e.g. {values[has][0]!r}) and values without "
            f"one (e.g. {values[~has][0]!r}): they cannot be put on one clock. Re-export all times "
            "with the same offset, or none",
            _mask(raw, index, ~has),
        )
    offsets = pd.Series(_numpy(pc.struct_field(found, "offset")))
    normalised = offsets.map(_normalised_offset)
    if normalised.nunique() > 1:
        other = (normalised != normalised.iloc[0]).to_numpy()
        raise BadValues(
            f"times carry different time-zone offsets ({', '.join(sorted(set(offsets)))}); custsat keeps "
            "clock times, which mean different instants under different offsets. Re-export all "
            "times in one time zone",
            _mask(raw, index, other),
        )
    return pc.replace_substring_regex(text, _OFFSET, r"\1")


def _parse_free_form(values: np.ndarray) -> np.ndarray:
    """Dates with month names or AM/PM (``Mar 5, 2024 10:00 PM``), one distinct value at a time.

    Only values with a four-digit year are read, and none with a numeric day/month pair
    outside a year-first date (``Tue 05/03/2024`` would be one guess per cell).
    """
    out = {}
    for value in pd.unique(values):
        parsed = pd.NaT
        numeric_pair = _NUMERIC_DAY_MONTH.search(value) and not re.match(_YEAR_FIRST, value)
        if _FOUR_DIGIT_YEAR.search(value) and not numeric_pair:
            try:
                parsed = pd.Timestamp(pd.to_datetime(value, format="mixed"))
                if parsed.tzinfo is not None:
                    parsed = parsed.tz_localize(None)
            except (ValueError, OverflowError, TypeError):
                parsed = pd.NaT
        out[value] = parsed
    return pd.DatetimeIndex([out[v] for v in values]).as_unit("ns").to_numpy()


def _parse_with_format(text: pd.Series, date_format: str) -> pd.Series:
    """``text`` in ``date_format``; values without a time may leave it out (``%d/%m/%Y`` of
    ``%d/%m/%Y %H:%M``)."""
    def parse(values: pd.Series, fmt: str) -> pd.Series:
        try:
            parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        if parsed.dtype == object:  # mixed offsets under %z
            raise BadValues(f"times carry different time-zone offsets (format {date_format!r})",
                            pd.Series(True, index=values.index))
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        return parsed.astype("datetime64[ns]")

    parsed = parse(text, date_format)
    date_part = re.split(r"[ T]?%[HIp]", date_format, maxsplit=1)[0]
    missing = parsed.isna()
    if missing.any() and date_part != date_format:
        parsed[missing] = parse(text[missing], date_part)
    return parsed


@_positional
def parse_dates(
    raw: pd.Series,
    *,
    date_format: str | None = None,
    day_first: bool | None = None,
    column: str = "date",
    table: str = "<table>",
) -> pd.Series:
    """``raw`` as naive ``datetime64[ns]`` (missing = NaT), by the rules of the module docstring.

    ``date_format`` (strftime) reads every text value with that one format. ``day_first``
    fixes the order of day/month-first dates (for a table read in batches, decide it once
    with :func:`infer_day_first`); by default the column decides. Raises :class:`BadValues`
    for values that are not dates, ambiguous or contradicting orders, mixed offsets, and
    numbers in a date column (Excel serial days or Unix times would be read as nonsense).
    """
    numbers_rule = "numbers where dates are expected (format the column as dates, or export it as text)"
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        outside = parsed.notna() & ((parsed < _EARLIEST) | (parsed > _LATEST))
        if outside.any():
            raise BadValues(OUT_OF_RANGE, outside)
        return parsed.astype("datetime64[ns]")
    if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        if raw.notna().any():
            raise BadValues(numbers_rule, raw.notna())
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    split = _split(raw)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if split.other.any():
        kinds = raw[split.other].map(_kind)
        not_dates = kinds != "datetime"
        if not_dates.any():
            raise BadValues(numbers_rule, _mask(raw, kinds.index[not_dates.to_numpy()]))
        typed = [_naive_timestamp(v) for v in raw[split.other]]
        outside = np.array([t is None for t in typed])
        if outside.any():
            raise BadValues(OUT_OF_RANGE, _mask(raw, kinds.index[outside]))
        out[split.other] = pd.DatetimeIndex(typed).as_unit("ns")
    if len(split.text) == 0:
        return out
    index = split.text_index
    if date_format:
        parsed = _parse_with_format(pd.Series(_numpy(split.text), index=index), date_format)
        out[index] = parsed.to_numpy()
        if parsed.isna().any():
            raise BadValues(f"unparseable date with format '{date_format}'", _mask(raw, index[parsed.isna().to_numpy()]))
        return out
    if day_first is None:
        day_first = bool(_day_first_of(raw, index, split.text, column, table))
    text = pc.replace_substring_regex(split.text, _CJK_DATE, r"\1-\2-\3 ")
    text = _drop_offsets(raw, index, pc.utf8_trim_whitespace(_as_iso(text, day_first)))
    year_first = _numpy(pc.fill_null(pc.match_substring_regex(text, _YEAR_FIRST), False))
    letters = _numpy(pc.fill_null(pc.match_substring_regex(text, r"[A-Za-z]"), False))
    values = _numpy(text)
    parsed = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if year_first.any():
        parsed[year_first] = pd.to_datetime(pd.Series(values[year_first]), format="ISO8601", errors="coerce").to_numpy()
    # month names and AM/PM; a year-first date without letters that ISO 8601 refuses stays refused
    free_form = np.isnat(parsed) & letters
    if free_form.any():
        parsed[free_form] = _parse_free_form(values[free_form])
    out[index] = parsed
    bad = np.isnat(parsed)
    if bad.any():
        raise BadValues(f"unparseable date ({DATE_HINT})", _mask(raw, index[bad]))
    return out


# --------------------------------------------------------------------------- numbers
def _number_pattern(decimal: str) -> tuple[str, str]:
    """(RE2 full-match pattern of a number, pattern of the separators to remove before reading it)."""
    point, group = (r"\.", ",") if decimal == "." else (",", r"\.")
    spaces = r" \x{00a0}\x{202f}"
    grouped = rf"\d{{1,3}}(?:{group}\d{{3}})+(?:{point}\d+)?|\d{{1,3}}(?:[{spaces}]\d{{3}})+(?:{point}\d+)?"
    plain = rf"(?:\d+(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?"
    return rf"^[+-]?(?:{grouped}|{plain})$", rf"[{group}{spaces}]"


@_positional
def parse_numbers(raw: pd.Series, *, decimal: str = ".") -> pd.Series:
    """``raw`` as float64 (missing = NaN).

    Text may carry a currency sign (``¥1,299.00``, ``-$20``) and thousands separators in
    groups of three; ``decimal`` is the decimal mark of the export ("." or ","). Numbers
    already typed (Parquet, Excel) are taken as they are. Raises :class:`BadValues` for
    anything else.
    """
    if decimal not in DECIMAL_MARKS:
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    if pd.api.types.is_bool_dtype(raw):
        raise BadValues("true/false where a number is expected", raw.notna())
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    split = _split(raw)
    out = pd.Series(np.nan, index=raw.index, dtype="float64")
    if split.other.any():
        others = raw[split.other]
        kinds = others.map(_kind)
        wrong = kinds != "number"
        if wrong.any():
            raise BadValues("a date or true/false where a number is expected", _mask(raw, kinds.index[wrong.to_numpy()]))
        out[split.other] = others.astype("float64")
    if len(split.text) == 0:
        return out
    text = pc.replace_substring_regex(split.text, rf"^([+-]?)\s*[{_CURRENCY}]\s*", r"\1")
    text = pc.replace_substring_regex(text, rf"\s*[{_CURRENCY}]$", "")
    pattern, separators = _number_pattern(decimal)
    valid = _numpy(pc.fill_null(pc.match_substring_regex(text, pattern), False))
    if not valid.all():
        bad_values = _numpy(split.text)[~valid]
        if decimal == "." and any("," in v for v in bad_values):
            rule = ("unparseable number: a comma is read only as a thousands separator in groups of "
                    "three (1,200.50); if the export uses decimal commas (12,50), set decimal: \",\" "
                    "for this table in the mapping file")
        elif decimal == ",":
            rule = "unparseable number with decimal comma (expected e.g. 1.200,50 or 12,5)"
        else:
            rule = "unparseable number"
        raise BadValues(rule, _mask(raw, split.text_index[~valid]))
    cleaned = pc.replace_substring_regex(text, separators, "")
    if decimal == ",":
        cleaned = pc.replace_substring(cleaned, ",", ".")
    out[split.text_index] = _numpy(pc.cast(cleaned, pa.float64()))
    return out
