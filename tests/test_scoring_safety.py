"""Scoring never destroys its inputs, checks its outputs before the costly work, writes the list
and its report as a pair, cleans up after interrupted runs and reports machine errors in one line."""

from __future__ import annotations

import errno
import subprocess
import sys

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from custsat.cli.app import report_errors
from custsat.serving.outputs import prepare_output, written_together
from custsat.serving.pipeline import ScoringInputError
from custsat.serving.score import score_files
from custsat.serving.stream import OWNER_FILE, WORK_PREFIX, remove_abandoned_work_folders


@pytest.fixture()
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["C1", "C2"]}).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["C1"], "timestamp": ["2026-01-02"], "amount": ["10"]}).to_csv(
        folder / "transactions.csv", index=False)
    return {"customers": folder / "customers.csv", "transactions": folder / "transactions.csv"}


@pytest.mark.parametrize("option", ["out", "report"])
def test_an_output_naming_an_input_is_refused_and_the_input_kept(inputs, option):
    before = inputs["customers"].read_bytes()
    with pytest.raises(ScoringInputError, match=f"--{option} .*customers input"):
        score_files(inputs, **{option: inputs["customers"]}, log_run=False)
    assert inputs["customers"].read_bytes() == before


def test_an_output_that_cannot_be_written_is_refused_before_scoring(inputs, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ScoringInputError, match="cannot be written"):
        score_files(inputs, out=blocker / "scored.csv", log_run=False)


def test_leftovers_of_an_interrupted_write_are_removed(tmp_path):
    target = tmp_path / "scored.csv"
    leftover = tmp_path / ".scored.csv.x1y2.tmp"
    unrelated = tmp_path / ".other.csv.x1y2.tmp"
    leftover.write_text("half")
    unrelated.write_text("keep")
    prepare_output(target)
    assert not leftover.exists() and unrelated.exists()


def test_list_and_report_are_replaced_together_or_not_at_all(tmp_path):
    scored, report = tmp_path / "scored.csv", tmp_path / "report.html"
    scored.write_text("old list")
    report.write_text("old report")
    with pytest.raises(RuntimeError), written_together(scored, report) as (new_scored, new_report):
        new_scored.write_text("new list")
        raise RuntimeError("killed while writing the report")
    assert (scored.read_text(), report.read_text()) == ("old list", "old report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "scored.csv"]
    with written_together(scored, None, report) as (new_scored, nothing, new_report):
        new_scored.write_text("new list")
        new_report.write_text("new report")
    assert nothing is None and (scored.read_text(), report.read_text()) == ("new list", "new report")


def test_work_folders_of_killed_streamed_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned, running, foreign = (tmp_path / f"{WORK_PREFIX}{name}" for name in ("dead", "alive", "foreign"))
    for folder in (abandoned, running, foreign):
        folder.mkdir()
    (abandoned / OWNER_FILE).write_text(dead.stdout.strip())
    import os

    (running / OWNER_FILE).write_text(str(os.getpid()))
    assert remove_abandoned_work_folders(tmp_path) == [abandoned]
    assert running.exists() and foreign.exists()


def test_a_full_disk_is_one_line_naming_the_file():
    app = typer.Typer()

    @app.command()
    @report_errors
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/outputs/scored.csv")

    @app.command()
    def other() -> None: ...

    result = CliRunner().invoke(app, ["write"])
    assert result.exit_code == 1 and result.exception is not None
    assert result.output.strip() == (
        "error: cannot write /data/outputs/scored.csv: No space left on device; earlier outputs are left as they were")


def test_streamed_batches_of_one_file_share_its_day_month_order(tmp_path):
    """The first batch tells the order (13/01 is day first); a later batch whose dates read both
    ways is parsed the same way, and one that proves the other order is refused."""
    import pyarrow.parquet as pq

    from custsat.data.contracts import ContractError
    from custsat.serving.stream import WorkerPool, stage_table

    def stage(dates: list[str], name: str):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(dates))], "timestamp": dates,
                      "amount": ["1"] * len(dates)}).to_csv(path, index=False)
        folder = tmp_path / f"staged-{name}"
        stage_table(path, "transactions", folder, batch_rows=2, now=pd.Timestamp("2030-01-01"), pool=WorkerPool(1))
        return pq.read_table(folder).to_pandas()["timestamp"].sort_values().tolist()

    staged = stage(["13/01/2026", "14/01/2026", "05/03/2026", "06/03/2026"], "ok")
    assert staged[-2:] == [pd.Timestamp("2026-03-05"), pd.Timestamp("2026-03-06")]  # 5 March, not 3 May
    with pytest.raises(ContractError, match="timestamp"):
        stage(["13/01/2026", "14/01/2026", "01/13/2026", "02/13/2026"], "contradicts")
