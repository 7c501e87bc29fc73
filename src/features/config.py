"""Settings of the customer feature builder (thresholds, windows, segment map).

All durations are in whole days unless the name says otherwise. Defaults are the
documented ones in docs/features.md; change them per project by passing a
``FeatureConfig(...)`` to the builders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from custsat.config import RESOURCES_DIR, get_settings

RFM_SEGMENTS_PATH = RESOURCES_DIR / "rfm_segments.yaml"

#: Feedback channels of the data contract; one ``feedback_<channel>_count`` column each.
CHANNELS: tuple[str, ...] = ("survey", "email", "phone", "chat", "social", "review", "app")


@dataclass(frozen=True)
class FeatureConfig:
    """Thresholds of the customer feature builder.

    new_days: a purchaser whose first purchase is fewer than this many days before as_of is "new".
    loyal_min_purchases: purchase days (``frequency``) needed to be "loyal" (and not lapsed).
    lapsed_days: ``recency_days >= lapsed_days`` makes a purchaser "lapsed"; also the label
        builder's default exclusion of already-lapsed customers.
    abc_thresholds: cumulative revenue shares closing class A and class B (Pareto), e.g. (0.8, 0.95).
    csat_high / csat_low: ``csat_mean >= csat_high`` is high satisfaction, ``< csat_low`` is low.
    sentiment_high / sentiment_low: same on ``sentiment_mean`` (scores in [-1, 1]).
    NPS uses the standard categories: promoter (9-10) high, passive (7-8) medium, detractor (0-6) low.
    trend_days: length of each of the two windows compared by ``spend_trend``.
    complaint_max_rating: a feedback without a sentiment label is a complaint when its
        rating (CSAT 1-5) is at most this.
    topics: topic ids for the topic columns; ``None`` reads the project taxonomy.
    channels: feedback channels that get a count column.
    segments_path: the RFM segment map (yaml).
    """

    new_days: int = 90
    loyal_min_purchases: int = 5
    lapsed_days: int = 180
    abc_thresholds: tuple[float, float] = (0.8, 0.95)
    csat_high: float = 4.0
    csat_low: float = 3.0
    sentiment_high: float = 0.3
    sentiment_low: float = -0.3
    trend_days: int = 90
    complaint_max_rating: float = 2.0
    topics: tuple[str, ...] | None = None
    channels: tuple[str, ...] = CHANNELS
    segments_path: Path = field(default=RFM_SEGMENTS_PATH)

    def __post_init__(self) -> None:
        a, b = self.abc_thresholds
        if not 0 < a < b <= 1:
            raise ValueError(f"FeatureConfig.abc_thresholds must satisfy 0 < A < B <= 1, got {self.abc_thresholds}")
        for name in ("new_days", "loyal_min_purchases", "lapsed_days", "trend_days"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"FeatureConfig.{name} must be a positive integer, got {getattr(self, name)}")
        if self.csat_low > self.csat_high or self.sentiment_low > self.sentiment_high:
            raise ValueError("FeatureConfig: low satisfaction thresholds must not exceed the high ones")
        ids = self.topic_ids()
        for t in list(ids) + list(self.channels):
            if not t.replace("_", "").isalnum() or not t.isascii():
                raise ValueError(f"FeatureConfig: topic/channel id {t!r} must be ASCII letters, digits and '_'")

    def topic_ids(self) -> tuple[str, ...]:
        if self.topics is not None:
            return tuple(self.topics)
        return _taxonomy_ids(str(get_settings().taxonomy_path))

    def segments(self) -> list[dict]:
        return load_segments(str(self.segments_path))


@lru_cache(maxsize=8)
def _taxonomy_ids(path: str) -> tuple[str, ...]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    try:
        return tuple(str(t["id"]) for t in data["topics"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: taxonomy must be a mapping with a 'topics' list of entries with an 'id'") from exc


@lru_cache(maxsize=8)
def load_segments(path: str) -> list[dict]:
    """Read the RFM segment map and check that it covers each R x FM cell exactly once."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    segments = data.get("segments") if isinstance(data, dict) else None
    if not segments:
        raise ValueError(f"{path}: expected a 'segments' list")
    cells: dict[tuple[int, int], str] = {}
    for entry in segments:
        name = entry["segment"]
        (r0, r1), (f0, f1) = entry["r"], entry["fm"]
        for r in range(int(r0), int(r1) + 1):
            for f in range(int(f0), int(f1) + 1):
                if (r, f) in cells:
                    raise ValueError(f"{path}: cell R={r} FM={f} is in both {cells[(r, f)]!r} and {name!r}")
                cells[(r, f)] = name
    missing = [(r, f) for r in range(1, 6) for f in range(1, 6) if (r, f) not in cells]
    if missing:
        raise ValueError(f"{path}: R x FM cells without a segment: {missing}")
    return list(segments)
