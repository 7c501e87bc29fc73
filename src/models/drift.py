"""Feature drift between training time and scoring time: population stability index.

A *reference* is a JSON-able dict built from the training features with
:func:`build_reference`: for each numeric feature the quantile bin edges and the share of
rows per bin (missing values are a bin of their own), for each categorical feature the
share per level. At scoring time :func:`psi_table` puts the scored customers into the same
bins and computes

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)

with e = training share, a = scoring share, both floored at ``EPS`` so that empty bins do
not give infinities. Rule of thumb: < 0.1 stable, 0.1-0.2 some shift, > 0.2 shift worth
checking before trusting the scores (``PSI_WARN``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PSI_WARN = 0.2
EPS = 1e-4
MISSING = "__missing__"
OTHER = "__other__"
REFERENCE_FILE = "feature_reference.json"


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def build_reference(
    features: pd.DataFrame, columns: Iterable[str] | None = None, *, bins: int = 10, max_levels: int = 30
) -> dict[str, Any]:
    """Reference distributions of ``columns`` (default: all but ``customer_id``) in ``features``.

    Numeric columns: up to ``bins`` quantile bins (edges deduplicated, open-ended outer
    bins) plus a missing bin. Other columns: the ``max_levels`` most frequent levels, an
    ``__other__`` level and a missing level.
    """
    columns = [c for c in (columns or features.columns) if c != "customer_id"]
    out: dict[str, Any] = {"n_rows": int(len(features)), "features": {}}
    for col in columns:
        s = features[col]
        if _is_numeric(s):
            values = s.astype("float64")
            finite = values[np.isfinite(values)]
            if len(finite):
                qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
                edges = sorted(set(float(q) for q in qs))
            else:
                edges = []
            shares = _numeric_shares(values, edges)
            out["features"][col] = {"kind": "numeric", "edges": edges, "shares": shares}
        else:
            text = s.astype(object).where(s.notna(), MISSING).astype(str)
            top = text[text != MISSING].value_counts().head(max_levels).index.tolist()
            shares = _categorical_shares(text, top)
            out["features"][col] = {"kind": "categorical", "levels": top, "shares": shares}
    return out


def _numeric_counts(values: pd.Series, edges: list[float]) -> np.ndarray:
    arr = values.to_numpy(dtype="float64")
    missing = ~np.isfinite(arr)
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), arr[~missing], side="right")
    return np.append(np.bincount(idx, minlength=len(edges) + 1).astype(float), float(missing.sum()))


def _categorical_counts(text: pd.Series, levels: list[str]) -> np.ndarray:
    counts = text.value_counts()
    known = [float(counts.get(level, 0)) for level in levels]
    missing = float(counts.get(MISSING, 0))
    other = float(len(text) - sum(known) - missing)
    return np.array([*known, other, missing])


def _shares(counts: np.ndarray, total: int) -> list[float]:
    return (counts / max(total, 1)).tolist()


def _numeric_shares(values: pd.Series, edges: list[float]) -> list[float]:
    return _shares(_numeric_counts(values, edges), len(values))


def _categorical_shares(text: pd.Series, levels: list[str]) -> list[float]:
    return _shares(_categorical_counts(text, levels), len(text))


def psi(expected: Iterable[float], actual: Iterable[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(list(expected), dtype=float), EPS, None)
    a = np.clip(np.asarray(list(actual), dtype=float), EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftCounter:
    """Bin counts of scored features against a reference, added up over chunks of customers.

    ``DriftCounter(reference).update(chunk_1).update(chunk_2).table()`` equals
    ``psi_table(reference, pd.concat([chunk_1, chunk_2]))``: the bins are fixed by the
    reference, so counts of chunks add up.
    """

    def __init__(self, reference: Mapping[str, Any]):
        self.reference = reference
        self.n_rows_ = 0
        self.counts_: dict[str, np.ndarray] = {}
        self.missing_: set[str] = set()

    def update(self, features: pd.DataFrame) -> DriftCounter:
        for col, ref in self.reference.get("features", {}).items():
            if col not in features.columns:
                self.missing_.add(col)
                continue
            s = features[col]
            if ref["kind"] == "numeric":
                counts = _numeric_counts(pd.to_numeric(s, errors="coerce").astype("float64"), list(ref["edges"]))
            else:
                counts = _categorical_counts(s.astype(object).where(s.notna(), MISSING).astype(str), list(ref["levels"]))
            self.counts_[col] = self.counts_.get(col, 0) + counts
        self.n_rows_ += len(features)
        return self

    def merge(self, other: DriftCounter) -> DriftCounter:
        """Add the counts of ``other`` (e.g. of chunks counted in another process)."""
        for col, counts in other.counts_.items():
            self.counts_[col] = self.counts_.get(col, 0) + counts
        self.missing_ |= other.missing_
        self.n_rows_ += other.n_rows_
        return self

    def table(self) -> pd.DataFrame:
        """PSI per referenced feature: columns feature, psi, drifted, note; largest PSI first."""
        rows = []
        for col, ref in self.reference.get("features", {}).items():
            if col in self.missing_ or col not in self.counts_:
                rows.append((col, np.nan, False, "missing at scoring time"))
                continue
            value = psi(ref["shares"], _shares(self.counts_[col], self.n_rows_))
            rows.append((col, value, value > PSI_WARN, ""))
        table = pd.DataFrame(rows, columns=["feature", "psi", "drifted", "note"])
        return table.sort_values(["psi", "feature"], ascending=[False, True], na_position="last").reset_index(drop=True)


def psi_table(reference: Mapping[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    """PSI per referenced feature present in ``features``: columns feature, psi, drifted.

    Sorted by PSI, largest first. Features of the reference missing from ``features`` are
    listed with ``psi`` NaN and ``note`` "missing at scoring time".
    """
    return DriftCounter(reference).update(features).table()


def find_reference(model: Any) -> dict[str, Any] | None:
    """The training-time feature reference stored with a loaded pyfunc model, if any.

    Looks, in order, for: an attribute ``feature_reference`` / ``reference_`` on the
    python model (a dict or a path), and a ``feature_reference.json`` (or any artifact
    whose name contains ``reference``) among the model's artifacts.
    """
    try:
        python_model = model.unwrap_python_model()
    except Exception:  # noqa: BLE001 - non-python-model flavours
        python_model = None
    for attr in ("feature_reference", "reference_", "feature_reference_"):
        value = getattr(python_model, attr, None)
        if isinstance(value, dict) and "features" in value:
            return value
        if isinstance(value, (str, Path)) and Path(value).exists():
            return json.loads(Path(value).read_text(encoding="utf-8"))
    artifacts = _artifact_paths(model)
    candidates = [p for name, p in sorted(artifacts.items()) if "reference" in name.lower()]
    for path in candidates:
        path = Path(path)
        if path.is_dir():
            inner = path / REFERENCE_FILE
            if not inner.exists():
                continue
            path = inner
        if path.suffix == ".json" and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "features" in data:
                return data
    return None


def _artifact_paths(model: Any) -> dict[str, str]:
    impl = getattr(model, "_model_impl", None)
    context = getattr(impl, "context", None) or getattr(getattr(impl, "python_model", None), "context", None)
    artifacts = getattr(context, "artifacts", None)
    return dict(artifacts) if isinstance(artifacts, Mapping) else {}
