"""Out-of-core scoring (``custsat score --stream``): inputs larger than memory, memory bounded by the chunk size.

The stages are :mod:`custsat.serving.pipeline`'s; this backend keeps every table on disk:

* **inputs**: each input is read in batches of rows (Parquet and CSV; an XLSX sheet, at most
  ~1M rows, is read whole); each batch is parsed and checked against its contract,
  fingerprinted (the same fingerprint as the in-memory path) and written to a work folder, in
  worker processes when there are several batches (:class:`WorkerPool`). The rules that span
  batches (duplicate ids, unknown customers) are the contract's own
  (:func:`custsat.data.contracts.duplicate_mask` / ``unknown_mask``), applied to the id
  columns of all staged batches; errors name the input rows, as the in-memory checks do;
* **text**: staged feedback batches get sentiment/topics where missing (cached by text hash);
* **features**: DuckDB builds them on the staged files (it spills to disk) and writes them
  to Parquet, split into chunks of ``chunk_size`` customers in customer_id order; the
  transactions, feedback and contracts are split the same way, in one pass each;
* **customers**: each chunk is scored by :func:`custsat.serving.pipeline.score_customers` and
  written to disk, in worker processes (one per core) when there are several chunks; drift
  bin counts add up over the chunks;
* **outputs**: DuckDB sorts the chunks by action priority and the list is written batch by
  batch (CSV or Parquet, atomically). The report and the MLflow record are built from the
  tier, value and action columns and the feedback's topic/sentiment/rating columns only
  (about 250 bytes per customer).

Every column equals the in-memory path's except ``clv_low``/``clv_high``: their Monte-Carlo
draws are seeded per block of customers, and chunks make other blocks (CLV point values may
differ in the last bit for the same reason: vector arithmetic over other block shapes). A rerun
with the same chunk size gives byte-identical CSV and Parquet.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.config import environment
from custsat.features.engine import sql_str
from custsat.models import drift as drift_mod
from custsat.models.text.served import FeedbackLabeller
from custsat.serving.models import ServedModel, load_served
from custsat.serving.outputs import (
    SCORED_LIST_COLUMNS,
    _clean_for_output,
    infer_format,
    order_columns,
    written_together,
)
from custsat.serving.pipeline import (
    CustomerScoring,
    ScoringInputError,
    ScoringModels,
    ScoringRequest,
    count_drift,
    peak_rss_mib,
    progress_bar,
    score_customers,
)

ROW = "_row"  #: staged column: the row's position in its input file (0-based)
CHUNK = "chunk"
#: What the report, the MLflow record and the CLI summary read of the scored list.
SUMMARY_COLUMNS = ("rfm_segment", "abc_class", "value_tier", "lifecycle_stage", "satisfaction_tier", "nps_category",
                   "complaints_open", "churn_probability", "churn_risk_tier", "clv", "clv_tier", "action_id",
                   "campaign_id", "treatment_group", "intended_action_id")
REPORT_FEEDBACK_COLUMNS = ("timestamp", "topics", "sentiment", "rating")


def _parquet_glob(folder: Path) -> str:
    return sql_str(str(folder / "**" / "*.parquet"))


def _connect(threads: int | None = None):
    from custsat.features.engine import DuckDBEngine

    return DuckDBEngine(threads=threads)


# --------------------------------------------------------------------------- inputs
def stage_batch(
    table: str, first_row: int, batch: Any, path: Path, number: int, folder: Path, now: pd.Timestamp,
    day_first: Mapping[str, bool | None],
) -> tuple[int, str, bytes]:
    """Parse and check one raw input batch (see ``iter_raw_batches``), write it to ``folder``;
    return (rows, fingerprint header, row hashes). ``day_first``: the file's date orders."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custsat.data.contracts import check_values, parse_table
    from custsat.data.io import batch_frame

    parsed = parse_table(table, batch_frame(first_row, batch, source=str(path)), day_first=day_first,
                         source=str(path))
    check_values(table, parsed, now=now, source=str(path))
    header, hashes = tracking.batch_hashes(parsed)
    staged = pa.Table.from_pandas(parsed.assign(**{ROW: parsed.index.to_numpy(dtype=np.int64)}), preserve_index=False)
    pq.write_table(staged, folder / f"part-{number:05d}.parquet")
    return len(parsed), header, hashes


def stage_table(
    path: Path, table: str, folder: Path, *, batch_rows: int, now: pd.Timestamp, pool: WorkerPool
) -> tuple[str, int]:
    """Parse and check ``path`` batch by batch into ``folder`` (batches in ``pool``'s workers);
    return (fingerprint, rows). The first failing batch's error is raised."""
    from custsat.data.contracts import date_orders
    from custsat.data.io import batch_frame, iter_raw_batches

    folder.mkdir(parents=True)
    fingerprint = tracking.FrameFingerprint()
    rows = 0
    batches = iter_raw_batches(path, table=table, batch_rows=batch_rows)
    first = next(batches)
    # one day/month order per date column for the whole file, told by its first batch
    day_first = date_orders(table, batch_frame(*first, source=str(path)), source=str(path))
    tasks = ((table, first_row, batch, path, number, folder, now, day_first)
             for number, (first_row, batch) in enumerate(itertools.chain([first], batches)))
    for n_rows, header, hashes in pool.map(stage_batch, tasks):
        fingerprint.update_hashes(header, hashes)
        rows += n_rows
    return fingerprint.hexdigest(), rows


def staged_parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


def staged_column(folder: Path, column: str):
    """One column of every staged batch, in staging order (an Arrow chunked array)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.chunked_array([pq.read_table(part, columns=[column]).column(column) for part in staged_parts(folder)])


def staged_rows(folder: Path, mask: np.ndarray, limit: int) -> pd.DataFrame:
    """The first ``limit`` staged rows where ``mask`` holds, indexed by their input row."""
    import pyarrow.parquet as pq

    found, offset = [], 0
    for part in staged_parts(folder):
        table = pq.read_table(part)
        selected = mask[offset:offset + table.num_rows]
        offset += table.num_rows
        if selected.any():
            found.append(table.filter(selected).to_pandas())
        if sum(map(len, found)) >= limit:
            break
    rows = pd.concat(found).sort_values(ROW, kind="stable").head(limit)
    rows.index = rows.pop(ROW).to_numpy()
    return rows


def check_across_batches(staged: Mapping[str, Path], sources: Mapping[str, str], *, unknown_customers: str) -> None:
    """The contract's uniqueness and unknown-customer rules over all staged batches of each table."""
    from custsat.data.contracts import (
        CONTRACTS,
        MAX_EXAMPLE_ROWS,
        REFERENCING_TABLES,
        ContractError,
        check_unknown_customers_policy,
        duplicate_mask,
        report_unknown_customers,
        unknown_mask,
    )

    check_unknown_customers_policy(unknown_customers)
    for table, folder in staged.items():
        present = set(staged_column_names(folder))
        for column in (c for c in CONTRACTS[table].unique if c in present):
            bad = duplicate_mask(staged_column(folder, column))
            if bad.any():
                raise ContractError(table, column, "duplicate id", staged_rows(folder, bad, MAX_EXAMPLE_ROWS),
                                    n_bad=int(bad.sum()), source=sources[table])
    if "customers" not in staged:
        return
    known = staged_column(staged["customers"], "customer_id").combine_chunks()
    for table in (t for t in REFERENCING_TABLES if t in staged):
        bad = unknown_mask(staged_column(staged[table], "customer_id"), known)
        if bad.any():
            report_unknown_customers(table, staged_rows(staged[table], bad, MAX_EXAMPLE_ROWS), int(bad.sum()),
                                     unknown_customers=unknown_customers, source=sources[table])


def staged_column_names(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(staged_parts(folder)[0]).names


# --------------------------------------------------------------------------- features and chunks
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


# --------------------------------------------------------------------------- customers, chunk by chunk


def score_chunk(
    work: Path, job: CustomerScoring, index: int, models: ScoringModels
) -> tuple[int, drift_mod.DriftCounter | None]:
    """Score chunk ``index`` into ``work/scored/part-<index>.parquet``; return (customers, drift bin counts)."""
    from custsat.features.builder import coerce_features

    features = coerce_features(read_chunk(work / "features", index), job.config)
    chunks = work / "chunks"
    tables = {t.name: read_chunk(t, index, template=work / "labelled" / t.name if t.name == "feedback" else
                                 work / "staged" / t.name) for t in sorted(chunks.iterdir())} if chunks.exists() else {}
    scored = score_customers(features, tables, job, models)
    order_columns(_clean_for_output(scored)).to_parquet(work / "scored" / f"part-{index:05d}.parquet", index=False)
    return len(features), count_drift(job, features)


_loaded: dict[tuple[str, str], ServedModel] = {}


def _served(name: str, version: str) -> ServedModel:
    """A model version, loaded once per worker process."""
    if (name, version) not in _loaded:
        _loaded[(name, version)] = load_served(name, version)
    return _loaded[(name, version)]


def _score_chunk_in_worker(work: Path, job: CustomerScoring, index: int, keys: tuple[tuple[str, str], ...]):
    return score_chunk(work, job, index, ScoringModels.from_served([_served(*key) for key in keys]))


# --------------------------------------------------------------------------- worker processes


def _with_peak(fn, *args):
    import os

    return fn(*args), os.getpid(), peak_rss_mib()


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

        with environment(OMP_NUM_THREADS="1"):
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
    first = [c for c in SCORED_LIST_COLUMNS if c in reader.schema.names]
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
                    frame = _clean_for_output(batch.to_pandas()[columns], "csv")
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


# --------------------------------------------------------------------------- the backend

WORK_PREFIX = "custsat-stream-"
OWNER_FILE = "owner.pid"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_abandoned_work_folders(parent: Path) -> list[Path]:
    """Delete the work folders of streamed runs that were killed (their process is gone)."""
    import shutil

    removed = []
    for folder in sorted(parent.glob(f"{WORK_PREFIX}*")):
        owner = folder / OWNER_FILE
        try:
            pid = int(owner.read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # not ours to judge: no readable owner file
        if not _process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed



class StreamedBackend:
    """Every table staged on disk in a work folder (a temporary folder under ``TMPDIR``, or
    ``work_dir``), features in customer chunks, chunks scored in worker processes.

    ``batch_rows``: input rows parsed and checked at a time; ``workers``: processes that stage
    batches and score chunks (default: one per core, at most 4; 1 keeps everything in this
    process). Use as a context manager: the workers stop and the work folder goes at the end.
    """

    def __init__(self, paths: Mapping[str, Path], request: ScoringRequest, *, unknown_customers: str | None = None,
                 batch_rows: int = 500_000, workers: int | None = None, work_dir: str | Path | None = None):
        from custsat.config import get_settings

        self.paths = {t: Path(p) for t, p in paths.items()}
        self.fmt = infer_format(request.out, request.fmt) if request.out is not None else "parquet"
        if self.fmt == "xlsx":
            raise ScoringInputError(
                "--stream writes CSV or Parquet: an XLSX sheet holds at most 1,048,575 rows and is built in memory; "
                "score without --stream for XLSX")
        self.unknown_customers = unknown_customers or get_settings().unknown_customer_policy
        self.batch_rows = batch_rows
        self.chunk_size = request.chunk_size
        self.pool = WorkerPool(default_workers() if workers is None else max(1, int(workers)))
        remove_abandoned_work_folders(Path(work_dir) if work_dir else Path(tempfile.gettempdir()))
        self._tmp = tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work_dir)
        self.work = Path(self._tmp.name)
        (self.work / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        self.staged: dict[str, Path] = {}
        self.n_customers = self.n_chunks = 0

    def __enter__(self) -> StreamedBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.close()  # the workers stop before their work folder is removed
        self._tmp.cleanup()

    def read_and_validate(self) -> tuple[dict[str, str], dict[str, int]]:
        now = pd.Timestamp.now()
        fingerprints, row_counts = {}, {}
        for table in sorted(self.paths):
            self.staged[table] = self.work / "staged" / table
            fingerprints[table], row_counts[table] = stage_table(
                self.paths[table], table, self.staged[table], batch_rows=self.batch_rows, now=now, pool=self.pool)
        check_across_batches(self.staged, {t: str(p) for t, p in self.paths.items()},
                             unknown_customers=self.unknown_customers)
        return fingerprints, row_counts

    def latest_events(self) -> list[pd.Timestamp]:
        eng = _connect()
        try:
            latest = []
            for table in ("transactions", "feedback"):
                if table in self.staged:
                    eng.register(table, self.staged[table])
                    latest.append(eng.con.execute(f"SELECT MAX(timestamp) FROM {table}").fetchone()[0])
        finally:
            eng.close()
        return [pd.Timestamp(v) for v in latest if v is not None]

    def label_feedback(self, labeller: FeedbackLabeller) -> None:
        """Label the staged feedback batch by batch into ``labelled/feedback``. Without a configured
        cache, one local to the run: a text repeated in later batches is classified once."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if "feedback" not in self.staged:
            return
        if labeller.cache_path is None:
            labeller.cache_path = self.work / "run_text_cache.parquet"
        out = self.work / "labelled" / "feedback"
        out.mkdir(parents=True)
        for part in staged_parts(self.staged["feedback"]):
            frame = labeller.label(pq.read_table(part).to_pandas())
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out / part.name)
        self.staged["feedback"] = out

    def build_features(self, as_of: pd.Timestamp, config: Any) -> int:
        self.n_customers, self.n_chunks, _ = build_chunked_features(self.staged, as_of, config, self.work / "features",
                                                               chunk_size=self.chunk_size)
        if self.n_customers:
            eng = _connect()
            try:
                split_by_chunk(eng, {t: p for t, p in self.staged.items() if t != "customers"},
                               self.work / "features", self.work / "chunks")
            finally:
                eng.close()
        return self.n_customers

    def score(self, job: CustomerScoring, models: ScoringModels, progress: bool) -> drift_mod.DriftCounter | None:
        """Score every chunk (in the pool's workers when there are several); sum the drift bin counts."""
        (self.work / "scored").mkdir()
        drift = drift_mod.DriftCounter(job.drift_reference) if job.drift_reference else None
        keys = tuple((m.name, m.version) for m in models.all())
        _loaded.update(zip(keys, models.all(), strict=True))  # chunks scored here use these
        bar, advance = progress_bar(progress, self.n_customers, "scoring customers")
        if bar is not None:
            bar.start()
        try:
            tasks = ((self.work, job, i, keys) for i in range(self.n_chunks))
            for n_rows, counter in self.pool.map(_score_chunk_in_worker, tasks):
                if drift is not None and counter is not None:
                    drift.merge(counter)
                if advance:
                    advance(n_rows)
        finally:
            if bar is not None:
                bar.stop()
            for key in keys:
                _loaded.pop(key, None)
        self.pool.close()  # the workers' memory is not needed for the outputs
        return drift

    def write_outputs(self, request: ScoringRequest, metadata: dict[str, Any], drift: pd.DataFrame | None,
                      extras: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        from custsat.serving.report import write_scoring_report

        parts = self.work / "scored"
        with written_together(request.out, request.report) as (out, report):
            eng = _connect()
            try:
                if out is not None:
                    write_sorted(eng, parts, out, fmt=self.fmt, csv_bom=request.csv_bom,
                                 batch_rows=min(self.chunk_size, 100_000))
                feedback, examples = (report_feedback(eng, self.staged.get("feedback"), pd.Timestamp(metadata["as_of"]))
                                      if report is not None else (None, None))
            finally:
                eng.close()
            summary = summary_frame(parts)
            if report is not None:
                write_scoring_report(report, summary, feedback=feedback, drift=drift, metadata=metadata,
                                     examples=examples, lang=request.language, **extras)
        return summary, feedback

    def validated_tables(self) -> dict[str, pd.DataFrame]:
        raise ScoringInputError("evaluating a previous list (--previous-list) reads the new data whole: "
                                "score without --stream, or run `custsat evaluate actions`")

    def surveys(self) -> pd.DataFrame | None:
        """The staged surveys (small: one row per answer), for the drivers of satisfaction."""
        import pyarrow.parquet as pq

        if "surveys" not in self.staged:
            return None
        return pq.read_table(self.staged["surveys"]).to_pandas().sort_values(ROW).drop(columns=[ROW])

    def describe(self) -> dict[str, Any]:
        return {"streamed": True, "chunk_size": int(self.chunk_size), "chunks": int(self.n_chunks),
                "workers": self.pool.workers if self.pool.started else 1,
                **({"worker_peak_rss_mib": {str(pid): peak for pid, peak in sorted(self.pool.peaks.items())}}
                   if self.pool.peaks else {})}
