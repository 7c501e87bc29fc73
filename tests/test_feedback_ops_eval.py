"""The evaluation of trend alerts on synthetic companies: a known spike is flagged, no events no alerts."""

from __future__ import annotations

import pandas as pd

from custsat.data.synth import HiddenEvents, generate_crm
from custsat.models.feedback_ops_eval import false_alerts, labelled_feedback, spike_detection


def test_spike_is_flagged_in_its_onset_week():
    (outcome,) = spike_detection([5], n_customers=12000)
    assert outcome.flagged and outcome.flagged_week == outcome.onset
    assert outcome.count > 2 * outcome.expected


def test_false_alerts_are_rare_without_events():
    table = false_alerts([5], n_customers=12000)
    assert table["weeks_judged"].iloc[0] > 100
    assert table["false_alerts_per_topic_year"].iloc[0] < 1.0


def test_label_noise_drops_and_flips_topic_polarities():
    crm = generate_crm(3000, 1, events=HiddenEvents(new_issue=None))
    clean = labelled_feedback(crm)
    noisy = labelled_feedback(crm, label_noise=0.3, seed=1)
    pairs = lambda s: s.str.count(":").sum()  # noqa: E731
    assert pairs(noisy["topic_sentiments"]) < 0.8 * pairs(clean["topic_sentiments"])
    assert (noisy["topic_sentiments"] != clean["topic_sentiments"]).mean() > 0.3
    assert (clean["event"] == "spike:delivery").sum() > 0 and pd.api.types.is_object_dtype(clean["event"])
