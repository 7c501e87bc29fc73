"""Synthetic company: service columns (response, routing, ratings) and the switchable hidden events."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from custsat.data.contracts import validate_tables
from custsat.data.synth import SERVICE_COLUMNS, HiddenEvents, generate_crm

AS_OF = pd.Timestamp("2026-06-30")


def original_digest(crm) -> str:
    """Digest of every column the generator wrote before the service columns existed."""
    h = hashlib.sha256()
    for name in ("customers", "transactions", "feedback", "contracts"):
        frame = crm.tables[name].drop(columns=SERVICE_COLUMNS, errors="ignore")
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def test_service_columns_leave_the_original_outputs_unchanged():
    # digest of generate_crm(500, seed=5) as generated before service columns and events existed
    assert original_digest(generate_crm(500, seed=5)) == "09368e3ef4637ae3"
    off = generate_crm(500, seed=5, events=HiddenEvents(spike_topic=None, new_issue=None))
    plain = generate_crm(500, seed=5)
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(frame, off.tables[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def company():
    return generate_crm(20000, seed=7, as_of=AS_OF, events=HiddenEvents())


def test_service_columns_are_point_in_time_and_consistent(company):
    fb = company.tables["feedback"]
    validate_tables(company.tables, now=AS_OF)  # the contract accepts them
    answered = fb["responded_at"].notna()
    assert (fb.loc[answered, "responded_at"] >= fb.loc[answered, "timestamp"]).all()
    assert (fb.loc[answered, "responded_at"] <= AS_OF).all() and (fb["resolved_at"].dropna() <= AS_OF).all()
    both = answered & fb["resolved_at"].notna()
    assert (fb.loc[both, "responded_at"] <= fb.loc[both, "resolved_at"]).all()
    rated = fb["resolution_rating"].notna()
    assert fb.loc[rated, "resolved_at"].notna().all() and fb.loc[rated, "resolution_rating"].between(1, 5).all()
    assert set(fb["status"]) == {"closed", "in_progress", "new"}
    assert (fb["status"].eq("closed") == fb["resolved_at"].notna()).all()
    routed = fb["channel"].isin(["email", "phone", "chat"])
    assert fb.loc[routed, "team"].notna().all() and fb.loc[~routed, "team"].isna().all()
    assert fb.loc[routed, "assignee"].str.match(r"^[A-Z]{2,3}-0[1-6]$").all()
    hours = (fb["responded_at"] - fb["timestamp"]).dt.total_seconds() / 3600
    by_channel = hours.groupby(fb["channel"]).median()
    assert by_channel["phone"] < by_channel["chat"] < by_channel["email"]
    # response times vary by team: the product team answers e-mails slower than customer service
    email = fb["channel"].eq("email")
    by_team = hours[email].groupby(fb.loc[email, "team"]).median()
    assert by_team["Product team"] > 1.25 * by_team["Customer service team"]
    # some items breach the default deadlines (24 h for urgent, 72 h otherwise); late handling rates lower
    truth = company.truth["feedback"].set_index("feedback_id").loc[fb["feedback_id"]]
    took = (fb["resolved_at"] - fb["timestamp"]).dt.total_seconds().to_numpy() / 3600
    deadline = np.where(truth["urgency"].to_numpy() == "high", 24, 72)
    late = took > deadline
    assert 0.03 < late.mean() < 0.4
    r = fb["resolution_rating"].to_numpy()
    assert np.nanmean(r[late]) < np.nanmean(r[~late & ~np.isnan(took)]) - 0.5


def test_spike_triples_the_topics_complaints_in_its_weeks(company):
    event = company.truth["events"].set_index("kind").loc["spike"]
    assert event["topic"] == "delivery" and event["start"] == pd.Timestamp("2026-06-01")  # a Monday, 4 weeks before
    truth = company.truth["feedback"]
    past = truth[~truth["is_future"]]
    neg = past[past["aspect_sentiments"].str.contains("delivery:negative")]
    in_spike = neg["timestamp"].between(event["start"], event["end"], inclusive="left")
    before = neg["timestamp"].between(event["start"] - pd.Timedelta(weeks=26), event["start"], inclusive="left")
    ratio = (in_spike.sum() / 2) / (before.sum() / 26)
    assert 2.4 < ratio < 3.6
    extra = truth[truth["event"] == "spike:delivery"]
    assert len(extra) == event["n_items"] and extra["sentiment"].eq("negative").all()
    assert extra["aspect_sentiments"].str.contains("delivery:negative").all()


def test_new_issue_is_outside_the_taxonomy_in_both_languages(company):
    event = company.truth["events"].set_index("kind").loc["new_issue"]
    assert event["start"] == AS_OF - pd.Timedelta(days=14)
    truth = company.truth["feedback"]
    items = truth[truth["event"] == "new_issue:app_login"]
    assert len(items) == event["n_items"] and (items["timestamp"] >= event["start"]).all()
    assert items["topics"].eq("").all() and items["sentiment"].eq("negative").all()
    past = items[~items["is_future"]]
    assert 10 <= len(past) <= 40 and set(past["language"]) == {"zh", "en"}
    texts = company.tables["feedback"].set_index("feedback_id").loc[past["feedback_id"], "text"]
    assert texts.nunique() > 0.8 * len(texts)  # varied wording
    assert texts.str.contains("登录|登錄|登不|log|sign|account|验证码|驗證碼|code", case=False).all()


def test_bad_event_parameters_are_refused():
    with pytest.raises(ValueError, match="spike_topic"):
        HiddenEvents(spike_topic="weather")
    with pytest.raises(ValueError, match="new_issue"):
        HiddenEvents(new_issue="nope")
