"""Service levels of feedback items: deadlines, status, age and follow-up analytics.

Pure functions over arrays and frames; no models, no I/O. Used by the triage queue
(:mod:`custsat.serving.triage`) with the parameters of the policy's ``triage:`` section.

Time semantics
--------------
* Input timestamps are naive and read in ``data_timezone`` (the contracts convert tz-aware
  exports to UTC, so ``"UTC"`` is right for them). Every output time is naive in the same zone,
  so due times compare directly with the input's ``timestamp`` / ``responded_at`` /
  ``resolved_at``.
* ``as_of`` is the moment the queue is drawn up. Only what is known then counts: a response or
  resolution at or after ``as_of`` has not happened yet (the same rule as the features:
  events strictly before ``as_of``).
* Deadlines: the first response is due ``respond_hours`` after the item was received, the
  resolution ``resolve_hours`` after it. Calendar deadlines count elapsed hours. Business
  deadlines count only the opening hours of :class:`BusinessHours` (local wall time of its
  time zone; closed weekdays and holidays skipped); an item received outside opening hours
  starts its clock at the next opening. A budget used up exactly at closing time is due at
  closing time (not at the next opening).
* A resolution also counts as the first response when no earlier response is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
URGENCIES = ("high", "normal")

#: Item statuses, in the order the queue shows them.
STATUSES = (
    "overdue_resolution",  # not resolved and the resolution deadline has passed
    "overdue_response",    # not answered and the first-response deadline has passed
    "open",                # not resolved, no deadline missed yet (or answered in time, resolution not yet due)
    "resolved_late",       # resolved after the resolution deadline
    "resolved_in_time",    # resolved by the resolution deadline
    "resolved_no_time",    # the CRM status says closed but no resolved_at was given
)
OPEN_STATUSES = ("overdue_resolution", "overdue_response", "open")
#: CRM ``status`` values (lower-cased) that mean the item is closed.
CLOSED_CRM_STATUSES = frozenset({
    "closed", "resolved", "done", "solved", "completed", "complete",
    "已解决", "已关闭", "已完成", "已處理", "已解決", "已關閉", "已处理", "关闭", "完成",
})


@dataclass(frozen=True)
class DeadlineRule:
    """Hours to first response and to resolution for items matching urgency x channel x topic.

    ``None`` matches any value. ``clock``: ``"business"`` counts business hours when they are
    configured (else calendar hours), ``"calendar"`` always counts elapsed hours.
    """

    respond_hours: float
    resolve_hours: float
    urgency: str | None = None
    channel: str | None = None
    topic: str | None = None
    clock: str = "business"

    @property
    def specificity(self) -> int:
        return sum(v is not None for v in (self.urgency, self.channel, self.topic))


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours in local wall time of ``timezone``: ``start``-``end`` ("HH:MM") on ``weekdays``
    (0 = Monday), closed on ``holidays`` (YYYY-MM-DD)."""

    timezone: str = "Asia/Shanghai"
    start: str = "09:00"
    end: str = "18:00"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays: tuple[str, ...] = field(default_factory=tuple)

    @property
    def start_seconds(self) -> int:
        return _clock_seconds(self.start)

    @property
    def end_seconds(self) -> int:
        return _clock_seconds(self.end)

    @property
    def open_seconds_per_week(self) -> int:
        return (self.end_seconds - self.start_seconds) * len(set(self.weekdays))


def _clock_seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * SECONDS_PER_HOUR + int(minutes) * 60


# --------------------------------------------------------------------------- deadlines
def match_deadlines(
    urgency: Sequence, channel: Sequence, topic: Sequence, rules: Sequence[DeadlineRule]
) -> np.ndarray:
    """Index into ``rules`` of the rule each item gets: the most specific match (ties: the first).

    Urgencies other than ``high`` count as ``normal``. Items matched by no rule get -1.
    """
    urg = pd.Series(list(urgency), dtype=object).astype("string").str.lower()
    urg = urg.where(urg.eq("high").fillna(False), "normal").to_numpy(dtype=object)
    chan = pd.Series(list(channel), dtype=object).astype("string").str.lower().fillna("").to_numpy(dtype=object)
    top = pd.Series(list(topic), dtype=object).astype("string").fillna("").to_numpy(dtype=object)
    n = len(urg)
    chosen = np.full(n, -1, dtype=np.int64)
    best = np.full(n, -1, dtype=np.int64)
    for i, rule in enumerate(rules):
        hit = np.ones(n, dtype=bool)
        if rule.urgency is not None:
            hit &= urg == rule.urgency.lower()
        if rule.channel is not None:
            hit &= chan == rule.channel.lower()
        if rule.topic is not None:
            hit &= top == rule.topic
        better = hit & (rule.specificity > best)  # strict: an equally specific later rule loses
        chosen[better] = i
        best[better] = rule.specificity
    return chosen


def _to_zone_wall(times: pd.Series, from_zone: str, to_zone: str) -> pd.Series:
    """Naive wall times in ``from_zone`` -> naive wall times in ``to_zone``."""
    if from_zone == to_zone:
        return times
    n = len(times)
    aware = times.dt.tz_localize(from_zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
    return aware.dt.tz_convert(to_zone).dt.tz_localize(None)


def add_calendar_hours(start: pd.Series, hours: np.ndarray, data_timezone: str = "UTC") -> pd.Series:
    """``start`` + ``hours`` elapsed hours (across daylight-saving changes of ``data_timezone``)."""
    start = pd.to_datetime(start)
    delta = pd.to_timedelta(np.asarray(hours, dtype="float64") * SECONDS_PER_HOUR, unit="s")
    if data_timezone == "UTC":
        return (start + delta).astype("datetime64[ns]")
    utc = _to_zone_wall(start, data_timezone, "UTC")
    return _to_zone_wall(utc + delta, "UTC", data_timezone).astype("datetime64[ns]")


def _open_days(first_day: np.datetime64, n_days: int, hours: BusinessHours) -> np.ndarray:
    """Open seconds of each day from ``first_day`` (business-zone calendar)."""
    days = first_day + np.arange(n_days).astype("timedelta64[D]")
    weekday = (days.astype("datetime64[D]").view("int64") + 3) % 7  # 1970-01-01 was a Thursday (3)
    is_open = np.isin(weekday, list(hours.weekdays))
    if hours.holidays:
        closed = np.array([np.datetime64(pd.Timestamp(h).date(), "D") for h in hours.holidays])
        is_open &= ~np.isin(days, closed)
    return np.where(is_open, hours.end_seconds - hours.start_seconds, 0).astype(np.int64)


def add_business_hours(
    start: pd.Series, hours: np.ndarray, business_hours: BusinessHours, data_timezone: str = "UTC"
) -> pd.Series:
    """The moment ``hours`` business hours after each ``start`` (see the module doc).

    Vectorised: business seconds are a running sum over a day grid, so a due time is one
    binary search. Missing starts give NaT.
    """
    start = pd.to_datetime(pd.Series(start).reset_index(drop=True))
    hours = np.asarray(hours, dtype="float64")
    out = pd.Series(pd.NaT, index=range(len(start)), dtype="datetime64[ns]")
    ok = start.notna().to_numpy() & np.isfinite(hours)
    if not ok.any():
        return out
    if business_hours.open_seconds_per_week <= 0:
        raise ValueError("business hours are open for zero hours a week")
    wall = _to_zone_wall(start[ok], data_timezone, business_hours.timezone).to_numpy().astype("datetime64[s]")
    day = wall.astype("datetime64[D]")
    tod = (wall - day).astype(np.int64)  # seconds since local midnight
    first = day.min() - np.timedelta64(1, "D")
    budget = np.round(hours[ok] * SECONDS_PER_HOUR).astype(np.int64)
    n_days = int((day.max() - first).astype(np.int64)) + 2
    weekly = business_hours.open_seconds_per_week
    n_days += int(np.ceil(budget.max() / weekly * 7)) + 14 + 2 * len(business_hours.holidays)
    while True:
        open_s = _open_days(first, n_days, business_hours)
        cum_start = np.concatenate([[0], np.cumsum(open_s)[:-1]])
        d = (day - first).astype(np.int64)
        elapsed = np.clip(tod - business_hours.start_seconds, 0, open_s[d])
        target = cum_start[d] + elapsed + budget
        cum_end = cum_start + open_s
        if cum_end[-1] >= target.max():
            break
        n_days *= 2  # long holiday lists: extend the grid until every budget fits
    due_day = np.searchsorted(cum_end, target, side="left")
    due_wall = (first + due_day.astype("timedelta64[D]")).astype("datetime64[s]") + (
        business_hours.start_seconds + target - cum_start[due_day]).astype("timedelta64[s]")
    # a zero budget is due at once, even outside opening hours
    due_wall = np.where(budget == 0, wall, due_wall)
    due = _to_zone_wall(pd.Series(due_wall.astype("datetime64[ns]")), business_hours.timezone, data_timezone)
    out.loc[np.flatnonzero(ok)] = due.to_numpy()
    return out


def due_times(
    received: pd.Series,
    urgency: Sequence,
    channel: Sequence,
    topic: Sequence,
    rules: Sequence[DeadlineRule],
    *,
    business_hours: BusinessHours | None = None,
    data_timezone: str = "UTC",
) -> pd.DataFrame:
    """Per item: ``respond_due``, ``resolve_due`` (naive, ``data_timezone``) and ``deadline_rule``.

    ``deadline_rule`` is the index of the policy entry used; unmatched items get NaT due times.
    """
    received = pd.to_datetime(pd.Series(received).reset_index(drop=True))
    rule_idx = match_deadlines(urgency, channel, topic, rules)
    matched = rule_idx >= 0
    safe = np.where(matched, rule_idx, 0)
    respond = np.where(matched, np.array([r.respond_hours for r in rules], dtype=float)[safe], np.nan)
    resolve = np.where(matched, np.array([r.resolve_hours for r in rules], dtype=float)[safe], np.nan)
    business = np.array([r.clock == "business" for r in rules], dtype=bool)[safe] & matched & (business_hours is not None)
    out = pd.DataFrame(index=received.index)
    for name, hours in (("respond_due", respond), ("resolve_due", resolve)):
        due = add_calendar_hours(received, hours, data_timezone)
        if business.any():
            due_b = add_business_hours(received[business], hours[business], business_hours, data_timezone)
            due = due.copy()
            due.iloc[np.flatnonzero(business)] = due_b.to_numpy()
        out[name] = due.to_numpy()
    out["deadline_rule"] = rule_idx
    return out


# --------------------------------------------------------------------------- status
def known_by(times: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """``times`` where they are strictly before ``as_of``; later (not yet happened) -> NaT."""
    times = pd.to_datetime(times)
    return times.where(times < as_of)


def first_response(responded_at: pd.Series, resolved_at: pd.Series) -> pd.Series:
    """The first response: ``responded_at``, or the resolution when it came first or alone."""
    responded_at, resolved_at = pd.to_datetime(responded_at), pd.to_datetime(resolved_at)
    both = pd.concat([responded_at.rename("a"), resolved_at.rename("b")], axis=1)
    return both.min(axis=1, skipna=True).astype("datetime64[ns]")


def item_status(
    *,
    responded_at: pd.Series,
    resolved_at: pd.Series,
    respond_due: pd.Series,
    resolve_due: pd.Series,
    as_of: pd.Timestamp,
    crm_status: pd.Series | None = None,
) -> np.ndarray:
    """Status of each item at ``as_of`` (one of :data:`STATUSES`; see its comments).

    ``responded_at`` / ``resolved_at`` are cut at ``as_of`` here (later values are unknown then).
    """
    as_of = pd.Timestamp(as_of)
    resolved = known_by(resolved_at, as_of).to_numpy()
    responded = first_response(known_by(responded_at, as_of), known_by(resolved_at, as_of)).to_numpy()
    r_due, s_due = pd.to_datetime(respond_due).to_numpy(), pd.to_datetime(resolve_due).to_numpy()
    now = np.datetime64(as_of.to_datetime64(), "ns")
    is_resolved = ~np.isnat(resolved)
    with np.errstate(invalid="ignore"):
        late = is_resolved & (resolved > s_due)
        overdue_res = ~is_resolved & ~np.isnat(s_due) & (now > s_due)
        overdue_resp = ~is_resolved & ~overdue_res & np.isnat(responded) & ~np.isnat(r_due) & (now > r_due)
    status = np.full(len(resolved), "open", dtype=object)
    status[overdue_resp] = "overdue_response"
    status[overdue_res] = "overdue_resolution"
    status[is_resolved] = "resolved_in_time"
    status[late] = "resolved_late"
    if crm_status is not None:
        closed = pd.Series(list(crm_status), dtype=object).astype("string").str.strip().str.lower().isin(
            CLOSED_CRM_STATUSES).to_numpy(dtype=bool)
        status[closed & ~is_resolved] = "resolved_no_time"
    return status


def hours_between(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Hours from ``start`` to ``end`` (NaN where either is missing)."""
    delta = pd.to_datetime(end).to_numpy() - pd.to_datetime(start).to_numpy()
    hours = delta.astype("timedelta64[s]").astype("float64") / SECONDS_PER_HOUR
    return np.where(np.isnat(delta), np.nan, hours)


def item_age_hours(received: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Hours since each item was received, at ``as_of``."""
    now = pd.Series(pd.Timestamp(as_of), index=pd.RangeIndex(len(received)))
    return hours_between(pd.Series(pd.to_datetime(received).to_numpy()), now)


def within_deadline(done_at: pd.Series, due: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """True when done by the deadline, False when done late or the deadline passed undone,
    missing (NA) while it is still pending: the denominator of "share within deadline"."""
    done = pd.to_datetime(done_at).to_numpy()
    due_ = pd.to_datetime(due).to_numpy()
    now = np.datetime64(pd.Timestamp(as_of).to_datetime64(), "ns")
    has_done = ~np.isnat(done)
    with np.errstate(invalid="ignore"):
        in_time = has_done & (done <= due_)
        decided = has_done | (~np.isnat(due_) & (now > due_))
    return pd.Series(np.where(decided, in_time, None), dtype="boolean")


# --------------------------------------------------------------------------- analytics
ANALYTICS_COLUMNS = (
    "dimension", "value", "week", "volume", "open_items",
    "response_hours_median", "response_hours_p90", "resolution_hours_median", "resolution_hours_p90",
    "responded_in_time_share", "resolved_in_time_share", "resolution_rating_mean", "ratings",
)


def week_start(times: pd.Series) -> pd.Series:
    """Monday 00:00 of each time's week (ISO weeks)."""
    t = pd.to_datetime(times)
    day = t.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def followup_analytics(
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    dimensions: Sequence[str] = ("team", "channel", "topic"),
    weeks: int = 12,
) -> pd.DataFrame:
    """Follow-up analytics per dimension value, overall and week by week (long table).

    ``items`` needs ``timestamp``, ``respond_due``, ``resolve_due`` and may hold
    ``responded_at``, ``resolved_at``, ``resolution_rating`` and the ``dimensions`` columns.
    Items received in the ``weeks`` whole and current weeks before ``as_of`` count. Per group:
    volume, items still open at ``as_of``, median / 90th percentile hours to the first response
    and to resolution (of items answered / resolved by ``as_of``), the share answered / resolved
    within deadline (among items whose outcome is known: done, or past their deadline), and the
    mean resolution rating (1-5) with the number of ratings. ``dimension == "all"`` is every
    item; ``week == "all"`` the whole window. Rows sort by dimension, value, then the whole
    window before the weeks in order.
    """
    as_of = pd.Timestamp(as_of)
    first_week = week_start(pd.Series([as_of]))[0] - pd.Timedelta(weeks=weeks - 1)
    received = pd.to_datetime(items["timestamp"])
    keep = ((received >= first_week) & (received < as_of)).to_numpy()
    it = items.loc[keep]
    if not len(it):
        return pd.DataFrame(columns=list(ANALYTICS_COLUMNS))
    resolved = known_by(it["resolved_at"], as_of) if "resolved_at" in it else pd.Series(pd.NaT, index=it.index)
    responded = known_by(it["responded_at"], as_of) if "responded_at" in it else pd.Series(pd.NaT, index=it.index)
    responded = first_response(responded, resolved)
    base = pd.DataFrame({
        "week": week_start(it["timestamp"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "open": resolved.isna().to_numpy(),
        "response_hours": hours_between(it["timestamp"], responded),
        "resolution_hours": hours_between(it["timestamp"], resolved),
        "responded_in_time": within_deadline(responded, it["respond_due"], as_of).to_numpy(),
        "resolved_in_time": within_deadline(resolved, it["resolve_due"], as_of).to_numpy(),
        "rating": pd.to_numeric(it["resolution_rating"], errors="coerce").to_numpy()
        if "resolution_rating" in it else np.nan,
    })
    base.loc[base["open"], "rating"] = np.nan  # a rating of an unresolved item is not a resolution rating
    frames = []
    groups = [("all", pd.Series("all", index=base.index, dtype=object))]
    groups += [(d, pd.Series(it[d].astype(object).where(it[d].notna(), "(none)").to_numpy(), index=base.index))
               for d in dimensions if d in it]
    for dimension, values in groups:
        for by_week in (False, True):
            keys = [values.rename("value")] + ([base["week"]] if by_week else [])
            frames.append(_group_stats(base, keys, dimension, by_week))
    out = pd.concat(frames, ignore_index=True)
    out["_weekly"] = out["week"] != "all"  # the whole window first, then week by week
    out = out.sort_values(["dimension", "value", "_weekly", "week"], kind="stable").reset_index(drop=True)
    return out[list(ANALYTICS_COLUMNS)]


def _group_stats(base: pd.DataFrame, keys: list[pd.Series], dimension: str, by_week: bool) -> pd.DataFrame:
    g = base.groupby(keys, sort=True, observed=True)
    stats = pd.DataFrame({
        "volume": g.size(),
        "open_items": g["open"].sum(),
        "response_hours_median": g["response_hours"].median(),
        "response_hours_p90": g["response_hours"].quantile(0.9),
        "resolution_hours_median": g["resolution_hours"].median(),
        "resolution_hours_p90": g["resolution_hours"].quantile(0.9),
        "responded_in_time_share": g["responded_in_time"].mean(),
        "resolved_in_time_share": g["resolved_in_time"].mean(),
        "resolution_rating_mean": g["rating"].mean(),
        "ratings": g["rating"].count(),
    }).reset_index()
    if not by_week:
        stats["week"] = "all"
    stats.insert(0, "dimension", dimension)
    for col in ("responded_in_time_share", "resolved_in_time_share"):
        stats[col] = stats[col].astype("float64")
    return stats.astype({"volume": "int64", "open_items": "int64", "ratings": "int64"})
