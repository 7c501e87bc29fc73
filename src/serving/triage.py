"""The feedback work queue: who owns each item, how much it matters, when it is due, where it stands.

:func:`run_triage` (behind ``custsat feedback triage``) reads the feedback export (and, when
present, customers/transactions), labels texts that carry no labels yet (language, sentiment,
topics, urgency: the text cache is shared with scoring; per-topic sentiment), and writes one row
per feedback item that is open at ``as_of`` or was resolved in the ``triage.lookback_days``
before it. Alongside: follow-up analytics, trend alerts and emerging issues for the report.
CSV and XLSX outputs are formula-safe through :func:`custsat.data.io.formula_safe`.

Columns of the queue (in order; see ``docs/feedback-operations.md``):

* the item: ``feedback_id, customer_id, channel, timestamp, text`` (PII-masked),
  ``language, sentiment, topics, topic_sentiments, urgency``;
* who owns it: ``owner_topic`` (the most negative topic: the first negative one in
  ``topic_sentiments``, else the first neutral, else the first topic), ``owner_team`` (the CRM's
  ``team`` when given, else the policy's ``topic_teams`` map of ``owner_topic``),
  ``owner_source`` (crm / policy), ``assignee``;
* how much it matters: ``priority`` (0-100), ``priority_rank`` (1 = first; open items only),
  ``priority_reason``; ``repeat_complaints``, ``value_tier``, ``churn_probability`` (the last
  two from the scored customer list when there is one);
* deadlines and status: ``respond_due, resolve_due, responded_at, resolved_at, status,
  age_hours, hours_to_response, hours_to_resolution, resolution_rating, crm_status``.

Priority: ``100 x sum(w_i c_i) / sum(w_i)`` over the known components ``c_i`` in [0, 1]:
urgency (1 = high), negativity (the text's P(negative), at least 0.5 when a topic is
negative), repeat (earlier complaints of the customer within ``repeat_window_days``, full at
``repeat_saturation``), value (value tier high 1, medium 0.5, low 0), churn (churn probability),
overdue (1 when a deadline has passed unmet). Unknown components (no scored list) drop out.
Weights ``w_i`` come from the policy's ``triage.weights``.

Open items received more than ``triage.stale_after_days`` (180) days before ``as_of`` are left
out of the queue and counted in the metadata and the report as a stale backlog.

Point in time: only feedback received before ``as_of`` counts, and responses or resolutions at
or after ``as_of`` have not happened yet. Outputs are written atomically; equal inputs give
byte-identical CSV/Parquet.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_path, formula_safe, write_table, xlsx_cell
from custsat.features.sla import (
    OPEN_STATUSES,
    BusinessHours,
    DeadlineRule,
    due_times,
    first_response,
    followup_analytics,
    hours_between,
    item_status,
    known_by,
)
from custsat.privacy import mask_pii
from custsat.serving.policy import Policy, TriagePolicy, load_policy

log = logging.getLogger(__name__)

QUEUE_COLUMNS = (
    "feedback_id", "customer_id", "channel", "timestamp", "text", "language", "sentiment", "topics",
    "topic_sentiments", "urgency",
    "owner_topic", "owner_team", "owner_source", "assignee",
    "priority", "priority_rank", "priority_reason", "repeat_complaints", "value_tier", "churn_probability",
    "respond_due", "resolve_due", "responded_at", "resolved_at", "status", "age_hours",
    "hours_to_response", "hours_to_resolution", "resolution_rating", "crm_status",
)
VALUE_SCORE = {"high": 1.0, "medium": 0.5, "low": 0.0}
FORMATS = ("csv", "parquet", "xlsx")


class TriageInputError(ValueError):
    """Inputs that cannot be triaged (no feedback file, unreadable as_of)."""


@dataclass
class TriageResult:
    """What one triage produced: the queue and what its report shows."""

    queue: pd.DataFrame
    analytics: pd.DataFrame
    alerts: pd.DataFrame
    emerging: list = field(default_factory=list)
    taxonomy_entries: list[dict] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- policy -> sla
def sla_parameters(triage: TriagePolicy) -> tuple[list[DeadlineRule], BusinessHours | None]:
    """The policy's deadlines and business hours as :mod:`custsat.features.sla` parameters."""
    rules = [DeadlineRule(respond_hours=d.respond_hours, resolve_hours=d.resolve_hours, urgency=d.urgency,
                          channel=d.channel, topic=d.topic, clock=d.clock) for d in triage.deadlines]
    bh = triage.business_hours
    hours = None if bh is None else BusinessHours(timezone=bh.timezone, start=bh.start, end=bh.end,
                                                  weekdays=tuple(bh.weekdays), holidays=tuple(bh.holidays))
    return rules, hours


# --------------------------------------------------------------------------- per-item parts
def owner_topics(frame: pd.DataFrame) -> pd.Series:
    """The topic an item is routed by: its most negative topic (first negative, else first neutral,
    else first topic in ``topic_sentiments`` / ``topics`` order); None without topics."""
    source = frame["topic_sentiments"] if "topic_sentiments" in frame else frame.get("topics")
    if source is None:
        return pd.Series(None, index=frame.index, dtype=object)
    values = source.astype(object).where(source.notna(), "")
    codes, uniques = pd.factorize(values.astype(str))
    picked = []
    for value in uniques:
        pairs = [p.split(":", 1) if ":" in p else (p, "") for p in value.replace(" ", "").split(";") if p]
        choice = None
        for wanted in ("negative", "neutral"):
            choice = next((t for t, pol in pairs if pol == wanted), None)
            if choice:
                break
        picked.append(choice or (pairs[0][0] if pairs else None))
    return pd.Series(np.array(picked, dtype=object)[codes] if len(codes) else [], index=frame.index, dtype=object)


def repeat_complaints(customer_id: pd.Series, timestamp: pd.Series, is_complaint: np.ndarray,
                      window_days: int) -> np.ndarray:
    """Per item: complaints by the same customer in ``[timestamp - window_days, timestamp)``."""
    codes, _ = pd.factorize(customer_id.astype(str))
    secs = pd.to_datetime(timestamp).to_numpy().astype("datetime64[s]").astype(np.int64)
    secs = secs - secs.min() if len(secs) else secs
    span = int(secs.max()) + window_days * 86_400 + 2 if len(secs) else 1
    key = codes.astype(np.int64) * span + secs + window_days * 86_400
    complaint_keys = np.sort(key[is_complaint])
    before = np.searchsorted(complaint_keys, key, side="left")
    since = np.searchsorted(complaint_keys, key - window_days * 86_400, side="left")
    return (before - since).astype(np.int64)


def is_complaint(frame: pd.DataFrame) -> np.ndarray:
    """Negative items: sentiment negative, or a topic of the item negative, or rating <= 2 when unlabelled."""
    sentiment = frame["sentiment"].astype("string").str.lower() if "sentiment" in frame else pd.Series(
        pd.NA, index=frame.index, dtype="string")
    out = sentiment.eq("negative").fillna(False).to_numpy(dtype=bool)
    if "topic_sentiments" in frame:
        out |= frame["topic_sentiments"].astype("string").str.contains(":negative", regex=False).fillna(
            False).to_numpy(dtype=bool)
    if "rating" in frame:
        out |= sentiment.isna().to_numpy() & (pd.to_numeric(frame["rating"], errors="coerce") <= 2).fillna(
            False).to_numpy(dtype=bool)
    return out


def priority_components(items: pd.DataFrame, triage: TriagePolicy) -> pd.DataFrame:
    """The components in [0, 1] (NaN = unknown) of each item's priority (see the module doc)."""
    urgency = items["urgency"].astype("string").str.lower().eq("high").fillna(False).astype(float)
    p_neg = pd.to_numeric(items["p_negative"], errors="coerce") if "p_negative" in items else pd.Series(
        np.nan, index=items.index)
    topic_negative = items["topic_sentiments"].astype("string").str.contains(":negative", regex=False).fillna(
        False).to_numpy() if "topic_sentiments" in items else np.zeros(len(items), bool)
    sentiment_negative = items["sentiment"].astype("string").eq("negative").fillna(False).to_numpy() if (
        "sentiment" in items) else np.zeros(len(items), bool)
    negativity = np.where(np.isnan(p_neg), np.where(sentiment_negative, 1.0, 0.0), p_neg)
    negativity = np.where(topic_negative, np.maximum(negativity, 0.5), negativity)
    repeat = np.minimum(items["repeat_complaints"].to_numpy(dtype=float) / triage.repeat_saturation, 1.0)
    value = items["value_tier"].map(VALUE_SCORE).astype(float) if "value_tier" in items else np.nan
    churn = pd.to_numeric(items["churn_probability"], errors="coerce") if "churn_probability" in items else np.nan
    overdue = items["status"].isin(["overdue_response", "overdue_resolution"]).astype(float)
    return pd.DataFrame({"urgency": urgency.to_numpy(), "negativity": negativity, "repeat": repeat,
                         "value": value, "churn": churn, "overdue": overdue.to_numpy()}, index=items.index)


def priority_scores(components: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """``100 x`` weighted mean of the known components (0 when every weight is 0)."""
    num = np.zeros(len(components))
    den = np.zeros(len(components))
    for name, w in weights.items():
        if name not in components or w <= 0:
            continue
        c = components[name].to_numpy(dtype=float)
        known = ~np.isnan(c)
        num += np.where(known, w * np.nan_to_num(c), 0.0)
        den += np.where(known, w, 0.0)
    return np.round(np.where(den > 0, 100.0 * num / np.maximum(den, 1e-12), 0.0), 1)


def _hours_text(hours: np.ndarray, lang: str) -> np.ndarray:
    days = hours >= 48
    value = np.where(days, np.round(hours / 24), np.round(hours)).astype(np.int64).astype(str)
    unit = (np.where(days, " d", " h") if lang == "en" else np.where(days, "天", "小时")).astype(object)
    return value.astype(object) + unit


def priority_reasons(items: pd.DataFrame, components: pd.DataFrame, as_of: pd.Timestamp,
                     language: str = "both", topic_names: Mapping[str, tuple[str, str]] | None = None) -> np.ndarray:
    """Why each item ranks where it does, in words ("en", "zh" or "both" = "中文 / English")."""
    n = len(items)
    topic_names = topic_names or {}
    now = np.datetime64(pd.Timestamp(as_of).to_datetime64(), "ns")
    overdue_resp = items["status"].eq("overdue_response").to_numpy()
    overdue_res = items["status"].eq("overdue_resolution").to_numpy()
    late_r = (now - pd.to_datetime(items["respond_due"]).to_numpy()).astype("timedelta64[s]").astype(float) / 3600
    late_s = (now - pd.to_datetime(items["resolve_due"]).to_numpy()).astype("timedelta64[s]").astype(float) / 3600
    topic = items["owner_topic"].astype(object).where(items["owner_topic"].notna(), "").to_numpy(dtype=object)
    names_en = np.array([topic_names.get(t, (t, t))[1] if t else "" for t in topic], dtype=object)
    names_zh = np.array([topic_names.get(t, (t, t))[0] if t else "" for t in topic], dtype=object)
    neg = components["negativity"].to_numpy()
    rep = items["repeat_complaints"].to_numpy()
    value = items["value_tier"].astype(object).to_numpy() if "value_tier" in items else np.full(n, None, object)
    churn = components["churn"].to_numpy()
    urgent = components["urgency"].to_numpy() > 0
    pct_neg = np.round(100 * np.nan_to_num(neg)).astype(np.int64).astype(str).astype(object)
    pct_churn = np.round(100 * np.nan_to_num(churn)).astype(np.int64).astype(str).astype(object)
    parts = {
        "en": [
            (overdue_res, "resolution overdue by " + _hours_text(np.nan_to_num(late_s), "en")),
            (overdue_resp, "first response overdue by " + _hours_text(np.nan_to_num(late_r), "en")),
            (urgent, np.full(n, "high urgency", object)),
            (neg >= 0.5, np.where(topic != "", "negative about " + names_en + " (" + pct_neg + "%)",
                                  "negative (" + pct_neg + "%)")),
            (rep >= 1, rep.astype(str).astype(object) + " earlier complaint(s)"),
            (value == "high", np.full(n, "high-value customer", object)),
            (np.nan_to_num(churn) >= 0.3, "churn risk " + pct_churn + "%"),
        ],
        "zh": [
            (overdue_res, "解决已超时" + _hours_text(np.nan_to_num(late_s), "zh")),
            (overdue_resp, "首次回复已超时" + _hours_text(np.nan_to_num(late_r), "zh")),
            (urgent, np.full(n, "紧急", object)),
            (neg >= 0.5, np.where(topic != "", "对" + names_zh + "不满（" + pct_neg + "%）", "负面（" + pct_neg + "%）")),
            (rep >= 1, "此前已投诉" + rep.astype(str).astype(object) + "次"),
            (value == "high", np.full(n, "高价值客户", object)),
            (np.nan_to_num(churn) >= 0.3, "流失风险" + pct_churn + "%"),
        ],
    }
    out = {}
    for lang, items_ in parts.items():
        text = np.full(n, "", dtype=object)
        sep = "; " if lang == "en" else "；"
        for mask, words in items_:
            text = np.where(mask, np.where(text == "", words, text + sep + words), text)
        empty = "routine" if lang == "en" else "常规"
        out[lang] = np.where(text == "", empty, text)
    if language == "en":
        return out["en"]
    if language == "zh":
        return out["zh"]
    return out["zh"] + " / " + out["en"]


# --------------------------------------------------------------------------- the queue
def service_items(feedback: pd.DataFrame, as_of: pd.Timestamp, policy: Policy) -> pd.DataFrame:
    """Every item received before ``as_of`` with owner, deadlines, status, age and repeat counts."""
    triage = policy.triage
    fb = feedback[pd.to_datetime(feedback["timestamp"]) < as_of].reset_index(drop=True).copy()
    rules, hours = sla_parameters(triage)
    fb["owner_topic"] = owner_topics(fb)
    crm_team = fb["team"].astype(object).where(fb["team"].notna() & fb["team"].astype(str).str.strip().ne(""),
                                               None) if "team" in fb else pd.Series(None, index=fb.index, dtype=object)
    policy_team = fb["owner_topic"].map(lambda t: policy.team_for(t).en)
    fb["owner_team"] = crm_team.where(crm_team.notna(), policy_team)
    fb["owner_source"] = np.where(crm_team.notna(), "crm", "policy")
    due = due_times(fb["timestamp"], fb["urgency"] if "urgency" in fb else ["normal"] * len(fb), fb["channel"],
                    fb["owner_topic"], rules, business_hours=hours, data_timezone=triage.data_timezone)
    fb["respond_due"] = due["respond_due"].to_numpy()
    fb["resolve_due"] = due["resolve_due"].to_numpy()
    responded = fb["responded_at"] if "responded_at" in fb else pd.Series(pd.NaT, index=fb.index)
    resolved = fb["resolved_at"] if "resolved_at" in fb else pd.Series(pd.NaT, index=fb.index)
    fb["crm_status"] = fb["status"] if "status" in fb else None
    fb["status"] = item_status(responded_at=responded, resolved_at=resolved, respond_due=fb["respond_due"],
                               resolve_due=fb["resolve_due"], as_of=as_of,
                               crm_status=fb["crm_status"] if "status" in feedback else None)
    fb["responded_at"] = known_by(responded, as_of).to_numpy()
    fb["resolved_at"] = known_by(resolved, as_of).to_numpy()
    first = first_response(fb["responded_at"], fb["resolved_at"])
    fb["hours_to_response"] = np.round(hours_between(fb["timestamp"], first), 2)
    fb["hours_to_resolution"] = np.round(hours_between(fb["timestamp"], fb["resolved_at"]), 2)
    now = pd.Series(as_of, index=fb.index)
    fb["age_hours"] = np.round(hours_between(fb["timestamp"], now), 1)
    if "resolution_rating" in fb:
        fb["resolution_rating"] = pd.to_numeric(fb["resolution_rating"], errors="coerce").where(fb["resolved_at"].notna())
    fb["repeat_complaints"] = repeat_complaints(fb["customer_id"], fb["timestamp"], is_complaint(fb),
                                                triage.repeat_window_days)
    return fb


def build_queue(items: pd.DataFrame, as_of: pd.Timestamp, policy: Policy, *, scored: pd.DataFrame | None = None,
                language: str = "both", topic_names: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """The queue rows of :func:`service_items`' output: open items and those resolved in the look-back."""
    triage = policy.triage
    since = as_of - pd.Timedelta(days=triage.lookback_days)
    status = items["status"]
    resolved_recently = items["resolved_at"].notna() & (items["resolved_at"] >= since)
    closed_recently = status.eq("resolved_no_time") & (pd.to_datetime(items["timestamp"]) >= since)
    is_open = status.isin(OPEN_STATUSES)
    if triage.stale_after_days is not None:
        fresh = pd.to_datetime(items["timestamp"]) >= as_of - pd.Timedelta(days=triage.stale_after_days)
        is_open = is_open & fresh
    queue = items[is_open | resolved_recently | closed_recently].copy()
    if scored is not None and len(scored):
        keep = [c for c in ("value_tier", "churn_probability") if c in scored]
        lookup = scored.assign(customer_id=scored["customer_id"].astype(str)).drop_duplicates("customer_id")
        lookup = lookup.set_index("customer_id")[keep]
        joined = lookup.reindex(queue["customer_id"].astype(str).to_numpy())
        for col in keep:
            queue[col] = joined[col].to_numpy()
    for col in ("value_tier", "churn_probability"):
        if col not in queue:
            queue[col] = np.nan if col == "churn_probability" else None
    components = priority_components(queue, triage)
    if scored is None:
        components[["value", "churn"]] = np.nan
    queue["priority"] = priority_scores(components, triage.weights.model_dump())
    names = topic_names if topic_names is not None else _topic_names()
    queue["priority_reason"] = priority_reasons(queue, components, as_of, language, names)
    is_open = queue["status"].isin(OPEN_STATUSES).to_numpy()
    order = np.lexsort((queue["feedback_id"].astype(str).to_numpy(),
                        pd.to_datetime(queue["resolve_due"]).to_numpy().astype("datetime64[ns]").astype(np.int64),
                        -queue["priority"].to_numpy(), ~is_open))
    queue = queue.iloc[order].reset_index(drop=True)
    open_sorted = queue["status"].isin(OPEN_STATUSES).to_numpy()
    rank = np.full(len(queue), np.nan)
    rank[open_sorted] = np.arange(1, int(open_sorted.sum()) + 1)
    queue["priority_rank"] = pd.array(np.where(np.isnan(rank), pd.NA, rank), dtype="Int64")
    queue["text"] = [mask_pii(t) if isinstance(t, str) else t for t in queue["text"].tolist()]
    for col in QUEUE_COLUMNS:
        if col not in queue:
            queue[col] = None
    return queue[list(QUEUE_COLUMNS)]


# --------------------------------------------------------------------------- writing
def _xlsx_sheet(wb, title: str, frame: pd.DataFrame) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    widths = []
    for col in frame.columns:
        sample = frame[col].astype(str).head(200)
        widths.append(min(60, max(len(str(col)), int(sample.str.len().max()) if len(sample) else 0) + 2))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(8, w)
    ws.freeze_panes = "B2"
    header = []
    for col in frame.columns:
        cell = WriteOnlyCell(ws, value=str(col))
        cell.font = Font(bold=True, color="FFFFFFFF")
        cell.fill = PatternFill("solid", fgColor="FF1F4E78")
        header.append(cell)
    ws.append(header)
    for row in frame.itertuples(index=False, name=None):
        ws.append([xlsx_cell(ws, v) for v in row])  # text stays text, never a formula
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"


def write_queue(result: TriageResult, path: str | Path, *, csv_bom: bool = False) -> Path:
    """Write the queue atomically as CSV, Parquet or XLSX (sheets: queue, follow_up, alerts, emerging).

    CSV and XLSX text is formula-safe (:func:`custsat.data.io.formula_safe`); Parquet keeps values exact.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".").replace("pq", "parquet")
    if fmt not in FORMATS:
        raise TriageInputError(f"cannot tell the queue format of {path}; use .csv, .parquet or .xlsx")
    queue = result.queue
    if fmt in ("csv", "parquet"):
        return write_table(queue, path, csv_bom=csv_bom)
    queue = formula_safe(queue)
    from openpyxl import Workbook

    from custsat.models.text.emerging import clusters_frame

    if len(queue) > 1_048_575:
        raise TriageInputError(f"{len(queue):,} queue rows do not fit in one Excel sheet; write .csv or .parquet")
    wb = Workbook(write_only=True)
    _xlsx_sheet(wb, "queue", queue)
    _xlsx_sheet(wb, "follow_up", formula_safe(result.analytics))
    _xlsx_sheet(wb, "alerts", formula_safe(result.alerts))
    _xlsx_sheet(wb, "emerging", formula_safe(clusters_frame(result.emerging)))
    with atomic_write_path(path) as tmp:
        wb.save(tmp)
    return path


# --------------------------------------------------------------------------- alerts enriched
def describe_alerts(alerts: pd.DataFrame, feedback: pd.DataFrame, *, examples: int = 3, phrases: int = 6) -> pd.DataFrame:
    """Alerts with ``top_phrases`` (c-TF-IDF of the week's negative texts on the topic against the
    topic's earlier negative texts) and ``examples`` (the most negative texts of the week, masked)."""
    from custsat.features.topic_sentiment import topic_polarity_pairs
    from custsat.models.text.emerging import class_tfidf, tokenize
    from custsat.models.trends import week_of

    out = alerts.copy()
    out["top_phrases"] = ""
    out["examples"] = ""
    if not len(out):
        return out
    fb = feedback.reset_index(drop=True)
    pairs = topic_polarity_pairs(fb)
    pairs = pairs[pairs["sentiment"] == "negative"]
    weeks = week_of(pd.Series(pd.to_datetime(fb["timestamp"]).to_numpy()[pairs["row"].to_numpy()]))
    pairs = pairs.assign(week=weeks.to_numpy())
    texts = fb["text"].astype(str).to_numpy()
    p_neg = pd.to_numeric(fb["p_negative"], errors="coerce").fillna(0).to_numpy() if "p_negative" in fb else np.zeros(len(fb))
    for i, alert in out.iterrows():
        mine = pairs[(pairs["topic"] == alert["topic"])]
        now_rows = mine.loc[mine["week"] == alert["week"], "row"].to_numpy()
        before = mine.loc[(mine["week"] < alert["week"]) & (mine["week"] >= alert["week"] - pd.Timedelta(weeks=26)),
                          "row"].to_numpy()
        now_terms = Counter(t for r in now_rows for t in set(tokenize(texts[r])))
        before_terms = Counter(t for r in before for t in set(tokenize(texts[r])))
        weights = class_tfidf([now_terms, before_terms])[0]
        out.at[i, "top_phrases"] = ", ".join([t for t, _ in weights if now_terms[t] >= 2][:phrases])
        chosen = now_rows[np.argsort(-p_neg[now_rows], kind="stable")][:examples]
        out.at[i, "examples"] = " | ".join(mask_pii(texts[r])[:160] for r in chosen)
    return out


# --------------------------------------------------------------------------- inputs
def resolve_triage_inputs(input_dir: str | Path | None = None, *, feedback: str | Path | None = None,
                          customers: str | Path | None = None, transactions: str | Path | None = None
                          ) -> dict[str, Path]:
    """Input files by table (the catalogue's rule: explicit paths win, else ``input_dir``).

    Only feedback is required; customers and transactions let the registered models add value
    tier and churn risk.
    """
    from custsat.data.catalog import resolve_inputs

    paths = resolve_inputs(input_dir, {"feedback": feedback, "customers": customers, "transactions": transactions},
                           required=("feedback",))
    return {table: path for table, path in paths.items() if table in ("feedback", "customers", "transactions")}


def load_triage_tables(paths: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """Read and validate the inputs (feedback alone, or with customers and transactions)."""
    from custsat.data.contracts import check_references, check_values, parse_table, validate_tables
    from custsat.data.io import read_table

    frames = {t: read_table(p, table=t) for t, p in paths.items()}
    if "customers" in frames and "transactions" in frames:
        return validate_tables(frames, sources={t: str(p) for t, p in paths.items()})
    parsed = {}
    for table, frame in frames.items():
        parsed[table] = parse_table(table, frame, source=str(paths[table]))
        check_values(table, parsed[table], source=str(paths[table]))
    check_references(parsed)
    return parsed


def parse_triage_as_of(value: Any, feedback: pd.DataFrame) -> pd.Timestamp:
    """``as_of`` as a naive Timestamp; default: the day after the latest feedback (scoring's rule)."""
    from custsat.serving.pipeline import ScoringInputError, resolve_as_of

    latest = [pd.Timestamp(feedback["timestamp"].max())] if len(feedback) else []
    try:
        return resolve_as_of(value, latest)
    except ScoringInputError as error:
        raise TriageInputError(str(error)) from None


def _topic_names() -> dict[str, tuple[str, str]]:
    try:
        from custsat.models.text.topics import load_taxonomy

        return {t.id: (t.zh, t.en) for t in load_taxonomy().topics}
    except Exception:  # noqa: BLE001 - names are decoration; ids are used without them
        return {}


# --------------------------------------------------------------------------- labels
def label_feedback(feedback: pd.DataFrame, *, text_models=None, text_cache: str | Path | None | bool = True,
                   aspect_models: tuple | None = None, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Labels for rows without them (cached; see scoring) and ``topic_sentiments`` where missing.

    ``aspect_models``: ``(sentiment_model, topic_model[, cache key])`` for per-topic sentiment of
    texts with several topics; default: the registered text champions, loaded only when such
    texts lack ``topic_sentiments``. Without them those topics take the text's overall sentiment.
    """
    from custsat.models.text.served import (
        classify_feedback_cached,
        fill_topic_sentiments,
        text_cache_path,
    )

    notes: dict[str, Any] = {}
    out, stats, versions = classify_feedback_cached(feedback, text_models, cache_path=text_cache_path(text_cache),
                                                    progress=progress)
    notes.update(text_stats=stats, **versions)
    missing = out["topic_sentiments"].isna() if "topic_sentiments" in out else pd.Series(True, index=out.index)
    out, note = fill_topic_sentiments(out, missing.to_numpy(), aspect_models=aspect_models,
                                      cache_path=text_cache_path(text_cache))
    if note:
        notes["aspects"] = note
    return out, notes


def customer_scores(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, *, text_cache=True) -> pd.DataFrame | None:
    """Value tier and churn probability per customer from the registered models, or None when absent."""
    if "customers" not in tables or "transactions" not in tables:
        return None
    from custsat.serving.score import score_tables
    from custsat.tracking import ModelNotFoundError

    try:
        result = score_tables(tables, as_of, text_cache=text_cache, log_run=False, validate=False)
    except ModelNotFoundError as err:
        log.info("no value tier / churn risk in the queue: %s", err)
        return None
    return result.scored[["customer_id", "value_tier", "churn_probability"]]


# --------------------------------------------------------------------------- run
def run_triage(
    input_dir: str | Path | None = None,
    as_of: Any = None,
    out: str | Path | None = None,
    report: str | Path | None = None,
    *,
    feedback: str | Path | None = None,
    customers: str | Path | None = None,
    transactions: str | Path | None = None,
    policy: Policy | str | Path | None = None,
    scored: pd.DataFrame | str | Path | bool | None = True,
    text_models=None,
    text_cache: str | Path | None | bool = True,
    aspect_models: tuple | None = None,
    embed=None,
    emerging: bool = True,
    language: str = "both",
    progress: bool = False,
) -> TriageResult:
    """Build the work queue (and its analytics, alerts, emerging issues); write ``out``/``report``.

    ``scored``: the scored customer list (a frame or a file from ``custsat score``), ``True`` to
    score with the registered models when customers and transactions are given and the models
    exist, or ``False``/``None`` for none. ``embed(texts)``: embeddings for emerging issues
    (default: the topic model's ``embed``). Raises :class:`TriageInputError`, ``ContractError``
    and ``PolicyError`` on bad inputs.
    """
    from custsat.models.text.emerging import find_emerging, taxonomy_entries
    from custsat.models.trends import trend_alerts

    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    paths = resolve_triage_inputs(input_dir, feedback=feedback, customers=customers, transactions=transactions)
    tables = load_triage_tables(paths)
    fb = tables["feedback"]
    as_of = parse_triage_as_of(as_of, fb)
    fb = fb[pd.to_datetime(fb["timestamp"]) < as_of]
    if not len(fb):
        raise TriageInputError(f"no feedback before as_of={as_of}")
    labelled, notes = label_feedback(fb, text_models=text_models, text_cache=text_cache,
                                     aspect_models=aspect_models, progress=progress)
    if isinstance(scored, (str, Path)):
        from custsat.data.io import read_table

        scored = read_table(scored, table="scored customers")
    elif scored is True:
        scored = customer_scores(tables, as_of, text_cache=text_cache)
    elif scored is False:
        scored = None
    names = _topic_names()
    items = service_items(labelled, as_of, policy)
    queue = build_queue(items, as_of, policy, scored=scored, language=language, topic_names=names)
    by_owner = items.drop(columns=["team", "topic"], errors="ignore").rename(
        columns={"owner_team": "team", "owner_topic": "topic"})
    analytics = followup_analytics(by_owner, as_of,
                                   weeks=policy.triage.analytics_weeks)
    alerts = describe_alerts(trend_alerts(labelled, as_of, recent_weeks=2), labelled)
    clusters, entries = [], []
    if emerging:
        embed = embed or _default_embed(aspect_models)
        if embed is None:
            notes["emerging"] = "no topic model to embed texts: emerging issues skipped"
        else:
            clusters = find_emerging(labelled, as_of, embed)
            from custsat.models.text.topics import load_taxonomy

            entries = taxonomy_entries(clusters, load_taxonomy())
    stale = policy.triage.stale_after_days
    stale_count = 0 if stale is None else int((items["status"].isin(OPEN_STATUSES) & (
        pd.to_datetime(items["timestamp"]) < as_of - pd.Timedelta(days=stale))).sum())
    metadata = {"as_of": str(as_of), "feedback_rows": int(len(fb)), "queue_rows": int(len(queue)),
                "stale_open_items": stale_count, "stale_after_days": stale,
                "open_items": int(queue["status"].isin(OPEN_STATUSES).sum()), "inputs": {k: str(v) for k, v in paths.items()},
                "scored_customers": None if scored is None else int(len(scored)), **notes}
    result = TriageResult(queue=queue, analytics=analytics, alerts=alerts, emerging=clusters,
                          taxonomy_entries=entries, metadata=metadata)
    if out is not None:
        write_queue(result, out)
    if report is not None:
        from custsat.serving.triage_report import write_triage_report

        write_triage_report(report, result, topic_names=names)
    return result


def _default_embed(aspect_models):
    from custsat.models.text.served import champion_aspect_models

    models = aspect_models or champion_aspect_models()
    return None if models is None else models[1].embed
