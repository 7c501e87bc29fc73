"""Self-contained HTML report of a scoring: one file, no external assets, works offline.

Charts are matplotlib figures embedded as inline SVG; tables are plain HTML; the
only CSS is inline. Sections: key figures, drift warnings, tier distributions, churn risk
by segment, CLV distribution and value at risk (sum of CLV x churn probability), complaint
topics by sentiment and by month, NPS and CSAT, recommended actions, example complaints
(PII masked with :func:`custsat.privacy.mask_pii`). No timestamps are written, so equal
inputs give an equal report.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custsat.data.io import atomic_write_path
from custsat.features.builder import events_before

TIER_ORDER = {
    "value_tier": ["high", "medium", "low"],
    "churn_risk_tier": ["high", "medium", "low"],
    "clv_tier": ["high", "medium", "low"],
    "satisfaction_tier": ["high", "medium", "low"],
    "lifecycle_stage": ["prospect", "new", "one_time", "repeat", "loyal", "lapsed"],
}
COLOURS = {"high": "#c0504d", "medium": "#f3b53f", "low": "#70ad47"}
GOOD_HIGH = {"value_tier", "clv_tier", "satisfaction_tier"}
SENTIMENT_COLOURS = {"negative": "#c0504d", "neutral": "#a5a5a5", "positive": "#70ad47"}
MAX_EXAMPLES = 5
EXAMPLE_CHARS = 200

CSS = """
body{font-family:-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei",Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:24px;margin-bottom:4px} h2{font-size:19px;border-bottom:2px solid #1f4e78;padding-bottom:4px;margin-top:32px}
.meta{color:#555;font-size:13px} .cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#f4f7fb;border:1px solid #d9e2ef;border-radius:6px;padding:10px 14px;min-width:150px}
.card .v{font-size:22px;font-weight:600} .card .k{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#1f4e78;color:#fff} td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff4e5;border-left:4px solid #f39c12;padding:8px 12px;margin:12px 0}
.ok{background:#eef8ee;border-left:4px solid #70ad47;padding:8px 12px;margin:12px 0}
.chart svg{max-width:100%;height:auto} .grid{display:flex;flex-wrap:wrap;gap:16px}
.example{background:#fafafa;border:1px solid #eee;padding:6px 10px;margin:6px 0;font-size:13px}
"""


#: Report wording, (English, Chinese). ``lang="both"`` shows "中文 / English".
TEXT: dict[str, tuple[str, str]] = {
    "title": ("Customer scoring report", "客户评分报告"),
    "as_of": ("as of", "评分日期"),
    "scoring_run": ("scoring run", "评分批次"),
    "models": ("models", "模型"),
    "customers_scored": ("customers scored", "已评分客户"),
    "total_clv": ("total CLV", "客户终身价值合计"),
    "value_at_risk_card": ("value at risk (Σ CLV × churn)", "风险价值（Σ 终身价值 × 流失概率）"),
    "mean_churn": ("mean churn probability", "平均流失概率"),
    "high_risk": ("high churn risk", "高流失风险"),
    "open_complaints": ("open complaints", "未解决投诉"),
    "nps_card": ("NPS (last answer per customer)", "净推荐值（每位客户最近一次）"),
    "drift": ("Feature drift", "特征漂移"),
    "drift_psi": ("Feature drift (PSI vs. training)", "特征漂移（与训练数据的 PSI）"),
    "drift_none": ("The churn model carries no training-time feature reference, so drift was not checked.",
                   "流失模型没有训练时的特征参照，未检查漂移。"),
    "drift_ok": ("No feature drifted from the churn model's training data (all PSI ≤ 0.2).",
                 "与流失模型训练数据相比，没有特征发生漂移（所有 PSI ≤ 0.2）。"),
    "drift_warn": ("feature(s) drifted from the churn model's training data (PSI > 0.2)",
                   "个特征相对流失模型训练数据发生漂移（PSI > 0.2）"),
    "drift_advice": ("Check the inputs, or retrain (make train) before trusting the churn scores.",
                     "请检查输入数据，或重新训练（make train）后再使用流失评分。"),
    "tiers": ("Tier distributions", "分层分布"),
    "churn_by_segment": ("Churn risk by RFM segment", "各 RFM 细分的流失风险"),
    "clv": ("CLV distribution and value at risk", "客户终身价值分布与风险价值"),
    "clv_axis": ("CLV (clipped at the 99th percentile)", "客户终身价值（截至第 99 百分位）"),
    "customers": ("customers", "客户数"),
    "topics": ("Complaint topics", "投诉主题"),
    "by_sentiment": ("By sentiment", "按情感"),
    "no_topics": ("No feedback topics to show.", "没有可显示的反馈主题。"),
    "mentions": ("feedback mentions", "反馈提及次数"),
    "negative_by_month": ("Negative mentions by month (top 5 topics)", "每月负面提及（前 5 个主题）"),
    "negative_per_month": ("negative mentions per month", "每月负面提及"),
    "nps_csat": ("NPS and CSAT", "净推荐值与满意度"),
    "no_nps": ("No NPS answers in the feedback.", "反馈中没有净推荐值回答。"),
    "no_csat": ("No CSAT ratings in the feedback.", "反馈中没有满意度评分。"),
    "csat_rating": ("CSAT rating", "满意度评分"),
    "answers": ("answers", "回答数"),
    "actions": ("Recommended actions", "推荐行动"),
    "examples": ("Recent complaints (examples, personal data masked)", "近期投诉示例（个人信息已脱敏）"),
    "mean_churn_axis": ("mean churn probability", "平均流失概率"),
    "footer": ("Generated by custsat. Personal data (phones, e-mails, ID and card numbers) is masked in every text shown.",
               "由 custsat 生成。所有文本中的个人信息（电话、邮箱、身份证号和银行卡号）均已脱敏。"),
}
#: Tier, stage and category values as people read them, (English, Chinese).
VALUE_NAMES: dict[str, tuple[str, str]] = {
    "high": ("high", "高"), "medium": ("medium", "中"), "low": ("low", "低"), "missing": ("missing", "缺失"),
    "prospect": ("prospect", "潜在客户"), "new": ("new", "新客户"), "one_time": ("one-time", "一次购买"),
    "repeat": ("repeat", "复购"), "loyal": ("loyal", "忠诚"), "lapsed": ("lapsed", "流失"),
    "promoter": ("promoter", "推荐者"), "passive": ("passive", "被动者"), "detractor": ("detractor", "贬损者"),
    "negative": ("negative", "负面"), "neutral": ("neutral", "中性"), "positive": ("positive", "正面"),
    "value_tier": ("value tier", "价值等级"), "churn_risk_tier": ("churn risk", "流失风险"),
    "clv_tier": ("CLV tier", "终身价值等级"), "satisfaction_tier": ("satisfaction", "满意度"),
    "lifecycle_stage": ("lifecycle stage", "生命周期阶段"),
}
LANGUAGES = ("en", "zh", "both")


def _t(key: str, lang: str) -> str:
    en, zh = TEXT[key]
    return {"en": en, "zh": zh}.get(lang, f"{zh} / {en}")


def _v(value: Any, lang: str) -> str:
    """A tier/stage/category value in ``lang`` (unknown values as they are)."""
    names = VALUE_NAMES.get(str(value))
    if names is None or lang == "en":
        return str(value) if names is None else names[0]
    return names[1] if lang == "zh" else f"{names[1]} / {names[0]}"


# --------------------------------------------------------------------------- helpers
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, fmt: str = ",.0f") -> str:
    try:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "n/a"
        return format(value, fmt)
    except (TypeError, ValueError):
        return _e(value)


def _table(frame: pd.DataFrame, *, formats: Mapping[str, str] | None = None, section: str = "") -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(frame.columns, record, strict=True):
            if col in formats:
                cells.append(f'<td class="n">{_num(value, formats[col])}</td>')
            elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                cells.append(f'<td class="n">{_num(value, ",.0f" if float(value).is_integer() else ",.3f")}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' data-section="{_e(section)}"' if section else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


#: Chart text is SVG text that the browser draws with its own fonts, Chinese included; these
#: families (when installed) only give matplotlib the glyph widths for the layout.
CHART_FONTS = ["DejaVu Sans", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "sans-serif"]


@contextlib.contextmanager
def _chart_text():
    """Fonts for laying out chart text (any CJK the browser will draw is not in them: no warning)."""
    import warnings

    import matplotlib

    fonts = {"svg.hashsalt": "custsat", "svg.fonttype": "none", "font.family": "sans-serif",
             "font.sans-serif": CHART_FONTS}
    with matplotlib.rc_context(fonts), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
        yield


def _tight_layout(fig) -> None:
    with _chart_text():
        fig.tight_layout()


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (no XML header, no date, stable ids, text as text)."""
    buffer = io.StringIO()
    with _chart_text():
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return f'<div class="chart">{text}</div>'


def _figure(width: float = 6.0, height: float = 3.2, ncols: int = 1):
    """A figure and its axes, made without pyplot (no backend switched, nothing to close)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": 9, "font.family": "sans-serif", "font.sans-serif": CHART_FONTS}):
        fig = Figure(figsize=(width, height))
        return fig, fig.subplots(1, ncols)


def _ordered_counts(series: pd.Series, order: Sequence[str] | None = None) -> pd.Series:
    counts = series.value_counts(dropna=False)
    counts.index = counts.index.astype(object).where(counts.index.notna(), "missing")
    counts = counts[counts > 0].groupby(level=0, sort=False).sum()  # unused categories dropped
    keys = [k for k in (order or []) if k in counts.index] + sorted(k for k in counts.index if k not in (order or []))
    return counts.reindex(keys)


def _ascii_label(text: Any) -> str:
    """An ASCII-only label, for the PNG figures logged to MLflow (no CJK font is assumed there)."""
    return re.sub(r"[^\x20-\x7e]", "?", str(text))


# --------------------------------------------------------------------------- sections
def _cards(scored: pd.DataFrame, feedback: pd.DataFrame | None, lang: str = "en") -> str:
    clv = scored["clv"].fillna(0) if "clv" in scored else pd.Series(0.0, index=scored.index)
    churn = scored["churn_probability"].fillna(0) if "churn_probability" in scored else pd.Series(0.0, index=scored.index)
    items = [
        (_t("customers_scored", lang), f"{len(scored):,}"),
        (_t("total_clv", lang), _num(clv.sum())),
        (_t("value_at_risk_card", lang), _num(float((clv * churn).sum()))),
        (_t("mean_churn", lang), _num(float(churn.mean()) if len(churn) else np.nan, ".1%")),
        (_t("high_risk", lang), f"{int((scored.get('churn_risk_tier') == 'high').sum()):,}"),
        (_t("open_complaints", lang), f"{int(scored['complaints_open'].fillna(0).sum()) if 'complaints_open' in scored else 0:,}"),
    ]
    nps = nps_score(scored)
    if nps is not None:
        items.append((_t("nps_card", lang), f"{nps:+.0f}"))
    cards = "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}</div></div>' for k, v in items)
    return f'<div class="cards" id="key-figures">{cards}</div>'


def nps_score(scored: pd.DataFrame) -> float | None:
    """NPS = % promoters - % detractors over customers with an NPS answer (last answer each)."""
    if "nps_category" not in scored:
        return None
    cats = scored["nps_category"].dropna()
    if not len(cats):
        return None
    return float(100.0 * ((cats == "promoter").mean() - (cats == "detractor").mean()))


def _drift_section(drift: pd.DataFrame | None, has_reference: bool, lang: str = "en") -> str:
    if drift is None:
        note = _t("drift_none", lang) if not has_reference else "No drift table."
        return f'<h2 id="drift">{_e(_t("drift", lang))}</h2><div class="warn">{_e(note)}</div>'
    drifted = drift[drift["drifted"]]
    if len(drifted):
        box = (
            f'<div class="warn"><b>⚠</b> {len(drifted)} {_e(_t("drift_warn", lang))}: '
            f"{_e(', '.join(drifted['feature']))}. {_e(_t('drift_advice', lang))}</div>"
        )
    else:
        box = f'<div class="ok">{_e(_t("drift_ok", lang))}</div>'
    top = drift.head(10)[["feature", "psi", "note"]]
    return (f'<h2 id="drift">{_e(_t("drift_psi", lang))}</h2>{box}'
            f'{_table(top, formats={"psi": ".3f"}, section="drift")}')


def _tiers_section(scored: pd.DataFrame, lang: str = "en") -> str:
    cols = [c for c in TIER_ORDER if c in scored]
    if not cols:
        return ""
    fig, axes = _figure(2.3 * len(cols), 2.6, ncols=len(cols))
    axes = np.atleast_1d(axes)
    rows = []
    for ax, col in zip(axes, cols, strict=True):
        counts = _ordered_counts(scored[col], TIER_ORDER[col])
        colours = []
        for key in counts.index:
            if key == "missing":
                colours.append("#a5a5a5")
            elif col in GOOD_HIGH:
                colours.append({"high": COLOURS["low"], "low": COLOURS["high"]}.get(key, COLOURS["medium"]))
            elif col == "churn_risk_tier":
                colours.append(COLOURS.get(key, "#4472c4"))
            else:
                colours.append("#4472c4")
        ax.bar([_v(k, lang) for k in counts.index], counts.to_numpy(), color=colours)
        ax.set_title(_v(col, lang), fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        for key, value in counts.items():
            rows.append((_v(col, lang), _v(key, lang), int(value), float(value) / max(len(scored), 1)))
    _tight_layout(fig)
    table = pd.DataFrame(rows, columns=["tier", "value", "customers", "share"])
    return (
        f'<h2 id="tiers">{_e(_t("tiers", lang))}</h2>{_svg(fig)}'
        f'{_table(table, formats={"share": ".1%"}, section="tiers")}'
    )


def _churn_by_segment(scored: pd.DataFrame, lang: str = "en") -> str:
    if "churn_probability" not in scored or "rfm_segment" not in scored:
        return ""
    frame = scored.assign(
        segment=scored["rfm_segment"].fillna("(no purchases)"),
        at_risk=scored["clv"].fillna(0) * scored["churn_probability"].fillna(0) if "clv" in scored else 0.0,
        high=(scored.get("churn_risk_tier") == "high").astype(int),
    )
    table = (
        frame.groupby("segment", sort=True)
        .agg(customers=("churn_probability", "size"), mean_churn_probability=("churn_probability", "mean"),
             high_risk=("high", "sum"), value_at_risk=("at_risk", "sum"))
        .sort_values(["mean_churn_probability", "customers"], ascending=[False, False])
        .reset_index()
    )
    fig, ax = _figure(6.5, 0.3 * len(table) + 1.0)
    ax.barh(list(table["segment"])[::-1], table["mean_churn_probability"].to_numpy()[::-1], color="#c0504d")
    ax.set_xlabel(_t("mean_churn_axis", lang))
    ax.set_xlim(0, 1)
    return (
        f'<h2 id="churn-by-segment">{_e(_t("churn_by_segment", lang))}</h2>{_svg(fig)}'
        + _table(table, formats={"mean_churn_probability": ".1%", "value_at_risk": ",.0f"}, section="churn-by-segment")
    )


def _clv_section(scored: pd.DataFrame, lang: str = "en") -> str:
    if "clv" not in scored:
        return ""
    clv = scored["clv"].dropna().astype(float)
    fig, ax = _figure(6.5, 3.0)
    if len(clv):
        upper = float(np.quantile(clv, 0.99)) if len(clv) > 10 else float(clv.max())
        ax.hist(clv.clip(upper=upper), bins=40, color="#4472c4")
    ax.set_xlabel(_t("clv_axis", lang))
    ax.set_ylabel(_t("customers", lang))
    churn = scored["churn_probability"].fillna(0) if "churn_probability" in scored else 0.0
    by = "value_tier" if "value_tier" in scored else "clv_tier"
    frame = pd.DataFrame({by: scored[by], "clv": scored["clv"], "at_risk": scored["clv"].fillna(0) * churn})
    table = (
        frame.assign(group=frame[by].fillna("missing"))
        .groupby("group", sort=False)
        .agg(customers=("clv", "size"), clv_total=("clv", "sum"), clv_median=("clv", "median"),
             value_at_risk=("at_risk", "sum"))
        .reindex([k for k in TIER_ORDER.get(by, []) + ["missing"] if k in set(frame[by].fillna("missing"))])
        .reset_index()
        .rename(columns={"group": by})
    )
    total_risk = float(frame["at_risk"].sum())
    quantiles = clv.quantile([0.1, 0.5, 0.9]) if len(clv) else pd.Series([np.nan] * 3, index=[0.1, 0.5, 0.9])
    summary = (
        f"<p>CLV median {_num(quantiles[0.5])}, 10th–90th percentile {_num(quantiles[0.1])}–{_num(quantiles[0.9])}. "
        f"<b>Value at risk</b> (Σ CLV × churn probability): <span id=\"value-at-risk\">{_num(total_risk)}</span>.</p>"
    )
    return (
        f'<h2 id="clv">{_e(_t("clv", lang))}</h2>{summary}{_svg(fig)}'
        + _table(table, formats={"clv_total": ",.0f", "clv_median": ",.0f", "value_at_risk": ",.0f"}, section="clv")
    )


def _topic_frame(feedback: pd.DataFrame | None, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Feedback mentions per (topic, sentiment, month): columns topic, sentiment, month, mentions.

    Rows are counted per distinct (topics, sentiment, month) before the topic lists are split,
    so a million feedback rows make a few thousand splits.
    """
    columns = ["topic", "sentiment", "month", "mentions"]
    if feedback is None or "topics" not in feedback or not len(feedback):
        return pd.DataFrame(columns=columns)
    fb = feedback
    if as_of is not None:
        fb = events_before(fb, as_of)
    fb = fb.dropna(subset=["topics"])
    sentiment = fb["sentiment"].astype(object).where(fb["sentiment"].notna(), "unlabelled") if "sentiment" in fb else (
        pd.Series("unlabelled", index=fb.index, dtype=object))
    month = fb["timestamp"].to_numpy().astype("datetime64[M]")
    counts = (
        pd.DataFrame({"topics": fb["topics"].astype(str).to_numpy(), "sentiment": sentiment.to_numpy(), "month": month})
        .groupby(["topics", "sentiment", "month"], sort=False, observed=True).size().rename("mentions").reset_index()
    )
    counts["month"] = counts["month"].dt.strftime("%Y-%m")
    frame = counts.assign(topic=counts.pop("topics").str.replace(" ", "").str.split(";")).explode("topic")
    frame = frame[frame["topic"].astype(str) != ""]
    return frame.groupby(["topic", "sentiment", "month"], sort=True).agg(mentions=("mentions", "sum")).reset_index()[columns]


def _mentions(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mentions per topic (rows) and ``by`` (columns), zero where none."""
    return frame.pivot_table(index="topic", columns=by, values="mentions", aggfunc="sum", fill_value=0).astype("int64")


def _topics_section(feedback: pd.DataFrame | None, as_of: pd.Timestamp | None, topic_names: Mapping[str, str],
                    lang: str = "en") -> str:
    frame = _topic_frame(feedback, as_of)
    if not len(frame):
        return f'<h2 id="topics">{_e(_t("topics", lang))}</h2><p>{_e(_t("no_topics", lang))}</p>'
    by_sent = _mentions(frame, "sentiment")
    for col in ("negative", "neutral", "positive"):
        if col not in by_sent:
            by_sent[col] = 0
    by_sent = by_sent.sort_values(["negative", "neutral"], ascending=False)
    fig, ax = _figure(6.5, 0.32 * len(by_sent) + 1.0)
    left = np.zeros(len(by_sent))
    labels = [topic_names.get(t, t) for t in by_sent.index][::-1]
    for sent in ("negative", "neutral", "positive"):
        values = by_sent[sent].to_numpy()[::-1]
        ax.barh(labels, values, left=left, color=SENTIMENT_COLOURS[sent], label=_v(sent, lang))
        left = left + values
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel(_t("mentions", lang))
    sent_table = by_sent[["negative", "neutral", "positive"]].reset_index()
    sent_table.insert(1, "name", [topic_names.get(t, "") for t in sent_table["topic"]])
    sent_table["negative_share"] = sent_table["negative"] / sent_table[["negative", "neutral", "positive"]].sum(axis=1).clip(lower=1)

    negative = frame[frame["sentiment"] == "negative"]
    months = sorted(frame["month"].unique())[-12:]
    trend = _mentions(negative, "month").reindex(columns=months, fill_value=0) if len(negative) else pd.DataFrame()
    trend_html = ""
    if len(trend):
        top = trend.sum(axis=1).sort_values(ascending=False).head(5).index
        fig2, ax2 = _figure(6.5, 3.0)
        for topic in top:
            ax2.plot(months, trend.loc[topic].to_numpy(), marker="o", label=topic_names.get(topic, topic))
        ax2.set_ylabel(_t("negative_per_month", lang))
        ax2.tick_params(axis="x", rotation=45, labelsize=7)
        ax2.legend(fontsize=7)
        last3, prev3 = months[-3:], months[-6:-3]
        change = pd.DataFrame({
            "topic": trend.index,
            "last_3_months": trend[last3].sum(axis=1).to_numpy() if last3 else 0,
            "previous_3_months": trend[prev3].sum(axis=1).to_numpy() if prev3 else 0,
        })
        change["change"] = change["last_3_months"] - change["previous_3_months"]
        change = change.sort_values(["last_3_months", "topic"], ascending=[False, True])
        trend_html = (
            f"<h3>{_e(_t('negative_by_month', lang))}</h3>" + _svg(fig2)
            + _table(change, section="topic-trend")
        )
    return (
        f'<h2 id="topics">{_e(_t("topics", lang))}</h2><h3>{_e(_t("by_sentiment", lang))}</h3>' + _svg(fig)
        + _table(sent_table, formats={"negative_share": ".0%"}, section="topics") + trend_html
    )


def _nps_csat_section(scored: pd.DataFrame, feedback: pd.DataFrame | None, as_of: pd.Timestamp | None,
                      lang: str = "en") -> str:
    parts = [f'<h2 id="nps-csat">{_e(_t("nps_csat", lang))}</h2>']
    nps = nps_score(scored)
    if nps is not None:
        counts = _ordered_counts(scored["nps_category"].dropna(), ["promoter", "passive", "detractor"])
        table = pd.DataFrame({"nps_category": [_v(c, lang) for c in counts.index], "customers": counts.to_numpy()})
        table["share"] = table["customers"] / max(int(table["customers"].sum()), 1)
        parts.append(f'<p>NPS over customers\' latest answers: <b id="nps">{nps:+.1f}</b> '
                     f"({int(table['customers'].sum()):,} respondents).</p>")
        parts.append(_table(table, formats={"share": ".1%"}, section="nps"))
    else:
        parts.append(f"<p>{_e(_t('no_nps', lang))}</p>")
    fb = feedback
    if fb is not None and as_of is not None and len(fb):
        fb = events_before(fb, as_of)
    if fb is not None and "rating" in fb and fb["rating"].notna().any():
        ratings = fb["rating"].dropna().round().astype(int)
        counts = ratings.value_counts().reindex(range(1, 6), fill_value=0)
        csat = float((ratings >= 4).mean())
        fig, ax = _figure(4.5, 2.6)
        ax.bar([str(i) for i in counts.index], counts.to_numpy(), color=["#c0504d", "#e07b39", "#f3b53f", "#9bbb59", "#70ad47"])
        ax.set_xlabel(_t("csat_rating", lang))
        ax.set_ylabel(_t("answers", lang))
        parts.append(f'<p>CSAT (share of ratings 4–5): <b id="csat">{csat:.1%}</b> of {len(ratings):,} ratings; '
                     f"mean rating {ratings.mean():.2f}.</p>{_svg(fig)}")
        if "satisfaction_tier" in scored:
            parts.append(_table(
                pd.DataFrame({"rating": counts.index, "answers": counts.to_numpy()}), section="csat"))
    else:
        parts.append(f"<p>{_e(_t('no_csat', lang))}</p>")
    return "".join(parts)


def _actions_section(scored: pd.DataFrame, actions_meta: Mapping[str, Mapping[str, Any]], lang: str = "en") -> str:
    if "action_id" not in scored:
        return ""
    churn = scored["churn_probability"].fillna(0) if "churn_probability" in scored else 0.0
    frame = scored.assign(at_risk=scored["clv"].fillna(0) * churn if "clv" in scored else 0.0)
    counts = frame.groupby("action_id").agg(customers=("action_id", "size"), value_at_risk=("at_risk", "sum"))
    order = sorted(actions_meta, key=lambda a: actions_meta[a]["priority"]) if actions_meta else sorted(counts.index)
    rows = []
    for action in order:
        meta = actions_meta.get(action, {})
        n = int(counts["customers"].get(action, 0))
        rows.append((meta.get("priority", ""), action, meta.get("zh", ""), meta.get("en", ""), n,
                     float(counts["value_at_risk"].get(action, 0.0))))
    table = pd.DataFrame(rows, columns=["priority", "action", "中文", "English", "customers", "value_at_risk"])
    fig, ax = _figure(6.5, 0.32 * len(table) + 1.0)
    names = {"en": table["English"], "zh": table["中文"]}.get(lang, table["action"])
    ax.barh(list(names.where(names != "", table["action"]))[::-1], table["customers"].to_numpy()[::-1], color="#1f4e78")
    ax.set_xlabel(_t("customers", lang))
    return (
        f'<h2 id="actions">{_e(_t("actions", lang))}</h2>{_svg(fig)}'
        + _table(table, formats={"value_at_risk": ",.0f", "customers": ",d"}, section="actions")
    )


def recent_complaints(feedback: pd.DataFrame | None, as_of: pd.Timestamp | None, n: int = MAX_EXAMPLES) -> pd.DataFrame | None:
    """The ``n`` latest negative feedback rows before ``as_of`` (ties by feedback_id), or None."""
    if feedback is None or "text" not in feedback or "sentiment" not in feedback:
        return None
    fb = feedback
    if as_of is not None:
        fb = events_before(fb, as_of)
    return fb[fb["sentiment"] == "negative"].sort_values(["timestamp", "feedback_id"], ascending=[False, True]).head(n)


def _examples_section(examples: pd.DataFrame | None, lang: str = "en") -> str:
    if examples is None or not len(examples):
        return ""
    from custsat.privacy import mask_pii

    items = []
    for row in examples.itertuples(index=False):
        text = mask_pii(str(row.text))
        if len(text) > EXAMPLE_CHARS:
            text = text[:EXAMPLE_CHARS] + "…"
        topics = getattr(row, "topics", "") or ""
        items.append(
            f'<div class="example"><b>{_e(pd.Timestamp(row.timestamp).date())}</b> · {_e(row.channel)} · '
            f"{_e(topics)}<br>{_e(text)}</div>"
        )
    return (f'<h2 id="examples">{_e(_t("examples", lang))}</h2>' + "".join(items))


def _topic_names(lang: str = "both") -> dict[str, str]:
    """Topic id -> its name in ``lang`` from the taxonomy (ids stay where names are missing)."""
    try:
        import yaml

        from custsat.config import get_settings

        data = yaml.safe_load(Path(get_settings().taxonomy_path).read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - names are decoration
        return {}
    names = {}
    for topic in data.get("topics", []):
        zh, en = topic.get("zh") or topic["id"], topic.get("en") or topic["id"]
        names[str(topic["id"])] = {"en": en, "zh": zh}.get(lang, f"{zh} / {en}")
    return names


# --------------------------------------------------------------------------- public API
def render_report(
    scored: pd.DataFrame,
    *,
    feedback: pd.DataFrame | None = None,
    drift: pd.DataFrame | None = None,
    metadata: Mapping[str, Any] | None = None,
    title: str | None = None,
    examples: pd.DataFrame | None = None,
    action_evaluation: Any = None,
    drivers: Any = None,
    lang: str = "en",
) -> str:
    """The report as one HTML string (inline CSS and SVG only).

    ``examples``: the complaints to quote; default :func:`recent_complaints` of ``feedback``.
    ``action_evaluation`` / ``drivers``: the evidence sections "actions: did they work?" and
    "what drives satisfaction" (see :mod:`custsat.serving.whatworks_report`). ``lang``: ``en``,
    ``zh`` or ``both`` (headings, tier, stage and topic names, chart labels).
    """
    if lang not in LANGUAGES:
        raise ValueError(f"report language must be one of {LANGUAGES}, got {lang!r}")
    title = title or _t("title", lang)
    from custsat.serving.whatworks_report import (
        actions_effects_section,
        control_groups_section,
        drivers_section,
    )

    metadata = dict(metadata or {})
    as_of = pd.Timestamp(metadata["as_of"]) if metadata.get("as_of") else None
    versions = metadata.get("model_versions", {})
    # a plain number is a version of the family's model; "custsat-sentiment-fast/1" names its model
    version_text = ", ".join(f"{k.replace('_model_version', '')} {'v' if str(v).isdigit() else ''}{v}"
                             for k, v in versions.items())
    header = (
        f"<h1>{_e(title)}</h1><div class=\"meta\">{_e(_t('as_of', lang))} "
        f"<b>{_e(as_of.date() if as_of is not None else 'n/a')}</b> · "
        f"{_e(_t('scoring_run', lang))} <code id=\"run-id\">{_e(metadata.get('scoring_run_id', 'n/a'))}</code> · "
        f"{_e(_t('models', lang))}: {_e(version_text or 'n/a')}</div>"
    )
    body = [
        header,
        _cards(scored, feedback, lang),
        _drift_section(drift, bool(metadata.get("drift_reference")), lang),
        _tiers_section(scored, lang),
        _churn_by_segment(scored, lang),
        _clv_section(scored, lang),
        _topics_section(feedback, as_of, _topic_names(lang), lang),
        _nps_csat_section(scored, feedback, as_of, lang),
        _actions_section(scored, metadata.get("policy_actions", {}), lang),
        control_groups_section(scored),
        actions_effects_section(action_evaluation) if action_evaluation is not None else "",
        drivers_section(drivers) if drivers is not None else "",
        _examples_section(examples if examples is not None else recent_complaints(feedback, as_of), lang),
        f'<p class="meta">{_e(_t("footer", lang))}</p>',
    ]
    html_lang = "zh-Hans" if lang == "zh" else "en"
    return (
        f"<!DOCTYPE html>\n<html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_scoring_report(path: str | Path, scored: pd.DataFrame, **kwargs: Any) -> Path:
    """Render and write the report atomically (UTF-8)."""
    path = Path(path)
    text = render_report(scored, **kwargs)
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
