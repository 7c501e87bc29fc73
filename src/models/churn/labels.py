"""Churn training frames: labels, snapshots, leakage guards and the split by time.

A training frame has one row per customer and snapshot date ``as_of``. Features use only
events strictly before ``as_of``; the label ``churned`` describes the window
``[as_of, as_of + horizon_days)`` (built by :mod:`custsat.features`). Validation is by
time, never a random split across time for the same customer: the latest snapshot
validates, the latest-but-one is the held-out fold (early stopping, search, calibration),
earlier snapshots train. A prepared single-snapshot table (e.g. Telco) is split
stratified instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

LABEL = "churned"
ID_COLUMN = "customer_id"
TIME_COLUMN = "as_of"
#: Columns of a training frame that are bookkeeping, never features.
META_COLUMNS: tuple[str, ...] = (
    "label_window_start",
    "label_window_end",
    "label_end",
    "feature_time",
    "max_event_time",
    "horizon_days",
    "exclusion_reason",
    "excluded",
)
#: Columns that, when present, must be strictly before ``as_of`` (leakage guard).
FEATURE_TIME_COLUMNS: tuple[str, ...] = ("feature_time", "max_event_time", "last_event_time")
TIERS: tuple[str, str, str] = ("high", "medium", "low")
class ChurnDataError(ValueError):
    """The training data cannot produce a trustworthy churn model (nothing is registered)."""


_TRUE = {"1", "true", "yes", "y", "t", "churn", "churned"}
_FALSE = {"0", "false", "no", "n", "f", "retained", "stayed", "active"}


def coerce_binary_label(
    series: pd.Series, *, column: str = LABEL, source: str = "training data"
) -> pd.Series:
    """Map a label column to 0/1 integers (missing stays NaN as float).

    Accepts bool, 0/1 numbers, and text such as Yes/No, True/False, 1/0 (case-insensitive).
    Anything else raises :class:`ChurnDataError` naming the unexpected values.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64")
        bad = values.notna() & ~values.isin([0.0, 1.0])
    else:
        text = series.astype("string").str.strip().str.lower()
        values = pd.Series(
            np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, np.nan)),
            index=series.index,
        )
        bad = series.notna() & values.isna() & (text.fillna("") != "")
    if bad.any():
        examples = sorted(map(str, series[bad].unique()))[:5]
        raise ChurnDataError(
            f"{source}: label column '{column}' must be binary (0/1, true/false, yes/no); "
            f"found {examples} in {int(bad.sum())} row(s), e.g. rows {list(series.index[bad][:5])}"
        )
    return values


def _examples(frame: pd.DataFrame, mask: pd.Series, columns: Sequence[str], n: int = 5) -> str:
    cols = [c for c in columns if c in frame.columns]
    return frame.loc[mask, cols].head(n).to_string(index=False)


@dataclass
class PreparedFrame:
    """A validated training frame: 0/1 label, feature list and what was excluded."""

    frame: pd.DataFrame
    features: list[str]
    label: str
    id_column: str | None
    time_column: str | None
    exclusions: dict[str, int] = field(default_factory=dict)


def prepare_training_frame(
    frame: pd.DataFrame,
    *,
    label: str = LABEL,
    id_column: str | None = ID_COLUMN,
    time_column: str | None = TIME_COLUMN,
    exclude: Sequence[str] = (),
    source: str = "training data",
) -> PreparedFrame:
    """Validate a training frame and split its columns into label, keys and features.

    Refuses (``ChurnDataError``): missing label/id/time column; rows without a label removed
    and nothing left; a label with one class; duplicate ids within one snapshot; features
    dated at or after ``as_of`` (``feature_time``/``max_event_time``/``last_event_time``
    columns) or an ``as_of`` after ``label_window_start``; a feature that is entirely null;
    a feature that copies the label (target leakage).
    """
    for needed, what in ((label, "label"), (id_column, "id"), (time_column, "time")):
        if needed is not None and needed not in frame.columns:
            raise ChurnDataError(
                f"{source}: {what} column '{needed}' not found; columns are {list(frame.columns)[:30]}"
            )
    frame = frame.copy()
    exclusions: dict[str, int] = {}
    y = coerce_binary_label(frame[label], column=label, source=source)
    unlabeled = y.isna()
    if unlabeled.any():
        exclusions["missing_label"] = int(unlabeled.sum())
        frame, y = frame.loc[~unlabeled], y[~unlabeled]
    if frame.empty:
        raise ChurnDataError(
            f"{source}: the training set is empty after exclusions ({exclusions or 'no rows in input'}); "
            "check the as_of dates and the label horizon"
        )
    frame[label] = y.astype(int)
    if frame[label].nunique() < 2:
        raise ChurnDataError(
            f"{source}: label column '{label}' has a single class ({int(frame[label].iloc[0])}) in all "
            f"{len(frame)} rows; a churn model needs churned and retained customers"
        )
    if time_column is not None:
        frame[time_column] = pd.to_datetime(frame[time_column])
    if id_column is not None:
        keys = [id_column] + ([time_column] if time_column else [])
        dup = frame.duplicated(keys, keep=False)
        if dup.any():
            where = "within one snapshot" if time_column else "in the table"
            raise ChurnDataError(
                f"{source}: id column '{id_column}' has {int(dup.sum())} duplicated row(s) {where}, e.g.\n"
                f"{_examples(frame, dup, keys)}"
            )
    if time_column is not None:
        _leakage_guard(frame, time_column, source)
    skip = {label, id_column, time_column, *META_COLUMNS, *exclude} - {None}
    features = [c for c in frame.columns if c not in skip]
    if not features:
        raise ChurnDataError(f"{source}: no feature columns left after removing {sorted(skip)}")
    all_null = [c for c in features if frame[c].isna().all()]
    if all_null:
        raise ChurnDataError(
            f"{source}: feature column(s) {all_null} are entirely null in all {len(frame)} rows; "
            "fix the feature build or exclude them"
        )
    copies = _label_copies(frame, features, label)
    if copies:
        raise ChurnDataError(
            f"{source}: feature column(s) {copies} determine label '{label}' exactly (target leakage); "
            "exclude them (e.g. `--exclude " + " --exclude ".join(copies) + "`)"
        )
    return PreparedFrame(frame, features, label, id_column, time_column, exclusions)


def _leakage_guard(frame: pd.DataFrame, time_column: str, source: str) -> None:
    as_of = frame[time_column]
    for column in [
        c for c in frame.columns if c in FEATURE_TIME_COLUMNS or c.endswith("_event_time")
    ]:
        stamp = pd.to_datetime(frame[column])
        late = stamp.notna() & (stamp >= as_of)
        if late.any():
            raise ChurnDataError(
                f"{source}: leakage guard: {int(late.sum())} row(s) have '{column}' at or after "
                f"'{time_column}' (features must use events strictly before the snapshot), e.g.\n"
                f"{_examples(frame, late, [ID_COLUMN, time_column, column])}"
            )
    if "label_window_start" in frame.columns:
        start = pd.to_datetime(frame["label_window_start"])
        late = start.notna() & (as_of > start)
        if late.any():
            raise ChurnDataError(
                f"{source}: leakage guard: {int(late.sum())} row(s) have '{time_column}' after "
                f"'label_window_start' (features would overlap the label window), e.g.\n"
                f"{_examples(frame, late, [ID_COLUMN, time_column, 'label_window_start'])}"
            )


def _label_copies(
    frame: pd.DataFrame, features: Sequence[str], label: str, max_levels: int = 10
) -> list[str]:
    """Features with ≤ ``max_levels`` distinct values, each value mapping to one label class."""
    out = []
    y = frame[label]
    for column in features:
        values = frame[column]
        if values.nunique(dropna=False) > max_levels or values.nunique(dropna=False) < 2:
            continue
        key = values.astype("object").where(values.notna(), "__nan__").astype(str)
        if (y.groupby(key).nunique() == 1).all():
            out.append(column)
    return out


# --------------------------------------------------------------------------- splits


@dataclass
class SnapshotSplit:
    """Training, held-out fold (None: carved from training in ``fit``) and validation rows."""

    train: pd.DataFrame
    fold: pd.DataFrame | None
    valid: pd.DataFrame
    description: dict[str, Any]


def split_by_time(prepared: PreparedFrame, horizon_days: int | None = None) -> SnapshotSplit:
    """Latest snapshot = validation, latest-but-one = held-out fold, earlier = training.

    With exactly two snapshots the fold is carved (by customer) from the earlier one inside
    :meth:`ChurnModel.fit`. Warns when a training label window reaches past the validation
    ``as_of`` (label windows overlap in time; no row-level leakage, but optimistic).
    """
    frame, t = prepared.frame, prepared.time_column
    assert t is not None
    snapshots = sorted(frame[t].unique())
    if len(snapshots) < 2:
        raise ChurnDataError(
            f"time-based validation needs at least 2 '{t}' snapshots, got {[str(s)[:10] for s in snapshots]}"
        )
    valid = frame[frame[t] == snapshots[-1]]
    if len(snapshots) >= 3:
        fold = frame[frame[t] == snapshots[-2]]
        train = frame[frame[t] < snapshots[-2]]
    else:
        fold, train = None, frame[frame[t] == snapshots[0]]
    description = {
        "split": "time",
        "train_as_of": ",".join(str(s)[:10] for s in sorted(train[t].unique())),
        "fold_as_of": str(snapshots[-2])[:10] if fold is not None else "carved from train",
        "valid_as_of": str(snapshots[-1])[:10],
    }
    if horizon_days is not None:
        # The fold (latest-but-one) also shapes the model: its label window must end by the validation as_of.
        last_train_label_end = pd.Timestamp(snapshots[-2]) + pd.Timedelta(days=horizon_days)
        overlap = last_train_label_end > pd.Timestamp(snapshots[-1])
        description["label_window_overlap"] = bool(overlap)
        if overlap:
            warnings.warn(
                "churn: the last training snapshot's label window ends after the validation as_of; "
                "space as_of dates at least horizon_days apart for a clean time split",
                stacklevel=2,
            )
    return SnapshotSplit(train, fold, valid, description)


def split_stratified(prepared: PreparedFrame, test_size: float, seed: int) -> SnapshotSplit:
    """One row per customer: stratified ``test_size`` validation split; fold carved in ``fit``."""
    if not 0 < test_size < 1:
        raise ChurnDataError(f"test_size must be between 0 and 1, got {test_size}")
    frame = prepared.frame
    train, valid = train_test_split(
        frame, test_size=test_size, stratify=frame[prepared.label], random_state=seed
    )
    return SnapshotSplit(train, None, valid, {"split": "stratified", "test_size": test_size, "seed": seed})


def check_classes(split: SnapshotSplit, label: str) -> None:
    for name, part in (
        ("training", split.train),
        ("held-out fold", split.fold),
        ("validation", split.valid),
    ):
        if part is None:
            continue
        if part.empty:
            raise ChurnDataError(f"the {name} part of the split is empty")
        if part[label].nunique() < 2:
            raise ChurnDataError(
                f"label '{label}' has a single class ({int(part[label].iloc[0])}) in the {name} part "
                f"({len(part)} rows); need churned and retained customers in every part"
            )


# --------------------------------------------------------------------------- snapshots


def default_as_of_dates(
    tables: Mapping[str, pd.DataFrame],
    horizon_days: int = 90,
    n_snapshots: int = 4,
    min_history_days: int = 180,
) -> list[pd.Timestamp]:
    """Snapshot dates ending one horizon before the last transaction, ``horizon_days`` apart.

    The latest as_of is ``last transaction day - horizon_days`` (its label window is fully
    observed); earlier ones step back by ``horizon_days`` so that no training label window
    overlaps the next snapshot. Dates leaving less than ``min_history_days`` of history are dropped.
    """
    tx = tables["transactions"]["timestamp"]
    last = pd.Timestamp(tx.max()).normalize()
    first = pd.Timestamp(tx.min()).normalize()
    dates = [last - pd.Timedelta(days=horizon_days * (k + 1)) for k in range(n_snapshots)]
    dates = sorted(d for d in dates if d - first >= pd.Timedelta(days=min_history_days))
    if len(dates) < 2:
        raise ChurnDataError(
            f"transactions span {first.date()}..{last.date()}: too short for two {horizon_days}-day "
            f"snapshots with {min_history_days} days of history"
        )
    return dates


#: Feature families the builder leaves NaN when the text models have not run (``.attrs`` flags).
_SENTIMENT_FEATURES = (
    "sentiment_mean",
    "last_sentiment",
    "negative_share",
    "days_since_last_negative",
)


def unavailable_feature_columns(
    training: pd.DataFrame, tables: Mapping[str, pd.DataFrame] | None = None
) -> list[str]:
    """Entirely-null columns whose source the data do not have yet (text models not run).

    Sentiment features are unavailable when ``attrs['sentiment_available']`` is False or the
    feedback table has no non-null ``sentiment``/``sentiment_score``; topic features when
    ``attrs['topics_available']`` is False or feedback has no ``topics`` column. Those columns
    are NaN by construction; they are left out of the model and recorded on the run. Any
    other entirely-null feature is still refused by :func:`prepare_training_frame`.
    """
    feedback = (tables or {}).get("feedback")
    sentiment_ok = training.attrs.get("sentiment_available")
    topics_ok = training.attrs.get("topics_available")
    if isinstance(feedback, pd.DataFrame):
        has_sentiment = any(
            c in feedback and feedback[c].notna().any() for c in ("sentiment", "sentiment_score")
        )
        sentiment_ok = bool(sentiment_ok if sentiment_ok is not None else True) and has_sentiment
        topics_ok = bool(topics_ok if topics_ok is not None else True) and "topics" in feedback
    candidates: list[str] = []
    if sentiment_ok is False:
        candidates += [c for c in training.columns if c in _SENTIMENT_FEATURES]
    if topics_ok is False:
        candidates += [
            c for c in training.columns if c.startswith("topic_") or c == "top_negative_topic"
        ]
    return [c for c in candidates if training[c].isna().all()]
