"""Urgency of a feedback text: ``high`` or ``normal`` by documented rules plus model negativity.

Rule (evaluated on the NFKC-normalised, lower-cased text)::

    high  if  safety  or  legal
          or  (repeated or anger) and p_negative >= NEGATIVE_THRESHOLD
          or  input urgency already says high/urgent
    normal otherwise (also for empty text)

Chinese keywords are listed in simplified and traditional characters.

* safety   - injury, fire, smoke, electric shock, poisoning, allergy, hospital, recall ...
* legal    - lawyer, suing, court, consumer association / 12315, regulators, media exposure ...
* repeated - unresolved repeated contact: "again", "still not", "third time", 多次, 至今没 ...
* anger    - strong anger words (furious, 愤怒, 骗子, 垃圾 ...), or "!!!"-runs, or shouting
  (>= 60 % of >= 12 Latin letters upper-case).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

NEGATIVE_THRESHOLD = 0.5

_RULES: dict[str, list[str]] = {
    "safety": [
        "安全隐患", "危险", "受伤", "起火", "着火", "爆炸", "冒烟", "漏电", "触电", "中毒", "过敏", "烫伤", "割伤",
        "住院", "医院", "送医", "窒息", "召回", "有毒", "致癌",
        "危險", "受傷", "著火", "冒煙", "漏電", "觸電", "過敏", "燙傷", "醫院", "窒息",
        r"\bunsafe\b", r"\bdanger", r"\binjur", r"\bhurt\b", r"\bfire\b", r"\bsmok(e|ing)\b", r"\bexplod",
        r"\belectric(al)? shock", r"\belectrocut", r"\bpoison", r"\ballerg", r"\bhospital", r"\bchok(e|ed|ing)\b",
        r"\brecall", r"\bfood poisoning", r"\bburn(ed|t)\b", r"\btoxic",
    ],
    "legal": [
        "律师", "起诉", "法院", "诉讼", "消协", "消费者协会", "12315", "工商局", "市场监管", "曝光", "报警", "维权",
        "媒体", "赔偿", "欺诈", "诈骗",
        "律師", "起訴", "訴訟", "消協", "消費者協會", "工商局", "市場監管", "報警", "維權", "媒體", "賠償", "欺詐", "詐騙",
        r"\blawyer", r"\battorney", r"\bsue\b", r"\bsuing\b", r"\blawsuit", r"\blegal action", r"\bcourt\b",
        r"\bbetter business bureau", r"\bbbb\b", r"\bchargeback", r"\bfraud", r"\bregulator", r"\bombudsman",
    ],
    "repeated": [
        "多次", "再次", "又一次", "第二次", "第三次", "好几次", "一直没", "还没解决", "没有解决", "至今", "没人理",
        "没有回复", "不回复", "反复", "屡次", "三番五次", "催了",
        "又一次", "一直沒", "還沒解決", "沒有解決", "沒人理", "沒有回覆", "不回覆", "反覆", "屢次",
        r"\bagain\b", r"\bmultiple times", r"\bseveral times", r"\bstill (not|no|hasn|haven|waiting)",
        r"\bno (response|reply)", r"\bnever (responded|replied|got back)", r"\b(second|third|fourth) time",
        r"\brepeatedly", r"\bkeep (calling|asking)", r"\bunresolved",
    ],
    "anger": [
        "愤怒", "气愤", "太差劲", "垃圾", "骗子", "恶心", "忍无可忍", "再也不", "最差", "极差", "坑人", "无耻",
        "欺骗", "气死", "悲愤", "奇差", "太差了",
        "憤怒", "氣憤", "騙子", "噁心", "忍無可忍", "極差", "無恥", "欺騙", "氣死", "悲憤",
        r"\bfurious", r"\bangry", r"\boutrag", r"\bdisgust", r"\bworst\b", r"\bnever again", r"\bunacceptable",
        r"\bridiculous", r"\bscam", r"\bappalling", r"\bhorrible", r"\bterrible",
    ],
}


def _is_literal(pattern: str) -> bool:
    return re.escape(pattern) == pattern


# The same rules split for speed (a regex alternation of literals is slow in Python): literal
# words are plain substring tests; the regex words all need a Latin letter, so a text without
# one skips them. Together they fire exactly when the combined pattern would.
_LITERALS = {k: tuple(p for p in v if _is_literal(p)) for k, v in _RULES.items()}
_PATTERNS = {k: re.compile("|".join(p for p in v if not _is_literal(p))) for k, v in _RULES.items()}
_BANG = re.compile(r"[!！]{3,}")
_ASCII_LETTER = re.compile("[A-Za-z]")
_ASCII_UPPER = re.compile("[A-Z]")


def urgency_flags(text: str | None) -> dict[str, bool]:
    """Which rule groups fire for one text (all False for empty text)."""
    if not isinstance(text, str) or not text.strip():
        return {k: False for k in _RULES}
    t = unicodedata.normalize("NFKC", text)
    low = t.lower()
    n_letters = len(_ASCII_LETTER.findall(t))
    flags = {k: any(w in low for w in _LITERALS[k]) or (n_letters > 0 and _PATTERNS[k].search(low) is not None)
             for k in _RULES}
    shouting = n_letters >= 12 and len(_ASCII_UPPER.findall(t)) / n_letters >= 0.6
    flags["anger"] = flags["anger"] or bool(_BANG.search(t)) or shouting
    return flags


def urgency_reasons(text: str | None, p_negative: float | None) -> list[str]:
    """The reasons that make a text ``high`` urgency (empty list = normal)."""
    f = urgency_flags(text)
    neg = p_negative is not None and not pd.isna(p_negative) and p_negative >= NEGATIVE_THRESHOLD
    reasons = [k for k in ("safety", "legal") if f[k]]
    reasons += [f"{k}+negative" for k in ("repeated", "anger") if f[k] and neg]
    return reasons


def assign_urgency(texts, p_negative=None, prior=None) -> np.ndarray:
    """``'high'``/``'normal'`` per text. ``prior``: an existing urgency column (high/urgent keep high)."""
    texts = list(texts)
    pn = [None] * len(texts) if p_negative is None else list(p_negative)
    pr = [None] * len(texts) if prior is None else list(prior)
    out = []
    for t, p, u in zip(texts, pn, pr, strict=True):
        high = bool(urgency_reasons(t, p)) or (isinstance(u, str) and u.strip().lower() in ("high", "urgent"))
        out.append("high" if high else "normal")
    return np.array(out, dtype=object)
