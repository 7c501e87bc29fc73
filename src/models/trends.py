"""Weekly topic mentions and the trend alert: "more complaints about X than its history predicts".

Counts
------
:func:`weekly_mentions` counts, per ISO week (Monday 00:00 to Monday 00:00), the feedback
items mentioning each topic with each polarity. The polarity of a mention is the topic's own
(``topic_sentiments``, e.g. ``delivery:positive;packaging:negative``, from
:mod:`custsat.models.text.aspects`) when the column is there, else the text's overall
``sentiment``. :func:`weekly_volume` counts all feedback items per week (the exposure).

Alert rule (:func:`trend_alerts`)
---------------------------------
For topic ``k`` and week ``w`` with ``y`` negative mentions among ``N`` feedback items::

    y ~ NegBin(mean = N * p_k * s_k(w), variance = mu + alpha_k * mu^2 + mu^2 / shape_k)

* ``p_k``: negative mentions of ``k`` per feedback item over the ``baseline_weeks`` weeks
  before ``w`` (weeks that alerted themselves are left out, so a spike does not raise its own
  bar; at least ``min_baseline_weeks`` are needed), the mean of its Gamma posterior; ``shape_k``
  = that posterior's shape (parameter uncertainty).
* Offsetting by ``N`` means a busy week alone does not alert (twice the feedback, twice the
  expected count), and a week still in progress at ``as_of`` is judged on what arrived so far,
  whatever weekdays it has covered.
* ``alpha_k``: over-dispersion, a method-of-moments estimate from the baseline weeks' Pearson
  residuals (0 when they are Poisson-like).
* The prior adds half a mention (``prior_mentions``), so a topic never seen still has a rate.
* ``s_k(w)``: week-of-year seasonality, from the same calendar weeks (+-1) of earlier years:
  ``(observed + kappa) / (expected + kappa)``, so it stays 1 until there is evidence (at least a
  year of history; ``kappa`` = 10 expected mentions).

Week ``w`` alerts when ``y`` exceeds the ``level`` (default 0.995) upper predictive quantile,
``y >= min_count`` and ``y / expected >= min_ratio``. With 52 weekly tests per topic a year, a
well-specified model then gives about 0.26 false alerts per topic and year (discreteness makes
it fewer); the evaluation across synthetic seeds measures it
(:func:`custsat.models.feedback_ops_eval.evaluate_alerts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from custsat.features.topic_sentiment import topic_polarity_pairs

POLARITIES = ("negative", "neutral", "positive")
MENTION_COLUMNS = ("week", "topic", "sentiment", "mentions")
ALERT_COLUMNS = ("topic", "week", "count", "expected", "upper", "ratio", "volume", "baseline_rate",
                 "seasonality", "dispersion", "p_value")


def week_of(times: pd.Series) -> pd.Series:
    """Monday 00:00 of each time's ISO week."""
    day = pd.to_datetime(times).dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def weekly_volume(feedback: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.Series:
    """Feedback items per week (index: week start), every week from the first to ``as_of``'s."""
    ts = pd.to_datetime(feedback["timestamp"])
    if as_of is not None:
        ts = ts[ts < pd.Timestamp(as_of)]
    if not len(ts):
        return pd.Series(dtype="int64", name="volume")
    weeks = week_of(ts)
    last = week_of(pd.Series([pd.Timestamp(as_of)]))[0] if as_of is not None else weeks.max()
    if as_of is not None and pd.Timestamp(as_of) == last:  # as_of at Monday 00:00: that week has not begun
        last = last - pd.Timedelta(weeks=1)
    index = pd.date_range(weeks.min(), last, freq="7D")
    return weeks.value_counts().reindex(index, fill_value=0).astype("int64").rename("volume")


def weekly_mentions(feedback: pd.DataFrame, as_of: pd.Timestamp | None = None, *, by_channel: bool = False) -> pd.DataFrame:
    """Mentions per week x topic x sentiment (x channel), before ``as_of``; zero weeks omitted."""
    fb = feedback
    if as_of is not None:
        fb = fb[pd.to_datetime(fb["timestamp"]) < pd.Timestamp(as_of)]
    pairs = topic_polarity_pairs(fb.reset_index(drop=True))
    cols = list(MENTION_COLUMNS) if not by_channel else ["week", "topic", "sentiment", "channel", "mentions"]
    if not len(pairs):
        return pd.DataFrame(columns=cols)
    pairs["week"] = week_of(pd.Series(pd.to_datetime(fb["timestamp"]).to_numpy()[pairs["row"].to_numpy()]))
    keys = ["week", "topic", "sentiment"]
    if by_channel:
        pairs["channel"] = fb["channel"].to_numpy()[pairs["row"].to_numpy()]
        keys.append("channel")
    out = pairs.groupby(keys, sort=True).size().rename("mentions").reset_index()
    return out[cols]


def mention_matrix(mentions: pd.DataFrame, volume: pd.Series, *, sentiment: str = "negative",
                   topics: Sequence[str] | None = None) -> pd.DataFrame:
    """Weeks (rows, as ``volume``'s index) x topics of ``sentiment`` mentions, zero-filled."""
    sel = mentions[mentions["sentiment"] == sentiment]
    table = sel.pivot_table(index="week", columns="topic", values="mentions", aggfunc="sum", fill_value=0)
    if topics is not None:
        table = table.reindex(columns=list(topics), fill_value=0)
    return table.reindex(volume.index, fill_value=0).astype("int64")


@dataclass(frozen=True)
class AlertRule:
    """Parameters of :func:`trend_alerts` (see the module doc)."""

    level: float = 0.995
    baseline_weeks: int = 26
    min_baseline_weeks: int = 8
    min_count: int = 3
    min_ratio: float = 1.5
    prior_mentions: float = 0.5
    seasonal_kappa: float = 10.0
    seasonal_halfwidth: int = 1


def _dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Method-of-moments NB over-dispersion alpha (var = mu + alpha mu^2), >= 0."""
    ok = mu > 0
    if ok.sum() < 3:
        return 0.0
    num = float(((y[ok] - mu[ok]) ** 2 - y[ok]).sum())
    den = float((mu[ok] ** 2).sum())
    return max(0.0, num / den) if den > 0 else 0.0


def _seasonal_neighbours(weeks: pd.DatetimeIndex, rule: AlertRule) -> list[np.ndarray]:
    """Per week, the positions of the same calendar weeks (+-halfwidth) one to three years earlier."""
    position = {w: i for i, w in enumerate(weeks)}
    offsets = [52 * years_back - k for years_back in (1, 2, 3)
               for k in range(-rule.seasonal_halfwidth, rule.seasonal_halfwidth + 1)]
    out = []
    for i, w in enumerate(weeks):
        found = [position.get(w - pd.Timedelta(weeks=o)) for o in offsets]
        out.append(np.array([j for j in found if j is not None and j < i], dtype=np.int64))
    return out


def _seasonality(y: np.ndarray, n: np.ndarray, neighbours: np.ndarray, rate: float, rule: AlertRule) -> float:
    """Week-of-year factor from the same calendar weeks of earlier years (see the module doc)."""
    if rate <= 0 or not len(neighbours):
        return 1.0
    observed = float(y[neighbours].sum())
    expected = float(rate * n[neighbours].sum())
    return (observed + rule.seasonal_kappa) / (expected + rule.seasonal_kappa)


def alert_series(y: np.ndarray, n: np.ndarray, weeks: pd.DatetimeIndex, rule: AlertRule = AlertRule()) -> pd.DataFrame:
    """The alert rule over one topic's weekly series (counts ``y``, volumes ``n``), week by week.

    Returns one row per week that had a baseline: week, count, expected, upper, ratio, volume,
    baseline_rate, seasonality, dispersion, p_value (upper tail P(Y >= y)), alert (bool).
    """
    y = np.asarray(y, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alerted = np.zeros(len(y), dtype=bool)
    neighbours = _seasonal_neighbours(pd.DatetimeIndex(weeks), rule)
    rows = []
    for i in range(len(y)):
        lo = max(0, i - rule.baseline_weeks)
        base = np.arange(lo, i)
        base = base[~alerted[base] & (n[base] > 0)]
        if len(base) < rule.min_baseline_weeks or n[i] <= 0:
            continue
        shape = y[base].sum() + rule.prior_mentions
        rate = shape / n[base].sum()  # Gamma(shape, sum N) posterior mean of mentions per item
        alpha = _dispersion(y[base], rate * n[base])
        season = _seasonality(y, n, neighbours[i], rate, rule)
        mu = n[i] * rate * season
        size = 1.0 / (alpha + 1.0 / shape)  # NB size with parameter uncertainty and over-dispersion
        prob = size / (size + mu)
        upper = float(stats.nbinom.ppf(rule.level, size, prob))
        p_value = float(stats.nbinom.sf(y[i] - 1, size, prob))
        ratio = y[i] / mu if mu > 0 else np.inf
        alert = bool(y[i] > upper and y[i] >= rule.min_count and ratio >= rule.min_ratio)
        alerted[i] = alert
        rows.append((weeks[i], int(y[i]), mu, upper, ratio, int(n[i]), rate, season, alpha, p_value, alert))
    return pd.DataFrame(rows, columns=["week", "count", "expected", "upper", "ratio", "volume", "baseline_rate",
                                       "seasonality", "dispersion", "p_value", "alert"])


def trend_alerts(
    feedback: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    topics: Sequence[str] | None = None,
    rule: AlertRule = AlertRule(),
    recent_weeks: int | None = 1,
    sentiment: str = "negative",
) -> pd.DataFrame:
    """Alerts for ``sentiment`` mentions per topic (see the module doc), most significant first.

    ``recent_weeks``: only alerts in the last ``recent_weeks`` weeks up to ``as_of`` are returned
    (``None``: every week of the history, for evaluation). Columns: :data:`ALERT_COLUMNS`.
    """
    volume = weekly_volume(feedback, as_of)
    if not len(volume):
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    mentions = weekly_mentions(feedback, as_of)
    matrix = mention_matrix(mentions, volume, sentiment=sentiment, topics=topics)
    frames = []
    for topic in matrix.columns:
        series = alert_series(matrix[topic].to_numpy(), volume.to_numpy(), volume.index, rule)
        series.insert(0, "topic", topic)
        frames.append(series)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["alert"])
    table = table[table["alert"].astype(bool)] if len(table) else table
    if recent_weeks is not None and len(table):
        first = volume.index[-min(recent_weeks, len(volume))]
        table = table[table["week"] >= first]
    if not len(table):
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    table = table.sort_values(["p_value", "ratio", "topic"], ascending=[True, False, True], kind="stable")
    return table[list(ALERT_COLUMNS)].reset_index(drop=True)
