"""Classify feedback texts once: a Parquet cache keyed by text hash and model versions.

Scoring classifies only feedback rows that carry no sentiment yet. Each text is hashed
(SHA-256 of its UTF-8 bytes, first 32 hex digits); results are stored per
``(text_hash, model_key)`` in ``data/processed/text_cache.parquet``, where ``model_key``
names the text model versions, so a new model re-classifies while a rerun or a daily
increment classifies only texts never seen before. The cache never stores the texts
themselves (they may contain personal data), only their hashes and the model outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from custsat.data.io import atomic_write_path

#: Columns the text models add to a feedback row (``topic_<id>`` probabilities come on top).
CLASSIFIED_COLUMNS = (
    "language", "sentiment", "sentiment_score", "p_negative", "p_neutral", "p_positive",
    "topics", "urgency", "text_truncated",
)
KEY_COLUMNS = ("text_hash", "model_key")

Classifier = Callable[[pd.DataFrame], pd.DataFrame]


def text_hash(texts: pd.Series) -> pd.Series:
    """SHA-256 (first 32 hex digits) of each text's UTF-8 bytes; missing text hashes as ""."""
    return texts.fillna("").astype(str).map(lambda t: hashlib.sha256(t.encode("utf-8")).hexdigest()[:32])


@dataclass
class CacheStats:
    """How many feedback rows/texts were already labelled, served from cache, or classified."""

    rows: int = 0
    rows_prelabelled: int = 0
    unique_texts: int = 0
    cache_hits: int = 0
    classified: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def needs_classification(feedback: pd.DataFrame) -> pd.Series:
    """Rows with no sentiment label yet (column absent or value missing)."""
    if "sentiment" not in feedback.columns:
        return pd.Series(True, index=feedback.index)
    missing = feedback["sentiment"].isna()
    if "topics" not in feedback.columns:
        return pd.Series(True, index=feedback.index)
    return missing


def read_cache(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    cache = pd.read_parquet(path)
    if not set(KEY_COLUMNS) <= set(cache.columns):
        raise ValueError(
            f"text cache {path} lacks columns {list(KEY_COLUMNS)}; delete it to rebuild (it only holds model outputs)"
        )
    return cache


def classify_with_cache(
    feedback: pd.DataFrame,
    classify: Classifier,
    *,
    cache_path: str | Path | None,
    model_key: str,
    text_column: str = "text",
) -> tuple[pd.DataFrame, CacheStats]:
    """Return ``feedback`` with the text-model columns filled for rows that lacked them.

    ``classify(frame_with_text_column)`` must return the same rows (same order) with the
    text-model columns added. Rows already labelled keep their labels. ``cache_path=None``
    disables the cache. The cache file is rewritten atomically.
    """
    stats = CacheStats(rows=len(feedback))
    todo = needs_classification(feedback)
    stats.rows_prelabelled = int((~todo).sum())
    if not todo.any():
        return feedback, stats
    hashes = text_hash(feedback.loc[todo, text_column])
    unique = pd.DataFrame({"text_hash": hashes, "text": feedback.loc[todo, text_column]}).drop_duplicates("text_hash")
    unique = unique.sort_values("text_hash", kind="mergesort").reset_index(drop=True)
    stats.unique_texts = len(unique)

    path = Path(cache_path) if cache_path else None
    cache = read_cache(path) if path else None
    known = cache[cache["model_key"] == model_key] if cache is not None else None
    if known is not None and len(known):
        hit = unique["text_hash"].isin(known["text_hash"])
    else:
        hit = pd.Series(False, index=unique.index)
    stats.cache_hits = int(hit.sum())
    misses = unique.loc[~hit]
    results = []
    if known is not None and stats.cache_hits:
        results.append(known[known["text_hash"].isin(unique.loc[hit, "text_hash"])])
    if len(misses):
        labelled = classify(pd.DataFrame({text_column: misses["text"].to_numpy()}))
        if len(labelled) != len(misses):
            raise RuntimeError(
                f"the text classifier returned {len(labelled)} rows for {len(misses)} texts"
            )
        new = labelled.drop(columns=[text_column], errors="ignore").reset_index(drop=True)
        new.insert(0, "text_hash", misses["text_hash"].to_numpy())
        new.insert(1, "model_key", model_key)
        stats.classified = len(new)
        results.append(new)
        if path is not None:
            combined = new if cache is None else pd.concat([cache, new], ignore_index=True)
            combined = combined.drop_duplicates(list(KEY_COLUMNS), keep="last")
            combined = combined.sort_values(list(KEY_COLUMNS), kind="mergesort").reset_index(drop=True)
            with atomic_write_path(path) as tmp:
                combined.to_parquet(tmp, index=False)
    labels = pd.concat(results, ignore_index=True).drop(columns=["model_key"])
    labels = labels.drop_duplicates("text_hash").set_index("text_hash")
    # Fill the rows that needed it; keep every other column and row order.
    out = feedback.copy()
    filled = labels.reindex(hashes.to_numpy())
    filled.index = hashes.index
    for column in filled.columns:
        values = filled[column]
        if column == "urgency" and "urgency" in feedback.columns:
            # an urgency given by the CRM wins over the model's
            given = feedback.loc[todo, "urgency"]
            values = given.where(given.notna(), values)
        if column not in out.columns:
            out[column] = values.reindex(out.index)
        else:
            if out[column].dtype != values.dtype:
                out[column] = out[column].astype(object)
            out.loc[todo, column] = values
    return out, stats
