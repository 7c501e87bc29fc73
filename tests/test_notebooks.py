"""Every research notebook runs top to bottom in fast mode (papermill), as CI runs them.

Each notebook gets its own MLflow store so that CI runs leave the project's store alone.
The `.py` (percent) and `.ipynb` files of a pair must hold the same code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("0*.ipynb"))


@pytest.mark.parametrize("notebook", PAIRS, ids=[p.stem for p in PAIRS])
def test_notebook_runs_in_fast_mode(notebook, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("CUSTSAT_MLRUNS_DIR", str(tmp_path / "mlruns"))
    monkeypatch.setenv("CUSTSAT_DATA_DIR", os.environ.get("CUSTSAT_DATA_DIR", str(NOTEBOOKS.parent / "data")))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    papermill.execute_notebook(
        str(notebook), str(tmp_path / notebook.name), parameters={"fast": True},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )


@pytest.mark.parametrize("notebook", PAIRS, ids=[p.stem for p in PAIRS])
def test_notebook_pair_is_in_sync_and_stripped(notebook):
    jupytext = pytest.importorskip("jupytext")
    script = notebook.with_suffix(".py")
    assert script.exists(), f"{notebook.name} has no paired {script.name}"
    from_ipynb = jupytext.read(notebook)
    from_script = jupytext.read(script)
    code = lambda nb: [c.source for c in nb.cells if c.cell_type == "code"]  # noqa: E731
    assert code(from_ipynb) == code(from_script), f"run `jupytext --sync {script}`"
    assert all(not c.get("outputs") for c in from_ipynb.cells if c.cell_type == "code"), "strip outputs before committing"
