"""How the sentiment models are scored on held-out data.

* **Polarity** on the real review test sets (binary labels): accuracy and macro-F1 of
  ``p_positive >= p_negative``, which ignores the neutral class (:func:`polarity_metrics`).
* **Three classes** on a hand-labelled sample of real reviews (negative / neutral / positive,
  ``data/labels/sentiment_3class_eval.csv``, drawn from the test splits and never trained
  on): macro-F1 of the arg-max class, neutral precision and recall, and the polarity
  accuracy on the clearly positive or negative items (:func:`three_class_metrics`).
* Confidence intervals: a percentile bootstrap over items (:func:`bootstrap_ci`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from custsat.models.metrics import bootstrap_ci
from custsat.models.text.sentiment import LABELS

THREE_CLASS_EVAL = "sentiment_3class_eval.csv"
THREE_CLASS_TRAIN = "sentiment_3class_train.csv"


def polarity_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy / macro-F1 of positive-vs-negative (p_pos >= p_neg) plus the confusion matrices."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    yb = (np.asarray(y_true) == "positive").astype(int)
    pb = (proba[:, 2] >= proba[:, 0]).astype(int)
    pred3 = np.array(LABELS)[proba.argmax(1)]
    cm3 = pd.crosstab(pd.Series(np.asarray(y_true), name="true"), pd.Series(pred3, name="pred")).reindex(
        index=["negative", "positive"], columns=list(LABELS), fill_value=0)
    decided = pred3 != "neutral"
    return {
        "accuracy": float(accuracy_score(yb, pb)),
        "macro_f1": float(f1_score(yb, pb, average="macro")),
        "confusion_binary": confusion_matrix(yb, pb, labels=[0, 1]).tolist(),
        "confusion_3way": cm3.values.tolist(),
        "neutral_share": float(1 - decided.mean()),
        "accuracy_outside_neutral": float((pb[decided] == yb[decided]).mean()) if decided.any() else float("nan"),
        "n": int(len(yb)),
    }


def three_class_metrics(y_true, proba: np.ndarray) -> dict:
    """Macro-F1, neutral precision/recall and polarity on clear items of the arg-max of ``proba``."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    y = np.asarray([str(v) for v in y_true])
    pred = np.array(LABELS)[proba.argmax(1)]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(LABELS), zero_division=0)
    clear = y != "neutral"
    polar = np.where(proba[:, 2] >= proba[:, 0], "positive", "negative")
    return {
        "macro_f1": float(f1_score(y, pred, labels=list(LABELS), average="macro", zero_division=0)),
        "accuracy": float((pred == y).mean()),
        "neutral_precision": float(p[1]), "neutral_recall": float(r[1]), "neutral_f1": float(f[1]),
        "per_class_f1": {lab: float(v) for lab, v in zip(LABELS, f, strict=True)},
        "polarity_accuracy_clear": float((polar[clear] == y[clear]).mean()) if clear.any() else float("nan"),
        "clear_called_neutral": float((pred[clear] == "neutral").mean()) if clear.any() else float("nan"),
        "confusion": pd.crosstab(pd.Series(y, name="true"), pd.Series(pred, name="pred"))
        .reindex(index=list(LABELS), columns=list(LABELS), fill_value=0).values.tolist(),
        "n": int(len(y)), "n_neutral": int((y == "neutral").sum()),
    }


def accuracy_difference_ci(correct_a: np.ndarray, correct_b: np.ndarray, **kw) -> tuple[float, float]:
    """Paired bootstrap interval of accuracy(a) - accuracy(b) on the same items."""
    a, b = np.asarray(correct_a, float), np.asarray(correct_b, float)
    return bootstrap_ci(lambda rows: float(a[rows].mean() - b[rows].mean()), len(a), **kw)


def read_three_class_labels(path: str | Path, *, source: str | None = None) -> pd.DataFrame:
    """A hand-labelled 3-class file (text, sentiment, language, ...) checked: errors name file, column, rows."""
    from custsat.data.io import read_table

    path = Path(path)
    frame = read_table(path)
    where = source or str(path)
    for col in ("text", "sentiment"):
        if col not in frame.columns:
            raise ValueError(f"{where}: missing column {col!r} (have {list(frame.columns)})")
    bad = ~frame["sentiment"].isin(LABELS)
    if bad.any():
        rows = list(frame.index[bad][:5])
        raise ValueError(f"{where}: column 'sentiment' must be one of {list(LABELS)}; "
                         f"got {sorted(frame.loc[bad, 'sentiment'].astype(str).unique())[:5]} (rows {rows})")
    frame = frame[frame["text"].fillna("").astype(str).str.strip().ne("")].reset_index(drop=True)
    if "language" not in frame.columns:
        from custsat.privacy import detect_language

        frame["language"] = frame["text"].map(lambda t: "en" if detect_language(t) == "en" else "zh")
    return frame


def default_label_path(name: str) -> Path:
    from custsat.config import get_settings

    return get_settings().data_path / "labels" / name
