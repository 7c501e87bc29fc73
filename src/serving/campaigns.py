"""Control groups: which customers of each action are held out, decided by a hash.

A campaign is one scored list put into action (``campaign_id``, e.g. ``2026-06``). For
every customer, ``sha256(campaign_id, customer_id)`` gives a number ``u`` in [0, 1); the
customer is in the **control** group of the action the policy chose for them when ``u`` is
below that action's ``holdout_share`` (see :mod:`custsat.serving.policy`), else **treated**.
The draw depends on nothing else, so

* a rerun of the scoring gives the same groups (whatever the row order or the other
  customers), and a customer keeps their group for the whole campaign;
* a new campaign id draws new, independent groups;
* within an action the draw is independent of every customer attribute: treated and
  control differ only by chance, and their outcomes can be compared directly
  (:mod:`custsat.models.effects`).

Control customers receive the policy's fallback (``default``) action instead; the action
they would have received is kept in ``intended_action_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from custsat.serving.policy import Policy

TREATED = "treated"
CONTROL = "control"
#: Columns :func:`assign_treatment` adds or rewrites.
CAMPAIGN_COLUMNS = (
    "campaign_id", "campaign_start", "treatment_group", "intended_action_id", "holdout_share",
)


def assignment_draw(customer_ids: Iterable[Any], campaign_id: str) -> np.ndarray:
    """Uniform [0, 1) number per customer from ``sha256(campaign_id + NUL + customer_id)``.

    The first 8 bytes of the digest, read big-endian, divided by 2**64: the same on every
    machine and in every language that has SHA-256.
    """
    campaign = str(campaign_id)
    if not campaign.strip():
        raise ValueError("campaign_id must not be empty")
    values = [
        int.from_bytes(hashlib.sha256(f"{campaign}\x00{cid}".encode()).digest()[:8], "big")
        for cid in map(str, customer_ids)
    ]
    return np.asarray(values, dtype=np.uint64).astype(np.float64) / 2.0**64


def default_campaign_id(as_of: Any) -> str:
    """A campaign id for a scoring as of ``as_of``: its month, ``YYYY-MM``.

    Rescoring within the month keeps every customer's group; pass your own id to run
    several campaigns a month.
    """
    return f"{pd.Timestamp(as_of):%Y-%m}"


def _names(policy: Policy, language: str) -> tuple[str, str]:
    action = policy.default
    if language == "en":
        return action.en, action.reason_en
    if language == "zh":
        return action.zh, action.reason_zh
    return f"{action.zh} / {action.en}", f"{action.reason_zh} / {action.reason_en}"


def control_reason(intended: str, campaign_id: str, language: str) -> str:
    en = f"Control group of campaign {campaign_id}: '{intended}' withheld to measure its effect"
    zh = f"活动 {campaign_id} 的对照组：暂不执行“{intended}”，用于衡量其效果"
    return {"en": en, "zh": zh}.get(language, f"{zh} / {en}")


def assign_treatment(
    scored: pd.DataFrame,
    policy: Policy,
    campaign_id: str,
    *,
    campaign_start: Any = None,
    language: str = "both",
) -> pd.DataFrame:
    """The scored list with control groups: a copy of ``scored`` (same rows and order) plus

    * ``campaign_id``; ``campaign_start`` (the scoring's ``as_of`` when given: outcomes are
      measured from then on);
    * ``treatment_group``: ``treated`` or ``control``;
    * ``intended_action_id``: the action the policy chose (for treated customers, the one
      they get); ``holdout_share``: that action's control share;
    * for control customers, ``action_id`` / ``recommended_action`` / ``priority`` of the
      policy's default action and an ``action_reason`` saying which action was withheld.

    ``scored`` needs ``customer_id`` and ``action_id`` (from
    :func:`custsat.serving.policy.assign_actions`); ``language`` as there.
    """
    for column in ("customer_id", "action_id"):
        if column not in scored.columns:
            raise ValueError(f"the scored list has no '{column}' column; columns: {list(scored.columns)}")
    if scored["customer_id"].duplicated().any():
        dup = scored.loc[scored["customer_id"].duplicated(keep=False), "customer_id"].head(5).tolist()
        raise ValueError(f"the scored list has duplicated customer_id values, e.g. {dup}")
    out = scored.copy()
    intended = out["action_id"].astype(str)
    shares = {a: policy.holdout_for(a) for a in intended.unique()}
    share = intended.map(shares).astype("float64").to_numpy()
    draw = assignment_draw(out["customer_id"], campaign_id)
    control = draw < share
    out["campaign_id"] = str(campaign_id)
    if campaign_start is not None:
        # microseconds: what DuckDB and Parquet keep, so every scoring path writes the same type
        out["campaign_start"] = pd.Series(pd.Timestamp(campaign_start), index=out.index).astype("datetime64[us]")
    out["treatment_group"] = np.where(control, CONTROL, TREATED).astype(object)
    out["intended_action_id"] = intended.to_numpy(dtype=object)
    out["holdout_share"] = share
    if control.any():
        name, _ = _names(policy, language)
        readable = {a.id: {"en": a.en, "zh": a.zh}.get(language, f"{a.zh} / {a.en}") for a in policy.actions}
        out.loc[control, "action_id"] = policy.default.id
        if "recommended_action" in out:
            out.loc[control, "recommended_action"] = name
        if "action_reason" in out:
            out.loc[control, "action_reason"] = [
                control_reason(readable.get(a, a), str(campaign_id), language) for a in intended[control]
            ]
        if "priority" in out:
            out.loc[control, "priority"] = len(policy.actions)
    return out


def group_sizes(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers per campaign, intended action and group: columns campaign_id,
    intended_action_id, treated, control, control_share (the realised share held out)."""
    needed = ("campaign_id", "intended_action_id", "treatment_group")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"no control groups in this list (missing {missing}); score with a campaign id")
    counts = (
        frame.groupby(["campaign_id", "intended_action_id", "treatment_group"], sort=True).size()
        .unstack("treatment_group", fill_value=0)
        .reindex(columns=[TREATED, CONTROL], fill_value=0)
        .reset_index()
    )
    counts.columns.name = None
    total = (counts[TREATED] + counts[CONTROL]).where(lambda s: s > 0)
    counts["control_share"] = (counts[CONTROL] / total).fillna(0.0)
    return counts
