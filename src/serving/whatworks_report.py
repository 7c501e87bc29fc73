"""Report sections: "actions: did they work?", control-group sizes, "what drives satisfaction".

Each function returns an HTML fragment in the style of :mod:`custsat.serving.report` (inline
SVG charts, plain tables); :func:`write_whatworks_report` writes them as one standalone page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_path
from custsat.serving.report import CSS, _ascii_label, _e, _figure, _svg, _table


def control_groups_section(scored: pd.DataFrame) -> str:
    """Group sizes of a scoring with control groups (nothing when the list has none)."""
    from custsat.serving.campaigns import group_sizes

    if "treatment_group" not in scored.columns:
        return ""
    sizes = group_sizes(scored)
    note = ("Control customers receive the standard care instead of the action meant for them; comparing them "
            "with the treated customers after the campaign shows what each action changed "
            "(<code>custsat evaluate actions</code>).")
    return (f'<h2 id="control-groups">Control groups of this scoring</h2><p>{note}</p>'
            + _table(sizes, formats={"treated": ",d", "control": ",d", "control_share": ".1%"}, section="control-groups"))


def _effect_chart(rows: pd.DataFrame) -> str:
    fig, ax = _figure(6.5, 0.45 * len(rows) + 1.2)
    y = np.arange(len(rows))[::-1]
    diff = rows["difference"].to_numpy() * 100
    low = rows["ci_low"].to_numpy() * 100
    high = rows["ci_high"].to_numpy() * 100
    colours = np.where(rows["warning"].astype(bool), "#a5a5a5", np.where(low > 0, "#70ad47", np.where(high < 0, "#c0504d", "#1f4e78")))
    ax.hlines(y, low, high, colors=colours, linewidth=2)
    ax.scatter(diff, y, color=colours, zorder=3)
    ax.axvline(0, color="#555", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([_ascii_label(f"{c} / {a}") for c, a in zip(rows["campaign_id"], rows["action_id"], strict=True)])
    ax.set_xlabel("effect on retention, percentage points (treated - control, 95% CI)")
    return _svg(fig)


def actions_effects_section(evaluation: Any, *, outcomes: tuple[str, ...] = ("retained", "spend", "csat_change", "complained")) -> str:
    """"Actions: did they work?": retention effect per action with its 95% CI (chart) and a
    table of the main outcomes with group sizes and warnings."""
    effects = evaluation.effects
    meta = evaluation.metadata
    overall = effects[effects["segment"] == "all"]
    retention = overall[overall["outcome"] == "retained"].reset_index(drop=True)
    head = (f'<h2 id="actions-effects">Actions: did they work? / 行动效果评估</h2><p class="meta">campaign start '
            f'{_e(pd.Timestamp(meta["campaign_start"]).date())}, outcome window {meta["window_days"]} days; '
            "treated customers against their randomly held-out control group. Newcombe intervals for rates, "
            "Welch intervals for means.</p>")
    if retention.empty:
        return head + "<p>No action had a control group: nothing to compare.</p>"
    warn = ""
    if not meta.get("window_complete", True):
        warn = (f'<div class="warn">The new data end at {_e(meta["data_last_transaction"])}, before the window does: '
                "outcomes so far only.</div>")
    if meta.get("customers_not_in_new_data"):
        warn += (f'<div class="warn">{meta["customers_not_in_new_data"]:,} customers of the list are not in the new data '
                 "(counted as not retained).</div>")
    table = overall[overall["outcome"].isin(outcomes)][
        ["campaign_id", "action_id", "outcome_en", "outcome_zh", "n_treated", "n_control", "treated_value",
         "control_value", "difference", "ci_low", "ci_high", "warning"]]
    fmt = {"treated_value": ",.3f", "control_value": ",.3f", "difference": ",.3f", "ci_low": ",.3f", "ci_high": ",.3f",
           "n_treated": ",d", "n_control": ",d"}
    return head + warn + _effect_chart(retention) + _table(table, formats=fmt, section="actions-effects")


def _ipa_chart(table: pd.DataFrame) -> str:
    fig, ax = _figure(6.5, 4.2)
    x = table["performance"].to_numpy()
    y = table["share"].to_numpy() * 100
    colours = table["quadrant"].map({"fix_first": "#c0504d", "keep_up": "#70ad47", "low_priority": "#a5a5a5",
                                     "possible_overkill": "#f3b53f"}).to_numpy()
    ax.errorbar(x, y, yerr=[y - table["share_low"].to_numpy() * 100, table["share_high"].to_numpy() * 100 - y],
                fmt="none", ecolor="#999", linewidth=1)
    ax.scatter(x, y, c=colours, zorder=3, s=36)
    for xi, yi, name in zip(x, y, table["attribute"], strict=True):
        ax.annotate(_ascii_label(name), (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axvline(x.mean(), color="#555", linewidth=0.8, linestyle="--")
    ax.axhline(y.mean(), color="#555", linewidth=0.8, linestyle="--")
    ax.set_xlabel("performance: mean rating")
    ax.set_ylabel("importance: share of explained variance, % (95% CI)")
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    for text, (qx, qy, ha) in {"Fix first": (xmin, ymax, "left"), "Keep up": (xmax, ymax, "right"),
                               "Low priority": (xmin, ymin, "left"), "Possible overkill": (xmax, ymin, "right")}.items():
        ax.text(qx, qy, text, ha=ha, va="top" if qy == ymax else "bottom", fontsize=8, color="#555")
    return _svg(fig)


def drivers_section(analysis: Any) -> str:
    """"What drives satisfaction": importance-performance matrix (chart) and the importance
    table with bootstrap CIs, ranks and quadrants in both languages."""
    t = analysis.table
    method = "Johnson's relative weights" if analysis.method == "relative_weights" else "Shapley-value regression"
    head = (f'<h2 id="drivers">What drives satisfaction / 满意度驱动因素</h2><p class="meta">overall score '
            f'<code>{_e(analysis.overall)}</code>, {analysis.n_respondents:,} complete answers'
            f'{f" ({analysis.n_dropped:,} incomplete left out)" if analysis.n_dropped else ""}; {method}; '
            f"the attributes together explain R² = {analysis.r2:.3f} of the overall score, and the weights sum to it. "
            f"{int(analysis.ci * 100)}% intervals from {analysis.n_boot:,} bootstrap resamples.</p>")
    shown = t[["rank", "rank_low", "rank_high", "attribute", "weight", "weight_low", "weight_high", "share",
               "performance", "quadrant_zh", "quadrant_en"]]
    fmt = {"weight": ".3f", "weight_low": ".3f", "weight_high": ".3f", "share": ".1%", "performance": ".2f",
           "rank": ",d", "rank_low": ",.0f", "rank_high": ",.0f"}
    fix = t.loc[t["quadrant"] == "fix_first", "attribute"].tolist()
    box = (f'<div class="warn">Fix first / 优先改进: {_e(", ".join(fix))}</div>' if fix
           else '<div class="ok">No attribute is both important and rated below average.</div>')
    return head + box + _ipa_chart(t) + _table(shown, formats=fmt, section="drivers")


def write_whatworks_report(path: str | Path, *, evaluation: Any = None, drivers: Any = None,
                           scored: pd.DataFrame | None = None, title: str = "What works") -> Path:
    """The sections above as one standalone HTML page (atomic write, no timestamps)."""
    body = [f"<h1>{_e(title)}</h1>"]
    if scored is not None:
        body.append(control_groups_section(scored))
    if evaluation is not None:
        body.append(actions_effects_section(evaluation))
    if drivers is not None:
        body.append(drivers_section(drivers))
    text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    path = Path(path)
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
