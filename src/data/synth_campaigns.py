"""A past campaign in the synthetic company: actions, randomised control groups, true effects.

``generate_crm(..., past_campaign=True)`` simulates that, ``window_days`` before the export
(``campaign_start = as_of - window_days``), the company put a scored list into action:

* every customer known then got one action from a simple rule set on what the company saw
  before the campaign (last year's spend, purchase history), in priority order:

  ================  ==================================================  ========  =========================================
  action            who                                                 holdout   true effect on the churn hazard
  ================  ==================================================  ========  =========================================
  retention_call    value tier high/medium, not lapsed                  50%       hazard x exp(-2 p), order 0.5 p, where
                                                                                  p = :func:`persuadable` is near 1 for
                                                                                  dissatisfied high-value customers and
                                                                                  near 0 for satisfied ones
  onboarding        first purchase in the last 90 days                  10%       hazard x 0.7, order 0.15
  win_back          lapsed (no purchase for 180 days), 2+ purchases     10%       hazard x 0.75, order 0.10 (nothing
                                                                                  for customers already gone)
  nurture           any other buyer                                     10%       hazard x 0.95, order 0.02
  standard_care     everyone else (prospects): the fallback             0         none
  ================  ==================================================  ========  =========================================

  ("order q": a treated customer still active places an extra order within 30 days of the
  start with probability q.)

* a random share of each action's customers (the holdout) is the control group and gets
  ``standard_care`` instead;
* an action multiplies the customer's churn hazard from the campaign start on, and may
  bring an extra order. Churn is drawn for both arms from the same unit exponential
  (common random numbers), the purchases are one Poisson process cut at the churn time and
  the extra order comes from one uniform draw per customer, so each customer's two
  potential outcomes are known exactly: retained if treated / if not (by the churn label's
  rule: no cancellation of an active contract, else a purchase in the window) and the
  spend in the window.

Ground truth lands in ``truth/campaign_list`` (the list as the company used it: the columns
of a custsat scored list with control groups) and ``truth/campaign_outcomes`` (both
potential outcomes per customer, the hazard multiplier and the customer's expected annual
spend). The realised data (what ``evaluate actions`` reads) follow the actual group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CAMPAIGN_ID = "past-campaign"
WINDOW_DAYS = 90
#: action -> holdout share (the pilot of personal calls holds out half).
HOLDOUT = {"retention_call": 0.5, "onboarding": 0.1, "win_back": 0.1, "nurture": 0.1, "standard_care": 0.0}
#: hazard multipliers of the homogeneous actions.
MULTIPLIER = {"onboarding": 0.7, "win_back": 0.75, "nurture": 0.95, "standard_care": 1.0}
PRIORITY = ("retention_call", "onboarding", "win_back", "nurture", "standard_care")
ACTION_NAMES = {
    "retention_call": ("客户经理一对一挽留回访", "Personal retention call by account manager"),
    "onboarding": ("新客户引导计划", "Onboarding programme for new customers"),
    "win_back": ("流失客户召回优惠", "Win-back offer"),
    "nurture": ("自动化低成本培育", "Automated low-cost nurture"),
    "standard_care": ("常规客户维护", "Standard account care"),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def persuadable(satisfaction: np.ndarray, value: np.ndarray) -> np.ndarray:
    """How much a personal call can do for a customer, in [0, 1] (latent traits, standard normal).

    Near 1 for dissatisfied high-value customers, near 0 for satisfied or low-value ones: a
    call fixes a grievance worth fixing; it does not make a happy customer happier.
    """
    return _sigmoid(-3.0 * (satisfaction + 0.3)) * _sigmoid(3.0 * (value - 0.2))


def retention_call_beta(satisfaction: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Log-reduction of the churn hazard by a personal call: up to 2.0 (hazard x 0.14)."""
    return 2.0 * persuadable(satisfaction, value)


def response_probability(action: np.ndarray, satisfaction: np.ndarray, value: np.ndarray,
                         alive: np.ndarray) -> np.ndarray:
    """Chance that a treated customer places an order in answer to the action (within 30 days):
    retention call 0.5 x persuadable, onboarding 0.15, win-back 0.10 (0 for customers
    already gone), nurture 0.02, standard care 0."""
    q = np.select(
        [action == "retention_call", action == "onboarding", action == "win_back", action == "nurture"],
        [0.5 * persuadable(satisfaction, value), np.full(len(action), 0.15), np.full(len(action), 0.10),
         np.full(len(action), 0.02)], 0.0,
    )
    return np.where(alive, q, 0.0)


def append_purchases(tx: dict, cust: np.ndarray, day: np.ndarray, amount: np.ndarray, cat: np.ndarray) -> dict:
    """``tx`` with extra one-item purchases (no refunds) appended."""
    out = dict(tx)
    out["cust"] = np.r_[tx["cust"], cust]
    out["day"] = np.r_[tx["day"], day]
    out["amount"] = np.r_[tx["amount"], amount]
    out["qty"] = np.r_[tx["qty"], np.ones(len(cust))]
    out["cat"] = np.r_[tx["cat"], cat]
    return out


def expected_annual_spend(cust: dict, tx_per_year: float, seg_tx_mult, seg_basket_log, category_p,
                          category_price, pref_share: float = 0.55) -> np.ndarray:
    """Expected spend per year while active (purchase rate x expected order value), the
    simulator's own formulas (:func:`custsat.data.synth._transactions`)."""
    sat, value, seg = cust["sat"], cust["value"], cust["segment"]
    rate = tx_per_year * np.exp(0.3 * sat + 0.45 * value - 0.145) * seg_tx_mult[seg]
    basket = np.exp(4.0 + 0.5 * value + seg_basket_log[seg])
    n_cat = len(category_p)
    cat_p = (1 - pref_share) * np.tile(category_p, (len(sat), 1))
    cat_p[np.arange(len(sat)), cust["pref_cat"]] += pref_share
    qty = 1.0 + np.where(seg[:, None] == 1, 1.5, 0.3) + np.where(np.arange(n_cat)[None, :] == 4, 0.5, 0.0)
    order_value = basket * (cat_p * category_price[None, :] * qty).sum(axis=1)
    return np.where(cust["prospect"], 0.0, rate * order_value)


def pre_campaign_view(cust: dict, tx: dict, churn0: np.ndarray, start: float) -> dict:
    """What the company saw at ``start`` (purchases before it and before churn): purchase
    count, first and last purchase day, spend in the last 365 days; per customer."""
    n = len(cust["sat"])
    stop = np.where(np.isnan(churn0), np.inf, churn0)
    seen = (tx["day"] < start) & (tx["day"] < stop[tx["cust"]])
    c, d = tx["cust"][seen], tx["day"][seen]
    count = np.bincount(c, minlength=n)
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    if len(c):
        np.fmin.at(first, c, d)
        np.fmax.at(last, c, d)
    recent = d >= start - 365.0
    spend = np.bincount(c[recent], weights=tx["amount"][seen][recent], minlength=n)
    return dict(count=count, first=first, last=last, spend=spend)


def value_tiers(spend: np.ndarray) -> np.ndarray:
    """high = top 20% of last year's spenders, medium = next 30%, low = the rest (and no spend)."""
    tier = np.full(len(spend), "low", dtype=object)
    buyers = np.flatnonzero(spend > 0)
    if len(buyers):
        rank = np.argsort(np.argsort(-spend[buyers], kind="stable"), kind="stable") / len(buyers)
        tier[buyers[rank < 0.5]] = "medium"
        tier[buyers[rank < 0.2]] = "high"
    return tier


def lifecycle(view: dict, start: float) -> np.ndarray:
    """The feature builder's stages from the pre-campaign purchases (purchase count for days)."""
    count, recency, age = view["count"], start - view["last"], start - view["first"]
    return np.select(
        [count == 0, recency >= 180, age < 90, count >= 5, count >= 2],
        ["prospect", "lapsed", "new", "loyal", "repeat"], "one_time",
    ).astype(object)


def choose_actions(tier: np.ndarray, stage: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The company's rules, in priority order (see the module docstring)."""
    return np.select(
        [np.isin(tier, ["high", "medium"]) & ~np.isin(stage, ["lapsed", "prospect"]),
         stage == "new",
         (stage == "lapsed") & (count >= 2),
         count > 0],
        ["retention_call", "onboarding", "win_back", "nurture"], "standard_care",
    ).astype(object)


def hazard_at(h0: np.ndarray, complaint_cust: np.ndarray, complaint_day: np.ndarray,
              complaint_level: np.ndarray, day: float) -> np.ndarray:
    """Daily hazard per customer at ``day`` (base x the level after the last complaint before it)."""
    level = np.zeros(len(h0))
    before = complaint_day < day
    # complaints are sorted by customer and day: the last write per customer wins
    level[complaint_cust[before]] = complaint_level[before]
    return h0 * np.exp(level)


def company_risk(hazard: np.ndarray, alive: np.ndarray, window: float, rng: np.random.Generator) -> np.ndarray:
    """The company's churn-risk score then: the true window churn probability seen through a
    noisy model (logit + N(0, 0.5²)); customers already gone look like 0.95."""
    p = np.where(alive, 1.0 - np.exp(-hazard * window), 0.95)
    logit = np.log(p / (1 - p)) + 0.5 * rng.standard_normal(len(p))
    return _sigmoid(logit)


def truncate_transactions(tx: dict, stop: np.ndarray) -> dict:
    """Purchases (and their refunds) strictly before each customer's ``stop`` day (NaN = never)."""
    limit = np.where(np.isnan(stop), np.inf, stop)
    keep = tx["day"] < limit[tx["cust"]]
    new_index = np.cumsum(keep) - 1
    r_keep = keep[tx["r_src"]] & (tx["r_day"] < limit[tx["cust"][tx["r_src"]]]) if len(tx["r_src"]) else np.zeros(0, bool)
    out = {k: tx[k][keep] for k in ("cust", "day", "amount", "qty", "cat")}
    out["r_src"] = new_index[tx["r_src"][r_keep]]
    for k in ("r_day", "r_amount", "r_qty"):
        out[k] = tx[k][r_keep]
    return out


def window_outcome(tx: dict, churn: np.ndarray, start: float, window: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(purchased in ``[start, start + window)`` before churn, net spend there) per customer."""
    limit = np.where(np.isnan(churn), np.inf, churn)
    p_in = (tx["day"] >= start) & (tx["day"] < start + window) & (tx["day"] < limit[tx["cust"]])
    bought = np.bincount(tx["cust"][p_in], minlength=n) > 0
    spend = np.bincount(tx["cust"][p_in], weights=tx["amount"][p_in], minlength=n)
    if len(tx["r_src"]):
        rc = tx["cust"][tx["r_src"]]
        r_in = (tx["r_day"] >= start) & (tx["r_day"] < start + window) & (tx["r_day"] < limit[rc])
        spend = spend + np.bincount(rc[r_in], weights=tx["r_amount"][r_in], minlength=n)
    return bought, spend


def retained(bought: np.ndarray, churn: np.ndarray, contract_active: np.ndarray, start: float, window: float) -> np.ndarray:
    """The churn label's rule: an active contract not cancelled in the window, else a purchase."""
    kept_contract = np.isnan(churn) | (churn >= start + window)
    return np.where(contract_active, kept_contract, bought)


def campaign_frames(
    *, cid: np.ndarray, known: np.ndarray, tier: np.ndarray, stage: np.ndarray, risk: np.ndarray,
    clv: np.ndarray, action: np.ndarray, control: np.ndarray, multiplier: np.ndarray,
    retained0: np.ndarray, retained1: np.ndarray, spend0: np.ndarray, spend1: np.ndarray,
    annual_value: np.ndarray, start_ts: pd.Timestamp, campaign_id: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The campaign list (as the company used it) and the potential outcomes, known customers only."""
    idx = np.flatnonzero(known)
    act = action[idx]
    ctrl = control[idx]
    given = np.where(ctrl, "standard_care", act).astype(object)
    names = np.array([f"{ACTION_NAMES[a][0]} / {ACTION_NAMES[a][1]}" for a in given], dtype=object)
    risk_tier = np.select([risk[idx] >= 0.3, risk[idx] >= 0.1], ["high", "medium"], "low").astype(object)
    listed = pd.DataFrame({
        "customer_id": cid[idx],
        "value_tier": tier[idx],
        "lifecycle_stage": stage[idx],
        "churn_probability": risk[idx],
        "churn_risk_tier": risk_tier,
        "clv": clv[idx],
        "recommended_action": names,
        "priority": np.array([PRIORITY.index(a) + 1 for a in given], dtype=np.int64),
        "action_id": given,
        "campaign_id": campaign_id,
        "campaign_start": pd.Timestamp(start_ts),
        "treatment_group": np.where(ctrl, "control", "treated").astype(object),
        "intended_action_id": act,
        "holdout_share": np.array([HOLDOUT[a] for a in act]),
    })
    outcomes = pd.DataFrame({
        "customer_id": cid[idx],
        "campaign_id": campaign_id,
        "intended_action_id": act,
        "treatment_group": listed["treatment_group"].to_numpy(),
        "hazard_multiplier": multiplier[idx],
        "retained_if_treated": retained1[idx],
        "retained_if_control": retained0[idx],
        "effect_retained": retained1[idx].astype(np.int64) - retained0[idx].astype(np.int64),
        "spend_if_treated": spend1[idx],
        "spend_if_control": spend0[idx],
        "annual_value": annual_value[idx],
    })
    return listed, outcomes


def true_average_effects(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per action: customers, the true average effect on retention (mean of the potential
    outcome differences over the action's customers, both groups) and on window spend."""
    grouped = outcomes.assign(effect_spend=outcomes["spend_if_treated"] - outcomes["spend_if_control"]).groupby(
        "intended_action_id", sort=True)
    return pd.DataFrame({
        "customers": grouped.size(),
        "true_effect_retained": grouped["effect_retained"].mean(),
        "true_effect_spend": grouped["effect_spend"].mean(),
    }).reset_index().rename(columns={"intended_action_id": "action_id"})
