"""Regenerate the candidate pools that the hand-labelled files were drawn from.

Run:  .venv/bin/python data/labels/tools/select_candidates.py [--data DIR] [--out DIR]

Reads the real review tables (data/interim/reviews_zh.parquet, reviews_en.parquet), drops
everything already used elsewhere (the topic seed examples and data/labels/topics_eval.csv, by
id and by text), drops texts that occur more than once anywhere in either corpus (so one text
can never sit in two files or on both sides of the train/test split), and writes one ranked
candidate list per pool:

  candidates/sentiment_eval.csv   split == test   -> sentiment_3class_eval.csv
  candidates/aspects_eval.csv     split == test   -> aspects_eval.csv   (disjoint from the above)
  candidates/sentiment_train.csv  split == train  -> sentiment_3class_train.csv

Each list is stratified: every row has a `stratum` and a `rank` inside it. The rank is the
sha256 of "<seed>:<review_id>", so the order is fixed and independent of library versions.
Draw order (each draw only sees rows not taken by an earlier one, so earlier ranks never move):
  1. sentiment_eval: cue/plain x source label; then lukewarm and (zh) mixed strata;
  2. aspects_eval: kw2-contrast / kw2 / long x source label (from test rows not in 1);
     then kw2-mixed (zh);
  3. the unread reserve of the sentiment_eval strata (ranks beyond SENTIMENT_EVAL_LABELLED_RANKS)
     is released, and a last aspects draw (late-kw2-contrast) takes from it plus unclaimed rows;
  4. sentiment_train: cue/plain x source label, train split only.
The annotator labels strata top-down in rank order; a candidate read but not used (e.g. an
aspects candidate that turned out to discuss fewer than two topics) is recorded as SKIP with its
reason in annotations/*.tsv, so the selection is fully reproducible.

Strata use cue words only to *over-sample* likely neutral / mixed texts; the labels themselves
come from reading each text, never from the cue or the source label.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

import pandas as pd
import yaml

SEED = 20261201
HERE = Path(__file__).resolve().parents[1]  # data/labels
MAIN = Path(__file__).resolve().parents[3]  # the repository

# Length windows (characters): very short texts carry no aspect and are trivially labelled;
# very long ones are rare and dominate reading time.
ZH_LEN = (8, 300)
EN_LEN = (50, 1200)

# Cue words that make a text a *candidate* for neutral/mixed (label is decided by reading).
ZH_NEUTRAL_CUES = re.compile("一般|还行|还可以|凑合|中规中矩|但是|不过|可是|马马虎虎|尚可|还好|总体|总的来说|缺点|不足|美中不足")
EN_NEUTRAL_CUES = re.compile(
    r"\b(?:ok|okay|decent|average|not bad|alright|so-so|mediocre|fine|but|however|although|though|"
    r"mixed|meh|nothing special|not great|just ok)\b",
    re.IGNORECASE,
)
ZH_CONTRAST = re.compile("但是|不过|可是|但|就是|缺点|不足|唯一")
EN_CONTRAST = re.compile(r"\b(?:but|however|although|though|only complaint|downside|except)\b", re.IGNORECASE)

# Pool sizes per stratum (a reserve beyond what is labelled, so targets can be met in rank order).
SENTIMENT_EVAL_STRATA = {
    "zh": {("cue", "positive"): 80, ("cue", "negative"): 80, ("plain", "positive"): 40, ("plain", "negative"): 40},
    "en": {("cue", "other"): 120, ("plain", "other"): 15, ("cue", "great"): 20, ("plain", "great"): 10},
}
# Second, stricter draw for the evaluation file (after the strata above, from rows not yet drawn):
# explicit lukewarm wording, so that neutral is well represented. Only "other" for English
# ("great" = 5 stars is almost never neutral).
ZH_LUKEWARM = re.compile("一般|还行|还可以|凑合|中规中矩|马马虎虎|尚可|还好|过得去|普普通通|不好不坏|不过不失")
EN_LUKEWARM = re.compile(
    r"\b(?:okay|ok|average|so-so|mediocre|decent|not bad|alright|all right|nothing special|meh|"
    r"3 stars|three stars|mixed feelings|not great|just fine)\b",
    re.IGNORECASE,
)
# Chinese texts with praise, criticism and a contrast marker together (balanced mixed candidates).
ZH_MIXED = (re.compile("不错|挺好|很好|满意|方便|干净|漂亮|好用|喜欢|好看"),
            re.compile("差|不好|一般|慢|贵|旧|小|吵|脏|麻烦|失望|不足|缺点"),
            re.compile("但|不过|可是|就是|只是"))
SENTIMENT_EVAL_LUKEWARM_STRATA = {
    "zh": {("lukewarm", "positive"): 30, ("lukewarm", "negative"): 30,
           ("mixed", "positive"): 30, ("mixed", "negative"): 30},
    "en": {("lukewarm", "other"): 30},
}
ASPECT_EVAL_STRATA = {
    # kw2 = taxonomy keywords of >= 2 topics; long = any longer text (guards against a pool that
    # only contains what the keyword matcher can see).
    "zh": {("kw2-contrast", "positive"): 80, ("kw2-contrast", "negative"): 80, ("kw2", "positive"): 40,
           ("kw2", "negative"): 40, ("long", "positive"): 40, ("long", "negative"): 40},
    "en": {("kw2-contrast", "other"): 80, ("kw2-contrast", "great"): 80, ("kw2", "other"): 40,
           ("kw2", "great"): 40, ("long", "other"): 40, ("long", "great"): 40},
}
# Second draw for the aspects file (after the strata above, from rows not yet drawn): Chinese
# texts with >= 2 keyword topics and praise + criticism + contrast (ZH_MIXED), to enrich texts
# whose topics disagree in polarity.
ASPECT_EVAL_MIXED_STRATA = {
    "zh": {("kw2-mixed", "positive"): 50, ("kw2-mixed", "negative"): 50},
    "en": {},
}
# The sentiment-evaluation strata above were labelled top-down only to these ranks; the unread
# reserve beyond them is released (after the aspect strata above are drawn, so their ranks do not
# move) and joins the pool of a last aspect draw, so more multi-topic texts reach the aspects file.
SENTIMENT_EVAL_LABELLED_RANKS = {
    ("zh", "cue|positive"): 40, ("zh", "cue|negative"): 40,
    ("zh", "plain|positive"): 20, ("zh", "plain|negative"): 20,
}
ASPECT_EVAL_LATE_STRATA = {
    "zh": {("late-kw2-contrast", "positive"): 30, ("late-kw2-contrast", "negative"): 20},
    "en": {("late-kw2-contrast", "great"): 20, ("late-kw2-contrast", "other"): 20},
}
SENTIMENT_TRAIN_STRATA = {
    "zh": {("cue", "positive"): 150, ("cue", "negative"): 150, ("plain", "positive"): 80, ("plain", "negative"): 80},
    "en": {("cue", "other"): 200, ("plain", "other"): 80, ("cue", "great"): 80, ("plain", "great"): 80},
}
LONG_MIN = {"zh": 60, "en": 300}


def rank_key(review_id: str) -> str:
    return hashlib.sha256(f"{SEED}:{review_id}".encode("utf-8")).hexdigest()


def load_taxonomy_keywords(path: Path) -> dict[str, dict[str, list[str]]]:
    topics = yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
    return {t["id"]: {"zh": list(t["keywords"]["zh"]), "en": list(t["keywords"]["en"])} for t in topics}


def keyword_topics(text: str, language: str, keywords: dict[str, dict[str, list[str]]]) -> list[str]:
    """Taxonomy topics whose keywords occur in text (zh: substring; en: at a word start)."""
    low = text.lower()
    hits = []
    for topic, kw in keywords.items():
        for k in kw[language]:
            k = str(k).lower()
            if language == "zh":
                if k in low:
                    hits.append(topic)
                    break
            elif re.search(r"(?<![a-z0-9])" + re.escape(k), low):
                hits.append(topic)
                break
    return hits


def load_exclusions(main: Path) -> tuple[set[str], set[str]]:
    seeds = yaml.safe_load((main / "src/resources/taxonomy/seed_examples.yaml").read_text(encoding="utf-8"))["examples"]
    ids = {e["id"] for e in seeds}
    texts = {e["text"] for e in seeds}
    te = pd.read_csv(main / "data/labels/topics_eval.csv", dtype=str, keep_default_na=False)
    ids |= set(te["review_id"])
    texts |= set(te["text"])
    return ids, texts


def load_reviews(data: Path) -> pd.DataFrame:
    zh = pd.read_parquet(data / "reviews_zh.parquet")
    zh = zh.assign(language="zh", source_label=zh["label"])
    en = pd.read_parquet(data / "reviews_en.parquet")
    en = en.assign(language="en", source_label=en["score"])
    cols = ["review_id", "language", "split", "source_label", "text"]
    return pd.concat([zh[cols], en[cols]], ignore_index=True)


def eligible(reviews: pd.DataFrame, main: Path) -> pd.DataFrame:
    ex_ids, ex_texts = load_exclusions(main)
    dup_text = reviews["text"].duplicated(keep=False)
    n = reviews["text"].str.len()
    in_len = ((reviews["language"] == "zh") & n.between(*ZH_LEN)) | ((reviews["language"] == "en") & n.between(*EN_LEN))
    # A leading = + - @ would be read as a formula by spreadsheets; keeping the text exact matters more.
    formula_start = reviews["text"].str.match(r"^[=+\-@]")
    keep = ~reviews["review_id"].isin(ex_ids) & ~reviews["text"].isin(ex_texts) & ~dup_text & in_len & ~formula_start
    out = reviews[keep].copy()
    out["rank_key"] = out["review_id"].map(rank_key)
    return out


def draw(frame: pd.DataFrame, strata: dict, stratum_of: pd.Series) -> pd.DataFrame:
    parts = []
    for (kind, label), size in strata.items():
        sel = frame[(stratum_of.loc[frame.index] == kind) & (frame["source_label"] == label)]
        sel = sel.sort_values("rank_key").head(size).copy()
        sel["stratum"] = f"{kind}|{label}"
        sel["rank"] = range(1, len(sel) + 1)
        parts.append(sel)
    return pd.concat(parts) if parts else frame.iloc[:0]


def sentiment_stratum(frame: pd.DataFrame) -> pd.Series:
    cue = [(ZH_NEUTRAL_CUES if lang == "zh" else EN_NEUTRAL_CUES).search(text) is not None
           for text, lang in zip(frame["text"], frame["language"])]
    return pd.Series(["cue" if c else "plain" for c in cue], index=frame.index)


def lukewarm_stratum(frame: pd.DataFrame) -> pd.Series:
    """'lukewarm' (explicit lukewarm wording), else 'mixed' (zh: praise + criticism + contrast), else 'no'."""
    out = []
    for text, lang in zip(frame["text"], frame["language"]):
        if (ZH_LUKEWARM if lang == "zh" else EN_LUKEWARM).search(text):
            out.append("lukewarm")
        elif lang == "zh" and all(rx.search(text) for rx in ZH_MIXED):
            out.append("mixed")
        else:
            out.append("no")
    return pd.Series(out, index=frame.index)


def aspect_stratum(frame: pd.DataFrame, keywords) -> pd.Series:
    out = {}
    for idx, row in frame.iterrows():
        lang = row["language"]
        n_topics = len(keyword_topics(row["text"], lang, keywords))
        contrast = (ZH_CONTRAST if lang == "zh" else EN_CONTRAST).search(row["text"]) is not None
        if n_topics >= 2:
            out[idx] = "kw2-contrast" if contrast else "kw2"
        elif len(row["text"]) >= LONG_MIN[lang]:
            out[idx] = "long"
        else:
            out[idx] = "other"
    return pd.Series(out)


def build_pools(data: Path, main: Path) -> dict[str, pd.DataFrame]:
    keywords = load_taxonomy_keywords(main / "src/resources/taxonomy/default_topics.yaml")
    pool = eligible(load_reviews(data), main)
    cols = ["review_id", "language", "split", "source_label", "stratum", "rank", "text"]
    test = pool[pool["split"] == "test"]
    train = pool[pool["split"] == "train"]

    sent_parts = [draw(test[test["language"] == lang], SENTIMENT_EVAL_STRATA[lang], sentiment_stratum(test))
                  for lang in ("zh", "en")]
    first = pd.concat(sent_parts)
    left = test[~test["review_id"].isin(first["review_id"])]
    luke_parts = [draw(left[left["language"] == lang], SENTIMENT_EVAL_LUKEWARM_STRATA[lang], lukewarm_stratum(left))
                  for lang in ("zh", "en")]
    sent_eval = pd.concat([first, *luke_parts])
    rest = test[~test["review_id"].isin(sent_eval["review_id"])]
    a_strat = aspect_stratum(rest, keywords)
    asp_parts = [draw(rest[rest["language"] == lang], ASPECT_EVAL_STRATA[lang], a_strat) for lang in ("zh", "en")]
    asp_first = pd.concat(asp_parts)
    rest2 = rest[~rest["review_id"].isin(asp_first["review_id"])]
    mixed_of = pd.Series(
        ["kw2-mixed" if (lang == "zh" and all(rx.search(t) for rx in ZH_MIXED)
                         and len(keyword_topics(t, lang, keywords)) >= 2) else "no"
         for t, lang in zip(rest2["text"], rest2["language"])], index=rest2.index)
    asp_mixed = [draw(rest2[rest2["language"] == lang], ASPECT_EVAL_MIXED_STRATA[lang], mixed_of)
                 for lang in ("zh", "en") if ASPECT_EVAL_MIXED_STRATA[lang]]
    asp_eval = pd.concat([asp_first, *asp_mixed])
    cutoff = [SENTIMENT_EVAL_LABELLED_RANKS.get((lang, st), 10**9)
              for lang, st in zip(sent_eval["language"], sent_eval["stratum"])]
    keep = sent_eval["rank"].to_numpy() <= pd.Series(cutoff, index=sent_eval.index).to_numpy()
    sent_eval = sent_eval[keep]
    late_pool = test[~test["review_id"].isin(sent_eval["review_id"]) & ~test["review_id"].isin(asp_eval["review_id"])]
    late_of = aspect_stratum(late_pool, keywords).map({"kw2-contrast": "late-kw2-contrast"}).fillna("no")
    asp_late = [draw(late_pool[late_pool["language"] == lang], ASPECT_EVAL_LATE_STRATA[lang], late_of)
                for lang in ("zh", "en")]
    asp_eval = pd.concat([asp_eval, *asp_late])
    asp_eval["keyword_topics"] = [";".join(keyword_topics(t, lang, keywords))
                                  for t, lang in zip(asp_eval["text"], asp_eval["language"])]
    tr_parts = [draw(train[train["language"] == lang], SENTIMENT_TRAIN_STRATA[lang], sentiment_stratum(train))
                for lang in ("zh", "en")]
    sent_train = pd.concat(tr_parts)
    return {
        "sentiment_eval": sent_eval[cols],
        "aspects_eval": asp_eval[cols + ["keyword_topics"]],
        "sentiment_train": sent_train[cols],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MAIN / "data/interim")
    ap.add_argument("--main", type=Path, default=MAIN, help="checkout holding the taxonomy and topics_eval.csv")
    ap.add_argument("--out", type=Path, default=HERE / "candidates")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in build_pools(args.data, args.main).items():
        path = args.out / f"{name}.csv"
        tmp = path.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False, lineterminator="\n")
        tmp.replace(path)
        print(f"{path}: {len(frame)} rows; " + ", ".join(
            f"{k}={v}" for k, v in frame.groupby(["language", "stratum"]).size().items()))


if __name__ == "__main__":
    main()
