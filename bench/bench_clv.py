"""Benchmark: CLV fit + predict on CDNOW full against BG/NBD + Gamma-Gamma, and scoring 1M customers.

1. CDNOW full, calibration to 1997-09-30, 182-day horizon: wall time of fit + predict (with
   intervals) of the survival CLV champion and of the project's own BG/NBD + Gamma-Gamma, in
   the same process, and their ratio (target: ≤ 2).
2. Scoring: a fitted champion predicts ``--customers`` simulated customers (Pareto/NBD + GG,
   :mod:`custsat.models.clv.simulation`) from their scoring frame, as ``custsat score`` does:
   the frame build (``build_scoring_frame``) and the prediction are timed apart.

    .venv/bin/python bench/bench_clv.py --customers 1000000 --threads 2

Prints one JSON object (and writes it to --report if given) with the CPU model, core count and
load average: wall times on a shared machine depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or "unknown"


def _timed(fn):
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - started, 3), round(time.process_time() - cpu, 3)


def bench_cdnow(threads: int, repeats: int) -> dict:
    import pandas as pd

    from custsat.data.fetch import load_cdnow
    from custsat.models.clv import SurvivalCLV, build_scoring_frame
    from custsat.models.clv.baselines import bgnbd_gg

    tx = load_cdnow()["transactions"]
    cal = pd.Timestamp("1997-09-30")
    known = tx[tx["timestamp"] <= cal]
    horizon = 182.0

    def run(make):
        def once():
            model = make().fit(known, cal)
            return model.predict_frame(build_scoring_frame(known, cal))
        return min((_timed(once)[1:] for _ in range(repeats)), key=lambda t: t[0])

    champion_wall, champion_cpu = run(lambda: SurvivalCLV(horizon_days=horizon, n_threads=threads))
    bgnbd_wall, bgnbd_cpu = run(lambda: bgnbd_gg(horizon))
    return {
        "customers": int(known["customer_id"].nunique()),
        "champion_fit_predict_s": champion_wall, "champion_cpu_s": champion_cpu,
        "bgnbd_gg_fit_predict_s": bgnbd_wall, "bgnbd_gg_cpu_s": bgnbd_cpu,
        "ratio_champion_over_bgnbd": round(champion_wall / bgnbd_wall, 2),
    }


def bench_scoring(customers: int, threads: int) -> dict:
    from custsat.models.clv import SurvivalCLV, build_scoring_frame
    from custsat.models.clv.simulation import simulate_customers

    train = simulate_customers(20_000, seed=1, calibration_days=540, holdout_days=0)
    model = SurvivalCLV(n_threads=threads).fit(train.transactions, train.calibration_end)
    big = simulate_customers(customers, seed=2, calibration_days=540, holdout_days=0)
    frame, frame_s, frame_cpu = _timed(lambda: build_scoring_frame(big.transactions, big.calibration_end))
    scored, predict_s, predict_cpu = _timed(lambda: model.predict_frame(frame))
    return {
        "customers": len(scored), "transactions": len(big.transactions),
        "scoring_frame_s": frame_s, "scoring_frame_cpu_s": frame_cpu,
        "predict_s": predict_s, "predict_cpu_s": predict_cpu,
        "predict_us_per_customer": round(1e6 * predict_s / len(scored), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=1, help="CDNOW timings: best of this many runs")
    parser.add_argument("--skip-cdnow", action="store_true")
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    result = {
        "machine": {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0],
                    "python": platform.python_version(), "threads": args.threads},
    }
    if not args.skip_cdnow:
        result["cdnow_full"] = bench_cdnow(args.threads, args.repeats)
    result["scoring"] = bench_scoring(args.customers, args.threads)
    result["machine"]["load_avg_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
