"""Batch scoring: CRM tables in, one row per customer out (tiers, complaints, churn, CLV, action).

Steps (each a call into another part of custsat; nothing is modelled here):

1. validate the input tables against the data contracts;
2. classify feedback texts that carry no sentiment/topics yet (cached by text hash);
3. build point-in-time customer features as of ``as_of`` (DuckDB or Spark);
4. apply the registered champion churn and CLV models (refused when their input
   signature does not match the features), in chunks of customers or on Spark;
5. assign a recommended action with the policy (first matching rule, with its reason);
6. check feature drift against the churn model's training-time reference (PSI);
7. record the scoring run in MLflow (input fingerprints, model versions, row counts,
   tier distributions).

Time semantics: ``as_of`` is the scoring moment; every feature and signal uses events
strictly before it (a date means its midnight). The default is the day after the latest
transaction or feedback, so that every given event counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.features.builder import events_before
from custsat.models import drift as drift_mod
from custsat.models.text.served import TextModels, classify_feedback_cached, text_cache_path
from custsat.serving.models import CHURN_MODEL, CLV_MODEL, ServedModel, load_served, predict_chunks
from custsat.serving.outputs import order_columns, scoring_run_id, sort_by_priority, top_topics
from custsat.serving.policy import Policy, assign_actions, load_policy

log = logging.getLogger(__name__)

TABLES = ("customers", "transactions", "feedback", "contracts")
FEATURE_COLUMNS_KEPT = (
    "rfm_segment", "abc_class", "value_tier", "lifecycle_stage", "satisfaction_tier", "satisfaction_source",
    "nps_category", "sentiment_mean", "complaints_open", "complaints_total", "recency_days", "frequency",
    "monetary_total", "csat_mean", "nps_last", "negative_share", "days_since_last_negative", "top_negative_topic",
)
#: Churn pyfunc output columns -> scored-list names.
CHURN_RENAME = {"risk_tier": "churn_risk_tier"}
CHURN_KEEP = ("churn_probability", "churn_risk_tier", "churn_reasons")
CLV_KEEP = ("clv", "clv_low", "clv_high", "clv_tier", "expected_remaining_lifetime_days",
            "survival_at_horizon", "expected_spend_horizon")


class ScoringInputError(ValueError):
    """Inputs that cannot be scored (missing files, empty tables)."""


@dataclass
class ScoringResult:
    """Everything one scoring produced (the scored list and what the report needs)."""

    scored: pd.DataFrame
    feedback: pd.DataFrame | None
    drift: pd.DataFrame | None
    metadata: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def run_id(self) -> str:
        return str(self.metadata["scoring_run_id"])


# --------------------------------------------------------------------------- inputs
def resolve_input_paths(
    *,
    input_dir: str | Path | None = None,
    customers: str | Path | None = None,
    transactions: str | Path | None = None,
    feedback: str | Path | None = None,
    contracts: str | Path | None = None,
) -> dict[str, Path]:
    """Input files by table: explicit paths win; others are looked up in ``input_dir``.

    In ``input_dir`` a table is ``<table>.parquet``, ``.csv`` or ``.xlsx`` (first found).
    customers and transactions are required; feedback and contracts optional.
    """
    given = {"customers": customers, "transactions": transactions, "feedback": feedback, "contracts": contracts}
    paths: dict[str, Path] = {}
    for table, path in given.items():
        if path is not None:
            paths[table] = Path(path)
        elif input_dir is not None:
            for suffix in (".parquet", ".csv", ".xlsx"):
                candidate = Path(input_dir) / f"{table}{suffix}"
                if candidate.exists():
                    paths[table] = candidate
                    break
    for table in ("customers", "transactions"):
        if table not in paths:
            where = f" in {input_dir}" if input_dir else ""
            raise ScoringInputError(
                f"no {table} file{where}: pass --{table} FILE or --input-dir with {table}.parquet/.csv/.xlsx "
                "(`make data` writes the synthetic demo to data/raw/synthetic)"
            )
    for table, path in paths.items():
        if not path.exists():
            raise ScoringInputError(f"{table} file {path} does not exist")
    return paths


def load_tables(paths: Mapping[str, str | Path], *, unknown_customers: str | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate the input files against the data contracts."""
    from custsat.data.ingest import load_validated

    return load_validated(dict(paths), unknown_customers=unknown_customers)


def parse_as_of(value: Any) -> pd.Timestamp:
    """A scoring date/time as a naive Timestamp; a clear error for anything else."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ScoringInputError(f"as_of {value!r} is not a date; use YYYY-MM-DD (e.g. 2026-06-30)") from None
    if ts is pd.NaT:
        raise ScoringInputError(f"as_of {value!r} is not a date; use YYYY-MM-DD (e.g. 2026-06-30)")
    return ts.tz_convert(None) if ts.tzinfo is not None else ts


def default_as_of(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    """The day after the latest transaction or feedback event (so every event counts)."""
    latest = []
    for name in ("transactions", "feedback"):
        frame = tables.get(name)
        if frame is not None and len(frame):
            latest.append(pd.Timestamp(frame["timestamp"].max()))
    if not latest:
        raise ScoringInputError("cannot choose as_of: no transactions or feedback; pass --as-of")
    return max(latest).normalize() + pd.Timedelta(days=1)


# --------------------------------------------------------------------------- signals
def feedback_signals(
    feedback: pd.DataFrame | None,
    customer_ids: pd.Index,
    as_of: pd.Timestamp,
    *,
    recent_days: int,
    complaint_max_rating: float = 2.0,
) -> pd.DataFrame:
    """Per customer, from feedback strictly before ``as_of``:

    * ``complaint_topic_<id>`` - complaints (negative sentiment, or rating <= 2 when
      unlabelled) mentioning topic ``<id>``, all time before as_of;
    * ``negative_feedback_recent`` - complaints in ``[as_of - recent_days, as_of)``;
    * ``urgent_complaints_recent`` - of those, the ones with ``urgency == 'high'``.
    """
    out = pd.DataFrame(index=pd.Index(customer_ids, name="customer_id"))
    out["negative_feedback_recent"] = 0
    out["urgent_complaints_recent"] = 0
    if feedback is None or not len(feedback):
        return out
    fb = events_before(feedback, as_of)
    complaint = _is_complaint(fb, complaint_max_rating)
    recent = fb["timestamp"] >= as_of - pd.Timedelta(days=recent_days)
    urgent = fb["urgency"].astype(str).str.lower().eq("high") if "urgency" in fb else pd.Series(False, index=fb.index)
    counts = pd.DataFrame(
        {
            "customer_id": fb["customer_id"].astype(str),
            "negative_feedback_recent": (complaint & recent).astype(int),
            "urgent_complaints_recent": (complaint & recent & urgent).astype(int),
        }
    ).groupby("customer_id").sum()
    counts = counts.reindex(out.index, fill_value=0)
    for col in counts.columns:
        out[col] = counts[col].to_numpy()
    if "topics" in fb:
        topics = fb.loc[complaint, ["customer_id", "topics"]].dropna(subset=["topics"])
        exploded = topics.assign(topic=topics["topics"].astype(str).str.replace(" ", "").str.split(";")).explode("topic")
        exploded = exploded[exploded["topic"].astype(str) != ""]
        if len(exploded):
            table = (
                exploded.groupby([exploded["customer_id"].astype(str), exploded["topic"]]).size()
                .unstack(fill_value=0).reindex(out.index, fill_value=0).astype("int64")
            )
            table.columns = [f"complaint_topic_{c}_count" for c in table.columns]
            out = pd.concat([out, table], axis=1)
    return out.astype({"negative_feedback_recent": "int64", "urgent_complaints_recent": "int64"})


def _is_complaint(fb: pd.DataFrame, complaint_max_rating: float) -> pd.Series:
    sentiment = fb["sentiment"].astype("string").str.lower() if "sentiment" in fb else pd.Series(pd.NA, index=fb.index, dtype="string")
    by_rating = fb["rating"] <= complaint_max_rating if "rating" in fb else pd.Series(False, index=fb.index)
    return (sentiment.eq("negative").fillna(False) | (sentiment.isna() & by_rating.fillna(False))).astype(bool)


# --------------------------------------------------------------------------- models
def clv_input(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, features: pd.DataFrame) -> pd.DataFrame:
    """The CLV pyfunc's input frame, built with the CLV code's own ``build_scoring_frame``.

    The CLV summaries count the ``as_of`` day itself; scoring's ``as_of`` is exclusive, so
    the CLV model gets transactions before ``as_of`` and the last complete day before it.
    Customers without a purchase (prospects) have no purchase summary: the CLV model does
    not score them and their CLV columns stay empty. Returns one row per scored customer,
    indexed by customer_id and with a ``customer_id`` column (the pyfunc's key).
    """
    from custsat.models.clv import build_scoring_frame

    tx = events_before(tables["transactions"], as_of)
    last_day = (as_of - pd.Timedelta(microseconds=1)).normalize()
    frame = build_scoring_frame(tx, last_day, features=features, contracts=tables.get("contracts"))
    frame.index = frame.index.astype(str)
    frame = frame.sort_index()
    frame.index.name = None
    frame.insert(0, "customer_id", frame.index.to_numpy())
    return frame


def _progress_bar(enabled: bool, total: int, label: str):
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
    task = bar.add_task(label, total=total)
    return bar, (lambda n: bar.advance(task, n))


def apply_model(
    served: ServedModel,
    frame: pd.DataFrame,
    *,
    engine: str,
    chunk_size: int,
    progress: bool,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    if engine == "spark":
        from custsat.serving.models import predict_spark

        return predict_spark(served, frame, params=params)
    bar, advance = _progress_bar(progress, len(frame), f"scoring {served.label}")
    if bar is None:
        return predict_chunks(served, frame, chunk_size=chunk_size, params=params)
    with bar:
        return predict_chunks(served, frame, chunk_size=chunk_size, params=params, progress=advance)


# --------------------------------------------------------------------------- pipeline
def score_customers(
    features: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | None],
    as_of: pd.Timestamp,
    *,
    churn: ServedModel,
    clv: ServedModel,
    policy: Policy,
    config,
    engine: str = "duckdb",
    chunk_size: int = 50_000,
    progress: bool = False,
    churn_params: Mapping[str, Any] | None = None,
    language: str = "both",
    timer: _Timer | None = None,
) -> pd.DataFrame:
    """One row per customer of ``features``: kept features, complaint topics, churn, CLV, action.

    Everything here is per customer: ``tables`` (transactions, feedback, contracts) need only
    hold the rows of these customers, so customers can be scored chunk by chunk.
    Rows keep the order of ``features``; model versions and the run id are added by the caller.
    """
    churn_out = apply_model(churn, features, engine=engine, chunk_size=chunk_size, progress=progress, params=churn_params)
    churn_out = churn_out.rename(columns=CHURN_RENAME)
    if timer:
        timer.lap("churn_model")
    # only the features the CLV model reads: joining all of them cost seconds at 1M customers
    wanted = set(clv.input_names)
    clv_features = features[[c for c in features.columns if c == "customer_id" or c in wanted]] if wanted else features
    clv_frame = clv_input(tables, as_of, clv_features)
    clv_out = apply_model(clv, clv_frame, engine=engine, chunk_size=chunk_size, progress=progress)
    if timer:
        timer.lap("clv_model")
    if "customer_id" in clv_out.columns:  # the model's own key wins over row order
        clv_out.index = clv_out.pop("customer_id").astype(str).to_numpy()
    clv_out = clv_out.reindex(features["customer_id"].astype(str).to_numpy())

    signals = feedback_signals(
        tables.get("feedback"), pd.Index(features["customer_id"].astype(str)), as_of,
        recent_days=policy.recent_days, complaint_max_rating=config.complaint_max_rating,
    )
    scored = features[["customer_id", *[c for c in FEATURE_COLUMNS_KEPT if c in features.columns]]].copy()
    complaint_topics = signals.filter(like="complaint_topic_").rename(columns=lambda c: c.replace("complaint_topic_", "topic_"))
    scored["top_topics"] = top_topics(complaint_topics.reset_index(drop=True).set_axis(features.index)) if len(
        complaint_topics.columns) else ""
    scored["negative_feedback_recent"] = signals["negative_feedback_recent"].to_numpy()
    scored["urgent_complaints_recent"] = signals["urgent_complaints_recent"].to_numpy()
    for col in CHURN_KEEP:
        scored[col] = churn_out[col].to_numpy() if col in churn_out else np.nan
    for col in CLV_KEEP:
        scored[col] = clv_out[col].to_numpy() if col in clv_out else np.nan
    actions = assign_actions(scored, policy, language=language)
    return pd.concat([scored, actions], axis=1)


def churn_reason_params(all_reasons: bool, churn_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The churn pyfunc's params: reasons for at-risk customers only unless ``all_reasons``."""
    return {"reasons": "all" if all_reasons else "at_risk", **(churn_params or {})}


def policy_fingerprint(policy: Policy) -> str:
    return hashlib.sha256(json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True).encode()).hexdigest()[:16]


def drifted_features(drift_table: pd.DataFrame | None) -> list[str]:
    """Features whose PSI exceeds the warning level (logged as a warning)."""
    drifted = [] if drift_table is None else drift_table.loc[drift_table["drifted"], "feature"].tolist()
    if drifted:
        log.warning("feature drift (PSI > %.1f) against the churn model's training data: %s", drift_mod.PSI_WARN, drifted)
    return drifted


def run_metadata(
    *,
    run_id: str,
    as_of: pd.Timestamp,
    engine: str,
    model_versions: Mapping[str, str],
    churn: ServedModel,
    clv: ServedModel,
    input_fingerprints: Mapping[str, str],
    policy: Policy,
    row_counts: Mapping[str, int],
    customers_scored: int,
    text_stats: Mapping[str, Any],
    drift_table: pd.DataFrame | None,
) -> dict[str, Any]:
    """What a scoring run records (MLflow, report header), the same for both scoring paths."""
    return {
        "scoring_run_id": run_id,
        "as_of": str(as_of),
        "engine": engine,
        "model_versions": dict(model_versions),
        "models": {CHURN_MODEL: churn.version, CLV_MODEL: clv.version},
        "input_fingerprints": dict(input_fingerprints),
        "policy_fingerprint": policy_fingerprint(policy),
        "row_counts": dict(row_counts),
        "customers_scored": int(customers_scored),
        "text": dict(text_stats),
        "drift_reference": drift_table is not None,
        "drifted_features": drifted_features(drift_table),
        "policy_actions": {a.id: {"en": a.en, "zh": a.zh, "priority": i + 1} for i, a in enumerate(policy.actions)},
    }


def score_tables(
    tables: Mapping[str, pd.DataFrame],
    as_of: Any = None,
    *,
    policy: Policy | str | Path | None = None,
    engine: str = "duckdb",
    chunk_size: int = 50_000,
    text_models: TextModels | None = None,
    text_cache: str | Path | None | bool = True,
    language: str = "both",
    progress: bool = False,
    log_run: bool = True,
    input_fingerprints: Mapping[str, str] | None = None,
    validate: bool = True,
    churn_params: Mapping[str, Any] | None = None,
    all_reasons: bool = False,
) -> ScoringResult:
    """Score validated (or, with ``validate=True``, raw) contract tables; see the module docstring.

    ``text_cache``: True = ``<processed_dir>/text_cache.parquet``, a path, or False/None
    for no cache. Churn reasons are given for medium- and high-risk customers (the ones
    actions are about; TreeSHAP is the costliest scoring step) unless ``all_reasons``.
    ``input_fingerprints`` (e.g. of the files) default to fingerprints of
    the validated frames. Raises ``ModelNotFoundError`` (missing champion, naming the
    model and ``make train``), ``SchemaMismatchError`` (features vs. model signature),
    ``ContractError`` (invalid inputs) and ``PolicyError`` (invalid policy).
    """
    from custsat.features import FeatureConfig

    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine must be 'duckdb' or 'spark', got {engine!r}")
    timer = _Timer()
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    tables = dict(tables)
    if validate:
        from custsat.data.contracts import validate_tables

        tables = validate_tables({k: v for k, v in tables.items() if v is not None})
    as_of = parse_as_of(as_of) if as_of is not None else default_as_of(tables)
    if input_fingerprints is None:
        input_fingerprints = {name: tracking.fingerprint_frames(frame) for name, frame in sorted(tables.items())}

    # Models first: a missing champion should fail before minutes of text classification.
    churn = load_served(CHURN_MODEL)
    clv = load_served(CLV_MODEL)
    timer.lap("validate_and_load_models")

    # 2. feedback texts
    feedback = tables.get("feedback")
    text_stats: dict[str, Any] = {}
    text_versions = {"sentiment_model_version": "none", "topic_model_version": "none"}
    if feedback is not None and len(feedback):
        cache_path = text_cache_path(text_cache)
        feedback, text_stats, text_versions = classify_feedback_cached(
            feedback, text_models, cache_path=cache_path, progress=progress)
        tables["feedback"] = feedback
        if text_stats.get("classified"):
            release_memory()  # the text models are dropped by now; the later stages need the room
    timer.lap("classify_text")

    # 3. features
    config = FeatureConfig()
    feature_tables = {k: v for k, v in tables.items() if k in ("customers", "transactions", "feedback") and v is not None}
    if "feedback" not in feature_tables:
        feature_tables["feedback"] = _empty_feedback()
    features = _build_features(feature_tables, as_of, engine=engine, config=config)
    if features.empty:
        raise ScoringInputError(f"no customers are known at as_of={as_of} (all signed up later?)")
    timer.lap("features")

    # 4.-5. models, signals, tiers and actions
    churn_params = churn_reason_params(all_reasons, churn_params)
    scored = score_customers(
        features, tables, as_of, churn=churn, clv=clv, policy=policy, config=config, engine=engine,
        chunk_size=chunk_size, progress=progress, churn_params=churn_params, language=language, timer=timer,
    )
    model_versions = {
        "sentiment_model_version": text_versions["sentiment_model_version"],
        "topic_model_version": text_versions["topic_model_version"],
        "churn_model_version": churn.version,
        "clv_model_version": clv.version,
    }
    for key, value in model_versions.items():
        scored[key] = str(value)
    run_id = scoring_run_id(input_fingerprints, model_versions, as_of, policy_fingerprint(policy))
    scored["scoring_run_id"] = run_id
    scored = order_columns(sort_by_priority(scored))

    timer.lap("signals_and_actions")

    # 6. drift
    reference = drift_mod.find_reference(churn.model)
    drift_table = drift_mod.psi_table(reference, features) if reference else None
    metadata = run_metadata(
        run_id=run_id, as_of=as_of, engine=engine, model_versions=model_versions, churn=churn, clv=clv,
        input_fingerprints=input_fingerprints, policy=policy,
        row_counts={name: int(len(frame)) for name, frame in tables.items() if frame is not None},
        customers_scored=len(scored), text_stats=text_stats, drift_table=drift_table,
    )
    timer.lap("drift")
    metadata["stage_seconds"] = timer.laps
    metadata["stage_peak_rss_mib"] = timer.peaks
    result = ScoringResult(scored=scored, feedback=tables.get("feedback"), drift=drift_table, metadata=metadata)
    if log_run:
        result.mlflow_run_id = log_scoring_run(result)
        timer.lap("mlflow_log")
    return result


class _Timer:
    """Wall-clock seconds per scoring stage and the process's peak memory at its end (MiB, so
    the stage that raised it shows); reported in metadata, never written into outputs."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._last = self._clock()
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._clock()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
        peak = peak_rss_mib()
        if peak is not None:
            self.peaks[name] = peak


def release_memory() -> None:
    """Collect cyclic garbage and hand freed heap back to the OS.

    glibc keeps freed memory in per-thread arenas, and the text stage (torch and ONNX Runtime
    threads) leaves a lot there, on top of what the later stages need. ``malloc_trim`` is
    glibc-only: elsewhere this only collects garbage.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the OS does not say).

    On Linux it is the address space's high-water mark (``VmHWM``), which starts afresh in a
    new program; ``getrusage`` would carry over the peak of the process that started it.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # bytes on macOS, KiB on Linux


def _build_features(tables, as_of, *, engine: str, config) -> pd.DataFrame:
    """Customer features (DuckDB on all cores: its sums are exact, so the list is byte-stable)."""
    from custsat.features import build_customer_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return build_customer_features(tables, as_of, engine=engine, config=config)


def _empty_feedback() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_id": pd.Series(dtype=object),
            "customer_id": pd.Series(dtype=object),
            "timestamp": pd.Series(dtype="datetime64[ns]"),
            "channel": pd.Series(dtype=object),
            "text": pd.Series(dtype=object),
        }
    )


def tier_distributions(scored: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for col in ("value_tier", "churn_risk_tier", "clv_tier", "satisfaction_tier", "lifecycle_stage", "abc_class",
                "nps_category", "action_id"):
        if col in scored:
            counts = scored[col].astype(object).where(scored[col].notna(), "missing").value_counts().sort_index()
            out[col] = {str(k): int(v) for k, v in counts.items()}
    return out


def log_scoring_run(result: ScoringResult) -> str:
    """Record the scoring in MLflow (experiment custsat-scoring); return the MLflow run id."""
    import mlflow

    meta = result.metadata
    scored = result.scored
    fingerprint = hashlib.sha256(json.dumps(meta["input_fingerprints"], sort_keys=True).encode()).hexdigest()[:16]
    params = {
        "as_of": meta["as_of"],
        "engine": meta["engine"],
        "scoring_run_id": meta["scoring_run_id"],
        "policy_fingerprint": meta["policy_fingerprint"],
        **{f"input_{k}": v for k, v in meta["input_fingerprints"].items()},
        **meta["model_versions"],
    }
    tags = {"scoring_run_id": meta["scoring_run_id"]}
    with tracking.start_run("scoring", run_name=meta["scoring_run_id"], data_fingerprint=fingerprint, tags=tags, params=params) as run:
        metrics: dict[str, float] = {f"rows_{k}": float(v) for k, v in meta["row_counts"].items()}
        metrics["customers_scored"] = float(len(scored))
        tiers = tier_distributions(scored)
        for col, counts in tiers.items():
            for key, value in counts.items():
                metrics[f"n_{col}_{_slug(key)}"] = float(value)
        if "clv" in scored and "churn_probability" in scored:
            metrics["clv_total"] = float(scored["clv"].fillna(0).sum())
            metrics["value_at_risk"] = float((scored["clv"].fillna(0) * scored["churn_probability"].fillna(0)).sum())
            metrics["churn_probability_mean"] = float(scored["churn_probability"].mean())
        for key, value in meta.get("text", {}).items():
            metrics[f"text_{key}"] = float(value)
        if result.drift is not None:
            metrics["drift_max_psi"] = float(result.drift["psi"].max())
            metrics["drift_n_features_over_0_2"] = float(result.drift["drifted"].sum())
            mlflow.log_dict(json.loads(result.drift.to_json(orient="records")), "drift_psi.json")
        mlflow.log_metrics(metrics)
        mlflow.log_dict({**meta, "tier_distributions": tiers}, "scoring_summary.json")
        return run.info.run_id


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_").lower() or "x"


def score_files(
    paths: Mapping[str, str | Path],
    *,
    out: str | Path | None = None,
    fmt: str | None = None,
    report: str | Path | None = None,
    csv_bom: bool = False,
    as_of: Any = None,
    unknown_customers: str | None = None,
    stream: bool = False,
    **kwargs: Any,
) -> ScoringResult:
    """Read + validate the files, score (see :func:`score_tables`), write the list and report.

    Input fingerprints are those of the validated tables, so the same data in CSV or
    Parquet gives the same ``scoring_run_id``. ``stream=True`` scores out of core instead,
    chunk by chunk (:func:`custsat.serving.stream.score_stream`; CSV or Parquet output).
    """
    import time

    if stream:
        from custsat.serving.stream import score_stream

        if out is None:
            raise ScoringInputError("streamed scoring writes the list as it goes: give an output file")
        if kwargs.pop("engine", "duckdb") != "duckdb":
            raise ScoringInputError("--stream runs on DuckDB; Spark scales out on its own (--engine spark, no --stream)")
        return score_stream(paths, out=out, fmt=fmt, report=report, csv_bom=csv_bom, as_of=as_of,
                            unknown_customers=unknown_customers, **kwargs)

    from custsat.serving.outputs import summary_table, write_scored
    from custsat.serving.report import write_report

    start = time.perf_counter()
    tables = load_tables(paths, unknown_customers=unknown_customers)
    read_seconds = round(time.perf_counter() - start, 3)
    read_peak = peak_rss_mib()
    result = score_tables(tables, as_of, validate=False, **kwargs)
    start = time.perf_counter()
    if out is not None:
        write_scored(result.scored, out, fmt=fmt, csv_bom=csv_bom, summary=summary_table(result.scored))
    if report is not None:
        write_report(report, result.scored, feedback=result.feedback, drift=result.drift, metadata=result.metadata)
    result.metadata["stage_seconds"] = {
        "read_and_validate": read_seconds, **result.metadata.get("stage_seconds", {}),
        "write_outputs": round(time.perf_counter() - start, 3),
    }
    result.metadata["stage_peak_rss_mib"] = {
        "read_and_validate": read_peak, **result.metadata.get("stage_peak_rss_mib", {}), "write_outputs": peak_rss_mib(),
    }
    return result
