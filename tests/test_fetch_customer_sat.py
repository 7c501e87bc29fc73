"""The customerSat survey: .deb extraction, apt download, parsing, loading (real data when fetched)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custsat.config import get_settings
from custsat.data import fetch as F


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


def _fake_deb(path: Path, files: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"x", "data.tar.xz": buf.getvalue()}))
    return path


def test_extract_member_from_deb_and_checksum(tmp_path):
    payload = b"RDX3 fake rda bytes"
    deb = _fake_deb(tmp_path / "pkg_1_amd64.deb", {"./usr/lib/R/x/data/customerSat.rda": payload})
    member = F.MemberSpec("./usr/lib/R/x/data/customerSat.rda", "customerSat.rda", hashlib.sha256(payload).hexdigest())
    out = F.extract_members(deb, "deb", [member], tmp_path / "out")
    assert out["customerSat.rda"].read_bytes() == payload
    bad = F.MemberSpec(member.archive_path, "other.rda", "00" * 32)
    with pytest.raises(F.ChecksumError):
        F.extract_members(deb, "deb", [bad], tmp_path / "out")
    assert not (tmp_path / "out" / "other.rda").exists()
    with pytest.raises(F.FetchError, match="no member"):
        F.extract_members(deb, "deb", [F.MemberSpec("./nope", "n", "00" * 32)], tmp_path / "out")
    (tmp_path / "junk.deb").write_bytes(b"not an archive")
    with pytest.raises(F.FetchError, match="not a Debian package"):
        F.extract_members(tmp_path / "junk.deb", "deb", [member], tmp_path / "out")


def test_download_deb_with_apt_verifies_and_explains_failures(tmp_path, monkeypatch):
    deb = _fake_deb(tmp_path / "src.deb", {"./a": b"a"})
    spec = F.PackageSpec("r-cran-fake", "1.0-1", "deb", "r-cran-fake_1.0-1_amd64.deb", hashlib.sha256(deb.read_bytes()).hexdigest())
    calls = []

    def apt(args, cwd):
        calls.append(list(args))
        (Path(cwd) / spec.filename).write_bytes(deb.read_bytes())
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(F, "_run_apt", apt)
    path = F.download_package(spec, tmp_path / "cache")
    assert path.read_bytes() == deb.read_bytes() and calls == [["download", "r-cran-fake=1.0-1"]]
    F.download_package(spec, tmp_path / "cache")  # cached and verified: no second download
    assert len(calls) == 1
    monkeypatch.setattr(F, "_run_apt", lambda args, cwd: subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package"))
    with pytest.raises(F.RegistryUnreachableError, match="apt-get update"):
        F.download_package(spec, tmp_path / "cache", force=True)


def test_parse_customer_sat_names_columns_and_rejects_bad_answers():
    raw = pd.DataFrame({f"q{i}": [i % 10 + 1, 5, 10] for i in range(1, 11)})
    out = F.parse_customer_sat(raw)
    assert list(out.columns) == ["customer_id", "overall_satisfaction", *(c[0] for c in F.CUSTOMER_SAT_ATTRIBUTES.values())]
    assert out["customer_id"].tolist() == ["customersat-0001", "customersat-0002", "customersat-0003"]
    assert out["overall_satisfaction"].tolist() == [2.0, 5.0, 10.0]
    raw.loc[1, "q4"] = 11
    with pytest.raises(ValueError, match=r"q4: 1 answer\(s\) .* rows \[2\]"):
        F.parse_customer_sat(raw)
    with pytest.raises(ValueError, match="missing column"):
        F.parse_customer_sat(raw.drop(columns="q10"))


def test_pinned_deb_spec():
    spec = F.DATASETS["customer_sat"]
    assert F.PACKAGES[spec.package].kind == "deb"
    assert "GPL" in spec.licence and F.OUTPUTS["customer_sat"] == ("customer_sat",)


def test_loader_without_data_says_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTSAT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.raises(F.DatasetNotFetchedError, match="custsat data fetch"):
            F.load_customer_sat()
    finally:
        get_settings.cache_clear()


def test_real_customer_sat_when_fetched(monkeypatch):
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if not (repo_data / "interim" / "customer_sat.parquet").exists():
        pytest.skip("customerSat not fetched (run `custsat data fetch`)")
    monkeypatch.setenv("CUSTSAT_DATA_DIR", str(repo_data))
    get_settings.cache_clear()
    try:
        survey = F.load_customer_sat()
    finally:
        get_settings.cache_clear()
    assert survey.shape == (1_811, 11)
    assert survey["customer_id"].is_unique
    ratings = survey.drop(columns="customer_id").to_numpy()
    assert ratings.min() == 1 and ratings.max() == 10 and np.isfinite(ratings).all()
    assert survey["overall_satisfaction"].mean() == pytest.approx(6.0663, abs=1e-4)  # bayesm: mean(q1)
