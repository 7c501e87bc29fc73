"""PII masking and language detection for customer feedback text.

Everything a run logs or exports that contains free text must go through
:func:`mask_pii` first. Masking is rule-based (regular expressions), deterministic and
errs on the side of masking: a 13–19 digit run is treated as a bank card whether or not
it passes the Luhn check (pass ``luhn=True`` to mask only Luhn-valid numbers as cards).

Tokens: ``<EMAIL>``, ``<ID>`` (18-character PRC resident ID, trailing ``X`` allowed),
``<CARD>`` (13–19 digits, optionally grouped by spaces or dashes), ``<PHONE>`` (PRC mobile
numbers with or without +86/0086, PRC landlines ``010-12345678``, 400/800 service numbers,
``+CC …`` international numbers and North-American ``(555) 123-4567`` formats).
Full-width digits (``１３８…``) are matched as well.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["mask_pii", "detect_language", "luhn_valid", "PII_TOKENS"]

PII_TOKENS = ("<EMAIL>", "<ID>", "<CARD>", "<PHONE>")

_D = r"[0-9０-９]"  # ASCII or full-width digit
_NOT_BEFORE = r"(?<![0-9０-９A-Za-z])"
_NOT_AFTER = r"(?![0-9０-９])"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# PRC resident ID: 6-digit area, birth date yyyymmdd (1800-2099), 3-digit sequence, check digit/X
_ID = re.compile(
    _NOT_BEFORE
    + rf"[1-9１-９]{_D}{{5}}(?:18|19|20|１８|１９|２０){_D}{{2}}"
    + rf"(?:0[1-9]|1[0-2]|０[１-９]|１[０-２])(?:[0-3０-３]{_D}){_D}{{3}}[0-9０-９Xx]"
    + r"(?![0-9０-９A-Za-z])"
)
_MOBILE_PREFIXED = re.compile(
    r"(?:\+|00|＋)\s?(?:86|８６)[\s\-]?" + rf"[1１][3-9３-９]{_D}(?:[\s\-]?{_D}{{4}}){{2}}" + _NOT_AFTER
)
_CARD = re.compile(_NOT_BEFORE + rf"{_D}(?:[ \-]?{_D}){{12,18}}" + _NOT_AFTER)
_MOBILE = re.compile(_NOT_BEFORE + rf"[1１][3-9３-９]{_D}(?:[\s\-]?{_D}{{4}}){{2}}" + _NOT_AFTER)
_OTHER_PHONES = [
    # international: +CC then 6-14 more digits in groups
    re.compile(r"(?:\+|＋)\d{1,3}[\s\-]?(?:\(\d{1,4}\)[\s\-]?)?\d{1,4}(?:[\s\-.]?\d{2,4}){1,4}" + _NOT_AFTER),
    # PRC landline with area code: 010-12345678, (0755) 1234567, 0571 87654321
    re.compile(_NOT_BEFORE + r"(?:\(0\d{2,3}\)|0\d{2,3})[\s\-]?\d{7,8}" + _NOT_AFTER),
    # 400 / 800 service numbers
    re.compile(_NOT_BEFORE + r"[48]00[\s\-]?\d{3}[\s\-]?\d{4}" + _NOT_AFTER),
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567
    re.compile(_NOT_BEFORE + r"(?:\(\d{3}\)\s?|\d{3}[\-.\s])\d{3}[\-.\s]\d{4}" + _NOT_AFTER),
]


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a digit string (separators and full-width digits allowed)."""
    ds = [int(unicodedata.digit(c)) for c in digits if c.isdigit()]
    if not ds:
        return False
    total = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_pii(text, *, luhn: bool = False):
    """Replace e-mails, PRC ID numbers, bank cards and phone numbers by placeholder tokens.

    Parameters
    ----------
    text : str or None
        Input text; ``None``/NaN are returned unchanged.
    luhn : bool, default False
        Mask a 13–19 digit run as ``<CARD>`` only if it passes the Luhn check (other runs are
        then left as they are). The default masks every such run.

    Returns
    -------
    str
        The text with ``<EMAIL>``, ``<ID>``, ``<CARD>``, ``<PHONE>`` tokens.
    """
    if text is None or not isinstance(text, str):
        return text
    out = _EMAIL.sub("<EMAIL>", text)
    out = _ID.sub("<ID>", out)
    out = _MOBILE_PREFIXED.sub("<PHONE>", out)
    if luhn:
        out = _CARD.sub(lambda m: "<CARD>" if luhn_valid(m.group(0)) else m.group(0), out)
    else:
        out = _CARD.sub("<CARD>", out)
    out = _MOBILE.sub("<PHONE>", out)
    for rx in _OTHER_PHONES:
        out = rx.sub("<PHONE>", out)
    return out


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)?")
_TOKENS = re.compile(r"<(?:EMAIL|ID|CARD|PHONE)>|https?://\S+")


def detect_language(text) -> str | None:
    """Detect whether a feedback text is Chinese, English or a mix of both.

    Counting rule (deterministic, no model): CJK ideographs (simplified and traditional)
    count one each, Latin words count two each (an English word carries about as much
    content as two Chinese characters). PII tokens and URLs are ignored.

    Returns
    -------
    'zh' | 'en' | 'mixed' | None
        ``None`` for empty text or text without letters or ideographs (digits, emoji only);
        ``'mixed'`` when both scripts carry real content (at least 2 ideographs and 2 Latin
        words, and neither side has more than 75 % of the weighted count).
    """
    if text is None or not isinstance(text, str):
        return None
    t = _TOKENS.sub(" ", unicodedata.normalize("NFKC", text))
    n_zh = len(_CJK.findall(t))
    n_en = len(_LATIN_WORD.findall(t))
    if n_zh == 0 and n_en == 0:
        return None
    if n_zh == 0:
        return "en"
    if n_en == 0:
        return "zh"
    share_zh = n_zh / (n_zh + 2.0 * n_en)
    if n_zh >= 2 and n_en >= 2 and 0.25 <= share_zh <= 0.75:
        return "mixed"
    return "zh" if share_zh > 0.5 else "en"
