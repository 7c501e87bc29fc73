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


#: What each notebook must show when it has run: at least this many figures and tables, and
#: these texts somewhere in its outputs (column and row labels of its key tables).
EXPECTED_OUTPUTS = {
    "01-data-and-eda": {"figures": 1, "tables": 2, "texts": ("value", "abc_class")},
    "02-feedback-sentiment-and-topics": {"figures": 0, "tables": 2, "texts": ("accuracy", "macro_f1", "true neg")},
    "03-churn-risk": {"figures": 2, "tables": 3, "texts": ("logistic regression", "roc_auc", "churn_probability")},
    "04-clv-survival": {"figures": 1, "tables": 3, "texts": ("clv_low", "expected_remaining_lifetime_days")},
    "05-scoring-and-report": {"figures": 0, "tables": 3, "texts": ("recommended_action", "churn_risk_tier", "psi")},
}


def notebook_outputs(path: Path) -> tuple[int, int, str]:
    """(figures, HTML tables, all output text) of an executed notebook."""
    import nbformat

    figures = tables = 0
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            figures += "image/png" in data
            html = data.get("text/html", "")
            tables += "<table" in (html if isinstance(html, str) else "".join(html))
            texts += [str(v) for v in data.values()] + [str(output.get("text", ""))]
    return figures, tables, "\n".join(texts)


@pytest.mark.parametrize("notebook", PAIRS, ids=[p.stem for p in PAIRS])
def test_notebook_runs_in_fast_mode_and_shows_its_results(notebook, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("CUSTSAT_MLRUNS_DIR", str(tmp_path / "mlruns"))
    monkeypatch.setenv("CUSTSAT_DATA_DIR", os.environ.get("CUSTSAT_DATA_DIR", str(NOTEBOOKS.parent / "data")))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    executed = tmp_path / notebook.name
    papermill.execute_notebook(
        str(notebook), str(executed), parameters={"fast": True},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )
    figures, tables, text = notebook_outputs(executed)
    want = EXPECTED_OUTPUTS[notebook.stem]
    assert figures >= want["figures"] and tables >= want["tables"], (figures, tables)
    missing = [t for t in want["texts"] if t not in text]
    assert not missing, f"{notebook.stem} outputs lack {missing}"


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
