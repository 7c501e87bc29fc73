"""Benchmark: feedback operations against their targets (issue #18).

Parts (``--parts``, default all):

* ``alerts``   - an injected delivery spike (x3 for two weeks) flagged within one week of its
  onset, over ``--seeds`` synthetic companies (target >= 90%); false alerts per topic and year
  on the same companies without events (target <= 1); also with 20% label noise.
* ``emerging`` - an injected new issue (app log-in failures) among the top 3 emerging clusters
  with purity >= 0.8 within 2 weeks of onset (target >= 80% of seeds); the clustering defaults
  are chosen first on separate development seeds.
* ``aspects``  - per-topic sentiment on the hand-labelled real multi-topic reviews (``--aspects``,
  target accuracy >= 0.80 and above the overall-sentiment baseline); the decision defaults are
  chosen first on a development set (``--aspects-dev``: hand-labelled reviews of the training
  split; without it, synthetic texts with known per-topic polarity).
* ``real``     - emerging issues in the real review corpora (``data/interim/reviews_*.parquet``):
  negative reviews (label negative: Chinese negative reviews, English reviews below five stars;
  a seeded sample of ``--real-sample`` each) whose best topic probability is low, clustered and
  named. The reviews carry no
  dates, so every text counts as recent and clusters rank by size.
* ``speed``    - triage of ``--triage-rows`` feedback rows with cached labels (target <= 60 s on
  2 cores) and emerging-issue clustering + naming of ``--cluster-texts`` candidate texts given
  their embeddings (target <= 120 s). Timings on a busy machine are not meaningful.

Text models: ``--sentiment-model`` / ``--topic-model`` (saved folders or MLflow URIs); default
the registered champions (the zero-label topic bootstrap when no topic model is registered).

    .venv/bin/python bench/bench_feedback_ops.py --seeds 20 --out bench/results/feedback_ops.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _models(args):
    from custsat.models.text.classify import resolve_sentiment_model, resolve_topic_model

    sentiment = resolve_sentiment_model(args.sentiment_model) if "aspects" in args.parts else None
    topics = resolve_topic_model(args.topic_model) if {"aspects", "emerging", "real"} & set(args.parts) else None
    return sentiment, topics


def part_alerts(args) -> dict:
    from custsat.models.feedback_ops_eval import false_alerts, spike_detection

    seeds = list(range(args.seeds))
    out = {}
    for noise in (0.0, 0.2):
        spikes = spike_detection(seeds, n_customers=args.customers, label_noise=noise)
        fa = false_alerts(seeds, n_customers=args.customers, label_noise=noise)
        out[f"label_noise_{noise}"] = {
            "spike_flagged_share": float(np.mean([s.flagged for s in spikes])),
            "spike_flagged_in_onset_week_share": float(np.mean([s.flagged and s.flagged_week == s.onset for s in spikes])),
            "spike_missed_seeds": [s.seed for s in spikes if not s.flagged],
            "false_alerts_per_topic_year_mean": float(fa["false_alerts_per_topic_year"].mean()),
            "false_alerts_per_topic_year_max_seed": float(fa["false_alerts_per_topic_year"].max()),
            "worst_topic_per_year_max_seed": float(fa["max_per_topic_year"].max()),
            "weeks_judged_per_seed": int(fa["weeks_judged"].median()),
        }
    return out


def part_emerging(args, topic_model) -> dict:
    from custsat.models.feedback_ops_eval import choose_emerging_config, emerging_detection

    started = time.perf_counter()
    config, grid = choose_emerging_config(list(range(1000, 1000 + args.dev_seeds)), topic_model,
                                          n_customers=args.customers)
    table = emerging_detection(list(range(args.seeds)), topic_model, config, n_customers=args.customers)
    by_day = {}
    for days, g in table.groupby("days_after_onset"):
        by_day[f"day_{days}"] = {"found_share": float(g["found"].mean()), "median_rank": float(g["rank"].median()),
                                 "mean_purity": float(g["purity"].mean()), "mean_recall": float(g["recall"].mean()),
                                 "mean_issue_candidates": float(g["issue_candidates"].mean())}
    found_within_2w = table.groupby("seed")["found"].any().mean()
    return {"config": {"merge_distance": config.merge_distance, "micro_size": config.micro_size},
            "dev_grid": grid.to_dict("records"), "found_within_2_weeks_share": float(found_within_2w), **by_day,
            "examples": table[table["days_after_onset"] == 14][["seed", "rank", "purity", "recall", "terms"]]
            .head(5).to_dict("records"), "seconds": time.perf_counter() - started}


def part_aspects(args, sentiment, topics) -> dict:
    from custsat.data.synth import generate_crm
    from custsat.models.text.aspects import choose_defaults, evaluate_aspects

    if Path(args.aspects_dev).exists():  # hand-labelled reviews of the training split
        dev = pd.read_csv(args.aspects_dev)
        dev_texts, dev_aspects, dev_source = dev["text"].tolist(), dev["aspects"].tolist(), args.aspects_dev
    else:  # synthetic texts with known per-topic polarity: a seed of its own, multi-topic rows only
        crm = generate_crm(3000, 2024)
        truth = crm.truth["feedback"]
        texts = crm.tables["feedback"].set_index("feedback_id")["text"]
        multi = truth[(truth["n_topics"] >= 2) & ~truth["is_future"]].head(args.dev_texts)
        dev_texts, dev_aspects = texts.loc[multi["feedback_id"]].tolist(), multi["aspect_sentiments"].tolist()
        dev_source = "synthetic seed 2024"
    config, grid = choose_defaults(dev_texts, dev_aspects, sentiment, topics)
    labels = pd.read_csv(args.aspects)
    res = evaluate_aspects(labels, sentiment, topics, config=config)
    res.pop("frame")
    return {"config": config.__dict__, "dev_source": dev_source, "dev_texts": len(dev_texts),
            "dev_grid": grid.to_dict("records"), **res}


def part_real(args, topic_model) -> dict:
    from custsat.models.text.emerging import EmergingConfig, find_emerging, taxonomy_entries

    out = {}
    for lang in ("zh", "en"):
        reviews = pd.read_parquet(f"data/interim/reviews_{lang}.parquet")
        neg = reviews[reviews["label"] == "negative"]
        neg = neg.sample(n=min(args.real_sample, len(neg)), random_state=0).reset_index(drop=True)
        emb = np.asarray(topic_model.embed(neg["text"].tolist()), dtype=np.float32)
        proba = topic_model.predict_proba(neg["text"].tolist(), embeddings=emb)
        frame = pd.DataFrame({"timestamp": pd.Timestamp("2026-06-29"), "text": neg["text"], "sentiment": "negative",
                              "language": lang})
        for j, tid in enumerate(topic_model.tax_.ids):
            frame[f"topic_{tid}"] = proba[:, j]
        lookup = dict(zip(frame["text"], emb, strict=False))
        clusters = find_emerging(frame, pd.Timestamp("2026-06-30"), lambda ts, lk=lookup: np.stack([lk[t] for t in ts]),
                                 EmergingConfig(merge_distance=args.merge_distance, micro_size=args.micro_size),
                                 max_clusters=8)
        entries = taxonomy_entries(clusters, topic_model.tax_)
        out[lang] = {"negative_reviews": len(neg), "candidates": int((proba.max(1) < 0.5).sum()),
                     "clusters": [{"rank": c.rank, "size": c.size, "terms": c.terms[:8], "examples": c.examples[:2],
                                   "id": e["id"]} for c, e in zip(clusters, entries, strict=True)]}
    return out


def tiled_feedback(rows: int, seed: int = 7) -> pd.DataFrame:
    """``rows`` feedback rows with truth labels: one synthetic company's feedback repeated with new ids."""
    from custsat.data.synth import generate_crm
    from custsat.models.feedback_ops_eval import labelled_feedback

    crm = generate_crm(20000, seed)
    base = labelled_feedback(crm).drop(columns="event")
    base["urgency"] = crm.truth["feedback"].set_index("feedback_id").loc[base["feedback_id"], "urgency"].to_numpy()
    base["p_negative"] = np.where(base["sentiment"] == "negative", 0.9, np.where(base["sentiment"] == "neutral", 0.3, 0.05))
    reps = int(np.ceil(rows / len(base)))
    parts = []
    for r in range(reps):
        p = base.copy()
        p["feedback_id"] = p["feedback_id"] + f"-{r}"
        p["customer_id"] = p["customer_id"] + f"-{r}"
        parts.append(p)
    return pd.concat(parts, ignore_index=True).head(rows)


def part_speed(args) -> dict:
    from custsat.models.text.emerging import EmergingConfig, find_emerging
    from custsat.serving.triage import run_triage

    out = {"load_1min": os.getloadavg()[0], "cpus": os.cpu_count()}
    fb = tiled_feedback(args.triage_rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feedback.parquet"
        fb.to_parquet(path, index=False)
        started, cpu = time.perf_counter(), time.process_time()
        result = run_triage(feedback=path, as_of="2026-06-30", out=Path(tmp) / "queue.parquet", scored=False,
                            text_cache=False, emerging=False)
        out["triage"] = {"rows": len(fb), "queue_rows": len(result.queue), "wall_s": time.perf_counter() - started,
                         "cpu_s": time.process_time() - cpu, "target_s": 60}
    # clustering + naming of N candidate texts given their embeddings (a 384-d mixture: 200 themes)
    rng = np.random.default_rng(0)
    negative = fb[fb["sentiment"] == "negative"].drop_duplicates("text")
    texts = negative["text"].to_numpy()[rng.integers(0, len(negative), args.cluster_texts)]
    themes = rng.normal(size=(200, 384)).astype(np.float32)
    emb = themes[rng.integers(0, 200, len(texts))] + 0.6 * rng.normal(size=(len(texts), 384)).astype(np.float32)
    frame = pd.DataFrame({"timestamp": pd.Timestamp("2026-06-29") - pd.to_timedelta(rng.uniform(0, 80, len(texts)), unit="D"),
                          "text": [f"{t} #{i}" for i, t in enumerate(texts)], "sentiment": "negative"})
    lookup = dict(zip(frame["text"], emb, strict=True))
    started, cpu = time.perf_counter(), time.process_time()
    clusters = find_emerging(frame, pd.Timestamp("2026-06-30"), lambda ts: np.stack([lookup[t] for t in ts]),
                             EmergingConfig())
    out["clustering"] = {"texts": len(frame), "clusters": len(clusters), "wall_s": time.perf_counter() - started,
                         "cpu_s": time.process_time() - cpu, "target_s": 120}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["alerts", "emerging", "aspects", "speed"],
                        choices=["alerts", "emerging", "aspects", "real", "speed"])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--dev-seeds", type=int, default=4)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--aspects", default="data/labels/aspects_eval.csv")
    parser.add_argument("--aspects-dev", default="data/labels/aspects_dev.csv")
    parser.add_argument("--dev-texts", type=int, default=400)
    parser.add_argument("--sentiment-model", default=None)
    parser.add_argument("--topic-model", default=None)
    parser.add_argument("--real-sample", type=int, default=2000)
    parser.add_argument("--merge-distance", type=float, default=0.45)
    parser.add_argument("--micro-size", type=int, default=6)
    parser.add_argument("--triage-rows", type=int, default=1_000_000)
    parser.add_argument("--cluster-texts", type=int, default=100_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sentiment, topics = _models(args)
    report: dict = {"seeds": args.seeds, "customers": args.customers}
    for part in args.parts:
        started = time.perf_counter()
        if part == "alerts":
            report["alerts"] = part_alerts(args)
        elif part == "emerging":
            report["emerging"] = part_emerging(args, topics)
        elif part == "aspects":
            report["aspects"] = part_aspects(args, sentiment, topics)
        elif part == "real":
            report["real"] = part_real(args, topics)
        else:
            report["speed"] = part_speed(args)
        print(f"[{part}] {time.perf_counter() - started:.0f} s", file=sys.stderr)
    text = json.dumps(report, indent=2, default=str, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
