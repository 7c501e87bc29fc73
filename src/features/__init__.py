"""Point-in-time customer features, churn labels, RFM summaries and NPS.

Every feature is written once as SQL (DuckDB dialect) and runs on DuckDB (default) or
Spark; see docs/features.md for the column reference.
"""

from .builder import (
    FeatureInputError,
    LeakageError,
    SentimentUnavailableWarning,
    assert_point_in_time,
    build_customer_features,
    output_columns,
)
from .config import CHANNELS, FeatureConfig, load_segments
from .labels import LabelCensoringWarning, build_training_set, churn_label
from .nps import company_nps, nps_category
from .rfm import rfm_summary

__all__ = [
    "CHANNELS",
    "FeatureConfig",
    "FeatureInputError",
    "LabelCensoringWarning",
    "LeakageError",
    "SentimentUnavailableWarning",
    "assert_point_in_time",
    "build_customer_features",
    "build_training_set",
    "churn_label",
    "company_nps",
    "load_segments",
    "nps_category",
    "output_columns",
    "rfm_summary",
]
