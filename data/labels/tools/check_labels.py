"""Validate the hand-labelled files against their sources. Exit status 1 on any problem.

Run:  .venv/bin/python data/labels/tools/check_labels.py [--main REPO]

Checks, for every file that exists:
  * required columns present, no empty cells in them, review_id unique within the file;
  * review_id exists in the source table of its language with the required split
    (test for *_eval.csv, train for *_train.csv) and the text equals the source text exactly;
  * sentiment in {negative, neutral, positive};
  * aspects: "topic:polarity" items joined by ";", topic ids from the taxonomy, polarity in
    {positive, negative, neutral}, no topic twice, at least two topics per row;
  * the files are mutually disjoint (by review_id and by text), and disjoint from the topic
    seed examples (src/resources/taxonomy/seed_examples.yaml) and data/labels/topics_eval.csv.
Prints counts per language x class (and topic x polarity) on success.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parents[1]  # data/labels
SENTIMENTS = {"negative", "neutral", "positive"}
POLARITIES = {"negative", "neutral", "positive"}
FILES = {
    "sentiment_3class_eval.csv": ("test", "sentiment"),
    "aspects_eval.csv": ("test", "aspects"),
    "sentiment_3class_train.csv": ("train", "sentiment"),
}
REQUIRED = {
    "sentiment": ["review_id", "language", "text", "sentiment", "note"],
    "aspects": ["review_id", "language", "text", "aspects"],
}


def load_sources(main: Path) -> pd.DataFrame:
    data = main / "data" / "interim"
    zh = pd.read_parquet(data / "reviews_zh.parquet").assign(language="zh")
    en = pd.read_parquet(data / "reviews_en.parquet").assign(language="en")
    cols = ["review_id", "language", "split", "text"]
    return pd.concat([zh[cols], en[cols]], ignore_index=True).set_index("review_id")


def taxonomy_ids(main: Path) -> set[str]:
    doc = yaml.safe_load((main / "src/resources/taxonomy/default_topics.yaml").read_text(encoding="utf-8"))
    return {t["id"] for t in doc["topics"]}


def excluded(main: Path) -> tuple[set[str], set[str]]:
    seeds = yaml.safe_load((main / "src/resources/taxonomy/seed_examples.yaml").read_text(encoding="utf-8"))["examples"]
    ids, texts = {e["id"] for e in seeds}, {e["text"] for e in seeds}
    te = pd.read_csv(main / "data/labels/topics_eval.csv", dtype=str, keep_default_na=False)
    return ids | set(te["review_id"]), texts | set(te["text"])


def parse_aspects(value: str, topics: set[str]) -> tuple[list[tuple[str, str]], str | None]:
    items = []
    for part in value.split(";"):
        if part.count(":") != 1:
            return items, f"item {part!r} is not topic:polarity"
        topic, polarity = part.split(":")
        if topic not in topics:
            return items, f"unknown topic id {topic!r}"
        if polarity not in POLARITIES:
            return items, f"bad polarity {polarity!r}"
        items.append((topic, polarity))
    names = [t for t, _ in items]
    if len(set(names)) != len(names):
        return items, "topic listed twice"
    if len(items) < 2:
        return items, "fewer than two topics"
    return items, None


def problems_in(name: str, frame: pd.DataFrame, split: str, kind: str, sources: pd.DataFrame,
                topics: set[str]) -> list[str]:
    out: list[str] = []

    def report(mask: pd.Series, what: str) -> None:
        if mask.any():
            rows = frame.loc[mask, "review_id"].tolist()
            out.append(f"{name}: {what} ({int(mask.sum())} rows, e.g. {rows[:3]})")

    missing = [c for c in REQUIRED[kind] if c not in frame.columns]
    if missing:
        return [f"{name}: missing columns {missing}"]
    for col in REQUIRED[kind]:
        if col != "note":
            report(frame[col].str.strip() == "", f"empty {col}")
    report(frame["review_id"].duplicated(keep=False), "duplicated review_id")
    known = frame["review_id"].isin(sources.index)
    report(~known, "review_id not in the source tables")
    src = sources.reindex(frame["review_id"])
    report(known & (src["split"].to_numpy() != split), f"source split is not {split!r}")
    report(known & (src["language"].to_numpy() != frame["language"].to_numpy()), "language differs from source")
    report(known & (src["text"].to_numpy() != frame["text"].to_numpy()), "text differs from source")
    if kind == "sentiment":
        report(~frame["sentiment"].isin(SENTIMENTS), "sentiment not in negative/neutral/positive")
    else:
        errors = frame["aspects"].map(lambda v: parse_aspects(v, topics)[1])
        for err in sorted(set(errors.dropna())):
            report(errors == err, f"aspects: {err}")
    return out


def summary(name: str, frame: pd.DataFrame, kind: str, topics: set[str]) -> str:
    if kind == "sentiment":
        table = pd.crosstab(frame["language"], frame["sentiment"], margins=True)
        return f"{name}: {len(frame)} rows\n{table.to_string()}"
    items = [(lang, t, p) for lang, v in zip(frame["language"], frame["aspects"])
             for t, p in parse_aspects(v, topics)[0]]
    long = pd.DataFrame(items, columns=["language", "topic", "polarity"])
    table = pd.crosstab([long["topic"]], [long["language"], long["polarity"]], margins=True)
    polarities = frame["aspects"].map(lambda v: {p for _, p in parse_aspects(v, topics)[0]})
    mixed = polarities.map(lambda s: {"positive", "negative"} <= s)
    by_lang = pd.DataFrame({"language": frame["language"], "mixed": mixed}).groupby("language")["mixed"].agg(["size", "sum"])
    return (f"{name}: {len(frame)} rows; rows with both a positive and a negative aspect: "
            f"{int(mixed.sum())} ({mixed.mean():.0%})\n{by_lang.rename(columns={'sum': 'mixed'}).to_string()}\n"
            f"{table.to_string()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--main", type=Path, default=Path(__file__).resolve().parents[3], help="checkout holding data/ and src/")
    ap.add_argument("--dir", type=Path, default=HERE, help="folder holding the labelled files")
    args = ap.parse_args()
    sources = load_sources(args.main)
    topics = taxonomy_ids(args.main)
    ex_ids, ex_texts = excluded(args.main)
    problems: list[str] = []
    loaded: dict[str, pd.DataFrame] = {}
    for name, (split, kind) in FILES.items():
        path = args.dir / name
        if not path.exists():
            print(f"{name}: not present, skipped")
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        loaded[name] = frame
        problems += problems_in(name, frame, split, kind, sources, topics)
        hit_id, hit_text = frame["review_id"].isin(ex_ids), frame["text"].isin(ex_texts)
        if (hit_id | hit_text).any():
            rows = frame.loc[hit_id | hit_text, "review_id"].tolist()
            problems.append(f"{name}: overlaps seed_examples/topics_eval ({len(rows)} rows, e.g. {rows[:3]})")
    names = list(loaded)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ids = set(loaded[a]["review_id"]) & set(loaded[b]["review_id"])
            texts = set(loaded[a]["text"]) & set(loaded[b]["text"])
            if ids or texts:
                problems.append(f"{a} and {b} share {len(ids)} review_ids and {len(texts)} texts, e.g. {sorted(ids)[:3]}")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    for name, frame in loaded.items():
        print(summary(name, frame, FILES[name][1], topics) + "\n")
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
