"""Batch scoring and business outputs: one row per customer with tiers, complaints, churn risk,
lifetime value and the recommended next action.

Serving is thin: it validates inputs, calls the feature builder and the registered champion
models, applies the action policy (data, not code) and writes files and the HTML report.
"""

from custsat.serving.models import SchemaMismatchError, ServedModel, check_schema, load_served
from custsat.serving.outputs import SCORED_LIST_COLUMNS, scoring_run_id, top_topics, write_scored
from custsat.serving.policy import Policy, PolicyError, assign_actions, load_policy, parse_policy
from custsat.serving.report import render_report, write_scoring_report
from custsat.serving.score import ScoringResult, score_tables

__all__ = [
    "SCORED_LIST_COLUMNS",
    "Policy",
    "PolicyError",
    "SchemaMismatchError",
    "ScoringResult",
    "ServedModel",
    "assign_actions",
    "check_schema",
    "load_policy",
    "load_served",
    "parse_policy",
    "render_report",
    "score_tables",
    "scoring_run_id",
    "top_topics",
    "write_scoring_report",
    "write_scored",
]
