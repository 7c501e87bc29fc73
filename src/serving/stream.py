"""Out-of-core scoring (``custsat score --stream``): inputs larger than memory, memory bounded by the chunk size.

The same steps as :func:`custsat.serving.score.score_tables`, with every table kept on disk:

1. **stage**: each input is read in batches of rows (Parquet and CSV; an XLSX sheet, at most
   ~1M rows, is read whole); each batch is parsed and checked against its contract,
   fingerprinted (the same fingerprint as the in-memory path) and written to a work folder, in
   worker processes when there are several batches (:class:`WorkerPool`). Checks that span batches (duplicate ids, unknown customers)
   run in DuckDB on the staged files; errors name the input row, as the in-memory checks do;
2. **text**: staged feedback batches get sentiment/topics where missing (cached by text hash);
3. **features**: DuckDB builds them on the staged files (it spills to disk) and writes them
   to Parquet, split into chunks of ``chunk_size`` customers in customer_id order; the
   transactions, feedback and contracts are split the same way, in one pass each;
4. **chunks**: each chunk of customers is scored by
   :func:`custsat.serving.score.score_customers` (churn, CLV, complaint signals, action) and
   written to disk, in worker processes (one per core) when there are several chunks; drift
   bin counts add up over the chunks;
5. **outputs**: DuckDB sorts the chunks by action priority and the list is written batch by
   batch (CSV or Parquet, atomically). The report and the MLflow record are built from the
   tier, value and action columns and the feedback's topic/sentiment/rating columns only
   (about 250 bytes per customer).

Every column equals the in-memory path's except ``clv_low``/``clv_high``: their Monte-Carlo
draws are seeded per block of customers, and chunks make other blocks (CLV point values may
differ in the last bit for the same reason: vector arithmetic over other block shapes). A rerun with the same
chunk size gives byte-identical CSV and Parquet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.features.engine import sql_str
from custsat.models import drift as drift_mod
from custsat.models.text.served import TextModels, load_text_models, text_cache_path
from custsat.serving.models import CHURN_MODEL, CLV_MODEL, ServedModel, load_served
from custsat.serving.outputs import (
    OUTPUT_COLUMNS,
    _clean_for_output,
    infer_format,
    order_columns,
    scoring_run_id,
)
from custsat.serving.policy import Policy, load_policy
from custsat.serving.score import (
    ScoringInputError,
    ScoringResult,
    _progress_bar,
    _Timer,
    churn_reason_params,
    log_scoring_run,
    parse_as_of,
    peak_rss_mib,
    policy_fingerprint,
    release_memory,
    run_metadata,
    score_customers,
)

log = logging.getLogger(__name__)

ROW = "_row"  #: staged column: the row's position in its input file (0-based)
CHUNK = "chunk"
#: What the report, the MLflow record and the CLI summary read of the scored list.
SUMMARY_COLUMNS = ("rfm_segment", "abc_class", "value_tier", "lifecycle_stage", "satisfaction_tier", "nps_category",
                   "complaints_open", "churn_probability", "churn_risk_tier", "clv", "clv_tier", "action_id")
REPORT_FEEDBACK_COLUMNS = ("timestamp", "topics", "sentiment", "rating")


def _parquet_glob(folder: Path) -> str:
    return sql_str(str(folder / "**" / "*.parquet"))


def _connect(threads: int | None = None):
    from custsat.features.engine import DuckDBEngine

    return DuckDBEngine(threads=threads)


# --------------------------------------------------------------------------- 1. stage
def stage_batch(
    table: str, first_row: int, batch: Any, path: Path, number: int, folder: Path, now: pd.Timestamp
) -> tuple[int, str, bytes]:
    """Parse and check one raw input batch (see ``iter_raw_batches``), write it to ``folder``;
    return (rows, fingerprint header, row hashes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custsat.data.contracts import check_values, parse_table
    from custsat.data.io import batch_frame

    parsed = parse_table(table, batch_frame(first_row, batch), source=str(path))
    check_values(table, parsed, now=now, source=str(path))
    header, hashes = tracking.batch_hashes(parsed)
    staged = pa.Table.from_pandas(parsed.assign(**{ROW: parsed.index.to_numpy(dtype=np.int64)}), preserve_index=False)
    pq.write_table(staged, folder / f"part-{number:05d}.parquet")
    return len(parsed), header, hashes


def stage_table(
    path: Path, table: str, folder: Path, *, batch_rows: int, now: pd.Timestamp, pool: WorkerPool | None = None
) -> tuple[str, int]:
    """Parse and check ``path`` batch by batch into ``folder`` (batches in ``pool``'s workers when
    given); return (fingerprint, rows). The first failing batch's error is raised."""
    from custsat.data.io import iter_raw_batches

    folder.mkdir(parents=True)
    fingerprint = tracking.FrameFingerprint()
    rows = 0
    tasks = ((table, first_row, batch, path, number, folder, now)
             for number, (first_row, batch) in enumerate(iter_raw_batches(path, table=table, batch_rows=batch_rows)))
    for n_rows, header, hashes in (pool or WorkerPool(1)).map(stage_batch, tasks):
        fingerprint.update_hashes(header, hashes)
        rows += n_rows
    return fingerprint.hexdigest(), rows


def _contract_error(con, table: str, column: str, rule: str, where_sql: str, source: str):
    """A ContractError with the first offending staged rows (row = line in a CSV file)."""
    from custsat.data.contracts import MAX_EXAMPLE_ROWS, ContractError

    n_bad = int(con.execute(f"SELECT COUNT(*) FROM {table} WHERE {where_sql}").fetchone()[0])
    rows = con.execute(
        f"SELECT * FROM {table} WHERE {where_sql} ORDER BY {ROW} LIMIT {MAX_EXAMPLE_ROWS}").df()
    rows.index = rows.pop(ROW).to_numpy()
    return ContractError(table, column, rule, rows, n_bad=n_bad, source=source)


def check_across_batches(
    eng, staged: Mapping[str, Path], sources: Mapping[str, str], *, unknown_customers: str
) -> None:
    """Uniqueness and unknown-customer rules over all batches (DuckDB on the staged files)."""
    from custsat.data.contracts import CONTRACTS, ContractWarning

    if unknown_customers not in ("error", "warn"):
        raise ValueError("unknown_customers must be 'error' or 'warn'")
    for table, folder in staged.items():
        eng.register(table, folder)
    con = eng.con
    for table in staged:
        columns = eng.columns(table)
        for column in CONTRACTS[table].unique:
            if column not in columns:
                continue
            repeated = (f"{column} IN (SELECT {column} FROM {table} WHERE {column} IS NOT NULL "
                        f"GROUP BY {column} HAVING COUNT(*) > 1)")
            if con.execute(f"SELECT 1 FROM {table} WHERE {repeated} LIMIT 1").fetchone():
                raise _contract_error(con, table, column, "duplicate id", repeated, sources[table])
    unknown = "customer_id NOT IN (SELECT customer_id FROM customers)"
    for table in ("transactions", "feedback", "contracts"):
        if table not in staged or not con.execute(f"SELECT 1 FROM {table} WHERE {unknown} LIMIT 1").fetchone():
            continue
        rule = "customer_id not found in the customers table"
        if unknown_customers == "error":
            raise _contract_error(con, table, "customer_id", rule, unknown, sources[table])
        n = int(con.execute(f"SELECT COUNT(*) FROM {table} WHERE {unknown}").fetchone()[0])
        examples = [r[0] for r in con.execute(
            f"SELECT customer_id FROM {table} WHERE {unknown} ORDER BY {ROW} LIMIT 5").fetchall()]
        warnings.warn(f"table '{table}', column 'customer_id': {rule} for {n} row(s), e.g. {examples}",
                      ContractWarning, stacklevel=2)


def default_as_of_staged(eng, staged: Mapping[str, Path]) -> pd.Timestamp:
    """The day after the latest transaction or feedback (as :func:`score.default_as_of`)."""
    latest = [eng.con.execute(f"SELECT MAX(timestamp) FROM {t}").fetchone()[0]
              for t in ("transactions", "feedback") if t in staged]
    latest = [pd.Timestamp(v) for v in latest if v is not None]
    if not latest:
        raise ScoringInputError("cannot choose as_of: no transactions or feedback; pass --as-of")
    return max(latest).normalize() + pd.Timedelta(days=1)


# --------------------------------------------------------------------------- 2. text
def classify_staged_feedback(
    staged: Path, out: Path, text_models: TextModels | None, *, cache_path: Path | None, progress: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Fill sentiment/topics batch by batch into ``out``; return summed stats and versions.

    Texts already classified in an earlier batch come from ``cache_path`` (counted as cache hits).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custsat.models.text.cache import classify_with_cache, needs_classification

    parts = sorted(staged.glob("*.parquet"))
    frames = (pq.read_table(p).to_pandas() for p in parts)
    totals: dict[str, int] = {}
    todo_rows = prelabelled_rows = 0
    out.mkdir(parents=True)
    for part, frame in zip(parts, frames, strict=True):
        todo = needs_classification(frame)
        todo_rows += int(todo.sum())
        prelabelled_rows += int((~todo).sum())
        if todo.any():
            if text_models is None:
                text_models = load_text_models(progress=progress)
            frame, stats = classify_with_cache(frame, text_models.classify, cache_path=cache_path, model_key=text_models.key)
            for key, value in stats.as_dict().items():
                totals[key] = totals.get(key, 0) + int(value)
        else:
            totals["rows"] = totals.get("rows", 0) + len(frame)
            totals["rows_prelabelled"] = totals.get("rows_prelabelled", 0) + len(frame)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out / part.name)
    if not todo_rows:
        return {**totals, "classified": 0}, {"sentiment_model_version": "input", "topic_model_version": "input"}
    versions = {"sentiment_model_version": text_models.sentiment_version, "topic_model_version": text_models.topic_version}
    if prelabelled_rows:
        versions = {k: f"{v}+input" for k, v in versions.items()}
    return totals, versions


# --------------------------------------------------------------------------- 3. features and chunks
def build_chunked_features(
    staged: Mapping[str, Path], as_of: pd.Timestamp, config, folder: Path, *, chunk_size: int
) -> tuple[int, int, dict[str, bool]]:
    """Features on the staged files, written to ``folder/chunk=<i>/``; (customers, chunks, availability).

    DuckDB runs on all cores: the feature SQL sums exactly, so results do not depend on it.
    """
    from custsat.features.builder import prepare_features, register_tables, text_availability

    eng = _connect()
    try:
        tables = {t: staged[t] for t in ("customers", "transactions", "feedback") if t in staged}
        cols = register_tables(eng, tables)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            final = prepare_features(eng, cols, as_of, config)
        eng.con.execute(
            f"COPY (SELECT *, CAST((ROW_NUMBER() OVER (ORDER BY customer_id) - 1) // {int(chunk_size)} AS BIGINT) "
            f"AS {CHUNK} FROM ({final}) AS f) TO {sql_str(str(folder))} (FORMAT parquet, PARTITION_BY ({CHUNK}))"
        )
        n, with_sentiment, feedback_rows = eng.con.execute(
            f"SELECT COUNT(*), COUNT(*) FILTER (WHERE sentiment_mean IS NOT NULL OR last_sentiment IS NOT NULL), "
            f"COALESCE(SUM(feedback_count), 0) FROM read_parquet({_parquet_glob(folder)})"
        ).fetchone() if folder.exists() else (0, 0, 0)
    finally:
        eng.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        available = text_availability(cols["feedback"], sentiment_values=int(with_sentiment),
                                      feedback_rows=int(feedback_rows), config=config)
    return int(n), -(-int(n) // chunk_size), available


def split_by_chunk(eng, staged: Mapping[str, Path], features: Path, folder: Path) -> dict[str, Path]:
    """Transactions, feedback and contracts of each features chunk, in ``folder/<table>/chunk=<i>/``.

    Rows of customers without features (signed up after as_of) are left out.
    """
    con = eng.con
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE chunk_of AS SELECT customer_id, {CHUNK} "
        f"FROM read_parquet({_parquet_glob(features)}, hive_partitioning = true)"
    )
    out = {}
    for table in ("transactions", "feedback", "contracts"):
        if table not in staged:
            continue
        eng.register(f"staged_{table}", staged[table])
        out[table] = folder / table
        con.execute(
            f"COPY (SELECT t.*, m.{CHUNK} FROM staged_{table} AS t JOIN chunk_of AS m ON m.customer_id = t.customer_id) "
            f"TO {sql_str(str(out[table]))} (FORMAT parquet, PARTITION_BY ({CHUNK}))"
        )
    return out


def read_chunk(folder: Path, index: int, template: Path | None = None) -> pd.DataFrame:
    """One chunk's rows in input order (by the staged row position); empty frame when none."""
    import pyarrow.parquet as pq

    part = folder / f"{CHUNK}={index}"
    if part.exists():
        frame = pq.read_table(part).to_pandas()
    else:
        source = template if template is not None else folder
        frame = pq.read_schema(next(source.rglob("*.parquet"))).empty_table().to_pandas()
    frame = frame.drop(columns=[CHUNK], errors="ignore")
    if ROW in frame:
        frame = frame.sort_values(ROW, kind="stable").drop(columns=[ROW])
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- 4. chunks
@dataclass(frozen=True)
class ChunkJob:
    """Everything needed to score any chunk, in this process or in a worker (picklable)."""

    features_dir: Path
    chunks: Mapping[str, Path]
    templates: Mapping[str, Path]
    parts: Path
    as_of: pd.Timestamp
    policy: Policy
    config: Any
    chunk_size: int
    churn_params: Mapping[str, Any]
    language: str
    model_versions: Mapping[str, str]
    run_id: str
    drift_reference: Mapping[str, Any] | None


def score_chunk(
    job: ChunkJob, index: int, churn: ServedModel, clv: ServedModel
) -> tuple[int, drift_mod.DriftCounter | None]:
    """Score chunk ``index`` into ``job.parts/part-<index>.parquet``; return (customers, drift bin counts)."""
    from custsat.features.builder import coerce_features

    features = coerce_features(read_chunk(job.features_dir, index), job.config)
    tables = {t: read_chunk(folder, index, template=job.templates[t]) for t, folder in job.chunks.items()}
    scored = score_customers(
        features, tables, job.as_of, churn=churn, clv=clv, policy=job.policy, config=job.config,
        chunk_size=job.chunk_size, churn_params=job.churn_params, language=job.language,
    )
    for key, value in job.model_versions.items():
        scored[key] = str(value)
    scored["scoring_run_id"] = job.run_id
    order_columns(_clean_for_output(scored)).to_parquet(job.parts / f"part-{index:05d}.parquet", index=False)
    counter = drift_mod.DriftCounter(job.drift_reference).update(features) if job.drift_reference else None
    return len(features), counter


_loaded: dict[tuple[str, str], ServedModel] = {}


def _served(name: str, version: str) -> ServedModel:
    """A model version, loaded once per worker process."""
    if (name, version) not in _loaded:
        _loaded[(name, version)] = load_served(name, version)
    return _loaded[(name, version)]


def _score_chunk_in_worker(job: ChunkJob, index: int, churn_version: str, clv_version: str):
    return score_chunk(job, index, _served(CHURN_MODEL, churn_version), _served(CLV_MODEL, clv_version))


def _with_peak(fn, *args):
    return fn(*args), os.getpid(), peak_rss_mib()


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for processes started inside the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def default_workers() -> int:
    """Worker processes for streamed scoring: one per core, at most 4."""
    from custsat.config import available_cores

    return min(available_cores(), 4)


class WorkerPool:
    """Worker processes for the per-batch and per-chunk work of a streamed run.

    Workers start at the first :meth:`map` of two or more tasks (with ``workers=1``, or for a
    single batch or chunk, tasks run in this process). They are spawned, so no thread state of
    this process is inherited, with one OpenMP thread each, as the pandas work of a batch or
    chunk runs on one core anyway; they load the models at their first chunk. What a task
    writes does not depend on the process that ran it.
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.peaks: dict[int, float] = {}  # worker pid -> its peak memory (MiB)
        self.started = False  # whether workers ran any task
        self._pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def _start(self) -> None:
        import multiprocessing

        with _environ(OMP_NUM_THREADS="1"):
            self._pool = multiprocessing.get_context("spawn").Pool(self.workers)
        self.started = True

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (idempotent); they start again if more tasks come."""
        if self._pool is not None:
            self._pool.terminate()  # every task's result has been taken (or one failed)
            self._pool.join()
            self._pool = None

    def map(self, fn, tasks) -> Iterator[Any]:
        """``fn(*task)`` for each task, results in task order; at most two tasks per worker in flight,
        so that a large input is never queued whole. A single task runs in this process (the
        workers start only when there are two or more, so small inputs never pay for them)."""
        from collections import deque
        from itertools import chain, islice

        tasks = iter(tasks)
        first = list(islice(tasks, 2))
        if self.workers == 1 or len(first) < 2:
            for task in chain(first, tasks):
                yield fn(*task)
            return
        if self._pool is None:
            self._start()
        pending: deque = deque()

        def take():
            result, pid, peak = pending.popleft().get()
            if peak is not None:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)
            return result

        for task in chain(first, tasks):
            pending.append(self._pool.apply_async(_with_peak, (fn, *task)))
            if len(pending) >= 2 * self.workers:
                yield take()
        while pending:
            yield take()


def score_chunks(
    job: ChunkJob, n_chunks: int, churn: ServedModel, clv: ServedModel, *, pool: WorkerPool, advance=None,
) -> drift_mod.DriftCounter | None:
    """Score every chunk (in ``pool``'s workers, if any); return the summed drift bin counts."""
    drift = drift_mod.DriftCounter(job.drift_reference) if job.drift_reference else None
    keys = [(CHURN_MODEL, churn.version), (CLV_MODEL, clv.version)]
    _loaded.update(zip(keys, (churn, clv), strict=True))  # chunks scored in this process use these
    try:
        tasks = ((job, i, churn.version, clv.version) for i in range(n_chunks))
        for n_rows, counter in pool.map(_score_chunk_in_worker, tasks):
            if drift is not None and counter is not None:
                drift.merge(counter)
            if advance:
                advance(n_rows)
    finally:
        for key in keys:
            _loaded.pop(key, None)
    return drift


# --------------------------------------------------------------------------- 5. outputs
def _sorted_sql(parts: Path) -> str:
    """The scored chunks most urgent first, as :func:`outputs.sort_by_priority` orders them."""
    return (
        f"SELECT * FROM read_parquet({_parquet_glob(parts)}, union_by_name = true) "
        "ORDER BY priority, COALESCE(clv, 0) * COALESCE(churn_probability, 0) DESC, customer_id"
    )


def write_sorted(eng, parts: Path, path: Path, *, fmt: str, csv_bom: bool, batch_rows: int) -> Path:
    """Write the sorted list batch by batch (atomically): CSV as pandas writes it, or Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custsat.data.io import atomic_write_path

    reader = eng.con.sql(_sorted_sql(parts)).to_arrow_reader(batch_rows)
    first = [c for c in OUTPUT_COLUMNS if c in reader.schema.names]
    columns = first + [c for c in reader.schema.names if c not in first]
    with atomic_write_path(path) as tmp:
        if fmt == "parquet":
            schema = pa.schema([reader.schema.field(c) for c in columns])
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_table(pa.Table.from_batches([batch]).select(columns))
        else:
            with open(tmp, "w", encoding="utf-8-sig" if csv_bom else "utf-8", newline="") as handle:
                for number, batch in enumerate(reader):
                    frame = _clean_for_output(batch.to_pandas()[columns])
                    frame.to_csv(handle, index=False, header=number == 0, lineterminator="\n")
    return path


def _as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as object columns sharing their category strings (8 bytes a row)."""
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def summary_frame(parts: Path) -> pd.DataFrame:
    """The tier, value and action columns of the scored chunks, in chunk order (for the report and MLflow)."""
    import pyarrow.parquet as pq

    files = sorted(parts.glob("*.parquet"))
    present = set(pq.read_schema(files[0]).names)
    table = pq.read_table(files, columns=[c for c in SUMMARY_COLUMNS if c in present])
    return _as_objects(table.to_pandas(strings_to_categorical=True))


def report_feedback(eng, feedback: Path | None, as_of: pd.Timestamp) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """What the report reads of the feedback: topic/sentiment/rating columns and the complaints to quote."""
    from custsat.serving.report import MAX_EXAMPLES

    if feedback is None:
        return None, None
    eng.register("labelled_feedback", feedback)
    present = set(eng.columns("labelled_feedback"))
    cols = ", ".join(c for c in REPORT_FEEDBACK_COLUMNS if c in present)
    frame = _as_objects(eng.con.sql(f"SELECT {cols} FROM labelled_feedback").to_arrow_table()
                        .to_pandas(strings_to_categorical=True))
    examples = None
    if {"text", "sentiment"} <= present:
        topics = "topics" if "topics" in present else "CAST(NULL AS VARCHAR) AS topics"
        examples = eng.con.execute(
            f"SELECT timestamp, channel, {topics}, text, feedback_id FROM labelled_feedback "
            f"WHERE sentiment = 'negative' AND timestamp < {sql_str(as_of)} "
            f"ORDER BY timestamp DESC, feedback_id LIMIT {MAX_EXAMPLES}"
        ).df()
    return frame, examples


# --------------------------------------------------------------------------- pipeline
def score_stream(
    paths: Mapping[str, str | Path],
    *,
    out: str | Path,
    fmt: str | None = None,
    report: str | Path | None = None,
    csv_bom: bool = False,
    as_of: Any = None,
    unknown_customers: str | None = None,
    policy: Policy | str | Path | None = None,
    chunk_size: int = 50_000,
    batch_rows: int = 500_000,
    text_models: TextModels | None = None,
    text_cache: str | Path | None | bool = True,
    language: str = "both",
    progress: bool = False,
    log_run: bool = True,
    all_reasons: bool = False,
    churn_params: Mapping[str, Any] | None = None,
    work_dir: str | Path | None = None,
    workers: int | None = None,
) -> ScoringResult:
    """Score the input files out of core; write the list (CSV/Parquet) and the report. See the module doc.

    ``chunk_size``: customers scored at a time (memory grows with it, not with the inputs);
    ``batch_rows``: input rows parsed and checked at a time; ``work_dir``: where the staged
    files go (default: a temporary folder under ``TMPDIR``, removed at the end); ``workers``:
    processes that stage batches and score chunks (default: one per core, at most 4; 1 keeps
    everything in this process).
    """
    from custsat.config import get_settings
    from custsat.features import FeatureConfig
    from custsat.serving.report import write_report

    out = Path(out)
    fmt = infer_format(out, fmt)
    if fmt == "xlsx":
        raise ScoringInputError(
            "--stream writes CSV or Parquet: an XLSX sheet holds at most 1,048,575 rows and is built in memory; "
            "score without --stream for XLSX")
    settings = get_settings()
    unknown_customers = unknown_customers or settings.unknown_customer_policy
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    config = FeatureConfig()
    cache_path = text_cache_path(text_cache)
    timer = _Timer()
    paths = {t: Path(p) for t, p in paths.items() if p is not None}
    workers = default_workers() if workers is None else max(1, int(workers))
    # the pool is left (its workers stopped) before the work folder is removed
    with tempfile.TemporaryDirectory(prefix="custsat-stream-", dir=work_dir) as tmp, WorkerPool(workers) as pool:
        work = Path(tmp)
        # 1. stage and validate
        now = pd.Timestamp.now()
        staged, fingerprints, row_counts = {}, {}, {}
        for table in sorted(paths):
            staged[table] = work / "staged" / table
            fingerprints[table], row_counts[table] = stage_table(
                paths[table], table, staged[table], batch_rows=batch_rows, now=now, pool=pool)
        eng = _connect()
        try:
            check_across_batches(eng, staged, {t: str(p) for t, p in paths.items()}, unknown_customers=unknown_customers)
            as_of = parse_as_of(as_of) if as_of is not None else default_as_of_staged(eng, staged)
        finally:
            eng.close()
        timer.lap("read_and_validate")
        churn = load_served(CHURN_MODEL)
        clv = load_served(CLV_MODEL)
        timer.lap("load_models")

        # 2. texts
        text_stats: dict[str, Any] = {}
        text_versions = {"sentiment_model_version": "none", "topic_model_version": "none"}
        if "feedback" in staged:
            labelled = work / "labelled" / "feedback"
            # without a cache, one for this run only: a text repeated in later batches is classified once
            text_stats, text_versions = classify_staged_feedback(
                staged["feedback"], labelled, text_models, cache_path=cache_path or work / "run_text_cache.parquet",
                progress=progress)
            staged["feedback"] = labelled
            if text_stats.get("classified"):
                release_memory()
        else:
            staged["feedback"] = _empty_feedback_folder(work / "empty_feedback")
        timer.lap("classify_text")

        # 3. features, split into chunks
        features_dir = work / "features"
        n_customers, n_chunks, _ = build_chunked_features(staged, as_of, config, features_dir, chunk_size=chunk_size)
        if not n_customers:
            raise ScoringInputError(f"no customers are known at as_of={as_of} (all signed up later?)")
        timer.lap("features")
        eng = _connect()
        try:
            chunks = split_by_chunk(eng, {t: p for t, p in staged.items() if t != "customers"}, features_dir, work / "chunks")
        finally:
            eng.close()
        timer.lap("split_by_chunk")

        # 4. score chunk by chunk
        model_versions = {**text_versions, "churn_model_version": churn.version, "clv_model_version": clv.version}
        run_id = scoring_run_id(fingerprints, model_versions, as_of, policy_fingerprint(policy))
        parts = work / "scored"
        parts.mkdir()
        job = ChunkJob(
            features_dir=features_dir, chunks=chunks, templates={t: staged[t] for t in chunks}, parts=parts,
            as_of=as_of, policy=policy, config=config, chunk_size=chunk_size,
            churn_params=churn_reason_params(all_reasons, churn_params), language=language,
            model_versions=model_versions, run_id=run_id, drift_reference=drift_mod.find_reference(churn.model),
        )
        bar, advance = _progress_bar(progress, n_customers, "scoring customers")
        if bar is not None:
            bar.start()
        try:
            drift_counter = score_chunks(job, n_chunks, churn, clv, pool=pool, advance=advance)
        finally:
            if bar is not None:
                bar.stop()
        pool.close()  # the workers' memory is not needed for the outputs
        timer.lap("score_chunks")

        # 5. sorted outputs, report, MLflow
        drift_table = drift_counter.table() if drift_counter is not None else None
        eng = _connect()
        try:
            write_sorted(eng, parts, out, fmt=fmt, csv_bom=csv_bom, batch_rows=min(chunk_size, 100_000))
            feedback, examples = report_feedback(eng, staged.get("feedback"), as_of) if report is not None else (None, None)
        finally:
            eng.close()
        summary = summary_frame(parts)
        metadata = run_metadata(
            run_id=run_id, as_of=as_of, engine="duckdb", model_versions=model_versions, churn=churn, clv=clv,
            input_fingerprints=fingerprints, policy=policy, row_counts=row_counts, customers_scored=len(summary),
            text_stats=text_stats, drift_table=drift_table,
        )
        metadata.update({"streamed": True, "chunk_size": int(chunk_size), "chunks": int(n_chunks),
                         "workers": pool.workers if pool.started else 1})
        if report is not None:
            write_report(report, summary, feedback=feedback, drift=drift_table, metadata=metadata, examples=examples)
        timer.lap("write_outputs")
    metadata["stage_seconds"] = timer.laps
    metadata["stage_peak_rss_mib"] = timer.peaks
    if pool.peaks:
        metadata["worker_peak_rss_mib"] = {str(pid): peak for pid, peak in sorted(pool.peaks.items())}
    result = ScoringResult(scored=summary, feedback=feedback, drift=drift_table, metadata=metadata)
    if log_run:
        result.mlflow_run_id = log_scoring_run(result)
    return result


def _empty_feedback_folder(folder: Path) -> Path:
    """A staged feedback table without rows (scoring without a feedback file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    schema = pa.schema([("feedback_id", pa.string()), ("customer_id", pa.string()), ("timestamp", pa.timestamp("ns")),
                        ("channel", pa.string()), ("text", pa.string()), (ROW, pa.int64())])
    pq.write_table(schema.empty_table(), folder / "part-00000.parquet")
    return folder
