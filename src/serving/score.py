"""Batch scoring in memory: CRM tables in, one row per customer out (tiers, complaints, churn,
CLV, action). The stages are :mod:`custsat.serving.pipeline`'s; this backend holds every table
as a DataFrame. For inputs larger than memory use ``stream=True`` (:mod:`.stream`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from custsat import tracking
from custsat.data.contracts import validate_tables
from custsat.data.ingest import load_validated
from custsat.models import drift as drift_mod
from custsat.models.text.served import FeedbackLabeller
from custsat.serving.outputs import (
    infer_format,
    order_columns,
    sort_by_priority,
    summary_table,
    write_scored,
    written_together,
)
from custsat.serving.pipeline import (
    CustomerScoring,
    ScoringInputError,
    ScoringModels,
    ScoringRequest,
    ScoringResult,
    check_request,
    count_drift,
    run_scoring,
    score_customers,
)

__all__ = ["InMemoryBackend", "ScoringInputError", "ScoringResult", "score_files", "score_tables"]


class InMemoryBackend:
    """Every table as a DataFrame: read whole, validated once, scored in one call (models apply
    in chunks of ``chunk_size`` customers), on DuckDB or Spark."""

    def __init__(
        self,
        *,
        tables: Mapping[str, pd.DataFrame | None] | None = None,
        paths: Mapping[str, Path] | None = None,
        validate: bool = True,
        unknown_customers: str | None = None,
        input_fingerprints: Mapping[str, str] | None = None,
        engine: str = "duckdb",
    ):
        self.tables: dict[str, pd.DataFrame] = {k: v for k, v in (tables or {}).items() if v is not None}
        self.paths = dict(paths or {})
        self.validate = validate
        self.unknown_customers = unknown_customers
        self.input_fingerprints = input_fingerprints
        self.engine = engine
        self.features: pd.DataFrame | None = None
        self.scored: pd.DataFrame | None = None

    def read_and_validate(self) -> tuple[dict[str, str], dict[str, int]]:
        if self.paths:
            self.tables = load_validated(self.paths, unknown_customers=self.unknown_customers)
        elif self.validate:
            self.tables = validate_tables(self.tables, unknown_customers=self.unknown_customers)
        fingerprints = dict(self.input_fingerprints) if self.input_fingerprints is not None else {
            name: tracking.fingerprint_frames(frame) for name, frame in sorted(self.tables.items())}
        return fingerprints, {name: int(len(frame)) for name, frame in self.tables.items()}

    def latest_events(self) -> list[pd.Timestamp]:
        return [pd.Timestamp(frame["timestamp"].max()) for name in ("transactions", "feedback")
                if (frame := self.tables.get(name)) is not None and len(frame)]

    def label_feedback(self, labeller: FeedbackLabeller) -> None:
        feedback = self.tables.get("feedback")
        if feedback is not None and len(feedback):
            self.tables["feedback"] = labeller.label(feedback)

    def build_features(self, as_of: pd.Timestamp, config: Any) -> int:
        from custsat.features import build_customer_features

        tables = {k: v for k, v in self.tables.items() if k in ("customers", "transactions", "feedback")}
        with warnings.catch_warnings():  # "text models not run" notes: the report says what is missing
            warnings.simplefilter("ignore", category=UserWarning)
            # DuckDB on all cores: its sums are exact, so the list is byte-stable
            self.features = build_customer_features(tables, as_of, engine=self.engine, config=config)
        return len(self.features)

    def score(self, job: CustomerScoring, models: ScoringModels, progress: bool) -> drift_mod.DriftCounter | None:
        assert self.features is not None
        scored = score_customers(self.features, self.tables, job, models, progress=progress)
        self.scored = order_columns(sort_by_priority(scored))
        if job.drift_reference is None:
            return None
        return count_drift(job, self.features)

    def write_outputs(self, request: ScoringRequest, metadata: dict[str, Any], drift: pd.DataFrame | None,
                      extras: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        from custsat.serving.report import write_scoring_report

        assert self.scored is not None
        feedback = self.tables.get("feedback")
        fmt = infer_format(request.out, request.fmt) if request.out is not None else None
        with written_together(request.out, request.report) as (out, report):
            if out is not None:
                write_scored(self.scored, out, fmt=fmt, csv_bom=request.csv_bom, summary=summary_table(self.scored))
            if report is not None:
                write_scoring_report(report, self.scored, feedback=feedback, drift=drift, metadata=metadata, **extras)
        return self.scored, feedback

    def describe(self) -> dict[str, Any]:
        return {}

    def validated_tables(self) -> dict[str, pd.DataFrame]:
        return self.tables

    def surveys(self) -> pd.DataFrame | None:
        return self.tables.get("surveys")


def score_tables(
    tables: Mapping[str, pd.DataFrame | None],
    as_of: Any = None,
    *,
    validate: bool = True,
    input_fingerprints: Mapping[str, str] | None = None,
    **options: Any,
) -> ScoringResult:
    """Score contract tables (validated here unless ``validate=False``); see :class:`ScoringRequest`
    for the options. ``input_fingerprints`` (e.g. of the files) default to fingerprints of the
    validated frames. Raises ``ModelNotFoundError`` (missing champion, naming the model and
    ``make train``), ``SchemaMismatchError`` (features vs. model signature), ``ContractError``
    (invalid inputs) and ``PolicyError`` (invalid policy).
    """
    request = ScoringRequest(as_of=as_of, **options)
    check_request(request)
    backend = InMemoryBackend(tables=tables, validate=validate, input_fingerprints=input_fingerprints,
                              engine=request.engine)
    return run_scoring(backend, request)


def score_files(
    paths: Mapping[str, str | Path],
    *,
    out: str | Path | None = None,
    report: str | Path | None = None,
    unknown_customers: str | None = None,
    stream: bool = False,
    batch_rows: int = 500_000,
    workers: int | None = None,
    work_dir: str | Path | None = None,
    **options: Any,
) -> ScoringResult:
    """Read + validate the files, score, and write the list and the report.

    Input fingerprints are those of the validated tables, so the same data in CSV or Parquet
    gives the same ``scoring_run_id``. ``stream=True`` scores out of core instead, chunk by
    chunk (:class:`custsat.serving.stream.StreamedBackend`; CSV or Parquet output).
    """
    paths = {table: Path(path) for table, path in paths.items() if path is not None}
    request = ScoringRequest(out=Path(out) if out is not None else None,
                             report=Path(report) if report is not None else None, **options)
    check_request(request, paths)
    if not stream:
        if workers is not None:
            raise ScoringInputError("--workers applies to --stream (the default path scores in one process)")
        return run_scoring(InMemoryBackend(paths=paths, unknown_customers=unknown_customers,
                                           engine=request.engine), request)
    from custsat.serving.stream import StreamedBackend

    if request.out is None:
        raise ScoringInputError("streamed scoring writes the list as it goes: give an output file")
    if request.engine != "duckdb":
        raise ScoringInputError("--stream runs on DuckDB; Spark scales out on its own (--engine spark, no --stream)")
    with StreamedBackend(paths, request, unknown_customers=unknown_customers, batch_rows=batch_rows,
                         workers=workers, work_dir=work_dir) as backend:
        return run_scoring(backend, request)
