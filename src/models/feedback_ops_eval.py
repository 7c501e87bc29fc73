"""Measuring trend alerts and emerging-issue detection on synthetic companies with known events.

Each seed generates a synthetic company (:func:`custsat.data.synth.generate_crm`) with a hidden
event switched on, and the detector is judged against the event recorded in ``truth``:

* **Spikes** (:func:`spike_detection`): delivery complaints x3 for two ISO weeks. Flagged when
  the alert rule fires for the topic in the onset week or the week after, evaluated with data up
  to the end of the second spike week (each week's alert uses only that week and earlier ones).
* **False alerts** (:func:`false_alerts`): companies without events; every alert over the
  weekly history (after the first ``min_baseline_weeks``) is false. Reported per topic and
  year of weekly data.
* **Emerging issues** (:func:`emerging_detection`): app log-in failures starting 14 days before
  the evaluation date, judged 7 and 14 days after onset (data cut at that moment). Found when a
  cluster among the top 3 has purity >= 0.8 (share of its texts that belong to the issue).

Labels: the texts' sentiment and per-topic polarity are the synthetic truth ("cached labels"),
optionally with ``label_noise`` (each mentioned topic's polarity replaced by another with that
probability, and that share of topic mentions dropped), so the alert rule is judged apart from
the text models, which are measured on real reviews. Emerging issues use the real topic model
(candidate selection by its best topic probability) and real embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from custsat.data.synth import HiddenEvents, generate_crm
from custsat.models.text.emerging import EmergingConfig, find_emerging
from custsat.models.trends import AlertRule, trend_alerts, week_of

POLARITIES = ("negative", "neutral", "positive")


def labelled_feedback(crm, *, label_noise: float = 0.0, seed: int = 0, include_future: bool = False) -> pd.DataFrame:
    """The company's feedback with truth labels (sentiment, topics, topic_sentiments, language, event)."""
    frames = [crm.tables["feedback"]]
    if include_future:
        frames.append(crm.truth["future_feedback"])
    fb = pd.concat(frames, ignore_index=True)
    truth = crm.truth["feedback"].set_index("feedback_id").loc[fb["feedback_id"]]
    fb["sentiment"] = truth["sentiment"].to_numpy()
    fb["language"] = truth["language"].to_numpy()
    fb["event"] = truth["event"].to_numpy()
    fb["topics"] = truth["topics"].to_numpy()
    aspects = truth["aspect_sentiments"].to_numpy()
    if label_noise > 0:
        rng = np.random.default_rng(seed)
        noisy = []
        for value in aspects:
            pairs = []
            for item in str(value).split(";"):
                if ":" not in item:
                    continue
                topic, pol = item.split(":", 1)
                if rng.random() < label_noise:
                    continue  # topic missed
                if rng.random() < label_noise:
                    pol = rng.choice([p for p in POLARITIES if p != pol])
                pairs.append(f"{topic}:{pol}")
            noisy.append(";".join(pairs))
        aspects = np.array(noisy, dtype=object)
    fb["topic_sentiments"] = aspects
    return fb


@dataclass(frozen=True)
class SpikeOutcome:
    seed: int
    flagged: bool
    flagged_week: pd.Timestamp | None
    onset: pd.Timestamp
    count: int
    expected: float


def spike_detection(seeds: Sequence[int], *, n_customers: int = 20000, as_of: str = "2026-06-30",
                    rule: AlertRule = AlertRule(), label_noise: float = 0.0, topic: str = "delivery") -> list[SpikeOutcome]:
    """Per seed: is the injected spike flagged in its onset week or the next (see the module doc)?"""
    out = []
    for seed in seeds:
        events = HiddenEvents(spike_topic=topic, spike_weeks_before=4, new_issue=None)
        crm = generate_crm(n_customers, seed, as_of, events=events)
        onset = pd.Timestamp(crm.truth["events"]["start"].iloc[0])
        cut = onset + pd.Timedelta(weeks=2)
        fb = labelled_feedback(crm, label_noise=label_noise, seed=seed)
        alerts = trend_alerts(fb, cut, rule=rule, recent_weeks=None)
        mine = alerts[(alerts["topic"] == topic) & alerts["week"].isin([onset, onset + pd.Timedelta(weeks=1)])]
        first = mine.sort_values("week").iloc[0] if len(mine) else None
        out.append(SpikeOutcome(seed=int(seed), flagged=first is not None,
                                flagged_week=None if first is None else pd.Timestamp(first["week"]), onset=onset,
                                count=int(first["count"]) if first is not None else 0,
                                expected=float(first["expected"]) if first is not None else float("nan")))
    return out


def false_alerts(seeds: Sequence[int], *, n_customers: int = 20000, as_of: str = "2026-06-30",
                 rule: AlertRule = AlertRule(), label_noise: float = 0.0) -> pd.DataFrame:
    """Per seed without events: alerts, topics, weeks judged and false alerts per topic per year."""
    rows = []
    for seed in seeds:
        crm = generate_crm(n_customers, seed, as_of)
        fb = labelled_feedback(crm, label_noise=label_noise, seed=seed)
        topics = sorted({t.split(":")[0] for v in fb["topic_sentiments"] for t in str(v).split(";") if ":" in t})
        alerts = trend_alerts(fb, pd.Timestamp(as_of), rule=rule, recent_weeks=None, topics=topics)
        n_weeks = week_of(pd.to_datetime(fb["timestamp"])).nunique() - rule.min_baseline_weeks
        per_topic_year = len(alerts) / (len(topics) * n_weeks / 52.0)
        rows.append({"seed": int(seed), "alerts": int(len(alerts)), "topics": len(topics), "weeks_judged": int(n_weeks),
                     "false_alerts_per_topic_year": per_topic_year,
                     "max_per_topic_year": float(alerts["topic"].value_counts().max() / (n_weeks / 52.0))
                     if len(alerts) else 0.0})
    return pd.DataFrame(rows)


@dataclass
class EmergingOutcome:
    seed: int
    days_after_onset: int
    issue_candidates: int
    found: bool
    rank: int | None
    purity: float
    recall: float
    size: int
    terms: str


class _Embedder:
    """Embeddings and topic probabilities per text, computed once (topic model's public API)."""

    def __init__(self, topic_model):
        self.topic_model = topic_model
        self.memo: dict[str, np.ndarray] = {}
        self.proba: dict[str, np.ndarray] = {}

    def fill(self, texts: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            emb = np.asarray(self.topic_model.embed(missing), dtype=np.float32)
            proba = self.topic_model.predict_proba(missing, embeddings=emb)
            self.memo.update(zip(missing, emb, strict=True))
            self.proba.update(zip(missing, proba, strict=True))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.fill(texts)
        return np.stack([self.memo[t] for t in texts])


def emerging_frames(seed: int, topic_model, embedder: _Embedder | None = None, *, n_customers: int = 20000,
                    as_of: str = "2026-06-30", window_days: int = 84) -> tuple[pd.DataFrame, pd.Timestamp, _Embedder]:
    """The negative feedback (truth labels, model topic probabilities) of one seed with the new issue."""
    events = HiddenEvents(spike_topic=None, new_issue="app_login", new_issue_days_before=14)
    crm = generate_crm(n_customers, seed, as_of, events=events)
    onset = pd.Timestamp(crm.truth["events"]["start"].iloc[0])
    fb = labelled_feedback(crm)
    start = pd.Timestamp(as_of) - pd.Timedelta(days=window_days + 7)
    fb = fb[(fb["timestamp"] >= start) & (fb["sentiment"] == "negative")].reset_index(drop=True)
    embedder = embedder or _Embedder(topic_model)
    embedder.fill(fb["text"].tolist())
    proba = np.stack([embedder.proba[t] for t in fb["text"]])
    for j, tid in enumerate(topic_model.tax_.ids):
        fb[f"topic_{tid}"] = proba[:, j]
    return fb, onset, embedder


def judge_emerging(fb: pd.DataFrame, onset: pd.Timestamp, embed: Callable, config: EmergingConfig, seed: int,
                   days_after: Sequence[int] = (7, 14), top: int = 3, min_purity: float = 0.8) -> list[EmergingOutcome]:
    """Outcomes at ``onset + days`` for each of ``days_after`` (see the module doc)."""
    out = []
    for days in days_after:
        cut = onset + pd.Timedelta(days=days)
        frame = fb[fb["timestamp"] < cut].reset_index(drop=True)
        clusters = find_emerging(frame, cut, embed, config, max_clusters=None)
        issue = frame["event"].str.startswith("new_issue").to_numpy()
        from custsat.models.text.emerging import candidate_mask

        n_issue = int((candidate_mask(frame, cut, config) & issue).sum())
        best = None
        for c in clusters[:top]:
            purity = float(issue[c.member_rows].mean())
            if purity >= min_purity and (best is None or c.rank < best[0].rank):
                best = (c, purity)
        if best is None:
            c0 = max(clusters, key=lambda c: issue[c.member_rows].mean(), default=None)
            out.append(EmergingOutcome(seed, days, n_issue, False, None if c0 is None else c0.rank,
                                       0.0 if c0 is None else float(issue[c0.member_rows].mean()),
                                       0.0 if c0 is None or not n_issue else float(issue[c0.member_rows].sum() / n_issue),
                                       0 if c0 is None else c0.size, "" if c0 is None else ", ".join(c0.terms[:5])))
        else:
            c, purity = best
            out.append(EmergingOutcome(seed, days, n_issue, True, c.rank, purity,
                                       float(issue[c.member_rows].sum() / max(n_issue, 1)), c.size,
                                       ", ".join(c.terms[:5])))
    return out


def emerging_detection(seeds: Sequence[int], topic_model, config: EmergingConfig = EmergingConfig(), *,
                       n_customers: int = 20000, as_of: str = "2026-06-30") -> pd.DataFrame:
    """Per seed and day after onset: found in the top 3 with purity >= 0.8, rank, purity, recall."""
    rows = []
    for seed in seeds:
        fb, onset, embedder = emerging_frames(seed, topic_model, n_customers=n_customers, as_of=as_of)
        rows += [o.__dict__ for o in judge_emerging(fb, onset, embedder.embed, config, seed)]
    return pd.DataFrame(rows)


def choose_emerging_config(dev_seeds: Sequence[int], topic_model, grid: dict[str, Sequence] | None = None, *,
                           n_customers: int = 20000, as_of: str = "2026-06-30") -> tuple[EmergingConfig, pd.DataFrame]:
    """Pick ``merge_distance`` / ``micro_size`` on development seeds (success rate, then purity)."""
    grid = grid or {"merge_distance": (0.3, 0.45, 0.6), "micro_size": (6, 10)}
    data = [emerging_frames(s, topic_model, n_customers=n_customers, as_of=as_of) + (s,) for s in dev_seeds]
    rows = []
    for md in grid["merge_distance"]:
        for ms in grid["micro_size"]:
            cfg = EmergingConfig(merge_distance=md, micro_size=ms)
            outcomes = [o for fb, onset, emb, s in data for o in judge_emerging(fb, onset, emb.embed, cfg, s)]
            rows.append({"merge_distance": md, "micro_size": ms, "found": np.mean([o.found for o in outcomes]),
                         "purity": np.mean([o.purity for o in outcomes])})
    table = pd.DataFrame(rows)
    best = table.sort_values(["found", "purity"], ascending=False, kind="stable").iloc[0]
    return EmergingConfig(merge_distance=float(best["merge_distance"]), micro_size=int(best["micro_size"])), table
