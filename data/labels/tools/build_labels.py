"""Assemble the labelled CSV files from the annotator's judgement files.

Run:  .venv/bin/python data/labels/tools/build_labels.py

Inputs (all under this folder):
  candidates/*.csv        ranked candidate pools written by select_candidates.py
  annotations/*.tsv       the annotator's labels, one row per candidate read:
                          review_id <TAB> label <TAB> note
                          label is a sentiment (negative/neutral/positive), an aspect list
                          (topic:polarity;...), or SKIP (read but not used; note says why)

Outputs: sentiment_3class_eval.csv, aspects_eval.csv, sentiment_3class_train.csv. The text
column is copied from the source table (never retyped), so it matches the source exactly.
Rows are ordered by language, stratum and rank, so reruns are byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parents[1]  # data/labels
DATA = Path(__file__).resolve().parents[3] / "data/interim"

FILES = {
    # output file: (candidate pool, annotation file, label column)
    "sentiment_3class_eval.csv": ("sentiment_eval", "sentiment_eval.tsv", "sentiment"),
    "aspects_eval.csv": ("aspects_eval", "aspects_eval.tsv", "aspects"),
    "sentiment_3class_train.csv": ("sentiment_train", "sentiment_train.tsv", "sentiment"),
}
COLUMNS = {
    "sentiment": ["review_id", "language", "text", "sentiment", "note", "source_label", "stratum"],
    "aspects": ["review_id", "language", "text", "aspects", "note", "source_label", "stratum"],
}


def read_annotations(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    if list(frame.columns) != ["review_id", frame.columns[1], "note"]:
        raise ValueError(f"{path}: expected columns review_id, <label>, note; got {list(frame.columns)}")
    if frame["review_id"].duplicated().any():
        dup = frame.loc[frame["review_id"].duplicated(), "review_id"].tolist()
        raise ValueError(f"{path}: duplicated review_id {dup[:5]}")
    return frame


def source_texts() -> pd.DataFrame:
    zh = pd.read_parquet(DATA / "reviews_zh.parquet")[["review_id", "text"]]
    en = pd.read_parquet(DATA / "reviews_en.parquet")[["review_id", "text"]]
    return pd.concat([zh, en], ignore_index=True)


def build_one(pool: str, annotation: str, label_col: str, texts: pd.DataFrame) -> pd.DataFrame | None:
    ann_path = HERE / "annotations" / annotation
    if not ann_path.exists():
        return None
    ann = read_annotations(ann_path)
    ann = ann.rename(columns={ann.columns[1]: label_col})
    cand = pd.read_csv(HERE / "candidates" / f"{pool}.csv", dtype=str, keep_default_na=False)
    unknown = sorted(set(ann["review_id"]) - set(cand["review_id"]))
    if unknown:
        raise ValueError(f"{ann_path}: review_id not in candidates/{pool}.csv: {unknown[:5]}")
    ann = ann[ann[label_col] != "SKIP"]
    rows = ann.merge(cand.drop(columns=["text"]), on="review_id", how="left").merge(texts, on="review_id")
    rows["_rank"] = rows["rank"].astype(int)
    rows["_lang"] = rows["language"].map({"zh": 0, "en": 1})
    rows = rows.sort_values(["_lang", "stratum", "_rank"])
    return rows[COLUMNS[label_col]]


def main() -> None:
    texts = source_texts()
    for out_name, (pool, annotation, label_col) in FILES.items():
        rows = build_one(pool, annotation, label_col, texts)
        if rows is None:
            continue
        path = HERE / out_name
        tmp = path.with_suffix(".csv.tmp")
        rows.to_csv(tmp, index=False, lineterminator="\n")
        tmp.replace(path)
        print(f"{path}: {len(rows)} rows")


if __name__ == "__main__":
    main()
