"""The scoring pipeline: one list of stages, run by two backends (in memory, streamed).

Stages (:func:`run_scoring`), each a call into another part of custsat; nothing is modelled here:

1. **outputs checked**: the list and report paths can be written and are none of the inputs;
2. **inputs**: the tables are read and validated against the data contracts (the backend
   decides how: whole tables in memory, or batch by batch into a work folder);
3. **as_of**: given, or the day after the latest transaction or feedback event;
4. **models**: the registered champion churn and CLV models are loaded (before the costly
   stages, so a missing champion fails at once);
5. **text**: feedback texts that carry no sentiment/topics yet are classified (cached by hash);
6. **features**: point-in-time customer features as of ``as_of`` (DuckDB or Spark);
7. **customers**: churn, CLV, complaint signals and the policy's action for each customer
   (:func:`score_customers`: one function, called on all customers or chunk by chunk), with
   the feature drift against the churn model's training reference counted on the way;
8. **outputs**: the list sorted by action priority, and the HTML report;
9. **record**: the scoring run in MLflow (input fingerprints, model versions, row counts,
   tier distributions, drift).

Time semantics: ``as_of`` is the scoring moment; every feature and signal uses events
strictly before it (a date means its midnight).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from custsat import tracking
from custsat.features.builder import events_before
from custsat.features.labels import in_churn_population
from custsat.features.signals import feedback_signals
from custsat.models import drift as drift_mod
from custsat.models.registry import CHURN_MODEL, CLV_MODEL, UPLIFT_MODEL_PREFIX, uplift_model_name
from custsat.models.text.served import FeedbackLabeller, TextModels, text_cache_path
from custsat.serving.campaigns import assign_treatment, default_campaign_id
from custsat.serving.models import ServedModel, load_served, predict_chunks
from custsat.serving.outputs import prepare_output, scoring_run_id, top_topics
from custsat.serving.policy import Policy, assign_actions, load_policy

log = logging.getLogger(__name__)

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
ENGINES = ("duckdb", "spark")


class ScoringInputError(ValueError):
    """Inputs that cannot be scored (missing files, empty tables, unusable options)."""


@dataclass
class ScoringResult:
    """Everything one scoring produced (the scored list, or its summary columns when streamed,
    and what the report needs)."""

    scored: pd.DataFrame
    feedback: pd.DataFrame | None
    drift: pd.DataFrame | None
    metadata: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def run_id(self) -> str:
        return str(self.metadata["scoring_run_id"])


@dataclass
class ScoringRequest:
    """What to score and how: the options both backends share.

    ``text_cache``: True = ``<processed_dir>/text_cache.parquet``, a path, or False/None for
    no cache. Churn reasons are given for medium- and high-risk customers (the ones actions are
    about; TreeSHAP is the costliest scoring step) unless ``all_reasons``.
    """

    as_of: Any = None
    policy: Policy | str | Path | None = None
    engine: str = "duckdb"
    chunk_size: int = 50_000
    text_models: TextModels | None = None
    text_cache: str | Path | None | bool = True
    language: str = "both"
    progress: bool = False
    log_run: bool = True
    churn_params: Mapping[str, Any] | None = None
    all_reasons: bool = False
    campaign_id: str | None = None
    previous_list: Path | None = None
    outcome_window_days: int = 90
    out: Path | None = None
    fmt: str | None = None
    report: Path | None = None
    csv_bom: bool = False

    def resolved_policy(self) -> Policy:
        return self.policy if isinstance(self.policy, Policy) else load_policy(self.policy)


@dataclass(frozen=True)
class ScoringModels:
    """The exact model versions one scoring run uses."""

    churn: ServedModel
    clv: ServedModel
    #: champions of ``custsat-uplift-<action>`` for the policy's actions, when there are any
    uplift: tuple[ServedModel, ...] = ()

    def all(self) -> tuple[ServedModel, ...]:
        return (self.churn, self.clv, *self.uplift)

    @classmethod
    def from_served(cls, served: Sequence[ServedModel]) -> ScoringModels:
        """The inverse of :meth:`all`."""
        return cls(churn=served[0], clv=served[1], uplift=tuple(served[2:]))


@dataclass(frozen=True)
class CustomerScoring:
    """Everything :func:`score_customers` needs besides the customers (picklable for workers)."""

    as_of: pd.Timestamp
    policy: Policy
    config: Any
    chunk_size: int
    churn_params: Mapping[str, Any]
    language: str
    model_versions: Mapping[str, str]
    run_id: str
    drift_reference: Mapping[str, Any] | None
    campaign_id: str
    engine: str = "duckdb"


class ScoringBackend(Protocol):
    """How the stages reach the data: whole tables in memory, or files in a work folder."""

    def read_and_validate(self) -> tuple[dict[str, str], dict[str, int]]: ...
    def latest_events(self) -> list[pd.Timestamp]: ...
    def label_feedback(self, labeller: FeedbackLabeller) -> None: ...
    def build_features(self, as_of: pd.Timestamp, config: Any) -> int: ...
    def score(self, job: CustomerScoring, models: ScoringModels, progress: bool) -> drift_mod.DriftCounter | None: ...
    def write_outputs(self, request: ScoringRequest, metadata: dict[str, Any], drift: pd.DataFrame | None,
                      extras: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]: ...
    def describe(self) -> dict[str, Any]: ...
    def validated_tables(self) -> dict[str, pd.DataFrame]: ...
    def surveys(self) -> pd.DataFrame | None: ...


# --------------------------------------------------------------------------- stages


def check_request(request: ScoringRequest, inputs: Mapping[str, Path] | None = None) -> None:
    """Refuse an unknown engine, and output paths that would overwrite an input."""
    if request.engine not in ENGINES:
        raise ValueError(f"engine must be 'duckdb' or 'spark', got {request.engine!r}")
    if request.language not in ("zh", "en", "both"):
        raise ScoringInputError(f"--lang must be zh, en or both, got {request.language!r}")
    outputs = {"--out": request.out, "--report": request.report}
    given = {name: Path(path).resolve() for name, path in outputs.items() if path is not None}
    for table, path in (inputs or {}).items():
        for name, target in given.items():
            if target == Path(path).resolve():
                raise ScoringInputError(f"{name} {target} is the {table} input: choose another output path")
    if len(given) == 2 and given["--out"] == given["--report"]:
        raise ScoringInputError("--out and --report name the same file")
    for name, target in given.items():
        try:
            prepare_output(target)
        except OSError as error:
            raise ScoringInputError(f"{name} {target} cannot be written: {error.strerror or error}") from None


def parse_as_of(value: Any) -> pd.Timestamp:
    """A scoring date/time as a naive Timestamp; a clear error for anything else."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ScoringInputError(f"as_of {value!r} is not a date; use YYYY-MM-DD (e.g. 2026-06-30)") from None
    if ts is pd.NaT:
        raise ScoringInputError(f"as_of {value!r} is not a date; use YYYY-MM-DD (e.g. 2026-06-30)")
    return ts.tz_convert(None) if ts.tzinfo is not None else ts


def resolve_as_of(given: Any, latest_events: list[pd.Timestamp]) -> pd.Timestamp:
    """``given``, or the day after the latest transaction or feedback event (so every event counts)."""
    if given is not None:
        return parse_as_of(given)
    if not latest_events:
        raise ScoringInputError("cannot choose as_of: no transactions or feedback; pass --as-of")
    return max(latest_events).normalize() + pd.Timedelta(days=1)


def load_scoring_models(policy: Policy | None = None) -> ScoringModels:
    """The champion churn and CLV models, and the uplift champion of each of the policy's
    actions that has one, pinned to their versions for the whole run."""
    uplift = ()
    if policy is not None:
        names = [uplift_model_name(a.id) for a in policy.actions]
        uplift = tuple(load_served(n) for n in names if tracking.champion_version(n) is not None)
    return ScoringModels(churn=load_served(CHURN_MODEL), clv=load_served(CLV_MODEL), uplift=uplift)


def uplift_action(served: ServedModel) -> str:
    return served.name.removeprefix(UPLIFT_MODEL_PREFIX)


def churn_reason_params(all_reasons: bool, churn_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The churn pyfunc's params: reasons for at-risk customers only unless ``all_reasons``."""
    return {"reasons": "all" if all_reasons else "at_risk", **(churn_params or {})}


def policy_fingerprint(policy: Policy) -> str:
    return hashlib.sha256(json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True).encode()).hexdigest()[:16]


def model_version_columns(text_versions: Mapping[str, str], models: ScoringModels) -> dict[str, str]:
    return {
        "sentiment_model_version": text_versions["sentiment_model_version"],
        "topic_model_version": text_versions["topic_model_version"],
        "churn_model_version": models.churn.version,
        "clv_model_version": models.clv.version,
        **{f"uplift_{uplift_action(m)}_model_version": m.version for m in models.uplift},
    }


# --------------------------------------------------------------------------- customers


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


def progress_bar(enabled: bool, total: int, label: str):
    """A rich progress bar and its ``advance(n)``, or (None, None) when disabled."""
    if not enabled:
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   transient=False)
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
    bar, advance = progress_bar(progress, len(frame), f"scoring {served.label}")
    if bar is None:
        return predict_chunks(served, frame, chunk_size=chunk_size, params=params)
    with bar:
        return predict_chunks(served, frame, chunk_size=chunk_size, params=params, progress=advance)


def score_customers(
    features: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | None],
    job: CustomerScoring,
    models: ScoringModels,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per customer of ``features``: kept features, complaint topics, churn, CLV, action,
    model versions and the run id.

    Everything here is per customer: ``tables`` (transactions, feedback, contracts) need only
    hold the rows of these customers, so customers can be scored chunk by chunk.
    Rows keep the order of ``features``.
    """
    churn_out = apply_model(models.churn, features, engine=job.engine, chunk_size=job.chunk_size,
                            progress=progress, params=job.churn_params).rename(columns=CHURN_RENAME)
    # only the features the CLV model reads: joining all of them cost seconds at 1M customers
    wanted = set(models.clv.input_names)
    clv_features = features[[c for c in features.columns if c == "customer_id" or c in wanted]] if wanted else features
    clv_frame = clv_input(tables, job.as_of, clv_features)
    clv_out = apply_model(models.clv, clv_frame, engine=job.engine, chunk_size=job.chunk_size, progress=progress)
    if "customer_id" in clv_out.columns:  # the model's own key wins over row order
        clv_out.index = clv_out.pop("customer_id").astype(str).to_numpy()
    clv_out = clv_out.reindex(features["customer_id"].astype(str).to_numpy())

    signals = feedback_signals(
        tables.get("feedback"), pd.Index(features["customer_id"].astype(str)), job.as_of,
        recent_days=job.policy.recent_days, complaint_max_rating=job.config.complaint_max_rating,
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
    for served in models.uplift:  # before the actions: the policy's rules may read them
        action = uplift_action(served)
        uplift = apply_model(served, features, engine=job.engine, chunk_size=job.chunk_size, progress=progress)
        scored[f"uplift_{action}"] = uplift["uplift"].to_numpy()
        scored[f"expected_saved_value_{action}"] = scored[f"uplift_{action}"] * scored["clv"].astype(float)
    actions = assign_actions(scored, job.policy, language=job.language)
    scored = pd.concat([scored, actions], axis=1)
    # control groups: a deterministic share of each action's customers gets the default action
    scored = assign_treatment(scored, job.policy, job.campaign_id, campaign_start=job.as_of, language=job.language)
    for key, value in job.model_versions.items():
        scored[key] = str(value)
    scored["scoring_run_id"] = job.run_id
    return scored


def count_drift(job: CustomerScoring, features: pd.DataFrame) -> drift_mod.DriftCounter | None:
    """Drift bin counts of the customers the churn model was trained on (see
    :func:`custsat.features.labels.in_churn_population`); None without a reference."""
    if job.drift_reference is None:
        return None
    return drift_mod.DriftCounter(job.drift_reference).update(features[in_churn_population(features, job.config)])


def what_works(request: ScoringRequest, backend: ScoringBackend, metadata: dict[str, Any]) -> dict[str, Any]:
    """The report's evidence sections: the effects of the previous list's actions, measured on
    this scoring's data (``previous_list``), and the drivers of satisfaction when the data hold
    a surveys table with attribute ratings."""
    extras: dict[str, Any] = {}
    tables = backend.validated_tables() if request.previous_list is not None else None
    if request.previous_list is not None:
        from custsat.serving.evaluate_actions import evaluate_actions

        extras["action_evaluation"] = evaluate_actions(
            request.previous_list, None, request.outcome_window_days, tables=tables, log_run=request.log_run)
        metadata["previous_list"] = str(request.previous_list)
    surveys = backend.surveys()
    if surveys is not None and len(surveys):
        from custsat.models.drivers import DriversInputError
        from custsat.serving.evaluate_drivers import evaluate_drivers

        try:
            extras["drivers"] = evaluate_drivers(surveys, log_run=request.log_run).analysis
        except DriversInputError as error:  # a surveys table without attribute ratings: nothing to analyse
            log.warning("drivers of satisfaction not analysed: %s", error)
    return extras


# --------------------------------------------------------------------------- record


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
    models: ScoringModels,
    input_fingerprints: Mapping[str, str],
    policy: Policy,
    row_counts: Mapping[str, int],
    customers_scored: int,
    text_stats: Mapping[str, Any],
    drift_table: pd.DataFrame | None,
    campaign_id: str,
) -> dict[str, Any]:
    """What a scoring run records (MLflow, report header)."""
    return {
        "scoring_run_id": run_id,
        "as_of": str(as_of),
        "engine": engine,
        "model_versions": dict(model_versions),
        "models": {m.name: m.version for m in models.all()},
        "input_fingerprints": dict(input_fingerprints),
        "policy_fingerprint": policy_fingerprint(policy),
        "row_counts": dict(row_counts),
        "customers_scored": int(customers_scored),
        "text": dict(text_stats),
        "drift_reference": drift_table is not None,
        "drifted_features": drifted_features(drift_table),
        "policy_actions": {a.id: {"en": a.en, "zh": a.zh, "priority": i + 1} for i, a in enumerate(policy.actions)},
        "campaign_id": campaign_id,
    }


def tier_distributions(scored: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for col in ("value_tier", "churn_risk_tier", "clv_tier", "satisfaction_tier", "lifecycle_stage", "abc_class",
                "nps_category", "action_id", "treatment_group", "intended_action_id"):
        if col in scored:
            counts = scored[col].astype(object).where(scored[col].notna(), "missing").value_counts().sort_index()
            out[col] = {str(k): int(v) for k, v in counts.items()}
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_").lower() or "x"


def log_scoring_run(result: ScoringResult) -> str:
    """Record the scoring in MLflow (experiment custsat-scoring); return the MLflow run id."""
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
    with tracking.start_run("scoring", run_name=meta["scoring_run_id"], data_fingerprint=fingerprint, tags=tags,
                            params=params) as run:
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
            tracking.log_dict(json.loads(result.drift.to_json(orient="records")), "drift_psi.json")
        tracking.log_metrics(metrics)
        tracking.log_dict({**meta, "tier_distributions": tiers}, "scoring_summary.json")
        return run.info.run_id


class StageTimer:
    """Wall-clock seconds per scoring stage and the process's peak memory at its end (MiB, so
    the stage that raised it shows); reported in metadata, never written into outputs."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
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


# --------------------------------------------------------------------------- the pipeline


def run_scoring(backend: ScoringBackend, request: ScoringRequest) -> ScoringResult:
    """Run every stage (see the module docstring) on ``backend``; write outputs when asked."""
    from custsat.features import FeatureConfig

    timer = StageTimer()
    policy = request.resolved_policy()
    fingerprints, row_counts = backend.read_and_validate()
    as_of = resolve_as_of(request.as_of, backend.latest_events())
    timer.lap("read_and_validate")
    models = load_scoring_models(policy)
    timer.lap("load_models")

    labeller = FeedbackLabeller(request.text_models, cache_path=text_cache_path(request.text_cache),
                                progress=request.progress)
    backend.label_feedback(labeller)
    if labeller.stats.get("classified"):
        release_memory()  # the text models are dropped by now; the later stages need the room
    timer.lap("classify_text")

    config = FeatureConfig()
    n_customers = backend.build_features(as_of, config)
    if not n_customers:
        raise ScoringInputError(f"no customers are known at as_of={as_of} (all signed up later?)")
    timer.lap("features")

    model_versions = model_version_columns(labeller.versions, models)
    run_id = scoring_run_id(fingerprints, model_versions, as_of, policy_fingerprint(policy))
    job = CustomerScoring(
        as_of=as_of, policy=policy, config=config, chunk_size=request.chunk_size,
        churn_params=churn_reason_params(request.all_reasons, request.churn_params), language=request.language,
        model_versions=model_versions, run_id=run_id, drift_reference=drift_mod.find_reference(models.churn.model),
        campaign_id=request.campaign_id or default_campaign_id(as_of), engine=request.engine,
    )
    drift_counter = backend.score(job, models, request.progress)
    drift_table = drift_counter.table() if drift_counter is not None else None
    timer.lap("score_customers")

    metadata = run_metadata(
        run_id=run_id, as_of=as_of, engine=request.engine, model_versions=model_versions, models=models,
        input_fingerprints=fingerprints, policy=policy, row_counts=row_counts, customers_scored=n_customers,
        text_stats=labeller.stats, drift_table=drift_table, campaign_id=job.campaign_id,
    )
    metadata.update(backend.describe())
    extras = what_works(request, backend, metadata)
    timer.lap("what_works")
    scored, feedback = backend.write_outputs(request, metadata, drift_table, extras)
    timer.lap("write_outputs")
    metadata["stage_seconds"] = timer.laps
    metadata["stage_peak_rss_mib"] = timer.peaks
    result = ScoringResult(scored=scored, feedback=feedback, drift=drift_table, metadata=metadata)
    if request.log_run:
        result.mlflow_run_id = log_scoring_run(result)
    return result
