"""Action policy: conditions, priorities, exactly one action per customer, bad policies refused."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from custsat.serving.policy import (
    DEFAULT_POLICY_PATH,
    Condition,
    PolicyError,
    assign_actions,
    load_policy,
    parse_policy,
)


def customer(**overrides):
    """A customer that no rule but the default catches; override to trigger rules."""
    row = {
        "customer_id": "c",
        "value_tier": "high",
        "abc_class": "A",
        "rfm_segment": "Loyal Customers",
        "lifecycle_stage": "loyal",
        "satisfaction_tier": "medium",
        "satisfaction_source": "csat",
        "nps_category": "passive",
        "sentiment_mean": 0.1,
        "complaints_open": 0,
        "complaints_total": 0,
        "recency_days": 12.0,
        "top_negative_topic": None,
        "negative_feedback_recent": 0,
        "urgent_complaints_recent": 0,
        "churn_probability": 0.1,
        "churn_risk_tier": "low",
        "clv": 900.0,
        "clv_tier": "high",
    }
    row.update(overrides)
    return row


# One hand-built customer per action, and the action the default policy must give it.
CASES = {
    "retention_call": customer(churn_probability=0.7, churn_risk_tier="high", complaints_open=2),
    "service_recovery": customer(complaints_open=1, top_negative_topic="delivery"),
    "win_back": customer(lifecycle_stage="lapsed", recency_days=400.0, value_tier="medium", abc_class="B"),
    "onboarding": customer(lifecycle_stage="new", value_tier="low", abc_class="C"),
    "vip_care": customer(satisfaction_tier="high"),
    "targeted_campaign": customer(value_tier="medium", abc_class="B"),
    "nurture": customer(value_tier="low", abc_class="C", rfm_segment="Hibernating"),
    "standard_care": customer(),
}


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def frame_of(rows):
    return pd.DataFrame([{**r, "customer_id": f"c{i}"} for i, r in enumerate(rows)])


def test_every_action_reachable_and_exactly_one_each(policy):
    frame = frame_of(CASES.values())
    out = assign_actions(frame, policy)
    assert list(out["action_id"]) == list(CASES)
    assert {a.id for a in policy.actions} == set(CASES), "a test case per action of the default policy"
    assert out.index.equals(frame.index)
    assert out["action_reason"].str.len().gt(0).all()
    assert list(out["priority"]) == list(range(1, len(CASES) + 1))


def test_priority_order_first_matching_rule_wins(policy):
    # high value A, high churn risk AND an open complaint: the retention call comes first
    both = customer(churn_probability=0.9, churn_risk_tier="high", complaints_open=1)
    lapsed_new_complaint = customer(lifecycle_stage="lapsed", complaints_open=1)
    out = assign_actions(frame_of([both, lapsed_new_complaint]), policy)
    assert list(out["action_id"]) == ["retention_call", "service_recovery"]


def test_churn_probability_threshold_without_tier(policy):
    just_below = customer(churn_probability=0.4999, churn_risk_tier="medium")
    at = customer(churn_probability=0.5, churn_risk_tier="medium")
    out = assign_actions(frame_of([just_below, at]), policy)
    assert list(out["action_id"]) == ["standard_care", "retention_call"]


def test_reason_names_team_owning_topic_and_values(policy):
    rows = [customer(complaints_open=1, top_negative_topic="delivery"),
            customer(urgent_complaints_recent=1, top_negative_topic="unknown_topic"),
            customer(churn_probability=0.734, churn_risk_tier="high")]
    out = assign_actions(frame_of(rows), policy, language="en")
    assert "Logistics team" in out.loc[0, "action_reason"]
    assert "Customer service team" in out.loc[1, "action_reason"]  # default team
    assert "73%" in out.loc[2, "action_reason"]
    zh = assign_actions(frame_of(rows), policy, language="zh")
    assert "物流部" in zh.loc[0, "action_reason"]
    assert zh.loc[0, "recommended_action"] == "服务补救（转交负责该问题的团队）"
    both = assign_actions(frame_of(rows), policy)
    assert both.loc[0, "recommended_action"].endswith("/ Service recovery by the team owning the complaint topic")


def test_missing_values_never_pass_a_comparison(policy):
    row = customer(churn_probability=np.nan, churn_risk_tier=None, value_tier="high")
    out = assign_actions(frame_of([row]), policy)
    assert out.loc[0, "action_id"] == "standard_care"
    # a blank value in a reason template reads "n/a", never "nan"/"None"
    filled = assign_actions(frame_of([customer(complaints_open=1, top_negative_topic=None)]), policy, language="en")
    assert "on n/a;" in filled.loc[0, "action_reason"] and "None" not in filled.loc[0, "action_reason"]


def test_random_frames_get_exactly_one_action(policy):
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "value_tier": rng.choice(["high", "medium", "low", None], n),
        "abc_class": rng.choice(["A", "B", "C", None], n),
        "rfm_segment": rng.choice(["Champions", "Promising", "Need Attention", "Lost", None], n),
        "lifecycle_stage": rng.choice(["prospect", "new", "repeat", "loyal", "lapsed", "one_time"], n),
        "satisfaction_tier": rng.choice(["high", "medium", "low", None], n),
        "satisfaction_source": "csat",
        "complaints_open": rng.integers(0, 2, n),
        "recency_days": rng.uniform(0, 500, n),
        "top_negative_topic": rng.choice(["delivery", None], n),
        "negative_feedback_recent": rng.integers(0, 2, n),
        "urgent_complaints_recent": rng.integers(0, 2, n),
        "churn_probability": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "churn_risk_tier": rng.choice(["high", "medium", "low"], n),
        "clv_tier": rng.choice(["high", "medium", "low"], n),
    })
    out = assign_actions(frame, policy)
    assert len(out) == n and out["action_id"].notna().all()
    # reference: evaluate each rule independently and take the first hit by hand
    hits = np.column_stack([r.when.evaluate(frame) for r in policy.rules] + [np.ones(n, bool)])
    first = hits.argmax(axis=1)
    assert (out["action_id"].to_numpy() == np.array([policy.actions[i].id for i in first])).all()


def test_condition_language():
    frame = pd.DataFrame({"x": [1.0, 5.0, np.nan, 3.0], "t": ["a", "b", None, "a"]})
    cond = Condition.model_validate({"all": [{"column": "x", "gte": 2}, {"not": {"column": "t", "in": ["b"]}}]})
    assert cond.evaluate(frame).tolist() == [False, False, False, True]
    assert Condition.model_validate({"column": "x", "is_null": True}).evaluate(frame).tolist() == [False, False, True, False]
    assert Condition.model_validate({"column": "t", "ne": "a"}).evaluate(frame).tolist() == [False, True, False, False]
    assert Condition.model_validate({"any": [{"column": "x", "lt": 2}, {"column": "t", "eq": "b"}]}).evaluate(
        frame).tolist() == [True, True, False, False]
    assert Condition.model_validate({"column": "t", "not_in": ["a"]}).evaluate(frame).tolist() == [False, True, False, False]


def _default_dict():
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0]["when"].update({"any": []}), "rules.0.when"),
        (lambda d: d["rules"][1].update({"when": {"column": "complaints_open", "bigger": 1}}), "bigger"),
        (lambda d: d["rules"][1].update({"when": {"column": "complaints_open"}}), "has no operator"),
        (lambda d: d["rules"][1].update({"when": {"column": "complaints_open", "gte": "many"}}), "rules.1.when"),
        (lambda d: d["rules"][2].update({"id": "retention_call"}), "duplicated: ['retention_call']"),
        (lambda d: d.pop("default"), "default"),
        (lambda d: d["rules"][0].pop("zh"), "rules.0.zh"),
        (lambda d: d["rules"][0].update({"reason_en": "risk {churn_probability!r}"}), "malformed placeholder"),
        (lambda d: d["rules"][0].update({"reason_en": "{__class__.__init__}"}), "malformed placeholder"),
        (lambda d: d.update({"rules": []}), "rules"),
        (lambda d: d["rules"][0].update({"when": {"all": [{"column": "x", "eq": 1}], "any": [{"column": "y", "eq": 1}]}}),
         "exactly one of all/any/not"),
    ],
)
def test_bad_policy_refused_with_clear_error(mutate, message):
    data = copy.deepcopy(_default_dict())
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data, source="my_policy.yaml")
    text = str(info.value)
    assert "invalid action policy my_policy.yaml" in text
    assert message in text


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
    bad.write_text("- just a list", encoding="utf-8")
    with pytest.raises(PolicyError, match="mapping at the top level"):
        load_policy(bad)


def test_policy_naming_unknown_column_refused_at_apply(policy):
    data = copy.deepcopy(_default_dict())
    data["rules"][0]["when"] = {"column": "loyalty_points", "gte": 100}
    custom = parse_policy(data)
    with pytest.raises(PolicyError, match="'loyalty_points' \\(in retention_call\\)"):
        assign_actions(frame_of([customer()]), custom)


def test_text_column_compared_with_number_refused(policy):
    data = copy.deepcopy(_default_dict())
    data["rules"][0]["when"] = {"column": "value_tier", "gte": 1}
    custom = parse_policy(data)
    with pytest.raises(PolicyError, match="compares column 'value_tier' with a number"):
        assign_actions(frame_of([customer()]), custom)


def test_edited_policy_changes_actions_without_code(tmp_path):
    data = copy.deepcopy(_default_dict())
    data["rules"][0]["when"]["all"][2] = {"column": "churn_probability", "gte": 0.05}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = assign_actions(frame_of([customer(churn_probability=0.1)]), load_policy(path))
    assert out.loc[0, "action_id"] == "retention_call"
