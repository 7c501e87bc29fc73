"""Benchmark of the customer feature builder (DuckDB on Parquet, Spark local[2]) and of the
RFM summary against a plain pandas implementation and lifetimes.

    .venv/bin/python bench/bench_features.py                 # 1M customers (~10M tx, ~1M feedback)
    .venv/bin/python bench/bench_features.py --customers 100000 --skip-spark   # quick run

Every measured case runs in its own subprocess; peak memory is the largest summed RSS of that
subprocess and its children (the Spark JVM included), sampled every 20 ms. Results go to
bench/results/features_bench.json and .md (gitignored).

Data: ``custsat.data.synth.generate_crm`` (``--source synth``, default) with random sentiment
and topic columns added to the feedback (what the text models would add), or the simpler
``custsat.features.sample.random_crm`` (``--source sample``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PY = sys.executable


# ------------------------------------------------------------------------------ child cases
def _tables(data: Path) -> dict[str, Path]:
    return {n: data / f"{n}.parquet" for n in ("customers", "transactions", "feedback")}


def case_prepare(args) -> dict:
    import numpy as np
    import pandas as pd

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.source == "synth":
        from custsat.data.synth import generate_crm

        crm = generate_crm(args.customers, seed=args.seed)
        tables = dict(crm.tables)
        fb = tables["feedback"]
        rng = np.random.default_rng(args.seed)
        score = np.round(np.clip(rng.normal(0.1, 0.6, len(fb)), -1, 1), 3)
        fb["sentiment_score"] = score
        fb["sentiment"] = np.where(score < -0.2, "negative", np.where(score > 0.2, "positive", "neutral")).astype(object)
        from custsat.features.sample import DEFAULT_TOPICS

        topics = np.array(DEFAULT_TOPICS, dtype=object)
        first = topics[rng.integers(0, len(topics), len(fb))]
        second = topics[rng.integers(0, len(topics), len(fb))]
        k = rng.integers(0, 3, len(fb))
        fb["topics"] = np.where(k == 0, "", np.where((k == 1) | (first == second), first, first + ";" + second)).astype(object)
        fb = fb.drop(columns=["text"])  # free text is not a feature input
        tables["feedback"] = fb
    else:
        from custsat.features.sample import random_crm

        tables = random_crm(args.customers, args.customers * 10, args.customers, seed=args.seed)
    gen_s = time.perf_counter() - t0
    for name, frame in tables.items():
        frame.to_parquet(data / f"{name}.parquet", index=False)
    tx = tables["transactions"]
    as_of = (pd.Timestamp(tx["timestamp"].max()).normalize() - pd.Timedelta(days=90)).isoformat()
    return {
        "generate_s": round(gen_s, 2),
        "rows": {n: int(len(f)) for n, f in tables.items()},
        "as_of": as_of,
        "parquet_mb": round(sum(p.stat().st_size for p in data.glob("*.parquet")) / 2**20, 1),
    }


def case_duckdb_full(args) -> dict:
    import duckdb  # noqa: F401  (import time is not build time)

    from custsat.features import build_customer_features

    t0, c0 = time.perf_counter(), time.process_time()
    f = build_customer_features(_tables(Path(args.data)), args.as_of, engine="duckdb")
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "rows": len(f),
        "cols": f.shape[1],
    }


def case_spark_full(args) -> dict:
    from custsat.features import build_customer_features
    from custsat.features.engine import get_spark

    t0 = time.perf_counter()
    get_spark("local[2]", shuffle_partitions=args.spark_partitions)
    start = time.perf_counter() - t0
    t1 = time.perf_counter()
    f = build_customer_features(_tables(Path(args.data)), args.as_of, engine="spark")
    return {
        "wall_s": round(time.perf_counter() - t1, 2),
        "spark_start_s": round(start, 2),
        "rows": len(f),
        "cols": f.shape[1],
    }


def _subset(data: Path, fraction: float):
    import pandas as pd

    tx = pd.read_parquet(data / "transactions.parquet", columns=["customer_id", "timestamp", "amount"])
    if fraction < 1:
        ids = pd.Series(tx["customer_id"].unique()).sort_values()
        keep = set(ids.iloc[: max(1, int(len(ids) * fraction))])
        tx = tx[tx["customer_id"].isin(keep)].reset_index(drop=True)
    return tx


def pandas_rfm(tx, end):
    """Straightforward pandas RFM summary (same definitions as lifetimes / rfm_summary)."""
    import numpy as np
    import pandas as pd

    end = pd.Timestamp(end).normalize()
    t = tx[["customer_id", "timestamp", "amount"]].copy()
    t["day"] = t["timestamp"].dt.normalize()
    t = t[t["day"] <= end]
    daily = t.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()
    g = daily.groupby("customer_id", sort=True)
    first = g["day"].transform("min")
    daily["repeat_amount"] = daily["amount"].where(daily["day"] != first)
    out = pd.DataFrame(
        {
            "frequency": g.size() - 1,
            "recency": (g["day"].max() - g["day"].min()) / np.timedelta64(1, "D"),
            "T": (end - g["day"].min()) / np.timedelta64(1, "D"),
            "monetary_value": daily.groupby("customer_id", sort=True)["repeat_amount"].mean().fillna(0.0),
        }
    ).astype(float)
    return out


def case_rfm(args) -> dict:
    import lifetimes.utils as lu
    import pandas as pd

    from custsat.features import rfm_summary

    tx = _subset(Path(args.data), args.fraction)
    end = args.as_of
    rfm_summary(tx.head(100), end)  # warm-up: first-use costs of DuckDB are not what we measure
    t0, c0 = time.perf_counter(), time.process_time()
    if args.impl == "duckdb":
        out = rfm_summary(tx, end)
    elif args.impl == "duckdb_fast":
        out = rfm_summary(tx, end, exact=False)
    elif args.impl == "duckdb_parquet":
        out = rfm_summary(Path(args.data) / "transactions.parquet", end)
    elif args.impl == "pandas":
        out = pandas_rfm(tx, end)
    else:
        out = lu.summary_data_from_transaction_data(
            tx, "customer_id", "timestamp", monetary_value_col="amount", observation_period_end=end, freq="D"
        )
    wall = time.perf_counter() - t0
    result = {"wall_s": round(wall, 3), "cpu_s": round(time.process_time() - c0, 3), "tx_rows": int(len(tx)), "customers": int(len(out))}
    if args.check and args.impl != "duckdb":
        ref = rfm_summary(tx, end)
        pd.testing.assert_frame_equal(out.sort_index(), ref, check_names=False, check_exact=False, rtol=1e-9)
        result["equal_to_rfm_summary"] = True
    return result


CASES = {"prepare": case_prepare, "duckdb_full": case_duckdb_full, "spark_full": case_spark_full, "rfm": case_rfm}


# ------------------------------------------------------------------------------ parent
def run_case(case: str, timeout: float, **kw) -> dict:
    """Run one case in a subprocess; add its peak RSS (process tree) in MB."""
    import psutil

    cmd = [PY, __file__, "--case", case]
    for k, v in kw.items():
        if isinstance(v, bool):
            if v:
                cmd.append(f"--{k.replace('_', '-')}")
        else:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", MLFLOW_DISABLE_TELEMETRY="true", PYTHONWARNINGS="ignore")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peak = 0
    tree_cpu = 0.0
    stop = threading.Event()

    def sample():
        nonlocal peak, tree_cpu
        try:
            p = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            try:
                procs = [p, *p.children(recursive=True)]
                peak = max(peak, sum(q.memory_info().rss for q in procs))
                tree_cpu = max(tree_cpu, sum(sum(q.cpu_times()[:2]) for q in procs))
            except psutil.Error:
                pass
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for c in psutil.Process(proc.pid).children(recursive=True):
            c.kill()
        proc.kill()
        proc.communicate()
        stop.set()
        return {"case": case, **kw, "timed_out": True, "timeout_s": timeout, "peak_mb": round(peak / 2**20)}
    stop.set()
    th.join()
    if proc.returncode != 0:
        return {"case": case, **kw, "error": err.strip().splitlines()[-5:], "peak_mb": round(peak / 2**20)}
    result = json.loads(out.strip().splitlines()[-1])
    result.update({
        "case": case,
        "process_s": round(time.perf_counter() - t0, 2),
        "peak_mb": round(peak / 2**20),
        "tree_cpu_s": round(tree_cpu, 1),  # CPU seconds of the subprocess tree (JVM included)
    })
    return result


def main_parent(args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = Path(args.data or RESULTS / f"data_{args.source}_{args.customers}")
    if args.rerun:
        return rerun(args, data)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": os.getloadavg(),
        },
        "args": vars(args),
    }
    print(f"preparing data in {data} ...", flush=True)
    if (data / "meta.json").exists() and not args.regenerate:
        prep = json.loads((data / "meta.json").read_text())
    else:
        prep = run_case("prepare", 1800, data=data, customers=args.customers, source=args.source, seed=args.seed)
        if "error" in prep:
            raise SystemExit(f"data preparation failed: {prep['error']}")
        (data / "meta.json").write_text(json.dumps(prep))
    report["data"] = prep
    as_of = prep["as_of"]
    print(json.dumps(prep), flush=True)

    report["duckdb_full"] = run_case("duckdb_full", 600, data=data, as_of=as_of)
    print("duckdb_full", report["duckdb_full"], flush=True)
    if args.only_duckdb:
        (RESULTS / "features_bench_duckdb.json").write_text(json.dumps(report, indent=2, default=str))
        return
    if not args.skip_spark:
        report["spark_full"] = run_case("spark_full", 900, data=data, as_of=as_of, spark_partitions=args.spark_partitions)
        print("spark_full", report["spark_full"], flush=True)

    rfm = {}
    for impl in ("duckdb", "duckdb_parquet", "pandas"):
        rfm[impl] = run_case("rfm", 900, data=data, as_of=as_of, impl=impl, fraction=1.0, check=(impl == "pandas"))
        print("rfm", impl, rfm[impl], flush=True)
    report["rfm_full"] = rfm

    # lifetimes: grow the data until one run takes longer than the budget
    scaling = []
    for fraction in (0.01, 0.03, 0.1, 0.3, 1.0):
        lt = run_case("rfm", args.lifetimes_budget * 2 + 60, data=data, as_of=as_of, impl="lifetimes", fraction=fraction,
                      check=True)
        dk = run_case("rfm", 600, data=data, as_of=as_of, impl="duckdb", fraction=fraction)
        row = {"fraction": fraction, "lifetimes": lt, "duckdb": dk}
        if "wall_s" in lt and "wall_s" in dk:
            row["speedup"] = round(lt["wall_s"] / max(dk["wall_s"], 1e-9), 1)
        scaling.append(row)
        print("lifetimes scaling", json.dumps(row), flush=True)
        if lt.get("timed_out") or lt.get("wall_s", 0) > args.lifetimes_budget:
            break
    report["lifetimes_scaling"] = scaling
    report["machine"]["load_avg_end"] = os.getloadavg()

    (RESULTS / "features_bench.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "features_bench.md").write_text(markdown(report))
    print((RESULTS / "features_bench.md").read_text())


def rerun(args, data: Path) -> None:
    """Re-measure some cases into an existing report (after a code change)."""
    path = RESULTS / "features_bench.json"
    report = json.loads(path.read_text())
    as_of = report["data"]["as_of"]
    for case in args.rerun.split(","):
        if case == "duckdb_full":
            report["duckdb_full"] = run_case("duckdb_full", 600, data=data, as_of=as_of)
            print(case, report["duckdb_full"], flush=True)
        elif case == "spark_full":
            report["spark_full"] = run_case("spark_full", 900, data=data, as_of=as_of, spark_partitions=args.spark_partitions)
            print(case, report["spark_full"], flush=True)
        elif case == "rfm_all":
            for impl in ("duckdb", "duckdb_fast", "duckdb_parquet", "pandas"):
                report["rfm_full"][impl] = run_case("rfm", 900, data=data, as_of=as_of, impl=impl, fraction=1.0,
                                                    check=(impl == "pandas"))
                print(impl, report["rfm_full"][impl], flush=True)
            for row in report["lifetimes_scaling"]:
                f = row["fraction"]
                row["lifetimes"] = run_case("rfm", args.lifetimes_budget * 2 + 60, data=data, as_of=as_of,
                                            impl="lifetimes", fraction=f, check=True)
                row["duckdb"] = run_case("rfm", 600, data=data, as_of=as_of, impl="duckdb", fraction=f)
                row["duckdb_fast"] = run_case("rfm", 600, data=data, as_of=as_of, impl="duckdb_fast", fraction=f)
                for key, impl in (("speedup", "duckdb"), ("speedup_fast", "duckdb_fast")):
                    if "wall_s" in row["lifetimes"] and "wall_s" in row[impl]:
                        row[key] = round(row["lifetimes"]["wall_s"] / max(row[impl]["wall_s"], 1e-9), 1)
                print(json.dumps(row), flush=True)
        elif case == "rfm_fast":
            report["rfm_full"]["duckdb_fast"] = run_case("rfm", 900, data=data, as_of=as_of, impl="duckdb_fast", fraction=1.0)
            print(case, report["rfm_full"]["duckdb_fast"], flush=True)
            for row in report["lifetimes_scaling"]:
                fast = run_case("rfm", 600, data=data, as_of=as_of, impl="duckdb_fast", fraction=row["fraction"])
                row["duckdb_fast"] = fast
                if "wall_s" in row["lifetimes"] and "wall_s" in fast:
                    row["speedup_fast"] = round(row["lifetimes"]["wall_s"] / max(fast["wall_s"], 1e-9), 1)
                print(row["fraction"], fast, flush=True)
    report["machine"]["load_avg_rerun"] = os.getloadavg()
    path.write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "features_bench.md").write_text(markdown(report))
    print((RESULTS / "features_bench.md").read_text())


def markdown(r: dict) -> str:
    d = r["data"]["rows"]
    lines = [
        "# Feature builder benchmark",
        "",
        f"Data ({r['args']['source']}): {d.get('customers', 0):,} customers, {d.get('transactions', 0):,} transactions, "
        f"{d.get('feedback', 0):,} feedback; as_of {r['data']['as_of']}; Parquet {r['data']['parquet_mb']} MB.",
        f"Machine: {r['machine']['cpus']} CPUs, load average at start {r['machine']['load_avg_start']}, "
        f"at end {r['machine'].get('load_avg_end')}, at the last re-measurement {r['machine'].get('load_avg_rerun')} "
        "(machine shared with other jobs: wall times are noisy; CPU seconds are steadier).",
        "",
        "| case | wall s | CPU s | peak MB | notes |",
        "|---|---:|---:|---:|---|",
    ]

    def row(name, x, note=""):
        if x is None:
            return
        if "wall_s" not in x:
            lines.append(f"| {name} | - | - | {x.get('peak_mb', '-')} | {'timed out' if x.get('timed_out') else x.get('error')} |")
        else:
            cpu = x.get("cpu_s") or x.get("tree_cpu_s")
            lines.append(f"| {name} | {x['wall_s']} | {cpu} | {x['peak_mb']} | {note} |")

    row("full build, DuckDB on Parquet", r.get("duckdb_full"), f"{r['duckdb_full'].get('cols', '')} columns")
    sp = r.get("spark_full")
    if sp:
        row("full build, Spark local[2] on Parquet", sp, f"+ {sp.get('spark_start_s', '?')} s session start")
    for impl, x in r["rfm_full"].items():
        row(f"RFM summary, {impl}", x, f"{x.get('tx_rows', '')} tx")
    lines += ["", "## RFM summary: lifetimes vs DuckDB `rfm_summary` on equal data", "",
              "wall seconds (CPU seconds); exact = bit-identical to lifetimes, fast = `exact=False`.", "",
              "| transactions | customers | lifetimes | DuckDB exact | speed-up | DuckDB fast | speed-up | peak MB lifetimes / exact |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in r["lifetimes_scaling"]:
        lt, dk, fa = s["lifetimes"], s["duckdb"], s.get("duckdb_fast", {})
        lines.append(
            f"| {dk.get('tx_rows', '-'):,} | {dk.get('customers', '-'):,} | {lt.get('wall_s', 'timeout')} ({lt.get('cpu_s', '-')}) | "
            f"{dk.get('wall_s', '-')} ({dk.get('cpu_s', '-')}) | {s.get('speedup', '-')}x | "
            f"{fa.get('wall_s', '-')} ({fa.get('cpu_s', '-')}) | {s.get('speedup_fast', '-')}x | {lt.get('peak_mb')} / {dk.get('peak_mb')} |"
        )
    full = r.get("duckdb_full", {})
    ok_time = full.get("wall_s", 1e9) <= 20
    ok_mem = full.get("peak_mb", 1e9) <= 4096
    lines += ["", f"Targets: DuckDB full build <= 20 s: {'met' if ok_time else 'NOT met'}; <= 4 GB: {'met' if ok_mem else 'NOT met'}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--source", choices=("synth", "sample"), default="synth")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=None)
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--impl", default="duckdb")
    ap.add_argument("--fraction", type=float, default=1.0)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--only-duckdb", action="store_true", help="only the full DuckDB build")
    ap.add_argument("--rerun", default="", help="comma list of duckdb_full,spark_full,rfm_all,rfm_fast to re-measure")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--spark-partitions", type=int, default=8)
    ap.add_argument("--lifetimes-budget", type=float, default=120.0, help="stop growing lifetimes' input after a run this long (s)")
    args = ap.parse_args()
    if args.case:
        import warnings

        warnings.simplefilter("ignore")
        print(json.dumps(CASES[args.case](args)))
    else:
        main_parent(args)


if __name__ == "__main__":
    main()
