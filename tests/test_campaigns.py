"""Control groups: deterministic hash assignment, shares per action, control gets the default."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from custsat.serving.campaigns import assign_treatment, assignment_draw, group_sizes
from custsat.serving.policy import PolicyError, load_policy, parse_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def scored_list(n: int, action: str = "retention_call") -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(n)],
        "action_id": action,
        "recommended_action": "x",
        "action_reason": "why",
        "priority": 1,
    })


def test_draw_is_sha256_of_campaign_and_customer():
    digest = hashlib.sha256(b"2026-06\x00C000001").digest()
    expected = int.from_bytes(digest[:8], "big") / 2.0**64
    assert assignment_draw(["C000001"], "2026-06")[0] == pytest.approx(expected, abs=0, rel=1e-15)
    draws = assignment_draw([f"C{i}" for i in range(20_000)], "cmp")
    assert 0 <= draws.min() and draws.max() < 1
    assert abs(draws.mean() - 0.5) < 0.01  # uniform
    with pytest.raises(ValueError, match="campaign_id"):
        assignment_draw(["C1"], " ")


def test_assignment_is_deterministic_order_free_and_per_campaign(policy):
    scored = scored_list(5000)
    first = assign_treatment(scored, policy, "2026-06")
    again = assign_treatment(scored.iloc[::-1].reset_index(drop=True), policy, "2026-06")
    by_id = again.set_index("customer_id").loc[first["customer_id"], "treatment_group"]
    assert (by_id.to_numpy() == first["treatment_group"].to_numpy()).all()
    subset = assign_treatment(scored.iloc[:100], policy, "2026-06")  # other customers do not matter
    assert (subset["treatment_group"].to_numpy() == first["treatment_group"].iloc[:100].to_numpy()).all()
    other = assign_treatment(scored, policy, "2026-07")
    assert (other["treatment_group"] != first["treatment_group"]).mean() > 0.1


def test_control_share_and_control_gets_the_default(policy):
    scored = scored_list(20_000)
    out = assign_treatment(scored, policy, "2026-06", campaign_start="2026-06-30", language="en")
    control = out["treatment_group"].eq("control")
    assert 0.09 < control.mean() < 0.11  # 10% default holdout, binomial sd 0.2%
    assert (out.loc[control, "action_id"] == "standard_care").all()
    assert (out.loc[control, "recommended_action"] == policy.default.en).all()
    assert out.loc[control, "action_reason"].str.contains("withheld").all()
    assert (out.loc[control, "priority"] == len(policy.actions)).all()
    assert (out.loc[~control, "action_id"] == "retention_call").all()
    assert (out["intended_action_id"] == "retention_call").all()
    assert (out["campaign_start"] == pd.Timestamp("2026-06-30")).all()
    assert scored["action_id"].eq("retention_call").all(), "input left alone"
    sizes = group_sizes(out)
    assert sizes[["treated", "control"]].sum(axis=1).item() == 20_000
    assert sizes["control"].item() == int(control.sum())


def test_no_holdout_for_service_recovery_and_default(policy):
    scored = pd.concat([scored_list(3000, "service_recovery"), scored_list(3000, "standard_care")])
    scored["customer_id"] = [f"K{i}" for i in range(len(scored))]
    out = assign_treatment(scored, policy, "2026-06")
    assert out["treatment_group"].eq("treated").all()
    assert out["holdout_share"].eq(0).all()


def test_policy_holdout_validation(policy):
    data = policy.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["rules"][0]["holdout_share"] = 1.0
    with pytest.raises(PolicyError, match="holdout_share"):
        parse_policy(data)
    data["rules"][0]["holdout_share"] = 0.5
    assert parse_policy(data).holdout_for(data["rules"][0]["id"]) == 0.5
    data["default"]["holdout_share"] = 0.2
    with pytest.raises(PolicyError, match="default action cannot"):
        parse_policy(data)


def test_duplicate_customers_refused(policy):
    scored = scored_list(3)
    scored.loc[2, "customer_id"] = scored.loc[0, "customer_id"]
    with pytest.raises(ValueError, match="duplicated"):
        assign_treatment(scored, policy, "c")
    assert np.isfinite(assignment_draw(["x"], "c")).all()
