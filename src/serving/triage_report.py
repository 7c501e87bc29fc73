"""HTML sections of the feedback work queue: what changed, the queue, follow-up analytics.

:func:`triage_sections` returns the sections as one HTML fragment (for the scoring report or
a page of its own); :func:`write_triage_report` writes a self-contained page (inline CSS and
SVG, no external assets, no timestamps: equal inputs give an equal file). Every text shown is
PII-masked (the queue's texts are masked when it is built; alert examples and cluster examples
are masked where they are made).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from custsat.data.io import atomic_write_path
from custsat.features.sla import OPEN_STATUSES, STATUSES
from custsat.serving.report import CSS, _ascii_label, _e, _figure, _svg, _table

TOP_ITEMS = 20
TEXT_CHARS = 120


def _what_changed(result, topic_names: Mapping[str, tuple[str, str]]) -> str:
    parts = ['<h2 id="what-changed">What changed</h2>']
    alerts = result.alerts
    if alerts is None or not len(alerts):
        parts.append('<div class="ok">No topic has more complaints than its history predicts in the last two weeks.</div>')
    else:
        table = alerts.assign(
            name=[" / ".join(topic_names.get(t, (t, t))) for t in alerts["topic"]],
            week=pd.to_datetime(alerts["week"]).dt.strftime("%Y-%m-%d"),
        )[["topic", "name", "week", "count", "expected", "ratio", "upper", "volume", "top_phrases"]]
        parts.append(
            "<p>Negative mentions of a topic in a week, against what the topic's own history predicts for the week's "
            "feedback volume (negative-binomial bound at 99.5%; a busy week alone does not alert).</p>"
            + _table(table, formats={"expected": ",.1f", "ratio": ",.2f", "upper": ",.0f"}, section="alerts"))
        for row in alerts.itertuples(index=False):
            examples = [x for x in str(row.examples).split(" | ") if x]
            items = "".join(f'<div class="example">{_e(x)}</div>' for x in examples)
            parts.append(f"<h3>{_e(row.topic)} · week of {_e(pd.Timestamp(row.week).date())}: {int(row.count)} "
                         f"complaints vs {row.expected:.1f} expected ({row.ratio:.1f}×)</h3>{items}")
    parts.append(_emerging_section(result))
    return "".join(parts)


def _emerging_section(result) -> str:
    from custsat.models.text.emerging import clusters_frame, seed_examples_yaml, taxonomy_yaml

    parts = ['<h3 id="emerging">Emerging issues (complaints no topic covers)</h3>']
    if not result.emerging:
        note = result.metadata.get("emerging", "No recurring complaint outside the taxonomy was found.")
        return parts[0] + f"<p>{_e(note)}</p>"
    table = clusters_frame(result.emerging)[["rank", "size", "recent", "previous", "growth", "terms", "languages"]]
    parts.append("<p>Negative feedback whose best topic is unlikely, clustered; ranked by how surprising the last "
                 "two weeks' count is against the weeks before. Each cluster can become a topic: paste its entry "
                 "under <code>topics:</code> in the taxonomy file and its examples under <code>examples:</code> "
                 "in <code>seed_examples.yaml</code>.</p>")
    parts.append(_table(table, formats={"growth": ",.1f"}, section="emerging"))
    for cluster, entry in zip(result.emerging[:5], result.taxonomy_entries[:5], strict=False):
        items = "".join(f'<div class="example">{_e(x)}</div>' for x in cluster.examples)
        parts.append(f"<h4>#{cluster.rank}: {_e(', '.join(cluster.terms[:6]))} ({cluster.size} texts, "
                     f"{cluster.recent} in the last two weeks)</h4>{items}"
                     f"<pre>{_e(taxonomy_yaml([entry]))}</pre><pre>{_e(seed_examples_yaml([entry]))}</pre>")
    return "".join(parts)


def _queue_section(queue: pd.DataFrame, metadata: Mapping | None = None) -> str:
    counts = queue["status"].value_counts()
    cards = [(f"{int(counts.get(s, 0)):,}", s.replace("_", " ")) for s in STATUSES if counts.get(s, 0)]
    card_html = "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}</div></div>' for v, k in cards)
    by_team = pd.crosstab(queue["owner_team"].fillna("(none)"), queue["status"]).reindex(
        columns=[s for s in STATUSES if s in set(queue["status"])], fill_value=0).reset_index()
    open_items = queue[queue["status"].isin(OPEN_STATUSES)].head(TOP_ITEMS)
    top = open_items.assign(text=open_items["text"].astype(str).str.slice(0, TEXT_CHARS))[
        ["priority_rank", "feedback_id", "owner_team", "status", "priority", "urgency", "topic_sentiments",
         "priority_reason", "text"]]
    stale = (metadata or {}).get("stale_open_items", 0)
    stale_html = (f'<div class="warn">{stale:,} open items received more than {metadata["stale_after_days"]} days '
                  "ago are not listed (stale backlog; policy key <code>triage.stale_after_days</code>).</div>"
                  if stale else "")
    return (
        f'<h2 id="queue">Work queue</h2><div class="cards">{card_html}</div>{stale_html}'
        "<h3>Items by owner team and status</h3>" + _table(by_team, section="queue-teams")
        + f"<h3>First {len(top)} open items by priority</h3>" + _table(top, formats={"priority": ",.1f"},
                                                                        section="queue-top"))


def _followup_section(analytics: pd.DataFrame) -> str:
    if analytics is None or not len(analytics):
        return '<h2 id="follow-up">Follow-up</h2><p>No feedback in the analytics window.</p>'
    cols = ["dimension", "value", "volume", "open_items", "response_hours_median", "response_hours_p90",
            "resolution_hours_median", "resolution_hours_p90", "responded_in_time_share", "resolved_in_time_share",
            "resolution_rating_mean", "ratings"]
    overall = analytics[analytics["week"] == "all"][cols]
    fmt = {c: ",.1f" for c in cols if c.endswith(("median", "p90"))}
    fmt.update({"responded_in_time_share": ".0%", "resolved_in_time_share": ".0%", "resolution_rating_mean": ",.2f"})
    weekly = analytics[(analytics["dimension"] == "all") & (analytics["week"] != "all")]
    fig, ax = _figure(6.5, 2.8)
    weeks = [_ascii_label(w[5:]) for w in weekly["week"]]
    ax.plot(weeks, weekly["resolved_in_time_share"].to_numpy(), marker="o", label="resolved in time")
    ax.plot(weeks, weekly["responded_in_time_share"].to_numpy(), marker="s", label="answered in time")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share within deadline")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax2 = ax.twinx()
    ax2.bar(weeks, weekly["volume"].to_numpy(), alpha=0.2, color="#1f4e78")
    ax2.set_ylabel("items received")
    ax.legend(fontsize=7, loc="lower left")
    weekly_table = weekly[["week", "volume", "open_items", "response_hours_median", "resolution_hours_median",
                           "responded_in_time_share", "resolved_in_time_share", "resolution_rating_mean"]]
    return (
        '<h2 id="follow-up">Follow-up: response, resolution and the customers\' rating of it</h2>'
        "<p>Items received in the analytics window, by owner team, channel and routing topic. Times are hours "
        "(of handled items); shares count items handled, or past their deadline, as of the report's date.</p>"
        + _table(overall, formats=fmt, section="follow-up") + "<h3>Week by week</h3>" + _svg(fig)
        + _table(weekly_table, formats=fmt, section="follow-up-weekly"))


def triage_sections(result, *, topic_names: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The triage sections as one HTML fragment: what changed, queue, follow-up."""
    names = topic_names or {}
    return (_what_changed(result, names) + _queue_section(result.queue, result.metadata)
            + _followup_section(result.analytics))


def render_triage_report(result, *, topic_names: Mapping[str, tuple[str, str]] | None = None,
                         title: str = "Feedback operations report") -> str:
    meta = result.metadata
    header = (f"<h1>{_e(title)}</h1><div class=\"meta\">as of <b>{_e(str(meta.get('as_of', ''))[:10])}</b> · "
              f"{meta.get('feedback_rows', 0):,} feedback items · {meta.get('queue_rows', 0):,} in the queue · "
              f"{meta.get('open_items', 0):,} open</div>")
    body = header + triage_sections(result, topic_names=topic_names) + (
        '<p class="meta">Generated by custsat. Personal data (phones, e-mails, ID and card numbers) is masked in '
        "every text shown.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def write_triage_report(path: str | Path, result, **kwargs) -> Path:
    """Render and write the report atomically (UTF-8)."""
    path = Path(path)
    text = render_triage_report(result, **kwargs)
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
