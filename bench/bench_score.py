"""Benchmark batch scoring: wall time and peak memory by number of customers.

Usage:
    .venv/bin/python bench/bench_score.py --sizes 10000 100000 [--engine duckdb] [--chunk-size 50000]

What it does, in a temporary project (its own MLflow store, nothing in ./mlruns is touched):
1. trains small champion churn and CLV models on a 3,000-customer synthetic CRM
   (``--train-customers``), with the churn/CLV helpers' training code;
2. for each size N: generates a synthetic CRM of N customers (seed 42), writes it as
   Parquet, then scores it with ``score_files`` (contract validation, features, both
   models in chunks, policy, CSV/Parquet output) in a fresh subprocess, so that peak RSS
   is that of one scoring run.

Feedback carries its ground-truth sentiment/topics (as if already classified), so text-model
throughput is not part of this figure (benchmark it with the text models' own bench).
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


def generate(n_customers: int, folder: Path) -> float:
    from custsat.data.synth import generate_crm

    t0 = time.perf_counter()
    crm = generate_crm(n_customers, seed=42, as_of=AS_OF)
    tables = _labelled(crm)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return time.perf_counter() - t0


def score_once(folder: Path, out: Path, engine: str, chunk_size: int) -> dict:
    """Run in a child process: score the folder and report time and peak RSS."""
    import resource

    from custsat.serving.score import resolve_input_paths, score_files

    t0 = time.perf_counter()
    result = score_files(
        resolve_input_paths(input_dir=folder), out=out, as_of=AS_OF, engine=engine, chunk_size=chunk_size,
        text_cache=False, progress=False,
    )
    seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "customers": len(result.scored),
        "transactions": result.metadata["row_counts"]["transactions"],
        "feedback": result.metadata["row_counts"].get("feedback", 0),
        "seconds": round(seconds, 2),
        "customers_per_second": round(len(result.scored) / seconds, 1),
        "peak_rss_mib": round(peak_mib, 1),
        "engine": engine,
        "chunk_size": chunk_size,
        "stage_seconds": result.metadata.get("stage_seconds", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--train-customers", type=int, default=3000)
    parser.add_argument("--project", type=Path, default=None,
                        help="Reuse a project folder whose MLflow store already has the champions (skips training).")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.child:
        print(json.dumps(score_once(Path(args.child[0]), Path(args.child[1]), args.engine, args.chunk_size)))
        return

    with tempfile.TemporaryDirectory(prefix="custsat-bench-") as scratch:
        tmp = str(args.project) if args.project else scratch
        env = {**os.environ, "CUSTSAT_PROJECT_DIR": tmp}
        env.pop("MLFLOW_TRACKING_URI", None)
        os.environ.update({"CUSTSAT_PROJECT_DIR": tmp})
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if not args.project:
            t0 = time.perf_counter()
            train(args.train_customers, Path(tmp) / "train")
            print(json.dumps({"stage": "train", "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        results = []
        for n in args.sizes:
            folder = Path(tmp) / f"crm_{n}"
            gen_s = generate(n, folder) if not (folder / "customers.parquet").exists() else 0.0
            child = subprocess.run(
                [sys.executable, __file__, "--engine", args.engine, "--chunk-size", str(args.chunk_size),
                 "--child", str(folder), str(Path(tmp) / f"scored_{n}.parquet")],
                env=env, capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                sys.exit(f"scoring {n} customers failed:\n{child.stderr[-4000:]}")
            row = json.loads(child.stdout.strip().splitlines()[-1])
            row["generate_seconds"] = round(gen_s, 1)
            results.append(row)
            print(json.dumps(row), flush=True)
    out = Path(__file__).resolve().parent / "results" / "bench_score.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
