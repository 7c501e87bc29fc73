"""Outcomes after a campaign start, on hand-built tables: point in time, churn-label rule."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from custsat.features.labels import LabelCensoringWarning
from custsat.features.outcomes import customer_outcomes

START = pd.Timestamp("2026-04-01")


def tables():
    ts = pd.Timestamp
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                              "signup_date": [ts("2025-01-01")] * 4 + [ts("2026-03-01")]})
    transactions = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "c", "c", "d", "z"],
        "timestamp": [ts("2026-03-01"), ts("2026-04-10"), ts("2026-05-01"), ts("2026-03-15"),
                      ts("2026-02-01"), ts("2026-06-29 23:00"), ts("2026-07-05"), ts("2026-07-01")],
        "amount": [50.0, 80.0, -20.0, 40.0, 30.0, 99.0, 10.0, 1.0],
    })
    feedback = pd.DataFrame({
        "feedback_id": [f"f{i}" for i in range(6)],
        "customer_id": ["a", "a", "b", "b", "c", "c"],
        "timestamp": [ts("2026-01-10"), ts("2026-04-20"), ts("2026-03-01"), ts("2026-05-01"), ts("2026-04-02"),
                      ts("2026-03-31 23:59")],
        "channel": "survey", "text": "",
        "rating": [2.0, 4.0, 3.0, 1.0, np.nan, 1.0],
        "nps": [5.0, 9.0, np.nan, np.nan, 3.0, np.nan],
        "sentiment": [None, None, None, "negative", "positive", None],
    })
    contracts = pd.DataFrame({"customer_id": ["b", "d"], "start_date": [ts("2025-06-01"), ts("2025-06-01")],
                              "end_date": [ts("2026-12-01"), ts("2026-12-01")],
                              "cancelled_at": [pd.NaT, ts("2026-05-01")]})
    return {"customers": customers, "transactions": transactions, "feedback": feedback, "contracts": contracts}


def test_outcomes_by_hand():
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelCensoringWarning)
        out = customer_outcomes(tables(), ["a", "b", "c", "d", "e"], START, 90)
    # window [2026-04-01, 2026-06-30)
    # a: bought 04-10 (80) and a refund 05-01 (-20): retained, 1 order, spend 60
    assert out.loc["a", ["retained", "purchased", "purchases", "spend"]].tolist() == [1, 1, 1, 60.0]
    # b: no purchase, but an active contract never cancelled: retained by the contract rule
    assert out.loc["b", ["retained", "purchased"]].tolist() == [1, 0]
    # c: bought 06-29 23:00, inside the window
    assert out.loc["c", "retained"] == 1
    # d: contract cancelled 05-01 (inside), a purchase only after the window: churned
    assert out.loc["d", ["retained", "purchased"]].tolist() == [0, 0]
    # e: signed up, never bought (a prospect): not retained, and no label row needed
    assert out.loc["e", ["retained", "spend"]].tolist() == [0, 0.0]
    # CSAT: a rated 2 before (within 365 days) and 4 after: +2; b 3 before, 1 after: -2
    assert out.loc["a", ["csat_before", "csat_after", "csat_change"]].tolist() == [2.0, 4.0, 2.0]
    assert out.loc["b", "csat_change"] == -2.0
    # c: 1 just before the start (before), nothing rated after: change unknown
    assert out.loc["c", "csat_before"] == 1.0 and np.isnan(out.loc["c", "csat_change"])
    assert out.loc["a", "nps_change"] == 4.0
    # complaints in the window: b's negative text (05-01); a's rating 4 is none; c's positive
    assert out["complaints_new"].to_dict() == {"a": 0, "b": 1, "c": 0, "d": 0, "e": 0}


def test_point_in_time_events_outside_the_window_do_not_count():
    base = tables()
    later = {k: v.copy() for k, v in base.items()}
    # events after the window (and before the start) must not move any outcome
    later["transactions"] = pd.concat([later["transactions"], pd.DataFrame({
        "customer_id": ["d", "e"], "timestamp": [pd.Timestamp("2026-06-30"), pd.Timestamp("2026-03-31")],
        "amount": [500.0, 5.0]})], ignore_index=True)
    a = customer_outcomes(base, ["a", "b", "c", "d", "e"], START, 90)
    b = customer_outcomes(later, ["a", "b", "c", "d", "e"], START, 90)
    cols = ["retained", "purchased", "purchases", "spend", "csat_after", "complaints_new"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_censored_window_warns():
    short = tables()
    short["transactions"] = short["transactions"][short["transactions"]["timestamp"] < "2026-05-01"]
    with pytest.warns(LabelCensoringWarning):
        customer_outcomes(short, ["a"], START, 90)
