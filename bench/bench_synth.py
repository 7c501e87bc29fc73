"""Benchmark: generate a synthetic company and write it as Parquet.

Reports rows per table, generation and write wall and CPU time, peak RSS of this process
and the 1-minute load average (wall time on a shared machine depends on it; CPU time less).

    MLFLOW_DISABLE_TELEMETRY=true .venv/bin/python bench/bench_synth.py --customers 1000000 --seed 42

Prints one JSON object (and writes it to --report if given).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        return float("nan")


class PeakSampler:
    """Samples RSS every 50 ms (ru_maxrss alone misses nothing but includes start-up)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.05)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temp dir, removed)")
    parser.add_argument("--report", type=Path, default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)

    from custsat.data.synth import generate_crm, write_crm

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    rss_start = _rss_mb()
    with PeakSampler() as sampler:
        c0, t0 = time.process_time(), time.perf_counter()
        crm = generate_crm(args.customers, args.seed, args.as_of)
        c1, t1 = time.process_time(), time.perf_counter()
        write_crm(crm, out)
        c2, t2 = time.process_time(), time.perf_counter()
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    report = {
        "customers": args.customers,
        "seed": args.seed,
        "rows": crm.meta["rows"],
        "generate_s": round(t1 - t0, 2),
        "write_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "generate_cpu_s": round(c1 - c0, 2),
        "write_cpu_s": round(c2 - c1, 2),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(sampler.peak, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_at_start_mb": round(rss_start, 1),
        "parquet_mb": round(size / 2**20, 1),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text)
    return report


if __name__ == "__main__":
    main()
