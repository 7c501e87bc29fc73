"""Deadlines (calendar and business hours, time zones), status transitions, follow-up analytics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custsat.features.sla import (
    BusinessHours,
    DeadlineRule,
    add_business_hours,
    add_calendar_hours,
    due_times,
    followup_analytics,
    item_status,
    match_deadlines,
    within_deadline,
)

T = pd.Timestamp
RULES = [
    DeadlineRule(urgency="high", respond_hours=4, resolve_hours=24),
    DeadlineRule(urgency="normal", respond_hours=24, resolve_hours=72),
    DeadlineRule(urgency="high", channel="social", respond_hours=1, resolve_hours=8, clock="calendar"),
    DeadlineRule(urgency="normal", topic="after_sales", respond_hours=8, resolve_hours=48),
    DeadlineRule(urgency="normal", topic="after_sales", respond_hours=99, resolve_hours=99),  # same specificity, later: loses
]


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)))


def test_most_specific_rule_wins_and_ties_go_to_the_first():
    idx = match_deadlines(["high", "high", "normal", "normal", "urgent?", None],
                          ["email", "social", "email", "chat", "email", "email"],
                          ["delivery", "delivery", "after_sales", "delivery", None, None], RULES)
    # unknown urgencies count as normal
    assert idx.tolist() == [0, 2, 3, 1, 1, 1]


def test_calendar_hours_and_daylight_saving():
    start = ts("2026-06-26 22:30")
    assert add_calendar_hours(start, np.array([4.0]))[0] == T("2026-06-27 02:30")
    # 2026-03-08 02:00 New York clocks jump to 03:00: 4 elapsed hours from 00:30 local end at 05:30 local
    ny = add_calendar_hours(ts("2026-03-08 00:30"), np.array([4.0]), "America/New_York")
    assert ny[0] == T("2026-03-08 05:30")


BH_SH = BusinessHours(timezone="Asia/Shanghai", start="09:00", end="18:00", holidays=("2026-10-01",))


@pytest.mark.parametrize(("start_utc", "hours", "due_utc", "why"), [
    ("2026-06-26 01:00", 1, "2026-06-26 02:00", "Fri 09:00 Shanghai + 1 h"),
    ("2026-06-26 08:00", 4, "2026-06-29 03:00", "Fri 16:00: 2 h Friday, 2 h Monday (11:00 Shanghai)"),
    ("2026-06-27 12:00", 9, "2026-06-29 10:00", "received Saturday: clock starts Monday 09:00, used up at 18:00"),
    ("2026-06-26 10:00", 1, "2026-06-29 02:00", "received Fri 18:00 (closing): Monday 10:00"),
    ("2026-09-30 09:00", 18, "2026-10-05 09:00", "Wed 17:00, holiday Thursday, weekend: Monday 17:00"),
    ("2026-06-25 22:00", 0.5, "2026-06-26 01:30", "Fri 06:00 Shanghai (before opening): 09:30"),
])
def test_business_hours_in_another_time_zone(start_utc, hours, due_utc, why):
    due = add_business_hours(ts(start_utc), np.array([float(hours)]), BH_SH, data_timezone="UTC")
    assert due[0] == T(due_utc), why


def test_business_hours_with_local_data_timezone_and_missing_starts():
    bh = BusinessHours(timezone="Europe/Berlin", start="08:00", end="16:00", weekdays=(0, 1, 2, 3, 4, 5))
    # data written in Shanghai time (UTC+8), team in Berlin (UTC+2 in summer): Sat 20:00 Shanghai = Sat 14:00 Berlin
    due = add_business_hours(pd.Series([T("2026-06-27 20:00"), pd.NaT]), np.array([3.0, 3.0]), bh,
                             data_timezone="Asia/Shanghai")
    # 2 h Saturday (14-16 Berlin), 1 h Monday (Sunday closed) -> Mon 09:00 Berlin = Mon 15:00 Shanghai
    assert due[0] == T("2026-06-29 15:00")
    assert pd.isna(due[1])


def test_due_times_mix_business_and_calendar_rules():
    received = ts("2026-06-27 12:00", "2026-06-27 12:00")  # a Saturday (UTC)
    out = due_times(received, ["high", "high"], ["email", "social"], ["delivery", "delivery"], RULES,
                    business_hours=BusinessHours(timezone="UTC"))
    assert out["respond_due"].tolist() == [T("2026-06-29 13:00"), T("2026-06-27 13:00")]
    assert out["resolve_due"].tolist() == [T("2026-07-01 15:00"), T("2026-06-27 20:00")]  # 24 business h = 2 d 6 h
    plain = due_times(received, ["high", "high"], ["email", "email"], [None, None], RULES)
    assert plain["resolve_due"].tolist() == [T("2026-06-28 12:00")] * 2


def status_of(responded, resolved, as_of, crm=None):
    received = T("2026-06-01 10:00")
    return item_status(
        responded_at=pd.Series([pd.NaT if responded is None else T(responded)]),
        resolved_at=pd.Series([pd.NaT if resolved is None else T(resolved)]),
        respond_due=pd.Series([received + pd.Timedelta(hours=4)]),
        resolve_due=pd.Series([received + pd.Timedelta(hours=24)]),
        as_of=T(as_of), crm_status=None if crm is None else pd.Series([crm]),
    )[0]


@pytest.mark.parametrize(("responded", "resolved", "as_of", "expected"), [
    (None, None, "2026-06-01 12:00", "open"),
    (None, None, "2026-06-01 14:00", "open"),                  # due exactly now: not yet overdue
    (None, None, "2026-06-01 14:01", "overdue_response"),
    ("2026-06-01 11:00", None, "2026-06-01 20:00", "open"),    # answered in time
    ("2026-06-01 11:00", None, "2026-06-02 10:01", "overdue_resolution"),
    (None, None, "2026-06-03 00:00", "overdue_resolution"),    # resolution overdue wins over response
    ("2026-06-01 11:00", "2026-06-02 09:00", "2026-06-05", "resolved_in_time"),
    (None, "2026-06-02 10:00", "2026-06-05", "resolved_in_time"),  # exactly at the deadline
    (None, "2026-06-02 11:00", "2026-06-05", "resolved_late"),
    # point in time: a resolution after as_of has not happened yet
    ("2026-06-01 11:00", "2026-06-02 11:00", "2026-06-02 10:30", "overdue_resolution"),
    ("2026-06-01 15:00", None, "2026-06-01 14:30", "overdue_response"),
])
def test_status_transitions(responded, resolved, as_of, expected):
    assert status_of(responded, resolved, as_of) == expected


def test_crm_closed_without_resolution_time():
    assert status_of(None, None, "2026-06-05", crm="已关闭") == "resolved_no_time"
    assert status_of(None, None, "2026-06-05", crm="Open") == "overdue_resolution"
    assert status_of(None, "2026-06-02 09:00", "2026-06-05", crm="closed") == "resolved_in_time"


def test_within_deadline_is_pending_until_decided():
    out = within_deadline(
        pd.Series([T("2026-06-01 12:00"), pd.NaT, pd.NaT, T("2026-06-03")]),
        pd.Series([T("2026-06-01 14:00")] * 4) + pd.to_timedelta([0, 0, 72, 0], unit="h"),
        T("2026-06-02"),
    )
    assert out.tolist() == [True, False, pd.NA, False]


def test_followup_analytics_against_hand_computed_figures():
    as_of = T("2026-06-17 12:00")  # a Wednesday; weeks start 2026-06-08 and 2026-06-15
    items = pd.DataFrame({
        "timestamp": pd.to_datetime(["2026-06-08 09:00", "2026-06-09 09:00", "2026-06-10 09:00",
                                     "2026-06-15 09:00", "2026-05-01 09:00"]),
        "responded_at": pd.to_datetime(["2026-06-08 10:00", None, "2026-06-10 19:00", None, None]),
        "resolved_at": pd.to_datetime(["2026-06-08 21:00", "2026-06-12 09:00", None, "2026-06-18 09:00", None]),
        "team": ["logistics", "logistics", "service", "service", "service"],
        "channel": ["chat", "email", "chat", "chat", "chat"],
        "resolution_rating": [5.0, 2.0, 4.0, np.nan, 1.0],
    })
    items["respond_due"] = items["timestamp"] + pd.Timedelta(hours=4)
    items["resolve_due"] = items["timestamp"] + pd.Timedelta(hours=24)
    out = followup_analytics(items, as_of, dimensions=("team", "channel"), weeks=2)
    row = out[(out["dimension"] == "all") & (out["week"] == "all")].iloc[0]
    assert row["volume"] == 4  # the May item is outside the two weeks
    assert row["open_items"] == 2  # item 3 unresolved; item 4 resolved after as_of
    # first response: 1 h, 72 h (the resolution), 10 h
    assert row["response_hours_median"] == pytest.approx(10.0)
    assert row["response_hours_p90"] == pytest.approx(10 + 0.8 * 62)
    assert row["resolution_hours_median"] == pytest.approx((12 + 72) / 2)
    # response: in time, late, late, pending-but-overdue (due 06-15 13:00 < as_of) -> 1 of 4
    assert row["responded_in_time_share"] == pytest.approx(0.25)
    # resolution: in time, late, overdue, pending (due 06-16 09:00 < as_of: overdue) -> 1 of 4
    assert row["resolved_in_time_share"] == pytest.approx(0.25)
    # ratings of resolved items only: 5 and 2 (item 3's rating belongs to an open item)
    assert row["resolution_rating_mean"] == pytest.approx(3.5) and row["ratings"] == 2
    logistics = out[(out["dimension"] == "team") & (out["value"] == "logistics") & (out["week"] == "2026-06-08")].iloc[0]
    assert logistics["volume"] == 2 and logistics["resolved_in_time_share"] == pytest.approx(0.5)
    weeks = out[(out["dimension"] == "all") & (out["week"] != "all")]
    assert weeks["week"].tolist() == ["2026-06-08", "2026-06-15"] and weeks["volume"].tolist() == [3, 1]
