"""A coherent synthetic company: customers, transactions, feedback and contracts.

Every customer carries two hidden traits: a latent **satisfaction** (standard normal) and
a latent **value** (standard normal, mildly correlated with satisfaction). They drive

* purchases: a Poisson process whose rate rises with value and satisfaction; basket size
  rises with value; refunds are more frequent for unhappy customers;
* feedback: a Poisson process whose rate rises as satisfaction falls; each item's
  sentiment, CSAT rating (1-5) and NPS (0-10) come from one noisy draw around the
  customer's satisfaction, so they agree with each other and with the text;
* churn: a piecewise-constant hazard ``h(t) = h0 * exp(-0.8 * satisfaction) *
  exp(level(t))`` where ``level`` rises with every complaint before ``t`` (more if the
  complaint is never resolved). Churn times are drawn exactly by inverting the
  cumulative hazard. After churn a customer neither buys nor writes.

The simulation runs to ``as_of + horizon_days``. The contract tables hold what a CRM
export taken at ``as_of`` would show (events with ``timestamp <= as_of``; an ``as_of``
given as a date means midnight at its start). Everything else is ground truth, kept apart
in ``SyntheticCRM.truth``: churn times (possibly after ``as_of``), latent traits,
the future transactions and feedback, and the true topics and sentiment of each text.

Everything is vectorised numpy/pandas; feedback texts are composed from phrase banks
(:mod:`custsat.data.synth_text`) by index sampling, with Python loops only over the few
percent of texts that get PII or traditional characters. Deterministic for a seed
(``numpy.random.SeedSequence``; no global state).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.data import synth_campaigns as sc
from custsat.data import synth_text as st

DEFAULT_AS_OF = "2026-06-30"
SECONDS_PER_DAY = 86_400

REGIONS = ("East China", "North China", "South China", "West China", "Hong Kong", "Singapore",
           "North America", "Europe")
REGION_P = np.array([0.19, 0.13, 0.12, 0.07, 0.06, 0.08, 0.16, 0.19])
REGION_P_ZH = np.array([0.97, 0.97, 0.97, 0.97, 0.90, 0.50, 0.15, 0.08])  # prefers Chinese
REGION_P_TRAD = np.array([0.02, 0.02, 0.03, 0.02, 0.70, 0.10, 0.25, 0.20])  # traditional chars
ACQ_CHANNELS = ("online", "app", "store", "partner")
ACQ_CHANNEL_P = np.array([0.45, 0.25, 0.20, 0.10])
SEGMENTS = ("consumer", "business", "premium")
SEGMENT_P = np.array([0.78, 0.14, 0.08])
SEG_TX_MULT = np.array([1.0, 1.5, 1.3])
SEG_BASKET_LOG = np.array([0.0, 0.6, 0.4])
SEG_HAZARD_MULT = np.array([1.0, 0.8, 0.85])
SEG_FEEDBACK_MULT = np.array([1.0, 1.3, 1.1])
SEG_CONTRACT_P = np.array([0.12, 0.50, 0.45])

CATEGORY_P = np.array([0.15, 0.15, 0.22, 0.16, 0.22, 0.10])
CATEGORY_PRICE = np.array([4.0, 2.5, 1.2, 0.7, 0.35, 1.5])

FEEDBACK_CHANNELS = ("survey", "email", "phone", "chat", "social", "review", "app")
# rows: negative, neutral, positive
CHANNEL_BY_SENTIMENT = np.array([
    [0.15, 0.14, 0.18, 0.20, 0.10, 0.13, 0.10],
    [0.25, 0.15, 0.10, 0.15, 0.05, 0.15, 0.15],
    [0.30, 0.05, 0.04, 0.08, 0.08, 0.30, 0.15],
])
RATING_P = np.array([0.95, 0.20, 0.35, 0.50, 0.0, 1.0, 0.80])  # by feedback channel
NPS_P = np.array([0.70, 0.10, 0.0, 0.0, 0.0, 0.0, 0.25])
TOPIC_WEIGHT = np.array([0.16, 0.12, 0.08, 0.13, 0.14, 0.12, 0.12, 0.06, 0.07])
TOPIC_NEG_MULT = np.array([1.1, 1.0, 0.9, 1.2, 1.3, 1.0, 1.6, 0.9, 1.0])
N_TOPICS_P = np.array([0.12, 0.50, 0.38])

TRANSACTION_COLUMNS = ["customer_id", "timestamp", "amount", "order_id", "quantity", "category"]
FEEDBACK_COLUMNS = ["feedback_id", "customer_id", "timestamp", "channel", "text", "rating", "nps",
                    "resolved_at"]
#: Service columns of the feedback table (what the CRM knows about handling each item).
SERVICE_COLUMNS = ["responded_at", "team", "assignee", "status", "resolution_rating"]

# Teams owning each topic (as in the default policy's topic_teams) and their handling speed:
# a multiplier of the median first-response time, and an assignee-id prefix.
TEAMS = {
    "Quality assurance team": (1.3, "QA"), "Product team": (1.6, "PRD"), "Customer service team": (0.8, "CS"),
    "Logistics team": (1.4, "LOG"), "Pricing and sales team": (1.0, "SAL"), "After-sales support team": (1.2, "AS"),
    "Store operations team": (1.1, "STO"),
}
TEAM_BY_TOPIC = ("Quality assurance team", "Product team", "Product team", "Customer service team", "Logistics team",
                 "Pricing and sales team", "After-sales support team", "Logistics team", "Store operations team")
DEFAULT_TEAM = "Customer service team"
# Median hours to the first response by feedback channel (survey, email, phone, chat, social, review, app)
RESPONSE_MEDIAN_H = np.array([20.0, 6.0, 0.25, 0.5, 3.0, 30.0, 4.0])
ROUTED_CHANNELS = ("email", "phone", "chat")  # these arrive through the service desk, which sets team/assignee
# the default policy's resolution deadlines (hours) by urgency (high, normal): late handling lowers ratings
RESOLVE_DEADLINE_H = {"high": 24.0, "normal": 72.0}
ISSUE_CHANNEL_P = np.array([0.0, 0.15, 0.10, 0.20, 0.05, 0.0, 0.50])  # new app issue: mostly in the app


@dataclass(frozen=True)
class HiddenEvents:
    """Switchable events for measuring trend alerts and emerging-issue detection.

    * spike: ``spike_multiplier`` x the usual negative mentions of ``spike_topic`` during
      ``spike_weeks`` whole ISO weeks, starting on the Monday ``spike_weeks_before`` weeks
      before the week of ``as_of``. The extra items are complaints about that topic (as the
      only topic, or as the negative one of two) from customers active at the time.
    * new issue: ``new_issue`` (a key of ``synth_text.NEW_ISSUES``, a problem the default
      taxonomy does not cover) starts ``new_issue_days_before`` days before ``as_of`` and goes on
      at ``new_issue_per_1000`` complaints a week per 1,000 customers (Poisson), in both
      languages, mostly through the app.

    ``None`` for a topic/issue switches that event off. The events do not feed back into churn.
    Recorded in ``truth["events"]`` and in ``truth["feedback"]["event"]``.
    """

    spike_topic: str | None = "delivery"
    spike_multiplier: float = 3.0
    spike_weeks: int = 2
    spike_weeks_before: int = 4
    new_issue: str | None = "app_login"
    new_issue_days_before: int = 14
    new_issue_per_1000: float = 0.5

    def __post_init__(self):
        if self.spike_topic is not None and self.spike_topic not in st.TOPICS:
            raise ValueError(f"spike_topic must be one of {st.TOPICS}, got {self.spike_topic!r}")
        if self.new_issue is not None and self.new_issue not in st.NEW_ISSUES:
            raise ValueError(f"new_issue must be one of {sorted(st.NEW_ISSUES)}, got {self.new_issue!r}")
        if self.spike_multiplier < 1 or self.spike_weeks < 1 or self.spike_weeks_before < 0:
            raise ValueError("spike_multiplier must be >= 1, spike_weeks >= 1 and spike_weeks_before >= 0")
        if self.new_issue_days_before < 0 or self.new_issue_per_1000 < 0:
            raise ValueError("new_issue_days_before and new_issue_per_1000 must be >= 0")


@dataclass
class SyntheticCRM:
    """A generated company.

    ``tables``: contract frames as exported at ``as_of`` (customers, transactions,
    feedback, contracts). ``truth``: ground-truth frames (customers: latent traits and
    ``churn_time``; feedback: true topics and sentiment for every feedback id, past and
    future; future_transactions / future_feedback: events in ``(as_of, as_of+horizon]``).
    ``meta``: generation parameters and row counts.
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["as_of"])


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _ids(prefix: str, numbers: np.ndarray, width: int, suffix: np.ndarray | None = None,
         suffix_text: str = "", chunk: int = 2_000_000) -> np.ndarray:
    """Object array of ids like ``C0000001`` from non-negative integers (vectorised).

    Digits are written into a byte matrix, so no per-row Python formatting happens;
    ``suffix`` (bool per row) appends ``suffix_text``. Built in chunks to bound memory.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    if n and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids do not fit in {width} digits")
    pre, suf = prefix.encode(), suffix_text.encode()
    cols = len(pre) + width + len(suf)
    out = np.empty(n, dtype=object)
    for lo in range(0, n, chunk):
        part = numbers[lo:lo + chunk]
        buf = np.zeros((len(part), cols), dtype=np.uint8)
        buf[:, :len(pre)] = np.frombuffer(pre, dtype=np.uint8)
        rest = part.copy()
        for j in range(width - 1, -1, -1):
            buf[:, len(pre) + j] = 48 + rest % 10
            rest //= 10
        if suf and suffix is not None:
            rows = np.flatnonzero(suffix[lo:lo + chunk])
            buf[rows[:, None], len(pre) + width + np.arange(len(suf))] = np.frombuffer(suf, np.uint8)
        # trailing NUL bytes (no suffix) are dropped by the bytes -> str conversion
        out[lo:lo + chunk] = buf.view(f"S{cols}").ravel().astype(f"U{cols}").astype(object)
    return out


def _to_ts(t0: pd.Timestamp, days: np.ndarray) -> np.ndarray:
    """Float days since ``t0`` -> datetime64[ns], floored to whole seconds; NaN -> NaT."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(days)
    secs = np.floor(days[ok] * SECONDS_PER_DAY).astype(np.int64)
    out[ok] = np.datetime64(t0.to_datetime64(), "ns") + secs.astype("timedelta64[s]")
    return out


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (cum < u[:, None]).sum(axis=1).clip(max=probs.shape[1] - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _group_rank(sorted_groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal values (input sorted)."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_pos


class _Bank:
    """Phrase bank: key -> templates -> variants, sampled template-first (vectorised).

    Sampling the template first keeps templates with many fillings from crowding out
    short ones.
    """

    def __init__(self, entries: list[list[list[str]]]):
        variants: list[str] = []
        t_start, t_size, k_start, k_count = [], [], [], []
        for templates in entries:
            k_start.append(len(t_start))
            k_count.append(len(templates))
            for fills in templates:
                t_start.append(len(variants))
                t_size.append(len(fills))
                variants.extend(fills)
        self.variants = np.array(variants, dtype=object)
        self.capital = np.array([v[:1].upper() + v[1:] for v in variants], dtype=object)
        self.question = np.array(["?" in v or "？" in v for v in variants], dtype=bool)
        self.empty = np.array([v == "" for v in variants], dtype=bool)
        self.t_start, self.t_size = np.array(t_start), np.array(t_size)
        self.k_start, self.k_count = np.array(k_start), np.array(k_count)

    def sample(self, keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices into ``variants`` (also ``capital``, ``question``, ``empty``)."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0:
            return np.zeros(0, dtype=np.int64)
        u1, u2 = rng.random(len(keys)), rng.random(len(keys))
        tmpl = self.k_start[keys] + (u1 * self.k_count[keys]).astype(np.int64)
        return self.t_start[tmpl] + (u2 * self.t_size[tmpl]).astype(np.int64)


_PRODUCTS = [(cat, zh, en) for cat in st.CATEGORIES for zh, en in st.PRODUCTS[cat]]
_PRODUCT_CATEGORY = np.array([st.CATEGORIES.index(c) for c, _, _ in _PRODUCTS])
_N_PRODUCTS = len(_PRODUCTS)
_BANKS: dict[str, Any] = {}


def _banks() -> dict[str, Any]:
    """Build (once per process) the clause, general, opener, closer and joiner banks."""
    if _BANKS:
        return _BANKS
    clause_entries = []  # key = ((lang * T + topic) * S + sentiment) * P + product
    for lang in st.LANGUAGES:
        for topic in st.TOPICS:
            for sentiment in st.SENTIMENTS:
                for category, zh, en in _PRODUCTS:
                    nouns = st.product_nouns(lang, topic, category, zh if lang == "zh" else en)
                    clause_entries.append([
                        st.expand(t, lang, sentiment, nouns)
                        for t in st.CLAUSES[lang][topic][sentiment]
                    ])

    def by_lang_sentiment(bank: dict) -> list:
        return [[st.expand(t, lang, s, None) for t in bank[lang][s]]
                for lang in st.LANGUAGES for s in st.SENTIMENTS]

    _BANKS.update(
        clause=_Bank(clause_entries),
        general=_Bank(by_lang_sentiment(st.GENERAL)),
        opener=_Bank(by_lang_sentiment(st.OPENERS)),
        closer=_Bank(by_lang_sentiment(st.CLOSERS)),
        strong_closer=_Bank(by_lang_sentiment(st.STRONG_CLOSERS)),
        joiner=_Bank([[[j] for j in st.JOINERS[lang][kind]]
                      for lang in st.LANGUAGES for kind in ("same", "contrast")]),
        emoji=_Bank([[[e] for e in st.EMOJI[s]] for s in st.SENTIMENTS]),
    )
    return _BANKS


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------
def generate_crm(
    n_customers: int,
    seed: int | None = None,
    as_of: str | pd.Timestamp = DEFAULT_AS_OF,
    *,
    history_days: int = 1000,
    horizon_days: int = 365,
    tx_per_year: float = 8.0,
    feedback_per_year: float = 1.0,
    annual_churn: float = 0.2,
    prospect_share: float = 0.03,
    pii_share: float = 0.04,
    past_campaign: bool = False,
    campaign_window_days: int = 90,
    surveys: bool = False,
    events: HiddenEvents | None = None,
) -> SyntheticCRM:
    """Generate a synthetic CRM of ``n_customers`` customers.

    Parameters
    ----------
    n_customers: number of customers (>= 1).
    seed: random seed; ``None`` takes ``get_settings().seed``.
    as_of: export instant; tables hold events with ``timestamp <= as_of``.
    history_days: length of the observed history before ``as_of`` (signups fall in it).
    horizon_days: days simulated after ``as_of`` (truth only: future events, churn times).
    tx_per_year: purchase rate of an average customer (events per year while active).
    feedback_per_year: feedback rate of an average customer (items per year while active).
    annual_churn: baseline churn hazard per year at average satisfaction and no complaints.
    prospect_share: share of customers who sign up but never buy.
    pii_share: share of feedback texts that contain a phone, e-mail, ID or card number.
    past_campaign: simulate a campaign with randomised control groups that started
        ``campaign_window_days`` before ``as_of`` (:mod:`custsat.data.synth_campaigns`):
        its list and every customer's two potential outcomes go to ``truth``. Off, the
        company is exactly the one generated without it.
    surveys: add a ``surveys`` table (attribute ratings and an overall score built from
        them with known weights, :mod:`custsat.data.synth_surveys`); the weights go to
        ``truth/survey_weights``. Off, nothing else changes either way.
    events: hidden events (a complaint spike, a new issue; see :class:`HiddenEvents`), or None
        (default: none, and every other output is the same as without this option).

    The service columns of the feedback table (first response, team and assignee when the item
    came through the service desk, CRM status, the customer's rating of the handling) come from
    separate random streams, so they leave every other column unchanged.
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 1:
        raise ValueError(f"n_customers must be a positive integer, got {n_customers!r}")
    if history_days < 60:
        raise ValueError(f"history_days must be >= 60, got {history_days}")
    if horizon_days < 0:
        raise ValueError(f"horizon_days must be >= 0, got {horizon_days}")
    for name, value in (("prospect_share", prospect_share), ("pii_share", pii_share)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    for name, value in (("tx_per_year", tx_per_year), ("feedback_per_year", feedback_per_year),
                        ("annual_churn", annual_churn)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if seed is None:
        from custsat.config import get_settings

        seed = get_settings().seed
    try:
        as_of_ts = pd.Timestamp(as_of)
    except (ValueError, TypeError) as err:
        raise ValueError(f"as_of must be a date like '2026-06-30', got {as_of!r}") from err
    if as_of_ts.tzinfo is not None:
        as_of_ts = as_of_ts.tz_convert(None)
    n = int(n_customers)
    H = float(history_days)
    end = H + float(horizon_days)
    t0 = as_of_ts - pd.Timedelta(days=history_days)
    rng_c, rng_f, rng_h, rng_t, rng_x, rng_k = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)
    )

    # extra streams for the optional parts (the first six are the same as without them):
    # 6-7 campaign and surveys, 8-9 the feedback service columns and the hidden events
    rng_p, rng_s, rng_service, rng_events = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(10)[6:])
    if past_campaign and not 30 <= campaign_window_days <= history_days - 30:
        raise ValueError(f"campaign_window_days must be within 30..{history_days - 30}, got {campaign_window_days}")
    width = max(7, len(str(n)))
    cid = _ids("C", np.arange(1, n + 1), width)

    cust = _customers(n, H, prospect_share, rng_c)
    fb = _feedback_events(cust, H, end, feedback_per_year, rng_f)
    if past_campaign:
        plan = _plan_campaign(cust, fb, end, annual_churn, tx_per_year, rng_h, rng_t, rng_p,
                              start=H - float(campaign_window_days), window=float(campaign_window_days))
        churn_day = plan["churn"]
    else:
        churn_day = _churn_times(cust, fb, end, annual_churn, rng_h)
    cust["churn_day"] = churn_day
    alive = ~(fb["day"] >= churn_day[fb["cust"]])
    fb = {k: v[alive] for k, v in fb.items()}
    tx = plan["tx"] if past_campaign else _transactions(cust, churn_day, end, tx_per_year, rng_t)
    texts = _texts(cust, fb, pii_share, rng_x)
    texts["event"] = np.full(len(fb["cust"]), "", dtype=object)
    event_rows: list[dict] = []
    if events is not None:
        fb, texts, event_rows = _inject_events(cust, fb, texts, events, as_of_ts, t0, H, end, pii_share, rng_events)
    contracts = _contracts(cust, H, rng_k)
    extra_truth = _campaign_truth(plan, cust, contracts, cid, t0) if past_campaign else {}

    tables, truth = _assemble(cust, fb, texts, tx, contracts, cid, t0, H, end, rng_service)
    truth["events"] = _events_table(event_rows, t0)
    truth.update(extra_truth)
    if surveys:
        from custsat.data import synth_surveys

        tables["surveys"], truth["survey_weights"] = synth_surveys.generate_surveys(
            cust, cid, t0, H, rng_s, churn_day=churn_day)
    meta = {
        "seed": int(seed), "n_customers": n, "as_of": str(as_of_ts), "start": str(t0),
        "horizon_end": str(t0 + pd.Timedelta(days=end)), "history_days": history_days,
        "horizon_days": horizon_days, "tx_per_year": tx_per_year,
        "feedback_per_year": feedback_per_year, "annual_churn": annual_churn,
        "prospect_share": prospect_share, "pii_share": pii_share,
        **({"past_campaign": {"campaign_id": sc.CAMPAIGN_ID, "campaign_window_days": campaign_window_days,
                              "campaign_start": str(t0 + pd.Timedelta(days=H - campaign_window_days)),
                              "holdout": sc.HOLDOUT}} if past_campaign else {}),
        **({"surveys": True} if surveys else {}),
        **({"events": dict(events.__dict__)} if events is not None else {}),
        "rows": {**{k: len(v) for k, v in tables.items()},
                 **{f"truth/{k}": len(v) for k, v in truth.items()}},
    }
    return SyntheticCRM(tables=tables, truth=truth, meta=meta)


def _customers(n: int, H: float, prospect_share: float, rng: np.random.Generator) -> dict:
    sat = rng.standard_normal(n)
    value = 0.25 * sat + np.sqrt(1 - 0.25**2) * rng.standard_normal(n)
    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    channel = rng.choice(len(ACQ_CHANNELS), size=n, p=ACQ_CHANNEL_P)
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_P)
    prospect = rng.random(n) < prospect_share
    # a growing customer base: more recent signups; prospects signed up recently
    signup = np.floor(H * rng.random(n) ** 0.8)
    recent = np.floor(H - rng.exponential(60.0, n)).clip(0, H - 1)
    signup = np.where(prospect, recent, signup).clip(0, H - 1)
    lang_zh = rng.random(n) < REGION_P_ZH[region]
    trad = rng.random(n) < REGION_P_TRAD[region]
    pref_cat = rng.choice(len(st.CATEGORIES), size=n, p=CATEGORY_P)
    contract = (~prospect) & (rng.random(n) < SEG_CONTRACT_P[segment])
    return dict(sat=sat, value=value, region=region, channel=channel, segment=segment,
                prospect=prospect, signup=signup, lang_zh=lang_zh, trad=trad,
                pref_cat=pref_cat, contract=contract)


def _feedback_events(cust: dict, H: float, end: float, per_year: float,
                     rng: np.random.Generator) -> dict:
    """Feedback events over [signup, end], before churn is known (filtered later)."""
    sat, seg = cust["sat"], cust["segment"]
    rate = per_year / 365.0 * np.exp(-0.45 * sat - 0.1) * SEG_FEEDBACK_MULT[seg]
    rate = np.where(cust["prospect"], rate * 0.4, rate)
    dur = end - cust["signup"]
    counts = rng.poisson(rate * dur)
    c = np.repeat(np.arange(len(sat)), counts)
    day = cust["signup"][c] + rng.random(len(c)) * dur[c]
    order = np.lexsort((day, c))
    c, day = c[order], day[order]
    m = len(c)
    z = sat[c] + 0.75 * rng.standard_normal(m)
    sentiment = np.where(z < -0.7, 0, np.where(z > 0.35, 2, 1))  # 0 neg, 1 neu, 2 pos
    channel = _choice_rows(rng, CHANNEL_BY_SENTIMENT[sentiment])
    rating = np.clip(np.rint(3.1 + 1.1 * z + 0.5 * rng.standard_normal(m)), 1, 5)
    nps = np.clip(np.rint(7.0 + 1.9 * z + 1.0 * rng.standard_normal(m)), 0, 10)
    rating = np.where(rng.random(m) < RATING_P[channel], rating, np.nan)
    nps = np.where(rng.random(m) < NPS_P[channel], nps, np.nan)
    # resolution: complaints take longer; some are never resolved
    median = np.array([1.5, 0.4, 0.1])[sentiment]
    sigma = np.array([1.1, 1.0, 0.8])[sentiment]
    delay = median * np.exp(sigma * rng.standard_normal(m))
    p_open = np.where(sentiment == 0, 0.08 + 0.12 * _sigmoid(-2 * sat[c]),
                      np.where(sentiment == 1, 0.03, 0.01))
    never = rng.random(m) < p_open
    resolved = np.where(never, np.nan, day + delay)
    return dict(cust=c, day=day, z=z, sentiment=sentiment, channel=channel, rating=rating,
                nps=nps, resolved=resolved, never=never)


def _base_hazard(cust: dict, annual_churn: float) -> np.ndarray:
    """Daily churn hazard per customer before any complaint."""
    return (annual_churn / 365.0 * np.exp(-0.8 * cust["sat"]) * SEG_HAZARD_MULT[cust["segment"]]
            * np.where(cust["contract"], 0.55, 1.0))


def _complaint_levels(fb: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, day, hazard log-level after it) of every complaint, sorted by customer and day.

    Each complaint raises the level by 0.35 (0.7 if it is never resolved), capped at 1.5.
    """
    neg = fb["sentiment"] == 0
    nc, nday = fb["cust"][neg], fb["day"][neg]
    step = np.where(fb["never"][neg], 0.7, 0.35)
    # level after each complaint = cumulative steps within customer (sorted by cust, day)
    cum = np.cumsum(step)
    first = np.r_[True, nc[1:] != nc[:-1]] if len(nc) else np.zeros(0, bool)
    base = np.maximum.accumulate(np.where(first, cum - step, 0.0)) if len(nc) else cum
    return nc, nday, np.minimum(cum - base, 1.5)


def _churn_times(cust: dict, fb: dict, end: float, annual_churn: float,
                 rng: np.random.Generator, *, e: np.ndarray | None = None,
                 change_day: float | None = None, multiplier: np.ndarray | None = None) -> np.ndarray:
    """Exact draws from a piecewise-constant hazard that jumps at each complaint.

    Returns churn day per customer (NaN if no churn before ``end``; prospects never churn).
    ``e`` (unit exponentials, one per customer) replaces the draw from ``rng``, so that two
    calls share their randomness; ``change_day`` / ``multiplier`` multiply each customer's
    hazard from that day on (an action's effect; :mod:`custsat.data.synth_campaigns`).
    """
    n = len(cust["sat"])
    h0 = _base_hazard(cust, annual_churn)
    nc, nday, level = _complaint_levels(fb)
    seg_c = np.r_[np.arange(n), nc]
    seg_s = np.r_[cust["signup"], nday]
    seg_l = np.r_[np.zeros(n), level]
    if change_day is None:
        order = np.lexsort((seg_s, seg_c))
        seg_c, seg_s, seg_l = seg_c[order], seg_s[order], seg_l[order]
    else:
        # a breakpoint per customer at the change (or signup, if later), carrying the level
        # in force then; at equal times the complaint/signup segment sorts first
        brk = np.maximum(float(change_day), cust["signup"])
        seg_c = np.r_[seg_c, np.arange(n)]
        seg_s = np.r_[seg_s, brk]
        seg_l = np.r_[seg_l, np.full(n, np.nan)]
        is_brk = np.r_[np.zeros(len(seg_c) - n, bool), np.ones(n, bool)]
        order = np.lexsort((is_brk, seg_s, seg_c))
        seg_c, seg_s, seg_l = seg_c[order], seg_s[order], seg_l[order]
        filled = np.maximum.accumulate(np.where(np.isnan(seg_l), 0, np.arange(len(seg_l))))
        seg_l = seg_l[filled]
        after = seg_s >= brk[seg_c]
    last = np.r_[seg_c[1:] != seg_c[:-1], True]
    seg_e = np.where(last, np.inf, np.r_[seg_s[1:], np.inf])
    rate = h0[seg_c] * np.exp(seg_l)
    if change_day is not None:
        rate = rate * np.where(after, np.asarray(multiplier, dtype=np.float64)[seg_c], 1.0)
    mass = np.where(last, 0.0, rate * (seg_e - seg_s))
    csum = np.cumsum(mass)
    group_start = np.r_[True, last[:-1]]
    offset = np.maximum.accumulate(np.where(group_start, csum - mass, 0.0))
    before = csum - mass - offset  # cumulative hazard at segment start
    e = rng.exponential(1.0, n) if e is None else e
    inside = before <= e[seg_c]
    counts = np.bincount(seg_c[inside], minlength=n)  # prefix within each group
    starts = np.flatnonzero(group_start)
    k = starts + counts - 1
    churn = seg_s[k] + (e - before[k]) / rate[k]
    churn = np.where((churn < end) & ~cust["prospect"] & (rate[k] > 0), churn, np.nan)
    return churn


def _transactions(cust: dict, churn: np.ndarray, end: float, per_year: float,
                  rng: np.random.Generator) -> dict:
    sat, value, seg = cust["sat"], cust["value"], cust["segment"]
    n = len(sat)
    stop = np.where(np.isnan(churn), end, churn)
    first = cust["signup"] + rng.exponential(5.0, n)
    buyer = (~cust["prospect"]) & (first < stop)
    rate = (per_year / 365.0 * np.exp(0.3 * sat + 0.45 * value - 0.145) * SEG_TX_MULT[seg])
    dur = np.where(buyer, stop - first, 0.0)
    extra = rng.poisson(rate * dur)
    counts = buyer.astype(np.int64) + extra
    c = np.repeat(np.arange(n), counts)
    pos = _group_rank(c)
    u = rng.random(len(c))
    day = np.where(pos == 0, first[c], first[c] + u * dur[c])
    m = len(c)
    pref = rng.random(m) < 0.55
    cat = np.where(pref, cust["pref_cat"][c], rng.choice(len(st.CATEGORIES), size=m, p=CATEGORY_P))
    basket = np.exp(4.0 + 0.5 * value + SEG_BASKET_LOG[seg])
    unit = basket[c] * CATEGORY_PRICE[cat] * np.exp(0.5 * rng.standard_normal(m) - 0.125)
    lam_q = np.where(seg[c] == 1, 1.5, 0.3) + np.where(cat == 4, 0.5, 0.0)
    qty = 1.0 + rng.poisson(lam_q)
    amount = np.round(unit * qty, 2)
    # refunds: separate negative rows, later than the purchase, only while still a customer
    p_ref = np.minimum(0.025 * np.exp(-0.6 * sat[c]), 0.2)
    r = np.flatnonzero(rng.random(m) < p_ref)
    r_day = day[r] + 1.0 + rng.exponential(5.0, len(r))
    keep = r_day < stop[c[r]]
    r, r_day = r[keep], r_day[keep]
    full = rng.random(len(r)) < 0.7
    r_amount = -np.where(full, amount[r], np.round(amount[r] * rng.uniform(0.1, 0.7, len(r)), 2))
    r_qty = np.where(full, qty[r], 0.0)
    return dict(cust=c, day=day, amount=amount, qty=qty, cat=cat,
                r_src=r, r_day=r_day, r_amount=r_amount, r_qty=r_qty)


def _texts(cust: dict, fb: dict, pii_share: float, rng: np.random.Generator,
           force_topic: np.ndarray | None = None) -> dict:
    """Compose one text per feedback event; return texts and their true labels.

    ``force_topic`` (topic index per event, -1 = free) makes that topic one the text is about,
    with the event's own sentiment (the spike event's extra complaints). The random draws are
    the same with or without it.
    """
    banks = _banks()
    m = len(fb["cust"])
    c = fb["cust"]
    sent = fb["sentiment"]
    T, S, P = len(st.TOPICS), len(st.SENTIMENTS), _N_PRODUCTS
    # language: the customer's preferred language, sometimes the other one
    zh = np.where(rng.random(m) < 0.93, cust["lang_zh"][c], ~cust["lang_zh"][c])
    lang = np.where(zh, 0, 1)
    # topics: 0-2, weighted by sentiment and (for premises) the store channel
    w = np.tile(TOPIC_WEIGHT, (m, 1))
    w[sent == 0] *= TOPIC_NEG_MULT
    w[cust["channel"][c] == ACQ_CHANNELS.index("store"), 8] *= 3.0
    n_top = rng.choice(3, size=m, p=N_TOPICS_P)
    n_top = np.where(FEEDBACK_CHANNELS.index("survey") == fb["channel"],
                     np.minimum(n_top, rng.choice(3, size=m, p=[0.3, 0.5, 0.2])), n_top)
    gumbel = np.log(w) - np.log(-np.log(rng.random((m, T))))  # Gumbel top-2 = weighted draw
    t1 = gumbel.argmax(axis=1)
    gumbel[np.arange(m), t1] = -np.inf
    t2 = gumbel.argmax(axis=1)
    del gumbel, w
    # clause sentiments: pure, or mixed with a contrast joiner
    u = rng.random(m)
    s1 = sent.copy()
    s2 = sent.copy()
    contrast = np.zeros(m, dtype=bool)
    two = n_top == 2
    neg, neu, pos = two & (sent == 0), two & (sent == 1), two & (sent == 2)
    s1[neg & (u < 0.15)] = 1
    sel = neg & (u >= 0.15) & (u < 0.50)
    s1[sel], contrast[sel] = 2, True
    s1[pos & (u < 0.15)] = 1
    sel = pos & (u >= 0.15) & (u < 0.45)
    s1[sel], contrast[sel] = 0, True
    # some one-topic complaints/praise describe the facts neutrally and carry their
    # sentiment only in the closing words ("5天到货，不会再买了")
    flat = (n_top == 1) & (sent != 1) & (u < 0.15)
    s1[flat] = 1
    sel = neu & (u < 0.25)
    s1[sel], s2[sel], contrast[sel] = 2, 0, True
    sel = neu & (u >= 0.25) & (u < 0.5)
    s1[sel], s2[sel], contrast[sel] = 0, 2, True
    if force_topic is not None:  # the forced topic takes the clause that carries the event's sentiment
        forced = force_topic >= 0
        n_top = np.where(forced & (n_top == 0), 1, n_top)
        two = n_top == 2
        one = forced & ~two
        t1, s1 = np.where(one, force_topic, t1), np.where(one, sent, s1)
        flat &= ~forced
        pair = forced & two
        t1 = np.where(pair & (t1 == force_topic), t2, t1)
        t2, s2 = np.where(pair, force_topic, t2), np.where(pair, sent, s2)
    # product noun from the category of the customer's usual purchases
    cat = np.where(rng.random(m) < 0.8, cust["pref_cat"][c],
                   rng.choice(len(st.CATEGORIES), size=m, p=CATEGORY_P))
    prod_in_cat = np.array([sum(_PRODUCT_CATEGORY == k) for k in range(len(st.CATEGORIES))])
    prod_first = np.array([np.flatnonzero(_PRODUCT_CATEGORY == k)[0]
                           for k in range(len(st.CATEGORIES))])
    prod = prod_first[cat] + (rng.random(m) * prod_in_cat[cat]).astype(np.int64)

    def clause_key(topic, s):
        return ((lang * T + topic) * S + s) * P + prod

    ls = lang * S + sent
    en = lang == 1
    cb, gb = banks["clause"], banks["general"]
    i1 = cb.sample(clause_key(t1, s1), rng)
    i2 = cb.sample(clause_key(t2, s2), rng)
    ig = gb.sample(ls, rng)
    io = banks["opener"].sample(ls, rng)
    ic = banks["closer"].sample(ls, rng)
    i_strong = banks["strong_closer"].sample(ls, rng)
    ij = banks["joiner"].sample(lang * 2 + contrast, rng)
    # English texts start with a capital: the opener, or the first clause if no opener
    cap_body = en & banks["opener"].empty[io]
    opener = np.where(en, banks["opener"].capital[io], banks["opener"].variants[io])
    first = np.where(n_top == 0, np.where(cap_body, gb.capital[ig], gb.variants[ig]),
                     np.where(cap_body, cb.capital[i1], cb.variants[i1]))
    body = opener + first
    body = np.where(two, body + banks["joiner"].variants[ij] + cb.variants[i2], body)
    closer = np.where(flat, banks["strong_closer"].variants[i_strong], banks["closer"].variants[ic])
    text = body + closer
    question = np.where(n_top == 0, gb.question[ig], cb.question[i1] | (two & cb.question[i2]))
    question |= np.where(flat, banks["strong_closer"].question[i_strong], banks["closer"].question[ic])
    # emoji (sometimes sarcastic / off-sentiment)
    emo_s = np.where(rng.random(m) < 0.1, rng.integers(0, 3, m), sent)
    emo = banks["emoji"].variants[banks["emoji"].sample(emo_s, rng)]
    text = np.where(rng.random(m) < 0.12, text + emo, text)
    texts = pd.Series(text, dtype=object)
    # English: some informal lower case, some angry upper case
    r = rng.random(m)
    low = en & (r < 0.12)
    if low.any():
        texts[low] = texts[low].str.lower()
    shout = en & (r > 0.97) & (sent == 0)
    if shout.any():
        texts[shout] = texts[shout].str.upper()
    # no doubled punctuation after questions ("发货？，" / "backpack?.")
    if question.any():
        texts[question] = texts[question].str.replace(r"([?？])[?？.。，,]+", r"\1", regex=True)
    # traditional characters for some Chinese writers (mostly Hong Kong)
    trad = zh & cust["trad"][c] & (rng.random(m) < 0.85)
    if trad.any():
        texts[trad] = texts[trad].str.translate(st.S2T)
    # PII and order numbers in a small share of texts (Python loop over that share only)
    pii_kind = np.full(m, "", dtype=object)
    kinds = np.array(["phone", "email", "idno", "card"])
    has_pii = rng.random(m) < pii_share
    pii_kind[has_pii] = kinds[rng.choice(4, size=int(has_pii.sum()), p=[0.55, 0.25, 0.1, 0.1])]
    has_order = rng.random(m) < 0.05
    idx = np.flatnonzero(has_pii | has_order)
    if len(idx):
        sub_rng = random.Random(int(rng.integers(2**63)))
        values = texts.to_numpy(dtype=object)
        for i in idx:
            values[i] = _add_extras(values[i], "zh" if zh[i] else "en", pii_kind[i],
                                    bool(has_order[i]), sub_rng)
        texts = pd.Series(values, dtype=object)
    topics = np.where(n_top == 0, "", np.where(n_top == 1, np.array(st.TOPICS, dtype=object)[t1], ""))
    lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
    names = np.array(st.TOPICS, dtype=object)
    topics = np.where(two, names[lo] + ";" + names[hi], topics)
    sents = np.array(st.SENTIMENTS, dtype=object)
    aspects = np.where(n_top == 0, "", names[t1] + ":" + sents[s1])
    aspects = np.where(two, aspects + ";" + names[t2] + ":" + sents[s2], aspects)
    # the topic a CRM would route the item by: the more negative one of two
    owner = np.where(n_top == 0, -1, np.where(two & (s2 < s1), t2, t1))
    return dict(text=texts.to_numpy(dtype=object), language=np.where(zh, "zh", "en").astype(object),
                topics=topics.astype(object), aspects=aspects.astype(object),
                n_topics=n_top, traditional=trad, pii=pii_kind, has_order_no=has_order, owner_topic=owner)


def _add_extras(text: str, lang: str, pii: str, order: bool, rng: random.Random) -> str:
    sep = "，" if lang == "zh" else ", "
    if pii:
        tmpl = st.PII_TEMPLATES[lang][pii]
        sentence = tmpl[rng.randrange(len(tmpl))].format(**{pii: _pii_value(pii, lang, rng)})
        if rng.random() < 0.3:
            if lang == "en":
                sentence = sentence[:1].upper() + sentence[1:]
                text = text if text.startswith("I ") else text[:1].lower() + text[1:]
            text = sentence + sep + text
        else:
            text = text.rstrip("。.!！") + sep + sentence
    if order:
        tmpl = st.PII_TEMPLATES[lang]["order"]
        number = "".join(rng.choices("0123456789", k=12))
        text = text + " " + tmpl[rng.randrange(len(tmpl))].format(order=number)
    return text


def _pii_value(kind: str, lang: str, rng: random.Random) -> str:
    digits = lambda k: "".join(rng.choices("0123456789", k=k))  # noqa: E731
    if kind == "phone":
        if lang == "en" and rng.random() < 0.4:
            return f"+1 {rng.randrange(201, 990)}-{digits(3)}-{digits(4)}"
        mobile = f"1{rng.randrange(3, 10)}{digits(9)}"
        style = rng.randrange(3)
        if style == 1:
            return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
        if style == 2:
            return f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
        return mobile
    if kind == "email":
        return f"{st.EMAIL_NAMES[rng.randrange(len(st.EMAIL_NAMES))]}{rng.randrange(1, 99)}@" \
               f"{st.EMAIL_DOMAINS[rng.randrange(len(st.EMAIL_DOMAINS))]}"
    if kind == "idno":
        year = rng.randrange(1960, 2005)
        return f"{rng.randrange(11, 66)}{digits(4)}{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" \
               f"{digits(3)}{'0123456789X'[rng.randrange(11)]}"
    if kind == "card":
        card = "62" + digits(14)
        return card if rng.random() < 0.5 else " ".join(card[i:i + 4] for i in range(0, 16, 4))
    raise ValueError(kind)


# --------------------------------------------------------------------------------------
# Hidden events (switched off by default)
# --------------------------------------------------------------------------------------
EVENT_COLUMNS = ["event", "kind", "topic", "start", "end", "multiplier", "n_items", "baseline_per_week"]


def _active_customers(cust: dict, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One customer per event day, active then (signed up, not churned), drawn by feedback propensity."""
    n = len(cust["sat"])
    weight = np.exp(-0.45 * cust["sat"]) * SEG_FEEDBACK_MULT[cust["segment"]] * np.where(cust["prospect"], 0.4, 1.0)
    p = weight / weight.sum()
    out = np.full(len(day), -1, dtype=np.int64)
    todo = np.arange(len(day))
    for _ in range(50):  # rejection sampling; almost every customer is active at almost every time
        if not len(todo):
            break
        cand = rng.choice(n, size=len(todo), p=p)
        churn = cust["churn_day"][cand]
        ok = (cust["signup"][cand] <= day[todo]) & ~(churn <= day[todo])
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    if len(todo):
        raise ValueError("no active customers for the hidden events (company too small or too young)")
    return out


def _complaints(cust: dict, c: np.ndarray, day: np.ndarray, channel: np.ndarray, rng: np.random.Generator) -> dict:
    """Feedback-event fields for extra complaints (sentiment negative), as _feedback_events draws them."""
    m = len(c)
    z = np.minimum(cust["sat"][c] + 0.75 * rng.standard_normal(m), -0.7 - np.abs(0.3 * rng.standard_normal(m)))
    rating = np.clip(np.rint(3.1 + 1.1 * z + 0.5 * rng.standard_normal(m)), 1, 5)
    nps = np.clip(np.rint(7.0 + 1.9 * z + 1.0 * rng.standard_normal(m)), 0, 10)
    rating = np.where(rng.random(m) < RATING_P[channel], rating, np.nan)
    nps = np.where(rng.random(m) < NPS_P[channel], nps, np.nan)
    delay = 1.5 * np.exp(1.1 * rng.standard_normal(m))
    never = rng.random(m) < 0.08 + 0.12 * _sigmoid(-2 * cust["sat"][c])
    return dict(cust=c, day=day, z=z, sentiment=np.zeros(m, dtype=np.int64), channel=channel, rating=rating,
                nps=nps, resolved=np.where(never, np.nan, day + delay), never=never)


def _issue_texts(cust: dict, fb: dict, issue: str, rng: np.random.Generator) -> dict:
    """Complaint texts about a new issue: opener + issue sentence + closer (+ emoji), both languages."""
    banks = _banks()
    m = len(fb["cust"])
    c = fb["cust"]
    zh = np.where(rng.random(m) < 0.93, cust["lang_zh"][c], ~cust["lang_zh"][c])
    lang = np.where(zh, 0, 1)
    entries = [[st.expand(t, lg, "negative", None) for t in st.NEW_ISSUES[issue][lg]] for lg in st.LANGUAGES]
    bank = _Bank(entries)
    ls = lang * len(st.SENTIMENTS)  # negative = sentiment 0
    i_body = bank.sample(lang, rng)
    io = banks["opener"].sample(ls, rng)
    ic = banks["closer"].sample(ls, rng)
    en = lang == 1
    cap = en & banks["opener"].empty[io]
    opener = np.where(en, banks["opener"].capital[io], banks["opener"].variants[io])
    body = np.where(cap, bank.capital[i_body], bank.variants[i_body])
    text = opener + body + banks["closer"].variants[ic]
    emo = banks["emoji"].variants[banks["emoji"].sample(np.zeros(m, dtype=np.int64), rng)]
    text = np.where(rng.random(m) < 0.12, text + emo, text)
    texts = pd.Series(text, dtype=object)
    trad = zh & cust["trad"][c] & (rng.random(m) < 0.85)
    if trad.any():
        texts[trad] = texts[trad].str.translate(st.S2T)
    empty = np.full(m, "", dtype=object)
    return dict(text=texts.to_numpy(dtype=object), language=np.where(zh, "zh", "en").astype(object),
                topics=empty.copy(), aspects=empty.copy(), n_topics=np.zeros(m, dtype=np.int64), traditional=trad,
                pii=empty.copy(), has_order_no=np.zeros(m, dtype=bool), owner_topic=np.full(m, -1),
                event=np.full(m, f"new_issue:{issue}", dtype=object))


def _inject_events(cust, fb, texts, events: HiddenEvents, as_of_ts, t0, H, end, pii_share, rng):
    """Append the hidden events' feedback to ``fb`` / ``texts``; return them and the event records."""
    rows = []
    parts_fb, parts_tx = [fb], [texts]
    as_of_monday = (as_of_ts.normalize() - pd.Timedelta(days=as_of_ts.weekday()))
    if events.spike_topic is not None:
        k = st.TOPICS.index(events.spike_topic)
        start_ts = as_of_monday - pd.Timedelta(weeks=events.spike_weeks_before)
        start = (start_ts - t0) / pd.Timedelta(days=1)
        stop = start + 7.0 * events.spike_weeks
        # the topic's usual negative mentions per week: the 26 weeks before the spike
        neg_k = np.char.find(texts["aspects"].astype(str), f"{events.spike_topic}:negative") >= 0
        base = neg_k & (fb["day"] >= start - 182.0) & (fb["day"] < start)
        per_week = float(base.sum()) / 26.0
        n_extra = int(rng.poisson((events.spike_multiplier - 1.0) * per_week * events.spike_weeks))
        day = start + rng.random(n_extra) * (stop - start)
        c = _active_customers(cust, day, rng)
        channel = _choice_rows(rng, np.tile(CHANNEL_BY_SENTIMENT[0], (n_extra, 1)))
        extra = _complaints(cust, c, day, channel, rng)
        tx = _texts(cust, extra, pii_share, rng, force_topic=np.full(n_extra, k))
        tx["event"] = np.full(n_extra, f"spike:{events.spike_topic}", dtype=object)
        parts_fb.append(extra)
        parts_tx.append(tx)
        rows.append(dict(event=f"spike:{events.spike_topic}", kind="spike", topic=events.spike_topic, start=start,
                         end=stop, multiplier=events.spike_multiplier, n_items=n_extra, baseline_per_week=per_week))
    if events.new_issue is not None:
        start = H - float(events.new_issue_days_before)
        rate = events.new_issue_per_1000 * len(cust["sat"]) / 1000.0 / 7.0  # per day
        n_new = int(rng.poisson(rate * (end - start)))
        day = np.sort(start + rng.random(n_new) * (end - start))
        c = _active_customers(cust, day, rng)
        channel = rng.choice(len(FEEDBACK_CHANNELS), size=n_new, p=ISSUE_CHANNEL_P)
        extra = _complaints(cust, c, day, channel, rng)
        parts_fb.append(extra)
        parts_tx.append(_issue_texts(cust, extra, events.new_issue, rng))
        rows.append(dict(event=f"new_issue:{events.new_issue}", kind="new_issue", topic=None, start=start, end=end,
                         multiplier=np.nan, n_items=n_new, baseline_per_week=0.0))
    fb_out = {key: np.concatenate([p[key] for p in parts_fb]) for key in fb}
    tx_out = {key: np.concatenate([p[key] for p in parts_tx]) for key in texts}
    return fb_out, tx_out, rows


def _events_table(rows: list[dict], t0: pd.Timestamp) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    for col in ("start", "end"):
        frame[col] = _to_ts(t0, frame[col].to_numpy(dtype=np.float64)) if len(frame) else pd.Series(
            dtype="datetime64[ns]")
    return frame.astype({"multiplier": "float64", "baseline_per_week": "float64", "n_items": "int64"})


def _service_fields(fb: dict, texts: dict, urgent: np.ndarray, t0: pd.Timestamp, rng: np.random.Generator) -> dict:
    """First response, routing, and the rating of the handling, per feedback event (time order of ``fb``).

    Response times vary by channel (phone minutes, reviews a day), team and urgency; weekend
    items outside phone/chat wait for Monday. Items without a separate response are answered by
    their resolution. Resolved complaints are rated 1-5 by about a third of the customers, lower
    when the resolution came after the default deadline or took long.
    """
    m = len(fb["day"])
    owner = texts["owner_topic"]
    team = np.where(owner >= 0, np.array(TEAM_BY_TOPIC, dtype=object)[np.maximum(owner, 0)], DEFAULT_TEAM)
    speed = np.array([TEAMS[t][0] for t in team])
    chan = fb["channel"]
    hours = RESPONSE_MEDIAN_H[chan] * speed * np.where(urgent, 0.4, 1.0) * np.exp(0.9 * rng.standard_normal(m))
    weekday = ((t0 + pd.to_timedelta(np.floor(fb["day"]), unit="D")).weekday).to_numpy()
    live = np.isin(chan, [FEEDBACK_CHANNELS.index("phone"), FEEDBACK_CHANNELS.index("chat")])
    hours = hours + np.where((weekday >= 5) & ~live, 24.0 * (7 - weekday), 0.0)
    responded = fb["day"] + hours / 24.0
    resolved = fb["resolved"]
    # praise often gets no separate reply (its closing counts); some open complaints were never answered
    no_reply = np.where(fb["sentiment"] == 2, rng.random(m) < 0.5, rng.random(m) < 0.05)
    responded = np.where(no_reply, np.nan, responded)
    responded = np.where(np.isnan(resolved), responded, np.fmin(responded, resolved))
    routed = np.isin(chan, [FEEDBACK_CHANNELS.index(c) for c in ROUTED_CHANNELS])
    agent = (rng.random(m) * 6).astype(np.int64) + 1
    prefix = np.array([TEAMS[t][1] for t in team], dtype=object)
    assignee = np.where(routed, prefix + "-" + np.char.zfill(agent.astype(str), 2).astype(object), None)
    took_h = (resolved - fb["day"]) * 24.0
    deadline = np.where(urgent, RESOLVE_DEADLINE_H["high"], RESOLVE_DEADLINE_H["normal"])
    late = took_h > deadline
    raw = 3.3 + 0.8 * fb["z"] - 1.2 * late - 0.6 * (took_h > 120) + 0.7 * rng.standard_normal(m)
    rated = ~np.isnan(resolved) & (rng.random(m) < np.where(fb["sentiment"] == 2, 0.15, 0.35))
    rating = np.where(rated, np.clip(np.rint(raw), 1, 5), np.nan)
    return dict(responded=responded, team=np.where(routed, team, None), assignee=assignee, rating=rating)


def _add_service_columns(frame: pd.DataFrame, svc: dict, resolved: np.ndarray, now: float, t0: pd.Timestamp) -> None:
    """Append SERVICE_COLUMNS to ``frame`` (rows in time order), as known at day ``now``.

    ``svc["responded"]`` and ``resolved`` are in days since ``t0`` (NaN = not (yet) happened).
    """
    responded = svc["responded"]
    frame["responded_at"] = _to_ts(t0, responded)
    frame["team"] = svc["team"]
    frame["assignee"] = svc["assignee"]
    with np.errstate(invalid="ignore"):
        status = np.where(resolved <= now, "closed", np.where(responded <= now, "in_progress", "new"))
    frame["status"] = status.astype(object)
    frame["resolution_rating"] = svc["rating"].astype(np.float64)


def _plan_campaign(cust: dict, fb: dict, end: float, annual_churn: float, tx_per_year: float,
                   rng_h: np.random.Generator, rng_t: np.random.Generator, rng_p: np.random.Generator,
                   *, start: float, window: float) -> dict:
    """Churn and purchases with a campaign at day ``start`` (see :mod:`custsat.data.synth_campaigns`).

    Both arms share one unit exponential per customer (common random numbers) and one
    purchase process (drawn to ``end`` and cut at the churn day), so what happened before
    the campaign is the same in both and each customer's two potential outcomes are exact.
    """
    n = len(cust["sat"])
    e = rng_h.exponential(1.0, n)
    churn0 = _churn_times(cust, fb, end, annual_churn, rng_h, e=e)
    tx_full = _transactions(cust, np.full(n, np.nan), end, tx_per_year, rng_t)
    view = sc.pre_campaign_view(cust, tx_full, churn0, start)
    known = cust["signup"] < start
    tier = sc.value_tiers(view["spend"])
    stage = sc.lifecycle(view, start)
    action = np.where(known, sc.choose_actions(tier, stage, view["count"]), "standard_care").astype(object)
    control = rng_p.random(n) < np.array([sc.HOLDOUT[a] for a in action])
    beta = sc.retention_call_beta(cust["sat"], cust["value"])
    multiplier = np.where(action == "retention_call", np.exp(-beta),
                          np.array([sc.MULTIPLIER.get(a, 1.0) for a in action]))
    churn1 = _churn_times(cust, fb, end, annual_churn, rng_h, e=e, change_day=start, multiplier=multiplier)
    churn1 = np.where(multiplier == 1.0, churn0, churn1)  # no effect: exactly the same day
    churn = np.where(control, churn0, churn1)
    nc, nday, level = _complaint_levels(fb)
    hazard = sc.hazard_at(_base_hazard(cust, annual_churn), nc, nday, level, start)
    alive = ~(churn0 < start) & ~cust["prospect"]
    risk = sc.company_risk(hazard, alive, window, rng_p)
    # the extra order a treated customer may place (if still a customer by then)
    q = sc.response_probability(action, cust["sat"], cust["value"], alive & known)
    order_day = start + 30.0 * rng_p.random(n)
    order_value = sc.expected_annual_spend(cust, 1.0, SEG_TX_MULT, SEG_BASKET_LOG, CATEGORY_P, CATEGORY_PRICE) / (
        np.exp(0.3 * cust["sat"] + 0.45 * cust["value"] - 0.145) * SEG_TX_MULT[cust["segment"]])
    amount = np.round(order_value * np.exp(0.5 * rng_p.standard_normal(n) - 0.125), 2)
    orders = (rng_p.random(n) < q) & ~(order_day >= churn1)
    who = np.flatnonzero(orders)
    tx1_full = sc.append_purchases(tx_full, who, order_day[who], amount[who], cust["pref_cat"][who])
    got = np.flatnonzero(orders & ~control)
    tx = sc.append_purchases(sc.truncate_transactions(tx_full, churn), got, order_day[got], amount[got],
                             cust["pref_cat"][got])
    return dict(churn=churn, churn0=churn0, churn1=churn1, tx=tx,
                tx_full=tx_full, tx1_full=tx1_full, known=known, tier=tier, stage=stage, action=action, control=control,
                multiplier=multiplier, risk=risk, clv=view["spend"], start=start, window=window,
                tx_per_year=tx_per_year)


def _campaign_truth(plan: dict, cust: dict, contracts: dict, cid: np.ndarray, t0: pd.Timestamp) -> dict:
    """truth/campaign_list and truth/campaign_outcomes (both potential outcomes per customer)."""
    n = len(cid)
    start, window = plan["start"], plan["window"]
    active = np.zeros(n, dtype=bool)
    ok = (contracts["start"] < start) & ~(cust["churn_day"][contracts["cust"]] < start)
    active[contracts["cust"][ok]] = True
    outcome = {}
    for arm, purchases in (("churn0", plan["tx_full"]), ("churn1", plan["tx1_full"])):
        bought, spend = sc.window_outcome(purchases, plan[arm], start, window, n)
        outcome[arm] = (sc.retained(bought, plan[arm], active, start, window), spend)
    annual = sc.expected_annual_spend(cust, plan["tx_per_year"], SEG_TX_MULT, SEG_BASKET_LOG, CATEGORY_P,
                                      CATEGORY_PRICE)
    listed, outcomes = sc.campaign_frames(
        cid=cid, known=plan["known"], tier=plan["tier"], stage=plan["stage"], risk=plan["risk"], clv=plan["clv"],
        action=plan["action"], control=plan["control"], multiplier=plan["multiplier"],
        retained0=outcome["churn0"][0], retained1=outcome["churn1"][0], spend0=outcome["churn0"][1],
        spend1=outcome["churn1"][1], annual_value=annual, start_ts=t0 + pd.Timedelta(days=start),
        campaign_id=sc.CAMPAIGN_ID,
    )
    return {"campaign_list": listed, "campaign_outcomes": outcomes}


def _contracts(cust: dict, H: float, rng: np.random.Generator) -> dict:
    """Annual auto-renewing subscriptions; cancellation = churn."""
    idx = np.flatnonzero(cust["contract"])
    start = np.floor(cust["signup"][idx] + rng.exponential(15.0, len(idx)))
    churn = cust["churn_day"][idx]
    ok = (start <= H) & ~(churn <= start)
    idx, start, churn = idx[ok], start[ok], churn[ok]
    cancelled = np.where(churn <= H, churn, np.nan)
    until = np.where(np.isnan(cancelled), H, cancelled)
    terms = np.maximum(np.ceil((until - start) / 365.0), 1.0)
    return dict(cust=idx, start=start, end=start + 365.0 * terms, cancelled=cancelled)


def _assemble(cust, fb, texts, tx, contracts, cid, t0, H, end, rng_s):
    n = len(cid)
    as_of_day = H
    # --- customers
    customers = pd.DataFrame({
        "customer_id": cid,
        "signup_date": _to_ts(t0, cust["signup"]),
        "region": np.array(REGIONS, dtype=object)[cust["region"]],
        "channel": np.array(ACQ_CHANNELS, dtype=object)[cust["channel"]],
        "segment": np.array(SEGMENTS, dtype=object)[cust["segment"]],
    })
    n_tx_past = np.bincount(tx["cust"][tx["day"] <= as_of_day], minlength=n)
    # --- transactions: purchases and refunds in time order; order ids number the
    # purchases by time, a refund's id is its purchase's id + "-R" (ids stay unique)
    m = len(tx["cust"])
    r = tx["r_src"]
    all_day = np.r_[tx["day"], tx["r_day"]]
    order = np.argsort(all_day)
    all_day = all_day[order]
    is_p = order < m
    src = np.where(is_p, order, r[np.where(is_p, 0, order - m)] if len(r) else 0)
    number = np.empty(m, dtype=np.int64)
    number[order[is_p]] = np.arange(1, m + 1)  # purchases numbered by time
    amount = np.r_[tx["amount"], tx["r_amount"]][order].astype(np.float64)
    quantity = np.r_[tx["qty"], tx["r_qty"]][order].astype(np.float64)
    del order
    cats = np.array(st.CATEGORIES, dtype=object)
    k_t = int(np.searchsorted(all_day, as_of_day, side="right"))  # past rows are a prefix
    trans = {
        "customer_id": cid[tx["cust"][src]],
        "timestamp": _to_ts(t0, all_day),
        "amount": amount,
        "order_id": _ids("O", number[src], max(10, len(str(m))), suffix=~is_p, suffix_text="-R"),
        "quantity": quantity,
        "category": cats[tx["cat"][src]],
    }
    del amount, quantity, src, number, is_p, all_day
    tx.clear()  # the caller's arrays are no longer needed; free them before copying
    past_tx = pd.DataFrame({k: v[:k_t] for k, v in trans.items()})
    future_tx = pd.DataFrame({k: v[k_t:] for k, v in trans.items()})
    del trans
    # --- feedback, ids by time
    k = len(fb["cust"])
    f_order = np.argsort(fb["day"])
    fid = _ids("F", np.arange(1, k + 1), max(9, len(str(k))))
    chans = np.array(FEEDBACK_CHANNELS, dtype=object)
    resolved = fb["resolved"][f_order]
    feedback_all = pd.DataFrame({
        "feedback_id": fid,
        "customer_id": cid[fb["cust"][f_order]],
        "timestamp": _to_ts(t0, fb["day"][f_order]),
        "channel": chans[fb["channel"][f_order]],
        "text": texts["text"][f_order],
        "rating": fb["rating"][f_order].astype(np.float64),
        "nps": fb["nps"][f_order].astype(np.float64),
        "resolved_at": _to_ts(t0, resolved),
    })
    past_f = fb["day"][f_order] <= as_of_day
    k_f = int(past_f.sum())  # sorted by time: the past is a prefix
    feedback = feedback_all.iloc[:k_f].reset_index(drop=True)
    open_at_as_of = ~(resolved[past_f] <= as_of_day)
    feedback.loc[open_at_as_of, "resolved_at"] = pd.NaT
    sents = np.array(st.SENTIMENTS, dtype=object)
    neg = fb["sentiment"][f_order] == 0
    topics = texts["topics"][f_order]
    urgent = neg & (
        np.isin(fb["channel"][f_order], [FEEDBACK_CHANNELS.index("phone"), FEEDBACK_CHANNELS.index("chat")])
        | pd.Series(topics).str.contains("after_sales|delivery", regex=True).to_numpy()
        | (fb["rating"][f_order] == 1)
    )
    # --- service columns (their own random stream): appended, the columns above are unchanged
    svc = _service_fields({key: fb[key][f_order] for key in ("day", "channel", "sentiment", "resolved", "z")},
                          {"owner_topic": texts["owner_topic"][f_order]}, urgent, t0, rng_s)
    _add_service_columns(feedback_all, svc, resolved, end, t0)
    past = slice(0, k_f)
    cut = {key: (v[past] if isinstance(v, np.ndarray) else v) for key, v in svc.items()}
    cut["responded"] = np.where(cut["responded"] <= as_of_day, cut["responded"], np.nan)
    cut["rating"] = np.where(resolved[past] <= as_of_day, cut["rating"], np.nan)
    _add_service_columns(feedback, cut, np.where(open_at_as_of, np.nan, resolved[past]), as_of_day, t0)
    truth_feedback = pd.DataFrame({
        "feedback_id": fid,
        "customer_id": feedback_all["customer_id"].to_numpy(),
        "timestamp": feedback_all["timestamp"].to_numpy(),
        "is_future": ~past_f,
        "language": texts["language"][f_order],
        "sentiment": sents[fb["sentiment"][f_order]],
        "topics": topics,
        "n_topics": texts["n_topics"][f_order].astype(np.int64),
        "aspect_sentiments": texts["aspects"][f_order],
        "latent_score": fb["z"][f_order],
        "urgency": np.where(urgent, "high", "normal").astype(object),
        "traditional": texts["traditional"][f_order],
        "pii": texts["pii"][f_order],
        "has_order_no": texts["has_order_no"][f_order],
        "resolved_at": feedback_all["resolved_at"].to_numpy(),
        "never_resolved": fb["never"][f_order],
        "event": texts["event"][f_order],
    })
    # --- contracts
    contracts_df = pd.DataFrame({
        "customer_id": cid[contracts["cust"]],
        "start_date": _to_ts(t0, contracts["start"]),
        "end_date": _to_ts(t0, contracts["end"]),
        "cancelled_at": _to_ts(t0, contracts["cancelled"]),
    })
    # --- truth per customer
    neg_past = np.bincount(fb["cust"][(fb["sentiment"] == 0) & (fb["day"] <= as_of_day)], minlength=n)
    truth_customers = pd.DataFrame({
        "customer_id": cid,
        "satisfaction": cust["sat"],
        "value": cust["value"],
        "churn_time": _to_ts(t0, cust["churn_day"]),
        "churned_by_as_of": cust["churn_day"] <= as_of_day,
        "is_prospect": cust["prospect"],
        "has_contract": cust["contract"],
        "language": np.where(cust["lang_zh"], "zh", "en").astype(object),
        "preferred_category": cats[cust["pref_cat"]],
        "n_purchases_by_as_of": n_tx_past,
        "n_complaints_by_as_of": neg_past,
    })
    tables = {
        "customers": customers,
        "transactions": past_tx,
        "feedback": feedback,
        "contracts": contracts_df,
    }
    truth = {
        "customers": truth_customers,
        "feedback": truth_feedback,
        "future_transactions": future_tx,
        "future_feedback": feedback_all.iloc[k_f:].reset_index(drop=True),
    }
    return tables, truth


# --------------------------------------------------------------------------------------
# Labels from truth
# --------------------------------------------------------------------------------------
def true_churn_labels(crm: SyntheticCRM, window_days: int = 90) -> pd.DataFrame:
    """True churn labels for the window ``(as_of, as_of + window_days]``.

    Columns: customer_id, active_at_as_of (not churned by as_of and not a prospect),
    churn_in_window (bool; False for inactive customers). ``window_days`` must not exceed
    the simulated horizon.
    """
    horizon = int(crm.meta["horizon_days"])
    if not 0 < window_days <= horizon:
        raise ValueError(f"window_days must be within 1..{horizon} (the simulated horizon), got {window_days}")
    truth = crm.truth["customers"]
    as_of = crm.as_of
    churn = truth["churn_time"]
    active = ~(churn <= as_of) & ~truth["is_prospect"]
    in_window = active & (churn > as_of) & (churn <= as_of + pd.Timedelta(days=window_days))
    return pd.DataFrame({"customer_id": truth["customer_id"], "active_at_as_of": active.to_numpy(),
                         "churn_in_window": in_window.to_numpy()})


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def write_crm(crm: SyntheticCRM, out_dir: str | Path) -> Path:
    """Write tables as ``<out>/<table>.parquet`` and truth as ``<out>/truth/<name>.parquet``.

    Every file is first written completely into a temporary sibling directory; only
    then are they moved into place, each with an atomic ``os.replace`` (so a crash never
    leaves a half-written file; other files in ``out_dir`` are left alone).
    Also writes ``manifest.json`` with parameters and row counts.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / "truth").mkdir()
        files = [(f"{name}.parquet", frame) for name, frame in crm.tables.items()]
        files += [(f"truth/{name}.parquet", frame) for name, frame in crm.truth.items()]
        for rel, frame in files:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, tmp / rel, compression="zstd", row_group_size=1_000_000)
        (tmp / "manifest.json").write_text(json.dumps(crm.meta, indent=2, ensure_ascii=False))
        out.mkdir(parents=True, exist_ok=True)
        (out / "truth").mkdir(exist_ok=True)
        for rel in [r for r, _ in files] + ["manifest.json"]:
            os.replace(tmp / rel, out / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_crm(out_dir: str | Path) -> SyntheticCRM:
    """Read back what :func:`write_crm` wrote."""
    out = Path(out_dir)
    meta = json.loads((out / "manifest.json").read_text())
    tables = {p.stem: pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))}
    truth = {p.stem: pd.read_parquet(p) for p in sorted((out / "truth").glob("*.parquet"))}
    return SyntheticCRM(tables=tables, truth=truth, meta=meta)
