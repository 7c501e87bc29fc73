"""The feedback work queue: routing, queue membership, priority, formula-safe atomic outputs, report."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest

from custsat.data.synth import HiddenEvents, generate_crm, write_crm
from custsat.serving.policy import load_policy, parse_policy
from custsat.serving.triage import (
    QUEUE_COLUMNS,
    TriageResult,
    build_queue,
    owner_topics,
    priority_scores,
    repeat_complaints,
    run_triage,
    service_items,
    write_queue,
)

AS_OF = pd.Timestamp("2026-06-30")
T = pd.Timestamp


def item(**kw):
    base = {"feedback_id": "F1", "customer_id": "C1", "channel": "email", "timestamp": T("2026-06-29 10:00"),
            "text": "包装破了", "language": "zh", "sentiment": "negative", "p_negative": 0.9, "topics": "packaging",
            "topic_sentiments": "packaging:negative", "urgency": "normal", "resolved_at": pd.NaT,
            "responded_at": pd.NaT}
    base.update(kw)
    return base


def test_a_text_with_several_topics_goes_to_the_team_of_its_most_negative_topic():
    policy = load_policy()
    fb = pd.DataFrame([
        item(feedback_id="F1", topics="delivery;packaging", topic_sentiments="delivery:positive;packaging:negative"),
        item(feedback_id="F2", topics="after_sales;price_value",
             topic_sentiments="after_sales:neutral;price_value:positive"),
        item(feedback_id="F3", topics="price_value;service_attitude",
             topic_sentiments="price_value:positive;service_attitude:positive"),
        item(feedback_id="F4", topics="", topic_sentiments=""),
        item(feedback_id="F5", topics="delivery;after_sales", topic_sentiments="delivery:negative;after_sales:negative",
             team="Refunds desk"),
    ])
    assert owner_topics(fb).tolist() == ["packaging", "after_sales", "price_value", None, "delivery"]
    items = service_items(fb, AS_OF, policy)
    assert items["owner_team"].tolist() == ["Logistics team", "After-sales support team", "Pricing and sales team",
                                            "Customer service team", "Refunds desk"]
    assert items["owner_source"].tolist() == ["policy"] * 4 + ["crm"]


def test_queue_holds_open_items_and_recent_resolutions_only():
    fb = pd.DataFrame([
        item(feedback_id="open-old", timestamp=T("2026-02-01")),
        item(feedback_id="open-stale", timestamp=T("2025-01-01")),
        item(feedback_id="resolved-recent", timestamp=T("2026-06-10"), resolved_at=T("2026-06-11")),
        item(feedback_id="resolved-old", timestamp=T("2026-04-01"), resolved_at=T("2026-04-02")),
        item(feedback_id="resolved-after-as-of", timestamp=T("2026-06-28"), resolved_at=T("2026-07-02")),
        item(feedback_id="future", timestamp=T("2026-07-01")),
    ])
    policy = load_policy()
    queue = build_queue(service_items(fb, AS_OF, policy), AS_OF, policy)
    assert set(queue["feedback_id"]) == {"open-old", "resolved-recent", "resolved-after-as-of"}
    row = queue.set_index("feedback_id").loc["resolved-after-as-of"]
    # the resolution on 07-02 is not known at as_of; the response (due 06-29 00:00) is overdue
    assert pd.isna(row["resolved_at"]) and row["status"] == "overdue_response"
    assert list(queue.columns) == list(QUEUE_COLUMNS)
    # open for more than stale_after_days (180): left out unless the policy lists every open item
    everything = parse_policy({**policy.model_dump(by_alias=True, exclude_none=True),
                               "triage": {"stale_after_days": None}})
    assert "open-stale" in set(build_queue(service_items(fb, AS_OF, everything), AS_OF, everything)["feedback_id"])


def test_repeat_complaints_count_earlier_complaints_in_the_window():
    cust = pd.Series(["a", "a", "a", "b", "a"])
    ts = pd.Series(pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-03-01", "2026-06-15"]))
    complaint = np.array([True, True, False, True, True])
    # a on 03-01: two earlier complaints within 90 days; on 06-15: none within 90 days (03-01 was no complaint)
    assert repeat_complaints(cust, ts, complaint, 90).tolist() == [0, 1, 2, 0, 0]


def test_priority_score_and_reason_by_hand():
    policy = parse_policy({**load_policy().model_dump(by_alias=True, exclude_none=True),
                           "triage": {"weights": {"urgency": 3, "negativity": 2, "repeat": 1, "value": 1, "churn": 2,
                                                  "overdue": 1}}})
    fb = pd.DataFrame([
        item(feedback_id="F1", customer_id="C1", urgency="high", p_negative=0.8, timestamp=T("2026-06-29 18:00")),
        item(feedback_id="F0", customer_id="C1", timestamp=T("2026-06-01"), resolved_at=T("2026-06-02")),
        item(feedback_id="F2", customer_id="C2", sentiment="positive", p_negative=0.1, topics="delivery",
             topic_sentiments="delivery:positive", timestamp=T("2026-06-29 20:00")),
    ])
    scored = pd.DataFrame({"customer_id": ["C1", "C2"], "value_tier": ["high", "low"], "churn_probability": [0.5, 0.1]})
    queue = build_queue(service_items(fb, AS_OF, policy), AS_OF, policy, scored=scored, language="en").set_index(
        "feedback_id")
    # F1: urgency 1, negativity .8, repeat 1/3 (one earlier complaint, saturation 3), value 1, churn .5,
    # overdue 1 (high urgency: respond within 4 h, received 18:00 -> due 22:00)
    expected = 100 * (3 * 1 + 2 * 0.8 + 1 * (1 / 3) + 1 * 1 + 2 * 0.5 + 1 * 1) / 10
    assert queue.loc["F1", "priority"] == pytest.approx(round(expected, 1))
    assert queue.loc["F1", "priority_rank"] == 1 and queue.loc["F2", "priority_rank"] == 2
    assert queue.loc["F1", "priority_reason"] == (
        "first response overdue by 2 h; high urgency; negative about Packaging (80%); 1 earlier complaint(s); "
        "high-value customer; churn risk 50%")
    assert pd.isna(queue.loc["F0", "priority_rank"])  # resolved items are listed, not ranked
    zh = build_queue(service_items(fb, AS_OF, policy), AS_OF, policy, scored=scored, language="zh")
    assert zh.loc[zh["feedback_id"] == "F1", "priority_reason"].iloc[0].startswith("首次回复已超时2小时；紧急；对包装不满")


def test_unknown_components_drop_out_of_the_weighted_mean():
    comps = pd.DataFrame({"urgency": [1.0], "negativity": [0.5], "value": [np.nan], "churn": [np.nan]})
    assert priority_scores(comps, {"urgency": 3, "negativity": 1, "value": 5, "churn": 5})[0] == pytest.approx(
        100 * 3.5 / 4)


def test_formulas_are_neutralised_in_every_format(tmp_path):
    risky = ["=HYPERLINK(\"http://x\")", "=cmd|' /C calc'!A0", "+1+2", "@SUM(1+1)", "-2+3", "\tx"]
    fb = pd.DataFrame([item(feedback_id=f"F{i}", text=t) for i, t in enumerate(risky)])
    policy = load_policy()
    queue = build_queue(service_items(fb, AS_OF, policy), AS_OF, policy)
    result = TriageResult(queue=queue, analytics=pd.DataFrame(), alerts=pd.DataFrame())
    csv = write_queue(result, tmp_path / "q.csv")
    back = pd.read_csv(csv)
    assert set(back["text"]) == {"'" + t for t in risky}
    assert back["priority"].dtype.kind == "f"  # numbers stay numbers
    xlsx = write_queue(result, tmp_path / "q.xlsx")
    ws = openpyxl.load_workbook(xlsx)["queue"]
    col = [c.value for c in ws[1]].index("text")
    cells = [row[col] for row in ws.iter_rows(min_row=2)]
    assert all(c.data_type == "s" and c.value.startswith("'") for c in cells)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A small synthetic company with the hidden events, its feedback labelled from the truth (cached labels)."""
    crm = generate_crm(4000, seed=3, as_of=AS_OF, events=HiddenEvents(spike_weeks_before=1, new_issue_per_1000=3))
    truth = crm.truth["feedback"].set_index("feedback_id").loc[crm.tables["feedback"]["feedback_id"]]
    fb = crm.tables["feedback"].copy()
    for src, dst in (("sentiment", "sentiment"), ("topics", "topics"), ("aspect_sentiments", "topic_sentiments"),
                     ("language", "language"), ("urgency", "urgency")):
        fb[dst] = truth[src].to_numpy()
    fb["p_negative"] = np.where(fb["sentiment"] == "negative", 0.9, 0.1)
    fb["topic_delivery"] = np.where(fb["topics"].str.contains("delivery"), 0.9, 0.05)
    fb["event"] = truth["event"].to_numpy()
    crm.tables["feedback"] = fb.drop(columns="event")
    path = write_crm(crm, tmp_path_factory.mktemp("company") / "in")
    return path, fb


def fake_embed(fb):
    """Embeddings that put the new issue's texts close together (a stand-in for the text encoder)."""
    issue = dict(zip(fb["text"], fb["event"].str.startswith("new_issue"), strict=True))
    rng = np.random.default_rng(0)
    centre = rng.normal(size=16)

    def embed(texts):
        return np.array([centre + 0.2 * rng.normal(size=16) if issue.get(t) else rng.normal(size=16) for t in texts])
    return embed


def test_run_triage_end_to_end(company, tmp_path):
    path, fb = company
    out, report = tmp_path / "queue.xlsx", tmp_path / "triage.html"
    result = run_triage(path, as_of="2026-06-30", out=out, report=report, scored=False, text_cache=False,
                        embed=fake_embed(fb))
    assert result.metadata["text_stats"]["classified"] == 0  # cached labels: no model ran
    assert result.queue["status"].isin(["open", "overdue_response", "overdue_resolution", "resolved_in_time",
                                        "resolved_late"]).all()
    assert (result.queue["timestamp"] < AS_OF).all()
    assert openpyxl.load_workbook(out, read_only=True).sheetnames == ["queue", "follow_up", "alerts", "emerging"]
    # the injected spike (delivery, the last complete week) is flagged
    assert "delivery" in set(result.alerts["topic"])
    delivery = result.alerts[result.alerts["topic"] == "delivery"].iloc[0]
    assert delivery["ratio"] > 1.5 and len(delivery["examples"].split(" | ")) == 3
    # the new issue is the top emerging cluster, and its entry loads with the taxonomy
    top = result.emerging[0]
    assert fb["event"].iloc[top.member_rows].str.startswith("new_issue").mean() >= 0.8
    html = report.read_text(encoding="utf-8")
    for section in ('id="what-changed"', 'id="queue"', 'id="follow-up"', 'id="emerging"', "emerging_"):
        assert section in html
    again = run_triage(path, as_of="2026-06-30", out=tmp_path / "q2.csv", scored=False, text_cache=False,
                       emerging=False)
    write_queue(again, tmp_path / "q3.csv")
    assert (tmp_path / "q2.csv").read_bytes() == (tmp_path / "q3.csv").read_bytes()


def test_per_topic_sentiment_is_added_and_cached(tmp_path):
    from custsat.serving.triage import label_feedback
    from test_feedback_aspects import KeywordTopics, RuleSentiment

    fb = pd.DataFrame([
        item(feedback_id="F1", text="物流很快，但是包装破了", topics="delivery;packaging", topic_sentiments=None,
             sentiment="neutral", p_negative=0.4, p_neutral=0.3, p_positive=0.3),
        item(feedback_id="F2", text="快递很快", topics="delivery", topic_sentiments=None, sentiment="positive"),
        item(feedback_id="F3", text="包装破了", topics="packaging", topic_sentiments="packaging:negative"),
    ])
    cache = tmp_path / "text_cache.parquet"
    models = (RuleSentiment(), KeywordTopics(), "rules-v1")
    RuleSentiment.calls = 0
    out, notes = label_feedback(fb, text_cache=cache, aspect_models=models)
    assert out["topic_sentiments"].tolist() == ["delivery:positive;packaging:negative", "delivery:positive",
                                                "packaging:negative"]
    assert RuleSentiment.calls == 1 and (tmp_path / "aspect_cache.parquet").exists()
    again, _ = label_feedback(fb, text_cache=cache, aspect_models=models)
    assert again["topic_sentiments"].tolist() == out["topic_sentiments"].tolist() and RuleSentiment.calls == 1
